"""LGA and LGA(K') (paper §5.1 and Appendix A; docs/methods.md, "Layer selectors"): from the per-sample gradient
scalars to a chosen layer, as a JSON-ready record. The registry that names them, and their one
`select(evidence, layers, params)`, is `goldenlayers.selection.registry`; the baselines they are compared with
(SaLEM, CMA, Random, BF) are in `goldenlayers.selection.baselines`.

Every selector returns a dict with at least ``method``, ``layers`` (the candidate layers, sorted), ``scores`` (one
per candidate layer, or None), ``chosen_layer`` (or ``chosen_layers`` for Random) and ``params`` (the rule's
parameters); `goldenlayers.walltime` adds the wall time. Candidate layers default to every layer in the
measurement; the pipeline passes the swept layers, so every choice has test metrics.

* LGA / LGA(K'): per-layer sums over the proxy samples of <g_old, g_new> resp. ||g_new||_2, read from the table
  that `goldenlayers.measure.gradients.extract_layer_gradients` writes (one row per sample and layer). Layers whose score
  lies outside Tukey's fences [Q1 - k IQR, Q3 + k IQR] are dropped (outlying gradient scores; k = `TUKEY_K` = 1 by
  default, 0.5 in the paper's composite/unstructured editing), and the chosen layer is the argmax of the rest (the
  lowest layer on ties). Quartiles are numpy's default linear-interpolation percentiles.

When can the fences drop every layer? For k >= 0 the fence contains [Q1, Q3], and with n >= 3 layers some score
always lies between the 25th and 75th percentiles, so only n = 2 with k < 0.5 can empty it; then we fall back to the
plain argmax and record `fallback: true`.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pandas as pd

from goldenlayers.selection.common import as_scores, candidate_rows


def tukey_fences(scores, k: float) -> tuple[float, float]:
    """(Q1 - k IQR, Q3 + k IQR) with numpy's linear-interpolation quartiles. `k` is always passed in (the default,
    `registry.TUKEY_K`, is the registry's and the config's business)."""
    if k < 0:
        raise ValueError(f"Tukey constant k must be >= 0, got {k}")
    q1, q3 = np.percentile(as_scores(scores), [25, 75])
    iqr = q3 - q1
    return float(q1 - k * iqr), float(q3 + k * iqr)


def select_layer(scores, k: float, layers: Sequence[int] | None = None) -> dict:
    """Tukey-fenced argmax. `layers` names the layer of each score (default 0..n-1).

    Returns {layers, scores, kept, fences, chosen_layer, k, fallback}; plain Python types, ready for JSON.
    """
    arr = as_scores(scores)
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


SCORE_RULES = {
    "lga": "sum over proxy samples of <g_old, g_new> on the edited weight",
    "lga_kprime": "sum over proxy samples of ||g_new||_2 on the edited weight",
}


def run_lga(
    grads_df: pd.DataFrame,
    sample_ids: Sequence[str],
    k: float,
    method: str = "lga",
    layers: Sequence[int] | None = None,
) -> dict:
    """Score the candidate `layers` (default: all in the table) with `method` ("lga" or "lga_kprime") over
    `sample_ids`, then the Tukey-fenced argmax (the fences are computed over the candidates).

    Returns {method, layers, scores, kept, fences, chosen_layer, k, fallback, n_samples, params}, ready for JSON.
    """
    if method not in SCORERS:
        raise ValueError(f"unknown LGA method {method!r}; choose one of {', '.join(SCORERS)}")
    grads_df = candidate_rows(grads_df, layers, "gradient table")
    scores = SCORERS[method](grads_df, sample_ids)
    candidates = np.sort(grads_df["layer"].unique()).tolist()
    result = select_layer(scores, k=k, layers=candidates)
    params = {"score": SCORE_RULES[method], "tukey_k": float(k), "choice": "argmax inside Tukey's fences"}
    return {"method": method, **result, "n_samples": len(sample_ids), "params": params}
