"""`steps = 0` runs one epoch: one pass over every sample of the mix (or of the weighted tasks), counted per process."""
from tempr1_jax.data import pipeline
from tempr1_jax.stages import train
from tiny_run import tiny_config


def test_epoch_counts_every_sample_of_the_mix(prepared):
    c = tiny_config(prepared)
    c.data.mix = "epoch"
    sources = pipeline.task_sources(list(c.data.train_dirs))
    steps, counts = train.epoch(c, 4)
    assert counts == {t: len(src) for t, src in sources.items()} and sum(counts.values()) == 24
    assert steps == 24 // 4
    c.data.mix = "weighted"
    c.data.task_weights.tal = 0.0  # a weighted mix leaves out the tasks of weight 0
    steps, counts = train.epoch(c, 4)
    assert "tal" not in counts and steps == (24 - len(sources["tal"])) // 4
