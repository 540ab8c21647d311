"""A selector's wall time, and Figure 3's speed-up over brute force (docs/methods.md, "Wall time").

A selector's wall time = the job that measured its evidence (a Snakemake benchmark file) + its scoring step, minus
the part of that job spent only on the resampling evidence (the samples outside the proxy split, and saving SaLEM's
factors; the job's timing file). BF's time is the proxy share of every sweep job (`selection.run_bf`).
"""

from __future__ import annotations

import csv
import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from goldenlayers.io import read_json
from goldenlayers.selectors import timed


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
    """{layer: wall time of its sweep job} from one benchmark file per sweep file (same order)."""
    if len(benchmarks) != len(layers_per_file):
        raise ValueError("bf: give one benchmark file per sweep file, in the same order")
    seconds = {}
    for layers, bench in zip(layers_per_file, benchmarks):
        for layer in layers:
            seconds[int(layer)] = read_benchmark_seconds(bench)
    return seconds


def speedup_table(selections: Iterable[tuple[str, str, Mapping[str, Any]]],
                  methods: Sequence[str] | None = None) -> pd.DataFrame:
    """Figure 3's data: per (model, dataset) and selector, wall time and speed-up over BF (bf_seconds / seconds).

    BF's time is its `candidate_wall_seconds` (brute force over every candidate layer) where `run_bf` had the
    model's layer count, else its measured time over the swept layers.

    `selections` yields (model, dataset, selection record); the BF record of the same (model, dataset) gives the
    reference time. Rows for `methods` only (default: the registry's timed selectors), in that order; speed-up is
    NaN where a time is missing.
    """
    methods = timed() if methods is None else methods
    by_key: dict[tuple[str, str], dict[str, Mapping[str, Any]]] = {}
    for model, dataset, record in selections:
        by_key.setdefault((model, dataset), {})[record["method"]] = record
    rows = []
    for (model, dataset), records in by_key.items():
        # BF over the same candidates the selectors choose from (every layer) when known, else over the swept ones
        bf_record = records.get("bf") or {}
        bf = bf_record.get("candidate_wall_seconds", bf_record.get("wall_seconds"))
        for method in methods:
            if method not in records:
                continue
            seconds = records[method].get("wall_seconds")
            ok = seconds is not None and bf is not None and seconds > 0
            rows.append({"model": model, "dataset": dataset, "method": method, "wall_seconds": seconds,
                         "bf_seconds": bf, "speedup": (bf / seconds) if ok else math.nan})
    return pd.DataFrame(rows, columns=["model", "dataset", "method", "wall_seconds", "bf_seconds", "speedup"])
