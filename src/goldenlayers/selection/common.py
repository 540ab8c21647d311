"""Helpers every selector's math shares (goldenlayers.selection.lga, .baselines): score arrays and candidate rows."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd


def as_scores(scores) -> np.ndarray:
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError("scores must be a non-empty 1-d array (one score per layer)")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"scores must be finite; got {arr.tolist()}")
    return arr


def candidate_rows(frame: pd.DataFrame, layers: Sequence[int] | None, what: str) -> pd.DataFrame:
    """Rows of `frame` at the candidate `layers` (all of its layers when None); every candidate must be there."""
    if layers is None:
        return frame
    wanted = sorted({int(layer) for layer in layers})
    if not wanted:
        raise ValueError("no candidate layers")
    missing = sorted(set(wanted) - {int(x) for x in frame["layer"].unique()})
    if missing:
        raise ValueError(f"candidate layers {missing} are not in the {what}")
    return frame[frame["layer"].isin(wanted)]
