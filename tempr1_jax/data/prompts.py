"""Task prompts that ask for the rewards' answer grammar (tempr1_jax/rewards, issue 3), and reference answers.

Answers are intervals in seconds, `<answer>12.5 to 20.0</answer>` (several: comma separated), and for gvqa
`<answer>B</answer><evidence>3.0 to 9.5</evidence>`; an optional `<think>...</think>` may come first. The reference
answer of a sample is the ground truth written in that grammar: the target of SFT cold start, and a well-formed
completion whose reward is maximal.
"""
from __future__ import annotations

from tempr1_jax.data.annotations import OPTION_LETTERS, Sample

THINK = "First think step by step inside <think> </think>, then give your answer."
NO_THINK = "Give only the answer."


def format_interval(interval) -> str:
    """`12.5 to 20.0`: seconds with one decimal (rounding keeps start <= end, since it is monotone)."""
    return f"{interval[0]:.1f} to {interval[1]:.1f}"


def format_intervals(intervals) -> str:
    return ", ".join(format_interval(iv) for iv in intervals)


def _task_text(sample: Sample) -> str:
    q = sample.queries[0]
    if sample.task == "tg":
        return (f'Find the moment in the video that matches this description: "{q}" Answer with its start and end '
                "time in seconds, in the form <answer>12.5 to 20.0</answer>.")
    if sample.task == "dtg":
        sentences = "\n".join(f"{i + 1}. {s}" for i, s in enumerate(sample.queries))
        return (f"These sentences describe events of the video, in order:\n{sentences}\nFind the moment of every "
                "sentence. Answer with one interval in seconds per sentence, in the same order, separated by commas, "
                "in the form <answer>0.0 to 5.5, 6.0 to 12.5</answer>.")
    if sample.task == "vhd":
        return (f'Find all highlights of the video that match this query: "{q}" Answer with every highlight\'s start '
                "and end time in seconds, separated by commas, in the form <answer>2.0 to 8.0, 14.0 to 20.5</answer>.")
    if sample.task == "gvqa":
        options = "\n".join(f"({letter}) {text}" for letter, text in zip(OPTION_LETTERS, sample.options))
        return (f"Question: {q}\nOptions:\n{options}\nAnswer with the letter of the correct option, then give the "
                "moments in seconds that show the evidence for it, separated by commas, in the form "
                "<answer>B</answer><evidence>3.0 to 9.5</evidence>.")
    if sample.task == "tal":
        return (f'Find every instance of the action "{q}" in the video. Answer with the start and end time in '
                "seconds of each instance, in order, separated by commas, in the form "
                "<answer>1.0 to 4.5, 10.0 to 16.0</answer>.")
    raise ValueError(f"no prompt template for task {sample.task!r} (sample {sample.uid})")


def prompt_text(sample: Sample, duration: float, think: bool = True) -> str:
    """The user text that follows the video in the chat turn."""
    return f"The video is {duration:.1f} seconds long. {_task_text(sample)} {THINK if think else NO_THINK}"


def reference_answer(sample: Sample) -> str:
    """The ground truth in the answer grammar (no think block)."""
    intervals = format_intervals(sample.intervals)
    if sample.task == "gvqa":
        return f"<answer>{OPTION_LETTERS[sample.answer]}</answer><evidence>{intervals}</evidence>"
    return f"<answer>{intervals}</answer>"
