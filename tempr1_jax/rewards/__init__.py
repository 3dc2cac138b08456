"""TempR1's rewards, computed on device from sampled token ids: parser, localization rewards and `score`.

See docs/rewards.md for the grammar, every reward and the configuration.
"""
from tempr1_jax.rewards.config import RewardConfig
from tempr1_jax.rewards.parser import ParsedBatch, TokenTables, build_token_tables, parse_ids
from tempr1_jax.rewards.compute import compute_rewards, ground_truth_arrays, score
from tempr1_jax.rewards.tasks import MAX_INTERVALS, TASK_ID, TASKS
from tempr1_jax.rewards.vocab import Vocab, completion_text, vocab_from_tokenizer

__all__ = [
    "MAX_INTERVALS",
    "ParsedBatch",
    "RewardConfig",
    "TASKS",
    "TASK_ID",
    "TokenTables",
    "Vocab",
    "build_token_tables",
    "completion_text",
    "compute_rewards",
    "ground_truth_arrays",
    "parse_ids",
    "score",
    "vocab_from_tokenizer",
]
