"""The baselines LGA is compared with (docs/methods.md, "Layer selectors"): SaLEM, CMA, Random and BF, each from
its cached measurement to a JSON-ready selection record (the fields `goldenlayers.selection.lga` describes).

* SaLEM: argmax of the per-layer saliency (mean |entry| of the summed new-knowledge gradient), no fences.
* CMA: argmax of the mean causal-tracing indirect effect over the proxy samples the clean model gets right.
* Random: `n` distinct candidate layers drawn with a seeded generator; reported as the mean of their metrics.
* BF: the proxy golden layer of the sweep (`stats.golden_layer` on the proxy split).
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from goldenlayers import stats
from goldenlayers.selection.common import as_scores, candidate_rows


def _argmax_record(method: str, layers: list[int], scores: np.ndarray, params: dict, **extra) -> dict:
    scores = as_scores(scores)
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
    frame = candidate_rows(saliency_df, layers, "saliency table").sort_values("layer")
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
    candidates = candidate_rows(effects, layers, "causal-trace table")["layer"].unique()
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
    chosen = stats.golden_of_means(means)
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
