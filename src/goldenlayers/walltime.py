"""A selector's wall time, and Figure 3's speed-up over brute force (docs/methods.md, "Wall time").

A selector's wall time = the job that measured its evidence (a Snakemake benchmark file) + its scoring step, minus
the part of that job spent only on the resampling evidence (the samples outside the proxy split, and saving SaLEM's
factors; the job's timing file). BF's time is the proxy share of every sweep job (`selection.baselines.run_bf`).
"""

from __future__ import annotations

import csv
from typing import Iterable, Sequence

import numpy as np

from goldenlayers.io import read_json


def read_benchmark_seconds(path) -> float:
    """Wall time (column `s`) of a Snakemake benchmark file; the mean if the job was repeated."""
    with open(path) as f:
        values = [float(row["s"]) for row in csv.DictReader(f, delimiter="\t")]
    if not values:
        raise ValueError(f"benchmark file {path} has no rows")
    return float(np.mean(values))


def with_evidence_seconds(timing: dict) -> dict:
    """`timing` (a measuring job's seconds per part) plus `evidence_only_seconds`: the part of the job that only the
    resampling evidence needs (every pass after the proxy's, and saving the SaLEM factors); a selector's wall time
    leaves it out."""
    extra = sum(v for k, v in timing.items() if k.endswith("_seconds") and k != "proxy_seconds")
    return {**timing, "evidence_only_seconds": float(extra) if "proxy_seconds" in timing else 0.0}


def add_wall_time(record: dict, scoring_seconds: float, stage: str, benchmark: str | None = None,
                  timing: str | None = None) -> dict:
    """Add to a selection `record` its `scoring_seconds` and, given the measuring `stage`'s benchmark file (and
    its timing file), `<stage>_seconds` and `wall_seconds` = stage job - its evidence-only part + scoring."""
    record["scoring_seconds"] = scoring_seconds
    if benchmark:
        record[f"{stage}_seconds"] = read_benchmark_seconds(benchmark)
        evidence = float(read_json(timing).get("evidence_only_seconds", 0.0)) if timing else 0.0
        if evidence:
            record["evidence_only_seconds"] = evidence
            record["wall_time_rule"] = f"{stage} job - its evidence-only part (non-proxy samples) + scoring"
        record["wall_seconds"] = max(record[f"{stage}_seconds"] - evidence, 0.0) + record["scoring_seconds"]
    return record


def sweep_job_seconds(layers_per_file: Sequence[Iterable[int]], benchmarks: Sequence[str]) -> dict[int, float]:
    """{layer: wall time of its sweep jobs} from the Snakemake benchmark files of the jobs that wrote each sweep
    file, same order: one per file, or K consecutive ones per file when each layer was swept in K chunk jobs (a
    layer then costs the sum of its chunks: what BF pays for it)."""
    if not layers_per_file or len(benchmarks) % len(layers_per_file) or not benchmarks:
        raise ValueError(f"bf: give the benchmark files of every sweep job, the same number per sweep file and in "
                         f"the same order ({len(benchmarks)} files for {len(layers_per_file)} sweep files)")
    per_file = len(benchmarks) // len(layers_per_file)
    seconds = {}
    for i, layers in enumerate(layers_per_file):
        job = sum(read_benchmark_seconds(b) for b in benchmarks[i * per_file : (i + 1) * per_file])
        for layer in layers:
            seconds[int(layer)] = job
    return seconds

