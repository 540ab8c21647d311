"""The cost-regret frontier (beyond the paper): what each selector setting costs in edits against its mean regret.

One row per (selector setting, metric) of a resampling run (`resampling_report.run_resampling`): the registry's
selectors with their configured parameters and the frontier's named settings (`resampling.frontier_settings`:
verify at several k, m and metrics, BF on m proxy facts), all judged in the same draws and the same bootstrap over
facts. Cost in edits (`registry.edits`): 0 for the zero-edit selectors (LGA, LGA(K'), SaLEM, CMA, consensus,
Random), with their measured seconds beside where the pipeline's selection records gave them; k x m for verify;
m x layers for BF on m proxy facts (BF on every proxy fact = BF's edits, the 100 % of `share_of_bf`).

Per cell (model, dataset, editor) and metric: the **best** setting has the lowest mean regret (ties: fewer edits,
then the order of the rows); a setting is **within** the best's CI when its mean regret is at most the upper end of
the best's 95 % CI over facts (its mean is never below the best's, so that is the whole test); it meets the
**ambition** of issue #29 in that cell when it is within and costs at most `BUDGET` (20 %) of BF's edits.
`ambition` asks that of one setting in every cell.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import pandas as pd

from goldenlayers.analysis import resampling
from goldenlayers.selection import registry

# the ambition's budget: a share of BF's edits (proxy facts x candidate layers)
BUDGET = 0.2
TOL = 1e-12
COLUMNS = ["selector", "label", "metric", "edits", "share_of_bf", "seconds", "mean_regret", "facts_low",
           "facts_high", "n_draws", "best", "within_best_ci", "ambition"]


def setting_label(name: str, setting: Mapping[str, Any]) -> str:
    """A row's label: a registry selector's label (verify's with its parameters, so its default setting reads like
    the frontier's), a frontier setting's name as it is."""
    if name in registry.SELECTORS:
        spec = registry.spec(name)
        if name == "verify":
            p = setting.get("params", {})
            return (f"{spec.label} (k={int(p.get('shortlist_k') or registry.SHORTLIST_K)},"
                    f"m={int(p.get('proxy_facts') or registry.VERIFY_FACTS)},"
                    f"{p.get('verify_metric') or registry.VERIFY_METRIC})")
        return f"{spec.label} (1 layer)" if spec.multi_layer else spec.label
    return name


def zero_edit_seconds(selector: str, setting: Mapping[str, Any], measured: Mapping[str, float]) -> float:
    """The measured seconds of a selector that edits nothing: its own (`measured`, the pipeline's wall time);
    consensus, its cheap selectors' measuring jobs, each counted once (LGA and SaLEM share the gradient job: the
    longer of the two is charged); Random 0. NaN when a time is missing."""
    spec = registry.spec(selector)
    if not spec.needs:
        return 0.0
    if "selections" not in spec.needs:
        return float(measured.get(selector, math.nan))
    given = setting.get("params", {}).get("cheap_selectors")
    names = [n.strip() for n in given.split(",")] if given else list(registry.CHEAP_SELECTORS)
    if any(measured.get(name) is None for name in names):
        return math.nan
    per_stage: dict[str, float] = {}
    for name in names:
        stage = registry.spec(name).stage
        per_stage[stage] = max(per_stage.get(stage, 0.0), float(measured[name]))
    return float(sum(per_stage.values()))


def frontier_rows(run: Mapping[str, Any], metrics: Sequence[str]) -> pd.DataFrame:
    """`COLUMNS` for one resampling run ({summary, draws, fact_draws}) and `metrics`: every selector setting's cost
    and mean regret with its CI over facts, the best per metric, which settings are within its CI and which of
    those cost at most `BUDGET` of BF's edits."""
    s = run["summary"]
    settings = s.get("settings") or {}
    present = set(run["draws"]["selector"])
    names = [n for n in resampling.draw_order() if n in present] + [n for n in settings if n in present
                                                                     and n not in resampling.draw_order()]
    frame = resampling.summarise_draws(run["draws"], metrics, seed=s["seed"], names=names)
    facts = resampling.fact_ci(run["fact_draws"], frame).set_index(["selector", "metric"])
    n_proxy, n_layers = int(s["n_proxy"]), len(s["candidate_layers"])
    bf_edits = n_proxy * n_layers
    rows = []
    for r in frame.to_dict("records"):
        name = r["selector"]
        setting = settings.get(name) or {"selector": name, "params": {}}
        edits = registry.edits(setting["selector"], setting["params"], n_proxy, n_layers)
        f = facts.loc[(name, r["metric"])] if (name, r["metric"]) in facts.index else {}
        rows.append({"selector": name, "label": setting_label(name, setting), "metric": r["metric"],
                     "edits": edits, "share_of_bf": edits / bf_edits,
                     "seconds": zero_edit_seconds(setting["selector"], setting, s.get("selector_seconds") or {})
                     if edits == 0 else math.nan,
                     "mean_regret": r["mean_regret"], "facts_low": f.get("facts_low", math.nan),
                     "facts_high": f.get("facts_high", math.nan), "n_draws": r["n_draws"]})
    out = pd.DataFrame(rows, columns=COLUMNS[:10])
    # one block per metric, the settings in row order within it
    out = out.sort_values("metric", key=lambda c: c.map({m: i for i, m in enumerate(metrics)}), kind="stable")
    return mark(out.reset_index(drop=True))


def mark(frame: pd.DataFrame, budget: float = BUDGET) -> pd.DataFrame:
    """`frame` (one cell's rows, any metrics) with `best`, `within_best_ci` and `ambition` per metric. Without a CI
    over facts for the best (no bootstrap), within and ambition are unknown (None)."""
    out = frame.copy()
    out["best"] = False
    out["within_best_ci"] = None
    out["ambition"] = None
    for metric, part in out.groupby("metric", sort=False):
        known = part.dropna(subset=["mean_regret"])
        if known.empty:
            continue
        position = {index: i for i, index in enumerate(known.index)}
        best = min(known.index, key=lambda i: (known.at[i, "mean_regret"], known.at[i, "edits"], position[i]))
        out.loc[best, "best"] = True
        high = known.at[best, "facts_high"]
        if high is None or math.isnan(high):
            continue
        for i in known.index:
            within = bool(known.at[i, "mean_regret"] <= high + TOL)
            out.at[i, "within_best_ci"] = within
            out.at[i, "ambition"] = within and bool(known.at[i, "share_of_bf"] <= budget + TOL)
    return out


def ambition(cells: pd.DataFrame, metric: str = "overall", budget: float = BUDGET) -> pd.DataFrame:
    """Issue #29's ambition across cells: per selector setting (the `selector` column; `cells` holds
    `frontier_rows` of several cells with their key columns model / dataset / editor), for `metric`: in how many
    cells it is within the best's CI over facts, its largest share of BF's edits, whether it meets the ambition in
    every cell (present in every cell, always within, never above `budget`), and its worst gap = the largest
    mean regret minus the best's upper CI end over the cells (<= 0: within everywhere). Sorted: those that meet it,
    then by worst gap."""
    keys = [k for k in ("model", "dataset", "editor") if k in cells.columns]
    part = cells[cells["metric"] == metric]
    if part.empty:
        return pd.DataFrame(columns=["selector", "label", "cells", "cells_within", "max_share_of_bf", "worst_gap",
                                     "meets"])
    n_cells = len(part.groupby(keys).size()) if keys else 1
    best_high = {}
    for key, cell in (part.groupby(keys) if keys else [((), part)]):
        best = cell[cell["best"].astype(bool)]
        best_high[key if isinstance(key, tuple) else (key,)] = float(best["facts_high"].iloc[0]) if len(best) \
            else math.nan
    rows = []
    for name, rows_of in part.groupby("selector", sort=False):
        gaps = [float(r["mean_regret"]) - best_high[tuple(r[k] for k in keys)] for _, r in rows_of.iterrows()]
        within = [g <= TOL for g in gaps]
        share = float(rows_of["share_of_bf"].max())
        rows.append({"selector": name, "label": rows_of["label"].iloc[0], "cells": int(len(rows_of)),
                     "cells_within": int(sum(within)), "max_share_of_bf": share,
                     "worst_gap": max(gaps) if gaps else math.nan,
                     "meets": bool(len(rows_of) == n_cells and all(within) and share <= budget + TOL)})
    out = pd.DataFrame(rows)
    return out.sort_values(["meets", "worst_gap"], ascending=[False, True], kind="stable").reset_index(drop=True)


def ambition_sentence(verdict: pd.DataFrame, metric: str = "overall", budget: float = BUDGET) -> str:
    """One line for the notes / findings: which settings meet the ambition, or how close the nearest within
    budget comes."""
    if verdict.empty:
        return f"ambition ({metric}): no settings to judge"
    met = verdict[verdict["meets"]]
    rule = (f"within the best selector's CI over facts in every cell at <= {budget:.0%} of BF's edits "
            f"({metric} regret)")
    if len(met):
        return f"ambition, {rule}: met by " + ", ".join(met["label"])
    cheap = verdict[verdict["max_share_of_bf"] <= budget + TOL].dropna(subset=["worst_gap"])
    if cheap.empty:
        return f"ambition, {rule}: met by none; no setting costs that little"
    near = cheap.iloc[0]
    return (f"ambition, {rule}: met by none; the closest within budget is {near['label']} (within in "
            f"{near['cells_within']} of {near['cells']} cells, worst gap {near['worst_gap']:+.4f} above the best's "
            f"upper CI end)")
