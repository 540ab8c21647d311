"""Cost of the verdict additions to the resampling stage on a synthetic case of the default run's size (no model).

20 facts (7 proxy / 13 test), 6 swept layers (the grid 0, 7, 14, 21, 28 + one added layer, 3), SmolLM2-135M's
edited-weight shape and gradient factors for 30 layers (`bench_resampling.synthetic`); the whole stage as the
pipeline runs it (`run_resampling`: 200 draws over the grid, the proxy-size curve, the bootstrap over facts with the
default 100 replicates x 2 draws, the paired tests) and then Tables 16, 17 and 1 per metric. Writes
benchmarks/results/verdict.json.

    PYTHONPATH=src python benchmarks/bench_verdict.py [--replicates 100] [--fact-draws 2]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI does

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_resampling import synthetic  # noqa: E402

from goldenlayers.report.write import write_tables  # noqa: E402
from goldenlayers.analysis.resampling_report import run_resampling  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicates", type=int, default=100)
    parser.add_argument("--fact-draws", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/verdict.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    grid, swept = [0, 7, 14, 21, 28], [0, 3, 7, 14, 21, 28]
    sweep, grads, effects, factors = synthetic(20, swept)
    sweep["split"] = ["proxy" if s < "s007" else "test" for s in sweep["sample_id"]]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sweep.to_parquet(tmp / "sweep.parquet")
        grads.to_parquet(tmp / "grads.parquet")
        effects.to_parquet(tmp / "effects.parquet")
        factors.save(tmp / "factors.safetensors", provenance={"what": "bench"})
        ids = sorted(sweep["sample_id"].unique())
        (tmp / "split.json").write_text(json.dumps({"proxy": ids[:7], "test": ids[7:]}))
        (tmp / "plan.json").write_text(json.dumps({"grid": grid, "chosen": {"lga": 3}, "added": [3], "layers": swept}))
        (tmp / "agg.json").write_text(json.dumps({"proxy_golden_layer": 0, "selected": {
            "lga": {"layer": 3}, "lga_kprime": {"layer": 3}, "salem": {"layer": 0}, "cma": {"layer": 3},
            "random": {"layer": None, "layers": [7, 14, 28]}}}))
        run_dir = tmp / "results/m/d/resampling/r-rome"
        started, cpu = time.perf_counter(), time.process_time()
        summary = run_resampling(str(tmp / "sweep.parquet"), str(tmp / "split.json"), str(run_dir),
                                 gradients_path=str(tmp / "grads.parquet"),
                                 factors_path=str(tmp / "factors.safetensors"),
                                 effects_path=str(tmp / "effects.parquet"), n_draws=200, curve_draws=50,
                                 sizes=(3, 5, 10, 20, 50), seed=42, key={"model": "m", "dataset": "d",
                                                                         "editor": "r-rome"},
                                 plan_path=str(tmp / "plan.json"), aggregate_path=str(tmp / "agg.json"),
                                 fact_replicates=args.replicates, fact_draws=args.fact_draws)
        stage_wall, stage_cpu = time.perf_counter() - started, time.process_time() - cpu
        started = time.perf_counter()
        write_tables(["table16", "table17", "table1_by_metric"], [str(run_dir / "summary.json")], str(tmp / "out"))
        tables_wall = time.perf_counter() - started
    result = {"facts": 20, "swept_layers": swept, "candidates": grid, "draws": 200,
              "fact_bootstrap": {"replicates": args.replicates, "draws": args.fact_draws},
              "stage_wall_s": stage_wall, "stage_cpu_s": stage_cpu, "parts_wall_s": summary["seconds"],
              "tables_wall_s": tables_wall, "load_average": os.getloadavg(), "python": platform.python_version()}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
