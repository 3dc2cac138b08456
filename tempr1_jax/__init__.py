"""tempr1-jax: temporal-aware multi-task GRPO for Qwen2.5-VL, in JAX."""
__version__ = "0.1.0"
