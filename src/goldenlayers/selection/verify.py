"""The shortlist behind the *verify* selector and `suggest --verify`: the cheap selectors' rankings, merged.

A cheap selector (LGA, CMA, SaLEM, ...) scores every layer with zero edits; *verify* spends a few edits to check its
pick: it shortlists k layers from the cheap selectors' rankings, edits each on m proxy facts, and keeps the layer
whose measured metric is best. *consensus* spends none: the layer of best mean rank over the same rankings. This
module holds the pure steps that the resampling draws, the pipeline and `suggest` share (stdlib only): a selection
record -> its ranking, rankings -> the shortlist or the mean ranks, measured values -> the winner; and the two
selectors' records (`run_verify` reads the sweep rows, so it imports pandas when called).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence


def ranking(record: Mapping[str, Any]) -> list[int]:
    """The record's layers best first: its chosen layer, then the layers inside its fences (if it has fences,
    like LGA) by score, highest first, then the fenced-out layers by score. Ties go to the lower layer, as the
    selectors' own argmax does; a NaN score ranks last."""
    layers = [int(x) for x in record["layers"]]
    scores = [float(s) for s in record["scores"]]
    kept = record.get("kept") or [True] * len(layers)
    chosen = int(record["chosen_layer"])

    def key(i: int):
        score = scores[i]
        return (not kept[i], math.isnan(score), -score if not math.isnan(score) else 0.0, layers[i])

    rest = sorted((i for i in range(len(layers)) if layers[i] != chosen), key=key)
    return [chosen, *(layers[i] for i in rest)]


def shortlist(rankings: Sequence[Sequence[int]], k: int) -> list[int]:
    """k distinct layers taken round-robin from the rankings (each best first): every selector's first pick, then
    every second pick, ..., skipping layers already taken. Fewer than k when the rankings hold fewer layers."""
    if k < 1:
        raise ValueError(f"a shortlist needs k >= 1 layers, got {k}")
    out: list[int] = []
    depth = max((len(r) for r in rankings), default=0)
    for i in range(depth):
        for order in rankings:
            if i < len(order) and int(order[i]) not in out:
                out.append(int(order[i]))
                if len(out) == k:
                    return out
    return out


def best_measured(values: Mapping[int, float], order: Sequence[int]) -> int | None:
    """The layer of `order` (the shortlist) with the highest measured value; a tie goes to the layer that comes
    first in the shortlist (the cheap selectors' stronger pick); layers without a value (NaN or absent) are
    skipped; None when no layer has one."""
    best, best_value = None, -math.inf
    for layer in order:
        value = values.get(int(layer))
        if value is None or math.isnan(value):
            continue
        if value > best_value:
            best, best_value = int(layer), value
    return best


def first_facts(proxy_order: Sequence[str], m: int | None) -> list[str]:
    """The m proxy facts verify and BF(m) edit: the first m of `proxy_order` (all of them when m is None or larger).
    The order is the caller's documented one: split.json's `proxy` list in the pipeline, a draw's random order in
    the resampling draws (so there the m facts are a uniform random subset of the draw's proxy)."""
    ids = [str(s) for s in proxy_order]
    if len(set(ids)) != len(ids):
        raise ValueError("the proxy order lists a sample twice")
    if m is None:
        return ids
    if int(m) < 1:
        raise ValueError(f"proxy_facts must be >= 1, got {m}")
    return ids[:int(m)]


def restrict(rankings: Sequence[Sequence[int]], layers: Sequence[int] | None) -> list[list[int]]:
    """Each ranking cut to the candidate `layers` (None: unchanged), order kept."""
    if layers is None:
        return [[int(x) for x in r] for r in rankings]
    keep = {int(x) for x in layers}
    return [[int(x) for x in r if int(x) in keep] for r in rankings]


