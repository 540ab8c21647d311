"""Cost of the resampling stage on a synthetic case of the default run's shape (no model needed).

30 samples x 10 swept layers (8 grid + 2 added), SmolLM2-135M's edited-weight shape (d_in 1536, d_out 576), 8 tokens
per new-knowledge sequence, 30 layers of gradient factors; R = 200 draws at the default proxy size (10) and the
proxy-size curve (3, 5, 10, 20; 50 draws each). Also the size of the SaLEM factors against per-sample gradient
sums. Writes benchmarks/results/resampling.json.

    PYTHONPATH=src python benchmarks/bench_resampling.py [--samples 30] [--draws 200] [--curve-draws 50]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI does: spinning threads crawl on busy cores

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from goldenlayers.analysis import resampling
from goldenlayers.measure import factors as evidence


def synthetic(n_samples: int, swept: list[int], n_layers: int = 30, tokens: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = [f"s{i:03d}" for i in range(n_samples)]
    rows = []
    for i, sid in enumerate(ids):
        for layer in swept:
            rows.append({"sample_id": sid, "split": "proxy" if i < 10 else "test", "layer": layer, "editor": "r-rome",
                         "rewrite": float(rng.random() < 0.9 - 0.02 * layer), "rephrase": float(rng.random() < 0.5),
                         "locality": rng.random(), "portability": rng.random(), "status": "ok"})
    sweep = pd.DataFrame(rows)
    grads = pd.DataFrame([{"sample_id": sid, "layer": layer, "dot_old_new": rng.normal(), "sq_norm_old": rng.random(),
                           "sq_norm_new": rng.random()} for sid in ids for layer in range(n_layers)])
    effects = pd.DataFrame([{"sample_id": sid, "layer": layer, "correct": bool(i % 4), "indirect_effect": rng.random()}
                            for i, sid in enumerate(ids) for layer in range(n_layers)])
    factors = evidence.NewGradientFactors()
    gen = torch.Generator().manual_seed(seed)
    for sid in ids:
        factors.add_sample(sid, {layer: (torch.randn(tokens, 1536, generator=gen),
                                         torch.randn(tokens, 576, generator=gen)) for layer in range(n_layers)})
    return sweep, grads, effects, factors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--curve-draws", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/results/resampling.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    swept = [0, 4, 8, 12, 16, 20, 24, 28, 5, 13]
    sweep, grads, effects, factors = synthetic(args.samples, sorted(swept))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "factors.safetensors"
        factors.save(path)
        factor_bytes = path.stat().st_size
        started = time.perf_counter()
        loaded = evidence.load_factors(path)
        load_seconds = time.perf_counter() - started
    per_sample_sum_bytes = 30 * 1536 * 576 * 4  # one float32 gradient per layer and sample
    started = time.perf_counter()
    ev = resampling.build_evidence(sweep, grads, loaded, effects)
    build_seconds = time.perf_counter() - started
    # CPU time next to wall time: on shared, overloaded cores the wall time says more about the neighbours
    started, cpu = time.perf_counter(), time.process_time()
    draws, verdicts = resampling.resample(ev, 10, args.draws, seed=42)
    main_seconds, main_cpu = time.perf_counter() - started, time.process_time() - cpu
    sizes = resampling.proxy_sizes([3, 5, 10, 20, 50], args.samples)
    started, cpu = time.perf_counter(), time.process_time()
    resampling.proxy_size_curve(ev, sizes, args.curve_draws, seed=42)
    curve_seconds, curve_cpu = time.perf_counter() - started, time.process_time() - cpu
    started = time.perf_counter()
    resampling.summarise_draws(draws, ["rewrite", "overall"])
    summary_seconds = time.perf_counter() - started
    result = {
        "date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or platform.machine(),
        "load_average": os.getloadavg()[0], "threads": args.threads, "samples": args.samples,
        "swept_layers": len(swept), "draws": args.draws, "curve_sizes": sizes, "curve_draws": args.curve_draws,
        "factor_file_bytes_per_sample": factor_bytes / args.samples,
        "per_sample_gradient_sum_bytes": per_sample_sum_bytes,
        "load_factors_seconds": load_seconds, "build_evidence_seconds": build_seconds,
        "main_draws_seconds": main_seconds, "main_draws_cpu_seconds": main_cpu, "curve_seconds": curve_seconds,
        "curve_cpu_seconds": curve_cpu, "summary_seconds": summary_seconds,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
