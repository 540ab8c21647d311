"""The study archive's stored SaLEM saliency at SmolLM2-135M's dims (no model): one process packs the saliency of every
proxy set the draws use (docs/archive.md), a second one draws from the factors and from the stored values and checks
the draws, verdicts, curve and bootstrap over facts are equal; prints the seconds of each. 30 facts x 30 layers,
8 tokens each, d_in 1536, d_out 576, one torch thread (the resample stage's).

    cd <tmp dir>; PYTHONPATH=<repo>/src python <repo>/benchmarks/bench_archive.py pack
    PYTHONPATH=<repo>/src python <repo>/benchmarks/bench_archive.py compare
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from goldenlayers.analysis import resampling
from goldenlayers.analysis.archive import load_saliency_store, write_table
from goldenlayers.measure.factors import salem_saliency

torch.set_num_threads(1)  # the resample stage's
S, L, T, DI, DO = 30, 30, 8, 1536, 576
rng = np.random.default_rng(0)
ids = [f"s{i}" for i in range(S)]
g = torch.Generator().manual_seed(0)
factors = {"sample_ids": ids, "layers": list(range(L)), "offsets": np.arange(0, (S + 1) * T, T),
           "x": {l: torch.randn(S * T, DI, generator=g) for l in range(L)},
           "d": {l: torch.randn(S * T, DO, generator=g) * 1e-3 for l in range(L)}, "provenance": {}}
sweep = pd.DataFrame({"sample_id": np.repeat(ids, L), "layer": np.tile(np.arange(L), S), "split": "test",
                      "rewrite": rng.integers(0, 3, S * L) / 2, "status": "ok"})
settings = dict(n_proxy=8, n_draws=60, curve_sizes=[3, 15], curve_draws=10, replicates=8, replicate_draws=2, seed=42)
ev = resampling.build_evidence(sweep, factors=factors)
if sys.argv[1] == "pack":
    t = time.perf_counter()
    rows = {}
    for e, sids, origin in resampling.proxy_sets(ev, *settings.values()):
        k = resampling.proxy_key(origin)
        if k not in rows:
            rows[k] = [k, len(sids), *salem_saliency(e["factors"], sids, e["layers"])["saliency"].to_list()]
    frame = pd.DataFrame(list(rows.values()), columns=["key", "n_samples", *(f"layer_{l}" for l in range(L))])
    write_table(Path("store.parquet"), frame, {"format": "goldenlayers.study_archive.v1", "samples": ev["samples"],
                "layers": ev["layers"], "n_entries": {str(l): DI * DO for l in range(L)}, "settings": settings})
    print("packed", len(rows), "sets in", round(time.perf_counter() - t, 1), "s")
else:
    store = load_saliency_store("store.parquet")
    ev2 = resampling.build_evidence(sweep, saliency_store=store)
    s = settings
    for e in (ev, ev2):
        t = time.perf_counter()
        d, v = resampling.resample(e, s["n_proxy"], s["n_draws"], s["seed"])
        c = resampling.proxy_size_curve(e, s["curve_sizes"], s["curve_draws"], s["seed"])
        f = resampling.fact_bootstrap(e, s["n_proxy"], s["replicates"], s["replicate_draws"], s["seed"])
        e["out"] = (d, v, c, f)
        print("resampled in", round(time.perf_counter() - t, 1), "s")
    for a, b in zip(ev["out"], ev2["out"]):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    print("equal; salem layers drawn:", sorted(ev["out"][0].query("selector == 'salem'")["layer"].unique()))
