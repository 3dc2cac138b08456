"""The `report` stage: the per-task table against a blind baseline, reward curves, and timelines of predictions.

Reads `<workdir>/eval/<name>/predictions.jsonl` for the names in `config.eval.checkpoints` and the training logs,
fits the blind baseline (`stages.blind`) on the training split and scores it on the held-out one; writes
`<workdir>/report/results.md`, `results.csv`, `results.json`, `reward_curves.png` and `timelines.png`. Every metric
comes with a bootstrap 95% interval over the held-out samples, and the last checkpoint's gain over the first with a
paired one (the same resampled samples for both). When the eval rows carry `reference_nll` (`config.eval.reference_nll`),
a second table asks whether each model looks at the video: how many nats likelier its reference answers are with the
frames than with blank ones, and than with the same frames in reverse order (which moves only the times), per task
with 95% intervals (0 is a model that ignores the video, or, for the reversed control, the times in it).
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

from tempr1_jax.data import records  # noqa: E402
from tempr1_jax.rewards.config import RewardConfig  # noqa: E402
from tempr1_jax.rewards.tasks import TASKS  # noqa: E402
from tempr1_jax.stages import blind, register_stage  # noqa: E402
from tempr1_jax.stages.evaluate import sample_metrics  # noqa: E402
from tempr1_jax.train.metrics import read_metrics  # noqa: E402

# Each task's metrics in the table; the first is its main one.
TASK_METRICS = {"tg": ("mIoU",), "dtg": ("mIoU",), "vhd": ("mIoU",), "gvqa": ("accuracy", "mIoU"), "tal": ("mF1",)}
BLIND = "blind"
BOOTSTRAP_RESAMPLES = 2000


def _load(workdir: str, name: str) -> list[dict]:
    with open(os.path.join(workdir, "eval", name, "predictions.jsonl")) as f:
        return [json.loads(line) for line in f]


def bootstrap(values_NK: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> np.ndarray:
    """[resamples, K] means of the K columns over the same resampled rows (so differences of columns are paired)."""
    idx = np.random.default_rng(seed).integers(0, len(values_NK), (resamples, len(values_NK)))
    return values_NK[idx].mean(axis=1)


def _interval(means_R: np.ndarray) -> list[float]:
    return [float(x) for x in np.percentile(means_R, [2.5, 97.5])]


def results(rows_by_name: dict[str, list[dict]]) -> dict:
    """Per task and metric, per name: the held-out mean (x100) and its 95% interval; the format rate; and the last
    name's paired difference from the first model (the name after the blind baseline)."""
    names = list(rows_by_name)
    out = {}
    for task in TASKS:
        by_uid = {n: {r["uid"]: r for r in rows if r["task"] == task} for n, rows in rows_by_name.items()}
        uids = sorted(set.intersection(*(set(v) for v in by_uid.values())))
        if not uids:
            continue
        per = {n: [sample_metrics(by_uid[n][u]) for u in uids] for n in names}
        for metric in TASK_METRICS[task]:
            values_NK = 100 * np.array([[p[i][metric] for n, p in per.items()] for i in range(len(uids))])
            means_RK = bootstrap(values_NK)
            entry = {"samples": len(uids), "mean": dict(zip(names, values_NK.mean(0).tolist())),
                     "ci95": {n: _interval(means_RK[:, k]) for k, n in enumerate(names)},
                     "format_rate": {n: 100 * float(np.mean([by_uid[n][u]["well_formed"] for u in uids]))
                                     for n in names}}
            models = [n for n in names if n != BLIND]
            if len(models) > 1:
                first, last = names.index(models[0]), names.index(models[-1])
                diff = values_NK[:, last] - values_NK[:, first]
                entry["diff"] = {"of": [models[-1], models[0]], "mean": float(diff.mean()),
                                 "ci95": _interval(means_RK[:, last] - means_RK[:, first])}
            out[f"{task} {metric}"] = entry
    return out


def video_gain(rows_by_name: dict[str, list[dict]]) -> dict:
    """Per task, per model whose rows carry them: the mean reference-answer NLL (nats) with the video, with blank
    frames and with the frame groups reversed, and the gains (control - video) with bootstrap 95% intervals."""
    out = {}
    for task in TASKS:
        for name, rows in rows_by_name.items():
            rs = [r for r in rows if r["task"] == task and "reference_nll" in r]
            if not rs:
                continue
            nll = {k: np.array([r[f"reference_nll{k}"] for r in rs]) for k in ("", "_blank", "_reversed")}
            e = {"samples": len(rs), **{f"nll{k or '_video'}": float(v.mean()) for k, v in nll.items()}}
            for k in ("_blank", "_reversed"):
                gain_N = nll[k] - nll[""]
                e[f"gain{k}"] = float(gain_N.mean())
                e[f"gain{k}_ci95"] = _interval(bootstrap(gain_N[:, None])[:, 0])
            out.setdefault(task, {})[name] = e
    return out


