"""The `report` stage: the before/after table per task, reward curves, and timelines of held-out predictions.

Reads `<workdir>/eval/<name>/` for the names in `config.eval.checkpoints` and the training logs; writes
`<workdir>/report/results.md`, `results.csv`, `reward_curves.png` and `timelines.png`.
"""
from __future__ import annotations

import csv
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402

from tempr1_jax.rewards.tasks import TASKS  # noqa: E402
from tempr1_jax.stages import register_stage  # noqa: E402
from tempr1_jax.train.metrics import read_metrics  # noqa: E402

TASK_METRIC = {"tg": "mIoU", "dtg": "mIoU", "vhd": "mIoU", "gvqa": "accuracy", "tal": "mF1"}


def _load(workdir: str, name: str, file: str):
    with open(os.path.join(workdir, "eval", name, file)) as f:
        return json.load(f) if file.endswith(".json") else [json.loads(line) for line in f]


def results_table(workdir: str, names) -> tuple[str, list[list]]:
    metrics = {n: _load(workdir, n, "metrics.json") for n in names}
    header = ["task"] + [f"{col} ({n})" for col in ("format %", "localization", "metric") for n in names]
    header += [f"Δ localization ({names[-1]} - {names[0]})"] if len(names) > 1 else []
    rows = []
    for t in TASKS:
        if not all(t in metrics[n] for n in names):
            continue
        row = [t]
        row += [f"{metrics[n][t]['format_rate']:.1f}" for n in names]
        row += [f"{metrics[n][t]['localization']:.4f}" for n in names]
        row += [f"{TASK_METRIC[t]} {metrics[n][t][TASK_METRIC[t]]:.2f}" for n in names]
        if len(names) > 1:
            row.append(f"{metrics[names[-1]][t]['localization'] - metrics[names[0]][t]['localization']:+.4f}")
        rows.append(row)
    md = "| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n"
    md += "".join("| " + " | ".join(r) + " |\n" for r in rows)
    return md, [header] + rows


def plot_curves(workdir: str, path: str):
    sft, grpo = read_metrics(os.path.join(workdir, "sft")), read_metrics(os.path.join(workdir, "grpo"))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    if sft:
        axes[0].plot([r["step"] for r in sft], [r["loss"] for r in sft], color="tab:gray")
    axes[0].set(title="cold start: answer cross-entropy", xlabel="step", ylabel="loss", yscale="log")
    for t in TASKS:
        pts = [(r["step"], r[f"{t}/reward_localization"]) for r in grpo if f"{t}/reward_localization" in r]
        if pts:
            x, y = np.array(pts).T
            k = max(1, len(y) // 10)
            smooth = np.convolve(y, np.ones(k) / k, mode="valid")
            axes[1].plot(x[k - 1:], smooth, label=t)
    axes[1].set(title=f"GRPO: localization reward of the sampled groups (moving mean)", xlabel="rollout step",
                ylabel="mean localization reward")
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_timelines(workdir: str, names, path: str, per_task: int = 1):
    preds = {n: {r["uid"]: r for r in _load(workdir, n, "predictions.jsonl")} for n in names}
    first = list(preds[names[0]].values())
    chosen = [r for t in TASKS for r in [x for x in first if x["task"] == t][:per_task]]
    fig, axes = plt.subplots(len(chosen), 1, figsize=(11, 1.3 * len(names) + 0.9 * len(chosen) + 1), squeeze=False)
    colors = ["tab:orange", "tab:blue", "tab:purple"]
    for ax, r in zip(axes[:, 0], chosen):
        lanes = [("ground truth", r["gt"], "tab:green")] + [
            (n, preds[n][r["uid"]]["pred"], colors[i % len(colors)]) for i, n in enumerate(names)]
        for y, (label, ivs, c) in enumerate(reversed(lanes)):
            ax.broken_barh([(s, max(e - s, 0.05)) for s, e in ivs], (y + 0.15, 0.7), color=c, alpha=0.75,
                           edgecolor="black", linewidth=0.8)  # edges keep overlapping intervals apart
        ax.set_yticks(np.arange(len(lanes)) + 0.5, [label for label, _, _ in reversed(lanes)])
        ax.set_xlim(0, r["duration"])
        ax.set_title(f"{r['task']} · {r['uid']}", fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("seconds")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@register_stage("report")
def run_report(config: ml_collections.ConfigDict) -> dict:
    names = list(config.eval.checkpoints)
    out = os.path.join(config.workdir, "report")
    os.makedirs(out, exist_ok=True)
    md, rows = results_table(config.workdir, names)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(md)
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        csv.writer(f).writerows(rows)
    plot_curves(config.workdir, os.path.join(out, "reward_curves.png"))
    plot_timelines(config.workdir, names, os.path.join(out, "timelines.png"))
    print(md)
    print(f"report written to {out}/ (results.md, results.csv, reward_curves.png, timelines.png)")
    return {"table": md}
