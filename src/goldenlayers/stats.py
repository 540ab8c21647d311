"""Analysis of layer sweeps: golden layers, sample-wise optimal layers, the t-test of Table 1.

Everything here is pure data (numpy / pandas / scipy): it reads a *sweep table* and returns numbers, frames
and JSON-ready dicts. No model code, no file I/O (callers write CSV / Markdown / JSON themselves).

The sweep table
---------------
One row per (sample, layer) edit, with columns ``sample_id`` (str), ``split`` ("proxy" | "test"; a sweep file has no
such column, `with_split` joins it from split.json), ``layer``
(int), ``editor`` (str), the metric columns ``rewrite``, ``rephrase``, ``locality``, ``portability`` (floats in
[0, 1], NaN where the sample has no such prompt), optionally ``fluency`` (normalised to [0, 1]),
``edit_seconds``, ``status`` ("ok" | "failed") and ``reason``.

Failed edits
------------
A failed edit (``status == "failed"``) did not edit the model, so it counts as **0.0** for every metric that
the sample has (an edit that crashed is a failed edit, not a missing one; dropping it would flatter the layer
that crashes most). "The sample has the metric" means: the sample has a non-NaN value for it in some
successful row; for a sample whose every edit failed, every metric the dataset supports (see
`supported_metrics`) is used. This keeps a metric that a sample (or the whole dataset) simply does not have at
NaN instead of inventing a 0 for it. `apply_failures` does this; every function below calls it first, so
callers can pass the raw table.

Ties
----
Values closer than `TIE_TOL` (1e-12) count as equal. Sample-wise optimal layers keep all ties; a golden layer is
a single layer, and ties there go to the lowest layer (the convention the paper uses for its tables: "we report
results for the first tied layer").
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from goldenlayers.data import METRICS

# Metrics that are used when the sweep has such a column (fluency is optional: it needs generation).
OPTIONAL_METRICS = ("fluency",)
OVERALL = "overall"
TIE_TOL = 1e-12
ALPHA = 0.05

_ALL_METRICS = METRICS + OPTIONAL_METRICS


# ----------------------------------------------------------------------------------------------------------
# cleaning
# ----------------------------------------------------------------------------------------------------------
def _metric_columns(sweep: pd.DataFrame) -> list[str]:
    return [m for m in _ALL_METRICS if m in sweep.columns]


def _ok_mask(sweep: pd.DataFrame) -> pd.Series:
    if "status" not in sweep.columns:
        return pd.Series(True, index=sweep.index)
    return sweep["status"].astype(str) != "failed"


def supported_metrics(sweep: pd.DataFrame) -> list[str]:
    """Metrics (in `METRICS` order, then `OPTIONAL_METRICS` if present) with at least one non-NaN value.

    Only successful rows are looked at (failed rows carry NaN, or 0 after `apply_failures`, which says nothing
    about whether the dataset has such prompts). If every row failed, falls back to all rows.
    """
    cols = _metric_columns(sweep)
    ok = _ok_mask(sweep)
    base = sweep.loc[ok] if ok.any() else sweep
    return [m for m in cols if base[m].notna().any()]


def apply_failures(sweep: pd.DataFrame) -> pd.DataFrame:
    """Return a copy where failed edits count as 0.0 for every metric the sample has (see module docstring).

    Idempotent: applying it twice gives the same table. Metric columns become float64; ``layer`` becomes int.
    """
    df = sweep.copy()
    cols = _metric_columns(df)
    for m in cols:
        df[m] = pd.to_numeric(df[m], errors="coerce").astype("float64")
    if "layer" in df.columns and len(df):
        df["layer"] = df["layer"].astype("int64")
    if "sample_id" in df.columns:
        df["sample_id"] = df["sample_id"].astype(str)
    failed = ~_ok_mask(df)
    if not failed.any() or not cols:
        return df
    dataset_support = supported_metrics(df)
    ok = ~failed
    # per-sample support: non-NaN in some successful row
    key = ["split", "sample_id"] if "split" in df.columns else ["sample_id"]
    has = df.loc[ok, key + cols].copy()
    has[cols] = has[cols].notna()
    per_sample = has.groupby(key, sort=False)[cols].any()
    failed_rows = df.loc[failed, key]
    idx = pd.MultiIndex.from_frame(failed_rows) if len(key) > 1 else pd.Index(failed_rows[key[0]])
    known = idx.isin(per_sample.index)
    for m in cols:
        support = np.zeros(len(failed_rows), dtype=bool)
        if known.any():
            support[known] = per_sample.reindex(idx[known])[m].to_numpy(dtype=bool)
        support[~known] = m in dataset_support
        target = failed_rows.index[support]
        df.loc[target, m] = 0.0
    return df


def overall(sweep: pd.DataFrame, metrics: Iterable[str] | None = None) -> pd.DataFrame:
    """Return a copy of the (failure-applied) sweep with an ``overall`` column.

    ``overall`` = row-wise mean of ``metrics`` (default: `supported_metrics`), NaN ignored per row, so a sample
    without, say, a portability prompt is averaged over the metrics it has (the paper's "Overall").
    A row with no value at all gets NaN.
    """
    df = apply_failures(sweep)
    ms = list(metrics) if metrics is not None else supported_metrics(df)
    if not ms:
        df[OVERALL] = np.nan
    else:
        df[OVERALL] = df[ms].mean(axis=1, skipna=True)
    return df


def _with_metric(sweep: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Failure-applied sweep that has column ``metric`` (computing ``overall`` if that is asked for)."""
    if metric == OVERALL and OVERALL not in sweep.columns:
        return overall(sweep)
    if metric not in sweep.columns:
        raise KeyError(f"sweep has no metric column {metric!r}")
    return apply_failures(sweep)


def _split(df: pd.DataFrame, split: str | None) -> pd.DataFrame:
    if split is None:
        return df
    if "split" not in df.columns:
        raise KeyError("sweep has no 'split' column")
    return df.loc[df["split"] == split]


# ----------------------------------------------------------------------------------------------------------
# per-layer statistics
# ----------------------------------------------------------------------------------------------------------
def _std(values: np.ndarray) -> float:
    """Sample standard deviation (ddof=1); 0.0 for a single value, NaN for none."""
    n = len(values)
    if n == 0:
        return float("nan")
    if n == 1:
        return 0.0
    return float(np.std(values, ddof=1))


def layer_stats(sweep: pd.DataFrame, metrics: Iterable[str] | None = None) -> pd.DataFrame:
    """Per (split, layer, metric): mean, std (ddof=1; 0 for n=1), sem = std/sqrt(n), n (non-NaN values).

    ``metrics`` defaults to the supported metrics plus ``overall``. Long format with columns
    ``split, layer, metric, mean, std, sem, n``, sorted by split, layer and metric (metric in `METRICS` order,
    then ``fluency``, then ``overall``). Failed edits count as 0 (see module docstring). This is what Figure 1
    plots (mean with SEM error bars).
    """
    df = overall(sweep)
    ms = list(metrics) if metrics is not None else supported_metrics(df) + [OVERALL]
    long = df.melt(id_vars=["split", "layer"], value_vars=ms, var_name="metric", value_name="value")
    long = long.dropna(subset=["value"])
    g = long.groupby(["split", "layer", "metric"], sort=False)["value"]
    out = g.agg(mean="mean", n="count", std="std").reset_index()  # pandas std is ddof=1
    out["std"] = out["std"].fillna(0.0)  # n == 1 → NaN from pandas → 0 by convention
    out["sem"] = out["std"] / np.sqrt(out["n"])
    order = {m: i for i, m in enumerate(list(_ALL_METRICS) + [OVERALL])}
    out["_o"] = out["metric"].map(lambda m: order.get(m, len(order)))
    out = out.sort_values(["split", "layer", "_o", "metric"]).drop(columns="_o").reset_index(drop=True)
    out["layer"] = out["layer"].astype("int64")
    out["n"] = out["n"].astype("int64")
    return out[["split", "layer", "metric", "mean", "std", "sem", "n"]]


def layer_means(sweep: pd.DataFrame, metric: str, split: str | None) -> pd.Series:
    """Mean of ``metric`` per layer over the split's samples (NaN skipped), indexed by layer, sorted."""
    df = _split(_with_metric(sweep, metric), split)
    return df.groupby("layer")[metric].mean().sort_index()


def _best_layers(means: pd.Series) -> list[int]:
    m = means.dropna()
    if m.empty:
        return []
    best = m.max()
    return sorted(int(layer) for layer in m.index[m >= best - TIE_TOL])


def golden_layer(sweep: pd.DataFrame, metric: str, split: str | None) -> int | None:
    """The layer with the best mean ``metric`` over the split's samples (the paper's "golden layer").

    Ties (within `TIE_TOL`) go to the lowest layer, as the paper reports "the first tied layer". Returns None
    when the split has no value for the metric. ``split=None`` uses every row (e.g. a proxy union).
    """
    return golden_of_means(layer_means(sweep, metric, split))


def golden_of_means(means: pd.Series) -> int | None:
    """`golden_layer` from per-layer means already computed (`layer_means`): the best, lowest on ties."""
    layers = _best_layers(means)
    return layers[0] if layers else None


def golden_layers(sweep: pd.DataFrame, metric: str, split: str | None) -> list[int]:
    """All layers tied for the best mean (the stars of Figure 2); sorted."""
    return _best_layers(layer_means(sweep, metric, split))


def sample_optimal(sweep: pd.DataFrame, metric: str, split: str | None) -> pd.DataFrame:
    """Per sample: the best ``metric`` over layers and the list of layers that reach it (ties kept, sorted).

    Columns ``sample_id, best, optimal_layers, n_layers`` (n_layers = layers with a value), one row per
    sample, sorted by sample_id. Samples without any value for the metric (no such prompt) are left out.
    """
    df = _split(_with_metric(sweep, metric), split)
    df = df.loc[df[metric].notna(), ["sample_id", "layer", metric]]
    if df.empty:
        return pd.DataFrame(
            {"sample_id": pd.Series(dtype=str), "best": pd.Series(dtype=float),
             "optimal_layers": pd.Series(dtype=object), "n_layers": pd.Series(dtype="int64")}
        )
    best = df.groupby("sample_id")[metric].transform("max")
    tied = df.loc[df[metric] >= best - TIE_TOL]
    layers = tied.groupby("sample_id")["layer"].agg(lambda s: sorted(int(x) for x in s))
    g = df.groupby("sample_id")[metric]
    out = pd.DataFrame({"best": g.max().astype(float), "optimal_layers": layers, "n_layers": g.count()})
    out.index.name = "sample_id"
    out = out.reset_index().sort_values("sample_id").reset_index(drop=True)
    out["n_layers"] = out["n_layers"].astype("int64")
    return out


def values_at_layer(sweep: pd.DataFrame, metric: str, split: str | None, layer: int) -> pd.Series:
    """Per-sample ``metric`` at ``layer`` (index sample_id; NaN rows dropped)."""
    df = _split(_with_metric(sweep, metric), split)
    df = df.loc[(df["layer"] == int(layer)) & df[metric].notna()]
    return df.groupby("sample_id")[metric].mean().sort_index()


# ----------------------------------------------------------------------------------------------------------
# Table 1: sample-wise optimal vs golden (Student's t-test)
# ----------------------------------------------------------------------------------------------------------
def _safe_ttest(a: np.ndarray, b: np.ndarray, paired: bool) -> tuple[float | None, float | None]:
    """Two-sided t-test with the degenerate cases made explicit (no NaN decisions).

    Identical columns (or, paired, all differences 0) → t = 0, p = 1. Zero variance with different means
    (scipy gives NaN on some versions, ±inf on others) → t = ±inf (sign of mean(a) − mean(b)), p = 0.
    Too few values for the test (n < 2) → (None, None).
    """
    if len(a) < 2 or len(b) < 2:
        return None, None
    if paired:
        d = a - b
        if np.all(np.abs(d) <= TIE_TOL):
            return 0.0, 1.0
    elif len(a) == len(b) and np.all(np.abs(a - b) <= TIE_TOL):
        return 0.0, 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.ttest_rel(a, b) if paired else stats.ttest_ind(a, b, equal_var=True)
    t, p = float(res.statistic), float(res.pvalue)
    if math.isnan(t) or math.isnan(p):
        diff = float(np.mean(a - b)) if paired else float(np.mean(a) - np.mean(b))
        if abs(diff) <= TIE_TOL:
            return 0.0, 1.0
        return (math.inf if diff > 0 else -math.inf), 0.0
    return t, p


def compare_optimal_vs_golden(
    sweep: pd.DataFrame, metric: str, split: str | None, layer: int, alpha: float = ALPHA
) -> dict[str, Any]:
    """Per-sample optimal values vs per-sample values at ``layer`` (Table 1), with Student's t-tests.

    The two vectors are the per-sample best ``metric`` over all layers and the per-sample ``metric`` at
    ``layer``, over the samples of ``split`` that have both. Primary test: two-sided independent two-sample
    Student's t-test with equal variances (``scipy.stats.ttest_ind(equal_var=True)``) — the paper says
    "two-sided Student's t-test". The paired test (``ttest_rel``) is given as extra fields, since the two
    vectors are the same samples. ``different`` = p < alpha. Degenerate cases: see `_safe_ttest`; with fewer
    than 2 samples the test cannot be run: t/p and ``different`` are None (no claim either way) and ``note``
    says "n too small".

    Returns a plain dict (python floats/ints/bools/None; t may be ±inf, which ``json.dumps`` writes as
    ``Infinity``): metric, split, layer, n, optimal_mean, optimal_std, golden_mean, golden_std (ddof=1,
    0 for n=1), mean_diff, t, p, different, test, alpha, paired_t, paired_p, paired_different.
    """
    opt = sample_optimal(sweep, metric, split).set_index("sample_id")["best"]
    at = values_at_layer(sweep, metric, split, layer)
    common = opt.index.intersection(at.index).sort_values()
    a = opt.reindex(common).to_numpy(dtype=float)
    b = at.reindex(common).to_numpy(dtype=float)
    n = int(len(common))
    t, p = _safe_ttest(a, b, paired=False)
    pt, pp = _safe_ttest(a, b, paired=True)

    def _mean(x: np.ndarray) -> float | None:
        return float(np.mean(x)) if len(x) else None

    def _sd(x: np.ndarray) -> float | None:
        return _std(x) if len(x) else None

    return {
        "metric": metric,
        "split": split,
        "layer": int(layer),
        "n": n,
        "optimal_mean": _mean(a),
        "optimal_std": _sd(a),
        "golden_mean": _mean(b),
        "golden_std": _sd(b),
        "mean_diff": (float(np.mean(a) - np.mean(b)) if n else None),
        "test": "two-sided Student's t-test (independent, equal variances)",
        "alpha": float(alpha),
        "t": t,
        "p": p,
        "different": None if p is None else bool(p < alpha),
        "paired_t": pt,
        "paired_p": pp,
        "paired_different": None if pp is None else bool(pp < alpha),
        "note": "" if p is not None else f"n too small for a t-test (n={n}; needs 2)",
    }


# ----------------------------------------------------------------------------------------------------------
# summary of one sweep
# ----------------------------------------------------------------------------------------------------------
def _f(x: Any) -> float | None:
    """Python float, or None for NaN / missing (JSON has no NaN)."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def _mean_at(means: pd.Series, layer: int | None) -> float | None:
    if layer is None or int(layer) not in means.index:
        return None
    return _f(means.loc[int(layer)])


def summarise_sweep(
    sweep: pd.DataFrame,
    metric: str = "rewrite",
    selected_layers: Mapping[str, int | None] | None = None,
) -> dict[str, Any]:
    """Everything the tables need from one (model, dataset, editor) sweep, as a JSON-ready dict.

    Keys:
      - ``metric``, ``supported_metrics`` (list), ``layers`` (sorted ints), ``n_samples`` {proxy, test},
        ``n_failed`` (failed edits, all splits);
      - ``proxy_golden_layer`` (the brute-force "BF" layer, chosen on the proxy split by ``metric``) and
        ``proxy_golden_test_mean`` (its mean on the test split), ``proxy_golden_proxy_mean``;
      - ``test_golden_layer``, ``test_golden_test_mean``, ``test_golden_layers`` (all ties);
      - ``optimal_vs_golden``: `compare_optimal_vs_golden` on the test split at the test golden layer
        (Table 1);
      - ``per_metric``: for each supported metric and ``overall``: {proxy_layer, proxy_value, test_layer,
        test_value}, the layer chosen on proxy resp. test by *that* metric and its test-split mean (Tables 3–8);
      - ``selected``: for each entry of ``selected_layers`` (e.g. {"lga": 7}): {layer, test: {metric: test mean}}
        over the supported metrics and ``overall`` (None where the layer was not swept or is None).
    NaN never appears (None instead).
    """
    df = overall(sweep)
    sup = supported_metrics(df)
    all_ms = sup + [OVERALL]
    splits = set(df["split"].unique()) if "split" in df.columns else set()
    test_means = {m: layer_means(df, m, "test") for m in all_ms} if "test" in splits else {}
    proxy_means = {m: layer_means(df, m, "proxy") for m in all_ms} if "proxy" in splits else {}
    if metric not in all_ms:
        raise KeyError(f"metric {metric!r} is not supported by this sweep (supported: {sup})")

    def _golden(means: Mapping[str, pd.Series], m: str) -> int | None:
        if m not in means:
            return None
        layers = _best_layers(means[m])
        return layers[0] if layers else None

    proxy_l = _golden(proxy_means, metric)
    test_l = _golden(test_means, metric)
    tm = test_means.get(metric, pd.Series(dtype=float))
    out: dict[str, Any] = {
        "metric": metric,
        "supported_metrics": sup,
        "layers": sorted(int(x) for x in df["layer"].unique()),
        "n_samples": {s: int(df.loc[df["split"] == s, "sample_id"].nunique()) for s in ("proxy", "test")},
        "n_failed": int((~_ok_mask(df)).sum()),
        "proxy_golden_layer": proxy_l,
        "proxy_golden_proxy_mean": _mean_at(proxy_means.get(metric, pd.Series(dtype=float)), proxy_l),
        "proxy_golden_test_mean": _mean_at(tm, proxy_l),
        "test_golden_layer": test_l,
        "test_golden_layers": _best_layers(tm) if len(tm) else [],
        "test_golden_test_mean": _mean_at(tm, test_l),
        "optimal_vs_golden": (
            compare_optimal_vs_golden(df, metric, "test", test_l) if test_l is not None else None
        ),
        "per_metric": {},
        "selected": {},
    }
    for m in all_ms:
        pl, tl = _golden(proxy_means, m), _golden(test_means, m)
        tmm = test_means.get(m, pd.Series(dtype=float))
        out["per_metric"][m] = {
            "proxy_layer": pl,
            "proxy_value": _mean_at(tmm, pl),
            "test_layer": tl,
            "test_value": _mean_at(tmm, tl),
        }
    for name, layer in (selected_layers or {}).items():
        lay = None if layer is None else int(layer)
        out["selected"][str(name)] = {
            "layer": lay,
            "test": {m: _mean_at(test_means.get(m, pd.Series(dtype=float)), lay) for m in all_ms},
        }
    return out


# ----------------------------------------------------------------------------------------------------------
# metric names as tables and figures print them (the tables themselves are built in goldenlayers.report.tables)
# ----------------------------------------------------------------------------------------------------------
METRIC_LABELS = {
    "rewrite": "Rewrite",
    "rephrase": "Rephrase",
    "locality": "Locality",
    "portability": "Portability",
    "fluency": "Fluency",
    "overall": "Overall",
}


# ----------------------------------------------------------------------------------------------------------
# the split, joined in where it is needed
# ----------------------------------------------------------------------------------------------------------
# Columns every sweep file must have (checked on read). The proxy/test label is not among them: an edit does not
# depend on which side of the split its sample falls, so a sweep is keyed by its sample set and `with_split`
# joins the split in where it is used (BF's choice, the aggregates). A new split then reruns no sweep job.
SWEEP_KEYS = ("sample_id", "layer")


def with_split(sweep: pd.DataFrame, split: Mapping[str, Any]) -> pd.DataFrame:
    """`sweep` with the column ``split`` ("proxy" | "test", from split.json's lists) right after ``sample_id``.

    Every swept sample must be in the split (a sweep of another sample set is an error, never a silent drop); a
    table that already has the column (the sequential sweep's, labelled by its subset) is returned as it is."""
    if "split" in sweep.columns:
        return sweep
    part = {str(rid): name for name in ("proxy", "test") for rid in split[name]}
    ids = sweep["sample_id"].astype(str)
    missing = sorted(set(ids) - set(part))
    if missing:
        raise ValueError(f"{len(missing)} swept samples are in neither part of the split, e.g. {missing[:3]}: the "
                         "sweep and split.json come from different sample sets")
    out = sweep.copy()
    out.insert(int(list(out.columns).index("sample_id")) + 1, "split", ids.map(part).to_numpy())
    return out
