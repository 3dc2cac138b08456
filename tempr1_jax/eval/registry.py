"""The benchmarks by name, and `evaluate`, the one entry point used by the CLI and the training eval stage."""
from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable, Mapping, Sequence

from tempr1_jax.eval import action_localization, grounded_qa, grounding, moment_highlight
from tempr1_jax.eval.inputs import EvalError


@dataclasses.dataclass(frozen=True)
class Benchmark:
    name: str
    description: str
    annotation_files: tuple[str, ...]  # what each annotation path is, in the order they are passed
    score: Callable[..., dict[str, float]]  # score(*annotation_paths, predictions, **options)

    @property
    def options(self) -> tuple[str, ...]:
        return tuple(
            name for name, p in inspect.signature(self.score).parameters.items() if p.kind is p.KEYWORD_ONLY
        )


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark(
            "charades_sta",
            "Charades-STA grounding: R1@{0.3,0.5,0.7} (IoU >=, or > with strict) and mIoU of the top-1 window.",
            ("charades_sta_test.txt",),
            grounding.charades_sta,
        ),
        Benchmark(
            "activitynet_captions_grounding",
            "ActivityNet Captions grounding (qid '{vid}_{i}'): R1@{0.3,0.5,0.7} and mIoU like charades_sta.",
            ("val_2.json",),
            grounding.activitynet_captions_grounding,
        ),
        Benchmark(
            "qvhighlights",
            "QVHighlights MR/HL: every moment_detr standalone_eval metric, unrounded, plus VHD-mIoU.",
            ("highlight_{val,test}_release.jsonl",),
            moment_highlight.qvhighlights,
        ),
        Benchmark(
            "nextgqa",
            "NExT-GQA: Acc@QA, mIoP, IoP@{0.3,0.5}, mIoU, IoU@{0.3,0.5}, Acc@GQA and GVQA-mIoU.",
            ("gsub_test.json", "test.csv"),
            grounded_qa.nextgqa,
        ),
        Benchmark(
            "activitynet_tal",
            "ActivityNet v1.3 action detection: mAP@{0.5,0.75,0.95} and mAP over 0.5:0.05:0.95.",
            ("activity_net.v1-3.min.json",),
            action_localization.activitynet_tal,
        ),
        Benchmark(
            "tal_f1",
            "ActivityNet v1.3 TAL in E.T. Bench style: F1@{0.1,0.3,0.5,0.7} per (video, label) and mF1.",
            ("activity_net.v1-3.min.json",),
            action_localization.tal_f1,
        ),
        Benchmark(
            "tvgbench",
            "Time-R1 TVGBench grounding (qid = item index): R1@{0.3,0.5,0.7} (IoU > by default) and mIoU.",
            ("tvgbench.json",),
            grounding.tvgbench,
        ),
        Benchmark(
            "activitynet_dtg",
            "ActivityNet Captions dense grounding (qid = video id): mean over videos of index-paired mIoU.",
            ("val_2.json",),
            grounding.activitynet_dtg,
        ),
    )
}


def get_benchmark(name: str) -> Benchmark:
    if name not in BENCHMARKS:
        raise EvalError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    return BENCHMARKS[name]


def evaluate(
    benchmark: str,
    annotations: Sequence[str],
    predictions: str | Sequence[Mapping[str, Any]] | Mapping[str, Any],
    **options: Any,
) -> dict[str, float]:
    """{metric name: value in percent} for `predictions` (a path, or the parsed records) on `benchmark`.

    `annotations` lists the benchmark's annotation paths in the order of `annotation_files`; `options`
    are the benchmark's convention switches (e.g. strict=True for charades_sta).
    """
    spec = get_benchmark(benchmark)
    if isinstance(annotations, str):
        annotations = [annotations]
    if len(annotations) != len(spec.annotation_files):
        raise EvalError(
            f"{benchmark} takes {len(spec.annotation_files)} annotation file(s) "
            f"({', '.join(spec.annotation_files)}), got {len(annotations)}"
        )
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        known = ", ".join(spec.options) or "none"
        raise EvalError(f"{benchmark} has no option {', '.join(unknown)}; its options: {known}")
    return spec.score(*annotations, predictions, **options)
