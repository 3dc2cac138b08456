import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "experiments"))


@pytest.fixture(scope="session")
def prepared(tmp_path_factory):
    """A tiny synthetic corpus with its records and small tokenizer, made once for the training tests."""
    from tempr1_jax.stages import run
    from tiny_run import tiny_config

    root = str(tmp_path_factory.mktemp("corpus"))
    run(tiny_config(root, stages=("prepare_synthetic",)))
    return root
