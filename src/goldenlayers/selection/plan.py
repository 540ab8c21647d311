"""The sweep plan: the configured grid plus every selector's chosen layer and verify's shortlist (checkpoint
`plan_sweep`)."""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from goldenlayers.selection.registry import verify_shortlist


# ----------------------------------------------------------------------------------------------------------
def sweep_plan(grid: Sequence[int], selections: Iterable[Mapping[str, Any]],
               verify: Mapping[str, Any] | None = None) -> dict:
    """Layers to sweep: the configured grid plus every chosen layer of `selections` (selector records that chose
    among all of the model's layers), so every choice has test metrics. `verify` ({"selections": [the cheap
    selectors' records], "params": verify's parameters}) adds the layers verify shortlists
    (`registry.verify_shortlist`): select_verify reads their proxy rows, and whichever it keeps has test metrics.
    JSON-ready: {grid, chosen: {method: layer}, shortlist (verify's, when given), added (layers outside the grid),
    layers (sorted union)}.
    """
    grid = sorted({int(layer) for layer in grid})
    if not grid:
        raise ValueError("the sweep grid is empty")
    chosen = {}
    for record in selections:
        layers = record.get("chosen_layers")
        if layers is None:
            layers = [record.get("chosen_layer")]
        for layer in layers:
            if layer is None:
                raise ValueError(f"selector {record.get('method')!r} chose no layer")
        chosen[str(record["method"])] = [int(layer) for layer in layers]
    shortlist = []
    if verify is not None:
        shortlist = verify_shortlist({str(r["method"]): r for r in verify["selections"]}, verify.get("params") or {})
    union = sorted(set(grid) | {layer for layers in chosen.values() for layer in layers} | set(shortlist))
    return {
        "grid": grid,
        "chosen": {method: layers[0] if len(layers) == 1 else layers for method, layers in chosen.items()},
        **({"shortlist": shortlist} if verify is not None else {}),
        "added": [layer for layer in union if layer not in grid],
        "layers": union,
    }
