"""Textual timestamps: the time of a frame group written as text before its vision tokens, as Qwen3-VL does.

Qwen2.5-VL tells the model time only through the temporal rotary positions of the vision tokens. With textual
timestamps each frame group becomes its own vision span preceded by `<2.0 seconds>`, so that grounding becomes
"find the frames that match, copy their timestamp" (see `processing.processor` and `rope_index`).
"""
from __future__ import annotations


def timestamp_text(seconds: float) -> str:
    """`<2.0 seconds>`: one decimal, the same digits the answers use."""
    return f"<{seconds:.1f} seconds>"
