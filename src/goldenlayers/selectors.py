"""Every layer selector the project knows, as data: one `SelectorSpec` per entry of `SELECTORS`.

The library (reports, plots, resampling, `suggest`), the CLI and the workflow read this registry; nothing else lists
selector names. Adding a selector is one function plus one entry here.

(Skeleton: the metadata. The `select` functions with one signature are being moved here from `selection.py`.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

# Okabe-Ito, a palette that colour-blind readers can tell apart; kept apart from the metric colours of Figure 1
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}


@dataclass(frozen=True)
class SelectorSpec:
    name: str
    label: str
    # plot style, the same in every figure
    color: str
    marker: str
    linestyle: str
    hatch: str
    # evidence files it reads ("gradients", "factors", "effects", "sweep"); none for Random
    needs: tuple[str, ...]
    # Figure 3 times it against BF
    timed: bool
    # scores every layer of the model; its chosen layer joins the sweep plan (checkpoint plan_sweep)
    planned: bool
    # chooses several layers and reports the mean of their metrics (Random)
    multi_layer: bool
    # paper tables that show it (table2, table11, table14, table15)
    tables: tuple[str, ...]
    select: Callable | None = None


SELECTORS: dict[str, SelectorSpec] = {
    s.name: s
    for s in (
        SelectorSpec("lga", "LGA", OKABE_ITO["blue"], "o", "-", "", ("gradients",), True, True, False,
                     ("table2", "table11", "table14", "table15")),
        SelectorSpec("lga_kprime", "LGA(K')", OKABE_ITO["sky_blue"], "s", "--", "//", ("gradients",), True, True,
                     False, ("table15",)),
        SelectorSpec("salem", "SaLEM", OKABE_ITO["orange"], "^", "-.", "\\\\", ("factors",), True, True, False,
                     ("table2", "table11")),
        SelectorSpec("cma", "CMA", OKABE_ITO["bluish_green"], "D", ":", "..", ("effects",), True, True, False,
                     ("table2", "table11")),
        SelectorSpec("random", "Random", "#777777", "x", "--", "xx", (), False, False, True, ("table14",)),
        SelectorSpec("bf", "BF", OKABE_ITO["reddish_purple"], "P", "-", "", ("sweep",), False, False, False, ()),
    )
}


def selectors_in(table: str) -> list[str]:
    """Names of the selectors a paper table compares, in registry order."""
    return [name for name, spec in SELECTORS.items() if table in spec.tables]
