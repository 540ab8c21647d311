"""Benchmark CMA's causal trace with and without the cached tokens before the subject, side by side.

`trace_records` on the README's requests (`examples/capitals-10.json`, "The capital of X is": 3 of ~6 tokens come
before the subject) and on Counterfact-shaped ones whose subject opens the prompt (nothing to cache), on the
embedded SmolLM2-135M, ROME's settings (10 noise draws, 10-layer window, all 30 layers). The two variants run
interleaved, `--rounds` times; "full" is the same code with `_prefix_cache` returning None (every corrupted row runs
the whole prompt), so the comparison is the cache and nothing else. Also reports the largest difference between the
two variants' restored probabilities and whether CMA picks the same layer.

Usage: python benchmarks/bench_trace.py [--rounds 2] [--threads 2] [--out benchmarks/results/trace.json]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from goldenlayers.io import write_json
from goldenlayers.measure import causal_trace
from goldenlayers.measure.causal_trace import TraceSettings, subject_embedding_std, trace_records
from goldenlayers.selection.baselines import run_cma
from goldenlayers.suggest import as_records, open_model, read_requests

REPO = Path(__file__).resolve().parents[1]


def subject_first(records: list[dict]) -> list[dict]:
    """The same facts with the subject opening the prompt ("France's capital is"), as most Counterfact prompts do."""
    return [{**r, "id": r["id"] + "-s", "prompt": f"{r['subject']}'s capital city is"} for r in records]


def timed_trace(model, tok, records, std, cached: bool):
    real = causal_trace._prefix_cache
    if not cached:
        causal_trace._prefix_cache = lambda m, ids, n: None
    try:
        started = time.perf_counter()
        effects = trace_records(model, tok, records, std, settings=TraceSettings(), progress=False)
        return time.perf_counter() - started, effects
    finally:
        causal_trace._prefix_cache = real


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "benchmarks/results/trace.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, tok = open_model("embedded:smollm2-135m")
    capitals = as_records(read_requests(REPO / "examples/capitals-10.json"))
    result = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "threads": args.threads, "rounds": args.rounds, "date": time.strftime("%Y-%m-%d"), "sets": {}}
    for name, records in (("subject after 3 tokens (capitals-10)", capitals),
                          ("subject first", subject_first(capitals))):
        std = TraceSettings().noise_multiplier * subject_embedding_std(model, tok, records)
        seconds = {"cached": [], "full": []}
        last = {}  # each variant's effects of its last round
        for _ in range(args.rounds):
            for variant in ("full", "cached"):
                s, last[variant] = timed_trace(model, tok, records, std, variant == "cached")
                seconds[variant].append(s)
        full, cached = last["full"], last["cached"]
        diff = float(np.max(np.abs(cached["restored_prob"].to_numpy() - full["restored_prob"].to_numpy())))
        same = run_cma(cached)["chosen_layer"] == run_cma(full)["chosen_layer"]
        row = {"records": len(records), "full_s": min(seconds["full"]), "cached_s": min(seconds["cached"]),
               "ratio": min(seconds["cached"]) / min(seconds["full"]), "max_abs_diff": diff, "same_cma_pick": same,
               "all_seconds": seconds}
        result["sets"][name] = row
        print(f"{name}: full {row['full_s']:.1f} s, cached {row['cached_s']:.1f} s (x{row['ratio']:.2f}); "
              f"max |diff| {diff:.1e}; same CMA pick: {same}")
    write_json(args.out, result)


if __name__ == "__main__":
    main()
