"""The sweep plan: the configured grid plus every selector's chosen layer (checkpoint `plan_sweep`)."""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence


# ----------------------------------------------------------------------------------------------------------
def sweep_plan(grid: Sequence[int], selections: Iterable[Mapping[str, Any]]) -> dict:
    """Layers to sweep: the configured grid plus every chosen layer of `selections` (selector records that chose
    among all of the model's layers), so every choice has test metrics. JSON-ready:
    {grid, chosen: {method: layer}, added (chosen layers outside the grid), layers (sorted union)}.
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
    union = sorted(set(grid) | {layer for layers in chosen.values() for layer in layers})
    return {
        "grid": grid,
        "chosen": {method: layers[0] if len(layers) == 1 else layers for method, layers in chosen.items()},
        "added": [layer for layer in union if layer not in grid],
        "layers": union,
    }
