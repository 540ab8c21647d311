"""Benchmark the per-layer gradient extraction on the real default model.

Measured side by side, interleaved over a few rounds (the minimum per measurement is reported, which is the
least disturbed by other processes on a shared machine):

  (a) plain forward + loss.backward() of the same sequences (old and new of a sample as one batch of 2), no hooks:
      a1 with every parameter requiring grad (an ordinary training step), a2 with only the edited weights.
  (b) `extract_layer_gradients` (all layers, auto branch) at batch sizes 1, 2 and 8 sequences per pass;
      ratio (b, batch 2) / (a1) like for like, target <= 2.5, and the default batch size against (a1).
  (c) identity vs materialised inner products + norms over all layers on the captured keys and output gradients;
      speed ratio (target >= 10) and the largest relative difference.

Usage: python benchmarks/bench_gradients.py [--model-json PATH] [--out benchmarks/results/gradients.json]
       [--rounds 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from goldenlayers.measure.gradients import (
    DEFAULT_BATCH_SIZE,
    answer_labels,
    answer_loss,
    capture_keys_and_grads,
    extract_layer_gradients,
    old_and_new_sequences,
    pair_products,
)
from goldenlayers.io import write_json
from goldenlayers.models import edited_module, load_prepared, num_layers
from goldenlayers.text import pad_batch

CAPITALS = [
    ("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Japan", "Tokyo"),
    ("Russia", "Moscow"), ("Egypt", "Cairo"), ("Greece", "Athens"), ("Poland", "Warsaw"), ("Austria", "Vienna"),
    ("Portugal", "Lisbon"), ("Ireland", "Dublin"), ("Norway", "Oslo"), ("Sweden", "Stockholm"),
    ("Finland", "Helsinki"), ("Hungary", "Budapest"), ("Thailand", "Bangkok"), ("Kenya", "Nairobi"),
    ("Argentina", "Buenos Aires"), ("Canada", "Ottawa"),
]


def make_records() -> list[dict]:
    """Capital-city edits; the new target is the next country's capital."""
    records = []
    for i, (country, capital) in enumerate(CAPITALS):
        records.append({
            "id": f"cap{i:02d}",
            "relation": "capital",
            "subject": country,
            "prompt": f"The capital of {country} is",
            "ground_truth": capital,
            "target_new": CAPITALS[(i + 1) % len(CAPITALS)][1],
            "rephrase_prompts": [],
            "locality": [],
            "portability": [],
        })
    return records