def video_gain_table(gain: dict) -> str:
    md = ("| task | model | NLL, video (nats) | gain over blank frames [95% CI] | gain over reversed frames [95% CI] |\n"
          "|---|---|---|---|---|\n")
    for task, by_name in gain.items():
        for name, e in by_name.items():
            md += f"| {task} | {name} | {e['nll_video']:.2f} |" + "".join(
                f" {e[g]:+.2f} [{e[g + '_ci95'][0]:+.2f}, {e[g + '_ci95'][1]:+.2f}] |"
                for g in ("gain_blank", "gain_reversed")) + "\n"
    return md


def results_table(res: dict, names) -> tuple[str, list[list]]:
    models = [n for n in names if n != BLIND]
    header = ["task", "metric", "held-out samples"] + [f"{n} [95% CI]" for n in names]
    header += [f"format % ({n})" for n in models]
    diff = len(models) > 1
    header += [f"{models[-1]} - {models[0]} [95% CI]"] if diff else []
    rows = []
    for key, e in res.items():
        task, metric = key.split(" ")
        row = [task, metric, str(e["samples"])]
        row += [f"{e['mean'][n]:.1f} [{e['ci95'][n][0]:.1f}, {e['ci95'][n][1]:.1f}]" for n in names]
        row += [f"{e['format_rate'][n]:.0f}" for n in models]
        if diff:
            row.append(f"{e['diff']['mean']:+.1f} [{e['diff']['ci95'][0]:+.1f}, {e['diff']['ci95'][1]:+.1f}]")
        rows.append(row)
    md = "| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n"
    md += "".join("| " + " | ".join(r) + " |\n" for r in rows)
    return md, [header] + rows


def blind_rows(config: ml_collections.ConfigDict) -> list[dict]:
    """The blind baseline fitted on the training split and answering the held-out one."""
    cfg = RewardConfig(**config.grpo.rewards.to_dict())
    baseline = blind.fit(records.RecordSource(list(config.data.train_dirs)).samples, cfg)
    return blind.rows(baseline, records.RecordSource(list(config.data.eval_dirs)).samples, cfg)


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


def plot_timelines(rows_by_name: dict[str, list[dict]], path: str, per_task: int = 1):
    """The ground truth and every name's answer, for the first `per_task` held-out samples of each task."""
    names = list(rows_by_name)
    preds = {n: {r["uid"]: r for r in rows} for n, rows in rows_by_name.items()}
    first = rows_by_name[names[-1]]
    chosen = [r for t in TASKS for r in [x for x in first if x["task"] == t][:per_task]]
    fig, axes = plt.subplots(len(chosen), 1, figsize=(11, 0.45 * (len(names) + 1) * len(chosen) + 1), squeeze=False)
    colors = {BLIND: "tab:gray"}
    palette = iter(["tab:orange", "tab:blue", "tab:purple", "tab:red"])
    colors.update({n: next(palette) for n in names if n != BLIND})
    for ax, r in zip(axes[:, 0], chosen):
        lanes = [("ground truth", r["gt"], "tab:green")] + [(n, preds[n][r["uid"]]["pred"], colors[n]) for n in names]
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
    out = os.path.join(config.workdir, "report")
    os.makedirs(out, exist_ok=True)
    rows_by_name = {BLIND: blind_rows(config)}
    rows_by_name.update({n: _load(config.workdir, n) for n in config.eval.checkpoints})
    res = results(rows_by_name)
    md, table = results_table(res, list(rows_by_name))
    gain = video_gain(rows_by_name)
    if gain:
        res = {**res, "video_gain": gain}
        md += ("\nDoes the model look at the video? How many nats likelier its reference answers are with the frames "
               "than with blank frames, and than with the frames in reverse order:\n\n")
        md += video_gain_table(gain)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(md)
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        csv.writer(f).writerows(table)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    plot_curves(config.workdir, os.path.join(out, "reward_curves.png"))
    plot_timelines(rows_by_name, os.path.join(out, "timelines.png"))
    print(md)
    print(f"report written to {out}/ (results.md, results.csv, results.json, reward_curves.png, timelines.png)")
    return {"table": md, "results": res}
