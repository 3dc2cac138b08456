"""The entry point: `python experiments/run.py --config=experiments/configs/demo.py [--config.a.b=value ...]`.

The config file (an ml_collections `get_config()`) names the stages to run and everything they need; any field can
be overridden on the command line, and a key that does not exist is an error that names it.

Libraries log at WARNING and above on the console (Orbax alone writes hundreds of INFO lines per run, between the
progress bars); `--verbosity=0` (absl's flag) shows their INFO lines too, `--verbosity=1` their DEBUG lines.
"""
import importlib.util
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", None, "experiment config file (ml_collections)", lock_config=True)


def check_overrides(argv: list[str]) -> str | None:
    """The message for the first `--config.KEY` override whose KEY the config file lacks, else None.

    ml_collections would reject it too, but with a bare KeyError; this names the key, the file and the choices.
    """
    path = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), None)
    if path is None or not os.path.isfile(path.split(":")[0]):
        return None
    file = path.split(":")[0]
    spec = importlib.util.spec_from_file_location("_experiment_config", file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    for arg in argv:
        m = re.match(r"--config\.([\w.]+)(=|$)", arg)
        if not m:
            continue
        node, walked = config, []
        for part in m.group(1).split("."):
            if not hasattr(node, "keys") or part not in node:
                where = ".".join(walked) or "the top level"
                known = sorted(node.keys()) if hasattr(node, "keys") else []
                return (f"unknown config key {m.group(1)!r} in {file}: {where} has no {part!r}"
                        + (f"; known keys: {', '.join(known)}" if known else ""))
            node = node[part]
            walked.append(part)
    return None


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}: settings go through --config.KEY=VALUE")
    if _CONFIG.value is None:
        raise app.UsageError("--config=path/to/config.py is required")
    if not flags.FLAGS["verbosity"].present:  # absl.app raises an unset verbosity to INFO
        logging.set_verbosity(logging.WARNING)
    from tempr1_jax.data.records import BadShardError
    from tempr1_jax.stages import run
    from tempr1_jax.train import distributed
    from tempr1_jax.train.faults import TrainingStopped

    distributed.initialize(_CONFIG.value)
    try:
        run(_CONFIG.value)
    except (TrainingStopped, BadShardError) as e:  # a diverged run, a damaged shard: one message, exit status 1
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    problem = check_overrides(sys.argv[1:])
    if problem:
        sys.exit(f"error: {problem}")
    app.run(main)
