"""Autoregressive generation with a KV cache: jit-compiled prefill, then a `lax.while_loop` decode."""
from tempr1_jax.sampling.sampler import GenerationOutput, SamplingConfig, generate
