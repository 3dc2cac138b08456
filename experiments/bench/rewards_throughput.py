"""Rewards throughput: the jit-compiled device path against the host regex-and-Python path, on the same inputs.

4,096 completions of 256 Qwen tokens each (a think block filling the budget, then an answer; mixed tasks, a tenth
malformed). The device path starts from the token ids; the host path, as the peers do it, decodes the ids to text
(batch decode, Rust) and applies the regex grammar and float64 Python rewards (`tempr1_jax.rewards.reference`).
Compilation and table building are excluded; each path is timed over the same batch and the best of `--repeats`.

    .venv/bin/python experiments/bench/rewards_throughput.py
"""
from __future__ import annotations

import argparse
import random
import time

import jax
import numpy as np

from tempr1_jax.processing.tokenizer import load_tokenizer
from tempr1_jax.rewards import RewardConfig, TASKS, build_token_tables, compute_rewards, ground_truth_arrays
from tempr1_jax.rewards import reference
from tempr1_jax.rewards.vocab import vocab_from_tokenizer

WORDS = "the person opens a door then walks to the table and picks up a cup at about seconds later".split()


def make_batch(tok, n: int, length: int, seed: int):
    rng = random.Random(seed)
    ids = np.full((n, length), tok.pad_id, np.int32)
    tasks, targets = [], []
    open_id, close_id = tok.token_id("<think>"), tok.token_id("</think>")
    for k in range(n):
        task = rng.choice(TASKS)
        m = 1 if task == "tg" else rng.randint(1, 8)
        starts = sorted(round(rng.uniform(0, 200), 2) for _ in range(m))
        pred = [(s, round(s + rng.uniform(0.5, 20), 2)) for s in starts]
        listed = ", ".join(f"{s:.2f} to {e:.2f}" for s, e in pred)
        if rng.random() < 0.1:  # malformed: reversed interval
            listed = listed.replace(" to ", " to -", 1)
        answer = f"<answer>{listed}</answer>"
        if task == "gvqa":
            answer = f"<answer>{'ABCDE'[rng.randrange(5)]}</answer><evidence>{listed}</evidence>"
        tail = tok.encode("\n" + answer) + [tok.eos_id]
        think = tok.encode(" ".join(rng.choice(WORDS) + (f" {rng.uniform(0, 99):.1f}" if rng.random() < 0.2 else "")
                                    for _ in range(length)))
        row = [open_id] + think[: length - len(tail) - 2] + [close_id] + tail
        ids[k, : len(row)] = row
        gt_starts = sorted(round(rng.uniform(0, 200), 2) for _ in range(1 if task == "tg" else rng.randint(1, 8)))
        targets.append({"intervals": [[s, s + rng.uniform(0.5, 20)] for s in gt_starts], "duration": 240.0,
                        "answer": rng.randrange(5)})
        tasks.append(TASKS.index(task))
    return ids, np.asarray(tasks, np.int32), targets


def host_path(tok, vocab, ids: np.ndarray, tasks: np.ndarray, targets, cfg: RewardConfig) -> np.ndarray:
    rows = []
    for row in ids.tolist():
        end = next((k for k, i in enumerate(row) if i in vocab.end_ids), len(row))
        rows.append(row[:end])
    texts = tok._tok.decode_batch(rows, skip_special_tokens=False)
    return np.array([reference.rewards(TASKS[t], text, target, cfg)["total"]
                     for t, text, target in zip(tasks, texts, targets)])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--length", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    tok = load_tokenizer()
    vocab = vocab_from_tokenizer(tok)
    tables = build_token_tables(vocab)
    cfg = RewardConfig()
    ids, tasks, targets = make_batch(tok, args.n, args.length, seed=0)
    gt = {k: jax.device_put(v) for k, v in ground_truth_arrays(targets).items()}
    device_ids, device_tasks = jax.device_put(ids), jax.device_put(tasks)
    lengths = jax.device_put(np.full(args.n, args.length, np.int32))
    run = jax.jit(compute_rewards, static_argnames="cfg")

    def device():
        return jax.block_until_ready(run(tables, device_ids, lengths, device_tasks, **gt, cfg=cfg))

    def timed(fn):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        return result, time.perf_counter() - wall, time.process_time() - cpu

    device()  # compile
    runs_device, runs_host = [], []
    for _ in range(args.repeats):
        out, *t = timed(device)
        runs_device.append(t)
        host_total, *t = timed(lambda: host_path(tok, vocab, ids, tasks, targets, cfg))
        runs_host.append(t)
    max_diff = float(np.max(np.abs(np.asarray(out["total"]) - host_total)))
    (d, d_cpu), (h, h_cpu) = np.min(runs_device, axis=0), np.min(runs_host, axis=0)
    print(f"backend={jax.default_backend()} completions={args.n} tokens={args.length} "
          f"well_formed={float(np.mean(np.asarray(out['format']))):.2f}")
    # CPU time (all threads) is the steadier figure on a shared machine; the host path is single-threaded.
    print(f"device (jit, from ids):         wall {d * 1e3:7.1f} ms  cpu {d_cpu * 1e3:7.1f} ms  ({args.n / d:8.0f}/s)")
    print(f"host (decode + regex + python): wall {h * 1e3:7.1f} ms  cpu {h_cpu * 1e3:7.1f} ms  ({args.n / h:8.0f}/s)")
    print(f"speed-up: {h / d:.1f}x wall, {h_cpu / d_cpu:.1f}x cpu   max |total_device - total_host| = {max_diff:.2e}")


if __name__ == "__main__":
    main()