def plain_backward(model, pairs, pad_id, params) -> None:
    for p in params:
        p.requires_grad_(True)
    try:
        for old, new in pairs:
            input_ids, mask = pad_batch([list(old.input_ids), list(new.input_ids)], pad_id)
            labels = answer_labels([old, new], input_ids.shape[1])
            loss = answer_loss(model(input_ids=input_ids, attention_mask=mask, use_cache=False).logits, labels).sum()
            loss.backward()
            for p in params:
                p.grad = None
    finally:
        for p in params:
            p.requires_grad_(False)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-json", default="/tmp/gl/models/smollm2-135m/model.json")
    parser.add_argument("--out", default="benchmarks/results/gradients.json")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=1,
        help="torch intra-op threads (default 1: on a shared 2-core machine, 2 threads competing with other busy "
        "processes made a forward pass ~30x slower)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    model, tok = load_prepared(args.model_json, device="cpu")
    records = make_records()
    pad_id = tok.pad_token_id
    pairs = [old_and_new_sequences(model, tok, r)[:2] for r in records]
    lengths = [len(s.input_ids) for pair in pairs for s in pair]
    all_params = list(model.parameters())
    edited = [edited_module(model, layer).weight for layer in range(num_layers(model))]
    batch_sizes = sorted({1, 2, 8, DEFAULT_BATCH_SIZE})

    runs = {
        "a1_plain_fwd_bwd_all_params": lambda: plain_backward(model, pairs, pad_id, all_params),
        "a2_plain_fwd_bwd_edited_weights": lambda: plain_backward(model, pairs, pad_id, edited),
        **{
            f"b_extract_batch{bs}": (
                lambda bs=bs: extract_layer_gradients(model, tok, records, progress=False, batch_size=bs)
            )
            for bs in batch_sizes
        },
    }
    # warm-up (allocator, lazy init), then interleaved rounds
    plain_backward(model, pairs[:2], pad_id, all_params)
    extract_layer_gradients(model, tok, records[:2], progress=False)
    times: dict[str, list[float]] = {name: [] for name in runs}
    load_before = os.getloadavg()
    for _ in range(args.rounds):
        for name, fn in runs.items():
            times[name].append(timed(fn))
    best = {name: min(ts) for name, ts in times.items()}

    # (c) identity vs materialised on the captured X, D of every sample, all layers at once
    layers = list(range(num_layers(model)))
    captured = []
    for old, new in pairs:
        cap_old, cap_new = capture_keys_and_grads(model, [old, new], pad_id, layers)
        stack = lambda cap, j: torch.stack([cap[layer][j] for layer in layers])  # noqa: E731
        captured.append((stack(cap_old, 0), stack(cap_old, 1), stack(cap_new, 0), stack(cap_new, 1)))
    branch_times: dict[str, list[float]] = {"identity": [], "materialise": []}
    results: dict[str, list] = {"identity": [], "materialise": []}
    for _ in range(args.rounds):
        for method in ("identity", "materialise"):
            out = []
            branch_times[method].append(timed(lambda: out.extend(pair_products(*c, method=method) for c in captured)))
            results[method] = out
    rel = []
    for (dot_i, sa_i, sb_i), (dot_m, sa_m, sb_m) in zip(results["identity"], results["materialise"]):
        rel.append(float(((sa_i - sa_m).abs() / sa_m).max()))
        rel.append(float(((sb_i - sb_m).abs() / sb_m).max()))
        rel.append(float(((dot_i - dot_m).abs() / (sa_m * sb_m).sqrt()).max()))
    branch_best = {m: min(ts) for m, ts in branch_times.items()}

    d_in = edited_module(model, 0).in_features
    d_out = edited_module(model, 0).out_features
    default_key = f"b_extract_batch{DEFAULT_BATCH_SIZE}"
    report = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(),
            "torch": torch.__version__,
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
        },
        "model": args.model_json,
        "n_samples": len(records),
        "n_layers": len(layers),
        "d_in": d_in,
        "d_out": d_out,
        "sequence_lengths": {"min": min(lengths), "max": max(lengths), "mean": float(np.mean(lengths))},
        "rounds": args.rounds,
        "seconds_min": best,
        "seconds_all": times,
        "default_batch_size": DEFAULT_BATCH_SIZE,
        # like for like: both in batches of 2 sequences (one sample's old + new)
        "ratio_extract_vs_plain_all_params": best["b_extract_batch2"] / best["a1_plain_fwd_bwd_all_params"],
        "ratio_extract_vs_plain_edited_weights": best["b_extract_batch2"] / best["a2_plain_fwd_bwd_edited_weights"],
        "ratio_extract_default_batch_vs_plain_all_params": best[default_key] / best["a1_plain_fwd_bwd_all_params"],
        "inner_products": {
            "seconds_min": branch_best,
            "seconds_all": branch_times,
            "speedup_identity_vs_materialise": branch_best["materialise"] / branch_best["identity"],
            "max_relative_difference": max(rel),
        },
    }

    print(f"SmolLM2-135M, {len(records)} samples x {len(layers)} layers, {os.cpu_count()} CPUs, "
          f"{torch.get_num_threads()} torch threads, load {load_before[0]:.1f}")
    print(f"{'measurement':40s} {'best s':>8s} {'vs a1':>7s}")
    for name, t in best.items():
        print(f"{name:40s} {t:8.3f} {t / best['a1_plain_fwd_bwd_all_params']:7.2f}")
    ip = report["inner_products"]
    print(f"{'c_identity (all samples, all layers)':40s} {branch_best['identity']:8.3f}")
    print(f"{'c_materialise (all samples, all layers)':40s} {branch_best['materialise']:8.3f}")
    print(f"extract/plain ratio, both batch 2: {report['ratio_extract_vs_plain_all_params']:.2f} vs a1, "
          f"{report['ratio_extract_vs_plain_edited_weights']:.2f} vs a2 (target <= 2.5); default batch "
          f"{DEFAULT_BATCH_SIZE}: {report['ratio_extract_default_batch_vs_plain_all_params']:.2f} vs a1")
    print(f"identity speed-up {ip['speedup_identity_vs_materialise']:.1f}x (target >= 10); "
          f"max rel diff {ip['max_relative_difference']:.2e}")
    write_json(args.out, report)
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
