"""The shortlist behind the *verify* selector and `suggest --verify`: the cheap selectors' rankings, merged.

A cheap selector (LGA, CMA, SaLEM, ...) scores every layer with zero edits; *verify* spends a few edits to check its
pick: it shortlists k layers from the cheap selectors' rankings, edits each on m proxy facts, and keeps the layer
whose measured metric is best. This module holds the two pure steps that the resampling draws, the pipeline and
`suggest` share (stdlib only): a selection record -> its ranking, rankings -> the shortlist, measured values ->
the winner.
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
