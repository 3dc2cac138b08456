"""Training infrastructure shared by the stages: checkpoints, metrics, preemption."""
