"""Host batches -> global arrays: training batches split over the batch axes or are refused by name."""
import jax
import pytest
from jax.sharding import PartitionSpec as P

from fixtures import CFG, batch
from tempr1_jax.models import make_mesh
from tempr1_jax.rl.global_batch import global_batch


def test_training_rows_split_over_the_batch_axes():
    dev, _ = global_batch(batch(2), make_mesh((2, 1, 4)), CFG, split_rows=True)
    assert dev.input_ids_BL.sharding.spec == P(("data", "fsdp"))
    assert {tuple((i.start, i.stop) for i in s.index) for s in dev.input_ids_BL.addressable_shards} == \
        {((0, 1), (None, None)), ((1, 2), (None, None))}


def test_a_training_batch_that_does_not_split_is_refused_by_name():
    with pytest.raises(ValueError, match=r"a batch of 2 rows does not split .* 8 devices.*multiple of 8"):
        global_batch(batch(2), make_mesh((1, -1, 1)), CFG, split_rows=True)


def test_an_inference_batch_that_does_not_split_is_replicated():
    dev, _ = global_batch(batch(2), make_mesh((1, -1, 1)), CFG)
    assert dev.input_ids_BL.sharding.is_fully_replicated and jax.device_count() == 8
