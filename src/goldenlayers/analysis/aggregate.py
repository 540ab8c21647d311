"""The analysis stage's aggregate (`goldenlayers aggregate`): one (model, dataset, editor)'s sweep files with the
split joined in, per-layer statistics, golden layers, t-tests, and every selector's choice, a multi-layer selector
(Random) reported as the mean of its layers' metrics."""

from __future__ import annotations

from typing import Any, Mapping, Sequence


def aggregate(sweep_paths: Sequence[str], split: dict | None, selection_paths: Sequence[str], metric: str,
              key: Mapping[str, Any], out_sweep: str, out_stats: str, out_summary: str) -> dict:
    """Write the aggregated sweep, its layer statistics and the summary (keyed by `key`: model, dataset, editor);
    return the summary. `split` labels the rows proxy/test (the sequential sweep's rows carry their own label)."""
    import pandas as pd

    from goldenlayers.io import read_json, read_parquet, write_json, write_parquet
    from goldenlayers.stats import SWEEP_KEYS, layer_stats, summarise_sweep, with_split

    sweep = pd.concat([read_parquet(p, columns=SWEEP_KEYS) for p in sweep_paths], ignore_index=True)
    if "split" not in sweep.columns:
        if split is None:
            raise ValueError("the sweep files carry no proxy/test label: pass --split (split.json)")
        sweep = with_split(sweep, split)
    sweep = sweep.sort_values(["layer", "split", "sample_id"], kind="stable").reset_index(drop=True)
    # Random: several layers, reported as the mean of their metrics
    selected, multi = selected_layers([read_json(path) for path in selection_paths])
    # the report keys its tables and figures by these, not by where the file happens to lie
    summary = {**key, **summarise_sweep(sweep, metric=metric, selected_layers=selected)}
    for name, keys in multi.items():
        summary["selected"] = mean_of_selected(summary["selected"], name, keys)
    write_parquet(out_sweep, sweep)
    write_parquet(out_stats, layer_stats(sweep))
    write_json(out_summary, summary)
    return summary


def selected_layers(records: Sequence[Mapping[str, Any]]) -> tuple[dict[str, int | None], dict[str, list[str]]]:
    """From selection records: ({key: layer} for `stats.summarise_sweep`, {name: keys} of the multi-layer
    selectors). A multi-layer record's layers get the keys "<name>#0", "<name>#1", ... for `mean_of_selected`."""
    selected, multi = {}, {}
    for record in records:
        if record.get("chosen_layers") is not None:
            keys = [f"{record['method']}#{i}" for i in range(len(record["chosen_layers"]))]
            selected.update(zip(keys, record["chosen_layers"]))
            multi[record["method"]] = keys
        else:
            selected[record["method"]] = record["chosen_layer"]
    return selected, multi


def mean_of_selected(selected: Mapping[str, dict], name: str, keys: Sequence[str]) -> dict:
    """Replace the `summarise_sweep` entries `keys` (one per layer of a multi-layer selector such as Random) by one
    entry `name` = {layer: None, layers, test: {metric: mean over the layers}}, at the position of the first key.

    A metric is None only when no layer has it (a layer that was not swept has None and is left out of the mean).
    """
    import numpy as np

    entries = [selected[k] for k in keys]
    metrics = list(entries[0]["test"]) if entries else []
    test = {}
    for m in metrics:
        values = [e["test"].get(m) for e in entries if e["test"].get(m) is not None]
        test[m] = float(np.mean(values)) if values else None
    merged = {"layer": None, "layers": [e["layer"] for e in entries], "test": test}
    out: dict[str, dict] = {}
    for key, value in selected.items():
        if key in keys:
            if name not in out:
                out[name] = merged
        else:
            out[key] = value
    return out
