"""TempR1's main table from our evaluation outputs, beside the paper's numbers: Markdown, CSV and a bar chart.

    python experiments/paper_table.py --results=runs/tempr1/benchmark/grpo --out=runs/tempr1/paper_table
    python experiments/paper_table.py --results=sft=runs/x/benchmark/sft --results=grpo=runs/x/benchmark/grpo ...
    python experiments/paper_table.py --results=demo=runs/demo/eval/grpo --out=runs/demo/paper_table

Each --results is `[LABEL=]DIR`, either the `benchmark` stage's folder for one set of weights
(`<workdir>/benchmark/<weights>/`, holding `<benchmark>/metrics.json`), or the demo's held-out `eval` stage folder
(`<workdir>/eval/<name>/metrics.json`, per-task metrics on the synthetic split: the same measures, but not the
benchmarks, so those columns are marked synthetic). Writes paper_table.{md,csv,png} into --out.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import sys


@dataclasses.dataclass(frozen=True)
class Column:
    task: str
    benchmark: str
    metric: str
    stage_benchmark: str  # the `benchmark` stage's output folder
    scorer: str  # its tempr1_jax.eval scorer, and the metric's name there
    scorer_metric: str
    eval_metric: str  # the metric's name in the synthetic `eval` stage's per-task metrics.json
    paper: float  # TempR1 (7B, multi-task, 1 epoch)
    prior: float | None  # the prior best the paper quotes
    prior_model: str


# TempR1's main table (arXiv 2512.03963) as quoted by summaries of the paper; its own text could not be read.
COLUMNS = (
    Column("TG", "Charades-STA", "mIoU", "charades_sta", "charades_sta", "mIoU", "mIoU", 61.4, 60.8, "VideoChat-R1"),
    Column("VHD", "QVHighlights", "mIoU", "qvhighlights", "qvhighlights", "VHD-mIoU", "mIoU", 71.1, 65.9, "TAR-TVG"),
    Column("DTG", "ActivityNet Captions", "mIoU", "activitynet_dtg", "activitynet_dtg", "mIoU", "mIoU", 59.8, None, ""),
    Column("GVQA", "NExT-GQA", "Acc", "nextgqa", "nextgqa", "Acc@QA", "accuracy", 70.1, 70.6, "VideoChat-R1"),
    Column("GVQA", "NExT-GQA", "mIoU", "nextgqa", "nextgqa", "GVQA-mIoU", "mIoU", 39.2, 36.1, "VideoChat-R1"),
    Column("TAL", "ActivityNet-1.3", "mF1", "activitynet_tal", "tal_f1", "mF1", "mF1", 71.0, 58.0, "MUSEG"),
)


@dataclasses.dataclass(frozen=True)
class Results:
    label: str
    values: tuple[float | None, ...]  # one per column; None where it was not evaluated
    synthetic: bool  # the demo's held-out synthetic split rather than the benchmarks


def _read(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}: not valid JSON: {e.msg}") from None


def read_results(spec: str) -> Results:
    """`[LABEL=]DIR` -> the columns' values from a `benchmark` stage folder or a synthetic `eval` stage folder."""
    label, _, directory = spec.rpartition("=")
    directory = os.path.normpath(directory)
    label = label or os.path.basename(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"--results={spec}: {directory} is not a folder")
    eval_stage = os.path.join(directory, "metrics.json")
    if os.path.isfile(eval_stage):
        tasks = _read(eval_stage)
        values = tuple(tasks.get(c.task.lower(), {}).get(c.eval_metric) for c in COLUMNS)
        return Results(label, values, synthetic=True)
    values = []
    for c in COLUMNS:
        path = os.path.join(directory, c.stage_benchmark, "metrics.json")
        scores = _read(path).get("scores", {}) if os.path.isfile(path) else {}
        values.append(scores.get(c.scorer, {}).get(c.scorer_metric))
    if all(v is None for v in values):
        raise FileNotFoundError(f"--results={spec}: {directory} has neither metrics.json (an eval stage folder) nor "
                                f"<benchmark>/metrics.json of the benchmark stage for any of "
                                f"{sorted({c.stage_benchmark for c in COLUMNS})}")
    return Results(label, tuple(values), synthetic=False)


