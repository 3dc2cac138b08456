"""Score a predictions file against a benchmark's official annotations.

    python experiments/evaluate.py --benchmark=charades_sta --annotations=charades_sta_test.txt \
        --predictions=preds.jsonl --output=metrics.json [--strict]

Prints a table and writes {metric name: value in percent, unrounded} as JSON. Metric definitions and
conventions: docs/metrics.md.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

# Runs from a clone without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tempr1_jax.eval import BENCHMARKS, EvalError, evaluate  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    listing = "\n".join(
        f"  {b.name:<32}{b.description}\n  {'':<32}annotations: {','.join(b.annotation_files)}"
        for b in BENCHMARKS.values()
    )
    parser = argparse.ArgumentParser(
        description="Score predictions with the conventions of each benchmark's official evaluation script.",
        epilog=f"benchmarks:\n{listing}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--benchmark", required=True, metavar="NAME", help="one of the benchmarks listed below")
    parser.add_argument("--annotations", required=True, help="annotation path(s), comma-separated where two")
    parser.add_argument("--predictions", required=True, help="predictions file (JSONL, or JSON for the TAL benchmarks)")
    parser.add_argument("--output", required=True, help="where to write the metrics JSON")
    parser.add_argument(
        "--strict",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="grounding hit if IoU > threshold instead of >= (Time-R1, 2D-TAN); default: the benchmark's own",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = {} if args.strict is None else {"strict": args.strict}
    try:
        metrics = evaluate(args.benchmark, args.annotations.split(","), args.predictions, **options)
    except EvalError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump(metrics, f, indent=2)
        f.write("\n")
    width = max(len(name) for name in metrics)
    print(f"{args.benchmark}: {args.predictions}")
    for name, value in metrics.items():
        print(f"  {name:<{width}}  {value:10.4f}")
    print(f"(unrounded values in {args.output})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