def mean_ranks(rankings: Sequence[Sequence[int]]) -> dict[int, float]:
    """{layer: mean over the rankings of its rank (1 = best)}. Every ranking must rank the same layers."""
    if not rankings:
        raise ValueError("no rankings to combine")
    layers = sorted(int(x) for x in rankings[0])
    for r in rankings:
        if sorted(int(x) for x in r) != layers or len(set(r)) != len(r):
            raise ValueError("the rankings do not rank the same layers once each")
    total = {layer: 0.0 for layer in layers}
    for r in rankings:
        for position, layer in enumerate(r, start=1):
            total[int(layer)] += position
    return {layer: total[layer] / len(rankings) for layer in layers}


def run_consensus(rankings: Sequence[Sequence[int]], names: Sequence[str]) -> dict:
    """consensus: the layer of lowest mean rank over the cheap selectors' rankings (`mean_ranks`); a tie goes to
    the lowest layer, as the selectors' own argmax. Zero edits. scores = minus the mean rank (higher is better, as
    every record's), so `ranking` of this record is the consensus order."""
    ranks = mean_ranks(rankings)
    layers = sorted(ranks)
    best = min(layers, key=lambda layer: (ranks[layer], layer))
    return {"method": "consensus", "layers": layers, "scores": [-ranks[layer] for layer in layers],
            "chosen_layer": best, "rankings_from": list(names),
            "params": {"score": "minus the mean rank (1 = best) over the rankings of " + ", ".join(names),
                       "choice": "lowest mean rank, ties to the lowest layer",
                       "cheap_selectors": ",".join(names)}}


def run_verify(sweep, rankings: Sequence[Sequence[int]], names: Sequence[str], k: int, m: int | None, metric: str,
               proxy_order: Sequence[str] | None = None, layers: Sequence[int] | None = None) -> dict:
    """verify: shortlist k layers from `rankings` (`shortlist`), read the sweep rows of the first m proxy facts
    (`first_facts` of `proxy_order`; sorted proxy ids without it) at those layers, keep the best mean `metric`
    (`best_measured`: ties to the earlier shortlisted layer). `sweep` has a `split` column; failed edits count as
    0 (`stats.layer_means`). Returns None as chosen_layer when no shortlisted layer has a value; the caller decides
    (the registry raises NoEvidence)."""
    import numpy as np

    from goldenlayers import stats

    proxy = sweep[sweep["split"] == "proxy"]
    ids = proxy["sample_id"].astype(str).to_numpy()
    present = set(ids)
    order = sorted(present) if proxy_order is None else [str(s) for s in proxy_order if str(s) in present]
    facts = first_facts(order, m)
    short = shortlist(rankings, k)
    # the k x m rows first (the resampling draws call this thousands of times), then failures count as 0 and
    # overall is the row mean, as everywhere (`stats`)
    rows = proxy[np.isin(ids, facts) & np.isin(proxy["layer"].to_numpy(), short)]
    if "status" in rows.columns:
        rows = stats.apply_failures(rows)
    if metric == stats.OVERALL and stats.OVERALL not in rows.columns:
        rows = stats.overall(rows)
    if metric not in rows.columns:
        raise KeyError(f"the sweep has no metric column {metric!r}")
    values, at = rows[metric].to_numpy(dtype=float), rows["layer"].to_numpy()
    measured = {}
    for layer in short:
        mine = values[(at == layer) & ~np.isnan(values)]
        if mine.size:
            measured[int(layer)] = float(mine.mean())
    candidates = sorted({int(x) for r in rankings for x in r} if layers is None else {int(x) for x in layers})
    return {"method": "verify", "layers": candidates, "scores": None, "chosen_layer": best_measured(measured, short),
            "shortlist": short, "measured": {str(layer): measured.get(layer) for layer in short},
            "facts": facts, "edits": len(short) * len(facts), "rankings_from": list(names),
            "params": {"cheap_selectors": ",".join(names), "shortlist_k": int(k),
                       "proxy_facts": None if m is None else int(m), "verify_metric": metric,
                       "choice": "best mean metric of the first m proxy facts over the shortlisted layers "
                                 "(ties to the earlier shortlisted layer)"}}
