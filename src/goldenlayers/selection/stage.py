"""The selection stage's body (`goldenlayers select`): read one selector's evidence, restrict it to the proxy
split, choose, and add the wall time of the job that measured the evidence."""

from __future__ import annotations

import time
from typing import Mapping, Sequence


def read_evidence(method: str, paths: Mapping[str, object], split: dict | None,
                  benchmarks: Sequence[str] | None = None) -> dict:
    """{need: table} of selector `method`, over the proxy samples of `split` (None: every sample). BF's sweep gets
    the split joined in (sweep files are keyed by the sample set) and, with the sweep jobs' benchmark files, each
    layer's job seconds. "selections" (verify, consensus) are selection JSON files, keyed by their `method`; with a
    split, its `proxy` list is the proxy order whose first m facts verify and BF(m) edit."""
    import pandas as pd

    from goldenlayers import walltime
    from goldenlayers.io import read_json, read_parquet
    from goldenlayers.selection import registry
    from goldenlayers.stats import SWEEP_KEYS, with_split

    spec = registry.spec(method)
    tables = {}
    for need in spec.needs:
        given = paths.get(need)
        if not given:
            raise ValueError(f"selector {method!r} needs --{need} ({registry.EVIDENCE[need]})")
        if need == "sweep":
            frames = [read_parquet(p, columns=SWEEP_KEYS) for p in given]
            sweep = pd.concat(frames, ignore_index=True)
            tables["sweep"] = with_split(sweep, split) if split is not None else sweep
            if benchmarks:
                tables["sweep_job_seconds"] = walltime.sweep_job_seconds([f["layer"].unique() for f in frames],
                                                                         benchmarks)
        elif need == "selections":
            records = [read_json(p) for p in ([given] if isinstance(given, str) else given)]
            tables["selections"] = {str(r["method"]): r for r in records}
        else:
            tables[need] = read_parquet(given, columns=("sample_id", "layer") if need != "saliency" else ("layer",))
    if split is not None:
        tables["proxy_order"] = [str(s) for s in split["proxy"]]
    return registry.proxy_evidence(tables, split["proxy"] if split is not None else None)


def select(method: str, paths: Mapping[str, object], split: dict | None, layers: Sequence[int] | None,
           params: Mapping[str, object], benchmarks: Sequence[str] | None = None, timing: str | None = None,
           key: Mapping[str, str] | None = None) -> dict:
    """The selection record of `method`: its choice, `key` (model/dataset names the tables key it by) and, for a
    selector that reads measurements, its wall time (`walltime.add_wall_time`)."""
    from goldenlayers import walltime
    from goldenlayers.selection import registry

    spec = registry.spec(method)
    started = time.perf_counter()
    evidence = read_evidence(method, paths, split, benchmarks)
    record = registry.run(method, evidence, layers, params)
    # the tables key a selection by these, not by where its file happens to lie
    record.update(key or {})
    if spec.stage in ("gradient", "trace"):
        benchmark = benchmarks[0] if benchmarks else None
        walltime.add_wall_time(record, time.perf_counter() - started, spec.stage, benchmark, timing)
    return record