def _cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def table(results: list[Results]) -> list[list[str]]:
    """Header + one row per column of the paper's table: the paper's numbers, then ours and our gap to TempR1."""
    header = ["task", "benchmark", "metric", "TempR1 (paper)", "prior best (paper)"]
    for r in results:
        header += [f"{r.label}{' (synthetic)' if r.synthetic else ''}", f"{r.label} − TempR1"]
    rows = [header]
    for i, c in enumerate(COLUMNS):
        row = [c.task, c.benchmark, c.metric, _cell(c.paper), f"{_cell(c.prior)} {c.prior_model}".strip()]
        for r in results:
            v = r.values[i]
            row += [_cell(v), "—" if v is None else f"{v - c.paper:+.1f}"]
        rows.append(row)
    return rows


def markdown(rows: list[list[str]], results: list[Results]) -> str:
    md = "| " + " | ".join(rows[0]) + " |\n|" + "---|" * len(rows[0]) + "\n"
    md += "".join("| " + " | ".join(r) + " |\n" for r in rows[1:])
    md += ("\nTempR1 and prior-best numbers: TempR1 (arXiv 2512.03963), 7B multi-task model, as quoted by summaries "
           "of the paper. Ours: tempr1_jax.eval on the official annotations (docs/metrics.md).\n")
    if any(r.synthetic for r in results):
        md += ("Columns marked synthetic are the demo's held-out synthetic split, scored with the same measures: they "
               "show the pipeline end to end and are not comparable with the paper's benchmarks.\n")
    return md


def bar_chart(results: list[Results], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    series = [("TempR1 (paper)", [c.paper for c in COLUMNS], "tab:gray"),
              ("prior best (paper)", [c.prior for c in COLUMNS], "silver")]
    colors = ["tab:orange", "tab:blue", "tab:purple", "tab:green", "tab:red"]
    series += [(f"{r.label}{' (synthetic)' if r.synthetic else ''}", list(r.values), colors[i % len(colors)])
               for i, r in enumerate(results)]
    x = np.arange(len(COLUMNS))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(11, 4.2))
    for k, (label, values, color) in enumerate(series):
        xs = x - 0.4 + (k + 0.5) * width
        heights = [np.nan if v is None else v for v in values]
        ax.bar(xs, heights, width, label=label, color=color)
        for xi, v in zip(xs, values):
            if v is not None:
                ax.text(xi, v + 1, f"{v:.1f}", ha="center", fontsize=7)
    ax.set_xticks(x, [f"{c.task}\n{c.benchmark}\n{c.metric}" for c in COLUMNS], fontsize=8)
    ax.set(ylabel="%", ylim=(0, 100), title="TempR1's main table: the paper's numbers and ours")
    ax.legend(fontsize=8, ncol=len(series), loc="upper center", bbox_to_anchor=(0.5, -0.28))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", action="append", required=True, metavar="[LABEL=]DIR",
                   help="a benchmark stage folder <workdir>/benchmark/<weights> or an eval stage folder; repeatable")
    p.add_argument("--out", required=True, help="folder for paper_table.md, paper_table.csv and paper_table.png")
    args = p.parse_args(argv)
    try:
        results = [read_results(spec) for spec in args.results]
    except (FileNotFoundError, ValueError) as e:
        p.error(str(e))
    rows = table(results)
    os.makedirs(args.out, exist_ok=True)
    md = markdown(rows, results)
    with open(os.path.join(args.out, "paper_table.md"), "w") as f:
        f.write(md)
    with open(os.path.join(args.out, "paper_table.csv"), "w", newline="") as f:
        csv.writer(f).writerows(rows)
    bar_chart(results, os.path.join(args.out, "paper_table.png"))
    print(md)
    print(f"written to {args.out}/paper_table.{{md,csv,png}}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
