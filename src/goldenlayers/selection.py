"""LGA layer selection from cached gradient scalars (SPEC §2): per-layer scores, Tukey fences, argmax.

Scores are read from the table that `goldenlayers.gradients.extract_layer_gradients` writes (one row per sample and
layer). Layers whose score lies outside Tukey's fences [Q1 - k IQR, Q3 + k IQR] are dropped (outlying gradient
scores; k = 1 by default, 0.5 in the paper's composite/unstructured editing), and the chosen layer is the argmax of
the rest (the lowest layer on ties). Quartiles are numpy's default linear-interpolation percentiles.

When can the fences drop every layer? For k >= 0 the fence contains [Q1, Q3], and with n >= 3 layers some score
always lies between the 25th and 75th percentiles, so only n = 2 with k < 0.5 can empty it; then we fall back to the
plain argmax and record `fallback: true`.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pandas as pd


def _as_scores(scores) -> np.ndarray:
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError("scores must be a non-empty 1-d array (one score per layer)")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"scores must be finite; got {arr.tolist()}")
    return arr


def tukey_fences(scores, k: float = 1.0) -> tuple[float, float]:
    """(Q1 - k IQR, Q3 + k IQR) with numpy's linear-interpolation quartiles."""
    if k < 0:
        raise ValueError(f"Tukey constant k must be >= 0, got {k}")
    q1, q3 = np.percentile(_as_scores(scores), [25, 75])
    iqr = q3 - q1
    return float(q1 - k * iqr), float(q3 + k * iqr)


def tukey_keep(scores, k: float = 1.0) -> np.ndarray:
    """Boolean mask of the scores inside Tukey's fences (bounds included)."""
    arr = _as_scores(scores)
    lo, hi = tukey_fences(arr, k)
    return (arr >= lo) & (arr <= hi)


def select_layer(scores, k: float = 1.0, layers: Sequence[int] | None = None) -> dict:
    """Tukey-fenced argmax. `layers` names the layer of each score (default 0..n-1).

    Returns {layers, scores, kept, fences, chosen_layer, k, fallback}; plain Python types, ready for JSON.
    """
    arr = _as_scores(scores)
    layers = list(range(arr.size)) if layers is None else [int(layer) for layer in layers]
    if len(layers) != arr.size:
        raise ValueError(f"{len(layers)} layers for {arr.size} scores")
    lo, hi = tukey_fences(arr, k)
    kept = (arr >= lo) & (arr <= hi)
    fallback = not bool(kept.any())
    # np.argmax returns the first maximum, so ties go to the lowest layer.
    best = int(np.argmax(arr)) if fallback else int(np.argmax(np.where(kept, arr, -np.inf)))
    return {
        "layers": layers,
        "scores": arr.tolist(),
        "kept": kept.tolist(),
        "fences": [lo, hi],
        "chosen_layer": layers[best],
        "k": float(k),
        "fallback": fallback,
    }


def _per_layer(grads_df: pd.DataFrame, sample_ids: Sequence[str], column: str, transform=None) -> pd.Series:
    """Per-layer sum of `column` (optionally transformed per row) over `sample_ids`, indexed by sorted layer."""
    ids = [str(s) for s in sample_ids]
    if not ids:
        raise ValueError("no sample ids to score")
    if len(set(ids)) != len(ids):
        raise ValueError("sample_ids contains duplicates")
    missing = set(ids) - set(grads_df["sample_id"].astype(str))
    if missing:
        raise KeyError(f"{len(missing)} sample ids are not in the gradient table, e.g. {sorted(missing)[:3]}")
    rows = grads_df[grads_df["sample_id"].astype(str).isin(ids)]
    layers = np.sort(grads_df["layer"].unique())
    counts = rows.groupby("layer").size().reindex(layers, fill_value=0)
    if (counts != len(ids)).any():
        raise ValueError("the gradient table does not have exactly one row per (sample, layer) for these samples")
    values = rows[column].to_numpy(dtype=np.float64)
    if transform is not None:
        values = transform(values)
    return pd.Series(values, index=rows["layer"].to_numpy()).groupby(level=0).sum().reindex(layers)


def lga_scores(grads_df: pd.DataFrame, sample_ids: Sequence[str]) -> np.ndarray:
    """LGA: per layer (sorted), sum over the samples of <g_old, g_new>."""
    return _per_layer(grads_df, sample_ids, "dot_old_new").to_numpy()


def lga_kprime_scores(grads_df: pd.DataFrame, sample_ids: Sequence[str]) -> np.ndarray:
    """LGA(K'): per layer (sorted), sum over the samples of ||g_new||_2 (no old-knowledge gradient)."""
    return _per_layer(grads_df, sample_ids, "sq_norm_new", transform=np.sqrt).to_numpy()


SCORERS: dict[str, Callable[[pd.DataFrame, Sequence[str]], np.ndarray]] = {
    "lga": lga_scores,
    "lga_kprime": lga_kprime_scores,
}


def run_lga(grads_df: pd.DataFrame, sample_ids: Sequence[str], k: float = 1.0, method: str = "lga") -> dict:
    """Score the layers with `method` ("lga" or "lga_kprime") over `sample_ids`, then the Tukey-fenced argmax.

    Returns {method, layers, scores, kept, fences, chosen_layer, k, fallback, n_samples}, ready for JSON.
    """
    if method not in SCORERS:
        raise ValueError(f"unknown LGA method {method!r}; choose one of {', '.join(SCORERS)}")
    scores = SCORERS[method](grads_df, sample_ids)
    layers = np.sort(grads_df["layer"].unique()).tolist()
    result = select_layer(scores, k=k, layers=layers)
    return {"method": method, **result, "n_samples": len(sample_ids)}
