"""Layer selectors' math (paper §5.1 and Appendix A; docs/methods.md, "Layer selectors"): from cached measurements
to a chosen layer, as JSON-ready records. The registry that names them, and their one
`select(evidence, layers, params)`, is `goldenlayers.selection.registry`.

Every selector returns a dict with at least ``method``, ``layers`` (the candidate layers, sorted), ``scores`` (one
per candidate layer, or None), ``chosen_layer`` (or ``chosen_layers`` for Random) and ``params`` (the rule's
parameters); `goldenlayers.walltime` adds the wall time. Candidate layers default to every layer in the
measurement; the pipeline passes the swept layers, so every choice has test metrics.

* LGA / LGA(K'): per-layer sums over the proxy samples of <g_old, g_new> resp. ||g_new||_2, read from the table
  that `goldenlayers.measure.gradients.extract_layer_gradients` writes (one row per sample and layer). Layers whose score
  lies outside Tukey's fences [Q1 - k IQR, Q3 + k IQR] are dropped (outlying gradient scores; k = `TUKEY_K` = 1 by
  default, 0.5 in the paper's composite/unstructured editing), and the chosen layer is the argmax of the rest (the
  lowest layer on ties). Quartiles are numpy's default linear-interpolation percentiles.
* SaLEM: argmax of the per-layer saliency (mean |entry| of the summed new-knowledge gradient), no fences.
* CMA: argmax of the mean causal-tracing indirect effect over the proxy samples the clean model gets right.
* Random: `n` distinct candidate layers drawn with a seeded generator; reported as the mean of their metrics.
* BF: the proxy golden layer of the sweep (`stats.golden_layer` on the proxy split).

When can the fences drop every layer? For k >= 0 the fence contains [Q1, Q3], and with n >= 3 layers some score
always lies between the 25th and 75th percentiles, so only n = 2 with k < 0.5 can empty it; then we fall back to the
plain argmax and record `fallback: true`.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from goldenlayers import stats


def _as_scores(scores) -> np.ndarray:
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError("scores must be a non-empty 1-d array (one score per layer)")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"scores must be finite; got {arr.tolist()}")
    return arr


def tukey_fences(scores, k: float) -> tuple[float, float]:
    """(Q1 - k IQR, Q3 + k IQR) with numpy's linear-interpolation quartiles. `k` is always passed in (the default,
    `registry.TUKEY_K`, is the registry's and the config's business)."""
    if k < 0:
        raise ValueError(f"Tukey constant k must be >= 0, got {k}")
    q1, q3 = np.percentile(_as_scores(scores), [25, 75])
    iqr = q3 - q1
    return float(q1 - k * iqr), float(q3 + k * iqr)


def select_layer(scores, k: float, layers: Sequence[int] | None = None) -> dict:
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


SCORE_RULES = {
    "lga": "sum over proxy samples of <g_old, g_new> on the edited weight",
    "lga_kprime": "sum over proxy samples of ||g_new||_2 on the edited weight",
}


def _candidate_rows(frame: pd.DataFrame, layers: Sequence[int] | None, what: str) -> pd.DataFrame:
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
    grads_df = _candidate_rows(grads_df, layers, "gradient table")
    scores = SCORERS[method](grads_df, sample_ids)
    candidates = np.sort(grads_df["layer"].unique()).tolist()
    result = select_layer(scores, k=k, layers=candidates)
    params = {"score": SCORE_RULES[method], "tukey_k": float(k), "choice": "argmax inside Tukey's fences"}
    return {"method": method, **result, "n_samples": len(sample_ids), "params": params}


# ----------------------------------------------------------------------------------------------------------
# SaLEM, CMA, Random, BF
# ----------------------------------------------------------------------------------------------------------
def _argmax_record(method: str, layers: list[int], scores: np.ndarray, params: dict, **extra) -> dict:
    scores = _as_scores(scores)
    return {
        "method": method,
        "layers": [int(layer) for layer in layers],
        "scores": scores.tolist(),
        "chosen_layer": int(layers[int(np.argmax(scores))]),  # first maximum: ties go to the lowest layer
        "params": params,
        **extra,
    }


def run_salem(saliency_df: pd.DataFrame, layers: Sequence[int] | None = None) -> dict:
    """SaLEM: the candidate layer of greatest saliency (mean |entry| of sum_i dl(Q_i + K'_i)/dW_L); no fences.

    `saliency_df` is `gradients.NewGradientSum.saliency_frame()` (columns layer, saliency, n_samples, ...).
    """
    frame = _candidate_rows(saliency_df, layers, "saliency table").sort_values("layer")
    if frame["layer"].duplicated().any():
        raise ValueError("the saliency table has more than one row per layer")
    n_samples = int(frame["n_samples"].iloc[0]) if "n_samples" in frame and len(frame) else None
    params = {
        "score": "mean |entry| of the new-knowledge loss gradient on the edited weight, summed over proxy samples",
        "choice": "argmax (no fences)",
    }
    return _argmax_record("salem", frame["layer"].tolist(), frame["saliency"].to_numpy(), params,
                          n_samples=n_samples)


def run_cma(effects: pd.DataFrame, layers: Sequence[int] | None = None,
            sample_ids: Sequence[str] | None = None) -> dict:
    """CMA: the candidate layer of largest mean indirect effect over the samples the clean model gets right.

    `effects` is `causal_trace.trace_records` output (one row per sample and traced layer); `sample_ids` restricts
    it to those samples (the proxy split of a table traced over every sample; ids that were not traced, e.g. no
    subject in the prompt, are skipped). If the clean model gets no sample right, every sample is used and
    `fallback: true` says so. `all_layers`/`all_scores` keep the trace of every traced layer (candidates or not),
    for plots.
    """
    if sample_ids is not None:
        effects = effects[effects["sample_id"].astype(str).isin({str(s) for s in sample_ids})]
    if effects.empty:
        raise ValueError("the causal-trace table is empty")
    correct = effects[effects["correct"].astype(bool)]
    fallback = correct.empty
    used = effects if fallback else correct
    mean_effect = used.groupby("layer")["indirect_effect"].mean().sort_index()
    candidates = _candidate_rows(effects, layers, "causal-trace table")["layer"].unique()
    chosen = mean_effect.reindex(np.sort(candidates))
    params = {"score": "mean indirect effect (restored - corrupted probability of the true answer)",
              "choice": "argmax", **effects.attrs.get("trace", {})}
    n_samples = int(effects["sample_id"].nunique())
    return _argmax_record(
        "cma", chosen.index.tolist(), chosen.to_numpy(), params,
        n_samples=n_samples, n_correct=int(correct["sample_id"].nunique()), fallback=bool(fallback),
        all_layers=[int(x) for x in mean_effect.index], all_scores=mean_effect.tolist(),
    )


def run_random(layers: Sequence[int], n: int = 3, seed: int | None = 42,
               rng: np.random.Generator | None = None) -> dict:
    """Random: `n` distinct candidate layers (all of them if there are fewer), drawn by numpy's generator seeded
    with `seed`, or from `rng` when given (a stream the caller owns, e.g. one draw per resampled split)."""
    candidates = sorted({int(layer) for layer in layers})
    if not candidates:
        raise ValueError("no candidate layers")
    if n < 1:
        raise ValueError("n must be >= 1")
    generator = np.random.default_rng(seed) if rng is None else rng
    drawn = generator.choice(candidates, size=min(n, len(candidates)), replace=False)
    return {
        "method": "random",
        "layers": candidates,
        "scores": None,
        "chosen_layer": None,
        "chosen_layers": sorted(int(x) for x in drawn),
        "params": {"n_layers": int(n), "seed": None if rng is not None or seed is None else int(seed),
                   "rule": "uniform without replacement; mean of metrics"},
    }


class NoProxyValues(ValueError):
    """No proxy sample of the sweep has a value of BF's metric."""


def run_bf(sweep: pd.DataFrame, metric: str = "rewrite", job_seconds: Mapping[int, float] | None = None,
           num_layers: int | None = None) -> dict:
    """BF: the proxy golden layer of the sweep (best mean `metric` on the proxy split, lowest layer on ties).

    `job_seconds` maps layer -> wall time of that layer's sweep job. A sweep job edits proxy *and* test samples, so
    its time is apportioned by the proxy share of its edits: bf_seconds = sum_L seconds_L * n_proxy_L / n_L, where
    seconds_L is the job's wall time or, when larger, the sum of its rows' edit + evaluation times (a job resumed
    after a kill has a benchmark of the resumed part only). The edit + evaluation time that the sweep recorded per
    proxy sample (model loading excluded) is given too.

    `num_layers` adds `candidate_wall_seconds`: what brute force costs over every candidate layer 0..num_layers-1,
    the set LGA, SaLEM and CMA choose from. Swept layers count their measured proxy share; a layer that was not swept
    costs the linear interpolation of its swept neighbours (the nearest one beyond the first or last swept layer):
    per-edit time falls smoothly with depth (fewer blocks between the edit and the loss; docs/benchmarks.md).
    """
    means = stats.layer_means(sweep, metric, "proxy")
    chosen = stats.golden_layer(sweep, metric, "proxy")
    if chosen is None:
        raise NoProxyValues(f"the sweep has no proxy values of {metric!r}")
    params = {"metric": metric, "split": "proxy", "choice": "argmax of the proxy mean (lowest layer on ties)"}
    record = {
        "method": "bf",
        "layers": [int(x) for x in means.index],
        "scores": [None if math.isnan(x) else float(x) for x in means.to_numpy()],
        "chosen_layer": int(chosen),
        "params": params,
        "n_samples": int(sweep.loc[sweep["split"] == "proxy", "sample_id"].nunique()),
    }
    if {"edit_seconds", "eval_seconds"} <= set(sweep.columns):
        proxy = sweep[sweep["split"] == "proxy"]
        record["proxy_edit_eval_seconds"] = float(proxy["edit_seconds"].fillna(0).sum()
                                                  + proxy["eval_seconds"].fillna(0).sum())
    if job_seconds is not None:
        shares = {}
        for layer, rows in sweep.groupby("layer"):
            shares[int(layer)] = float((rows["split"] == "proxy").mean())
        missing = sorted(set(shares) - {int(x) for x in job_seconds})
        if missing:
            raise ValueError(f"no sweep job time for layers {missing}")
        # A resumed job's benchmark counts only the part after the resume; the rows carry every sample's own edit
        # and evaluation time, so a layer costs at least their sum.
        row_seconds = {int(layer): float(rows["edit_seconds"].fillna(0).sum() + rows["eval_seconds"].fillna(0).sum())
                       for layer, rows in sweep.groupby("layer")} if {"edit_seconds", "eval_seconds"} <= set(
            sweep.columns) else {}
        seconds = {layer: max(float(job_seconds[layer]), row_seconds.get(layer, 0.0)) for layer in shares}
        record["sweep_job_seconds"] = {str(layer): float(job_seconds[layer]) for layer in sorted(shares)}
        record["sweep_row_seconds"] = {str(layer): row_seconds[layer] for layer in sorted(row_seconds)}
        record["proxy_share"] = {str(layer): shares[layer] for layer in sorted(shares)}
        record["wall_seconds"] = float(sum(seconds[layer] * share for layer, share in shares.items()))
        record["wall_time_rule"] = ("sum over layers of the sweep job's wall time (or of its rows' edit + evaluation "
                                    "times when larger: a resumed job) x the proxy share of its edits")
        if num_layers is not None:
            swept = sorted(shares)
            if swept[-1] >= num_layers:
                raise ValueError(f"bf: swept layer {swept[-1]} is outside the model's {num_layers} layers")
            proxy_seconds = [seconds[layer] * shares[layer] for layer in swept]
            every = np.interp(np.arange(num_layers), swept, proxy_seconds)
            record["candidate_layers"] = num_layers
            record["candidate_wall_seconds"] = float(every.sum())
            record["candidate_time_rule"] = (f"the swept layers' proxy time, plus each of the {num_layers - len(swept)} "
                                             "unswept candidate layers at the linear interpolation of its swept "
                                             "neighbours")
    return record


# ----------------------------------------------------------------------------------------------------------
# the sweep plan: grid ∪ every selector's chosen layer
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
