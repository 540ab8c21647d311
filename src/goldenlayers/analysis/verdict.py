"""The statistics of a verdict: paired tests, power (test facts needed), and the bootstrap over facts.

Plain functions on numpy arrays (numpy / scipy only); `goldenlayers.analysis.resampling` applies them to the sweep
and the resampled draws, `goldenlayers.report.tables` prints them (Table 17 and its power notes, Table 16's CI over
facts, the power notes of Table 1 per metric).

Conventions: a paired difference is d_i = a_i - b_i over the facts that have both values (NaN pairs dropped);
"power" is that of the two-sided t-test at `alpha`, computed exactly from the noncentral t distribution (not the
normal approximation), with the observed standard deviation taken as the true one.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import optimize, stats

ALPHA = 0.05
POWER = 0.80
TIE_TOL = 1e-12  # as goldenlayers.stats: differences this small are ties
N_MAX = 10**6  # above this many facts "needed" is reported as None (no realistic study detects it)


# ----------------------------------------------------------------------------------------------------------
# paired tests on the same facts
# ----------------------------------------------------------------------------------------------------------
def paired_tests(a, b) -> dict:
    """Paired comparison of per-fact values `a` and `b` (same facts, same order): d = a - b.

    Returns {n, mean_diff, sd_diff (ddof=1), t, p_t (paired t-test, `scipy.stats.ttest_rel`), p_wilcoxon
    (Wilcoxon signed-rank, `scipy.stats.wilcoxon`, zero differences dropped as Wilcoxon proposed, exact null
    distribution where scipy uses it)}. Degenerate cases are explicit, never NaN: n < 2 -> no test (None);
    every difference 0 -> p = 1 for both tests (no evidence of a difference); equal non-zero differences (sd 0)
    -> t = +-inf, p_t = 0.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same facts: shapes {a.shape} and {b.shape}")
    keep = ~np.isnan(a) & ~np.isnan(b)
    d = a[keep] - b[keep]
    n = int(d.size)
    out = {"n": n, "mean_diff": float(d.mean()) if n else None,
           "sd_diff": float(d.std(ddof=1)) if n >= 2 else None, "t": None, "p_t": None, "p_wilcoxon": None}
    if n < 2:
        return out
    if np.all(np.abs(d) <= TIE_TOL):
        return {**out, "t": 0.0, "p_t": 1.0, "p_wilcoxon": 1.0}
    if out["sd_diff"] <= TIE_TOL:
        out["t"], out["p_t"] = (math.inf if out["mean_diff"] > 0 else -math.inf), 0.0
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # near-constant differences: scipy's precision note
            res = stats.ttest_rel(a[keep], b[keep])
        out["t"], out["p_t"] = float(res.statistic), float(res.pvalue)
    nonzero = np.abs(d) > TIE_TOL
    with warnings.catch_warnings():
        # scipy warns that few non-zero differences make the exact p coarse; the p says so itself
        warnings.simplefilter("ignore")
        out["p_wilcoxon"] = float(stats.wilcoxon(d[nonzero]).pvalue)
    return out


# ----------------------------------------------------------------------------------------------------------
# power: how many test facts a t-test needs to detect a difference
# ----------------------------------------------------------------------------------------------------------
def t_power(n: int, effect: float, paired: bool = True, alpha: float = ALPHA) -> float:
    """Power of the two-sided t-test at `alpha` with `n` facts and standardised effect `effect` = |difference| /
    sd. paired: one-sample t on the n differences (df n - 1, noncentrality effect * sqrt(n)); else Table 1's
    two-sample Student's t with n facts on each side and a pooled sd (df 2n - 2, noncentrality effect *
    sqrt(n / 2)). Exact: P(|T| > t_crit) with T noncentral t."""
    df = n - 1 if paired else 2 * n - 2
    if df < 1:
        return math.nan
    ncp = abs(effect) * math.sqrt(n if paired else n / 2.0)
    crit = stats.t.ppf(1.0 - alpha / 2.0, df)
    return float(stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp))


def facts_needed(difference: float | None, sd: float | None, paired: bool = True, alpha: float = ALPHA,
                 power: float = POWER) -> int | None:
    """The fewest test facts n (>= 2) at which `t_power` reaches `power` for the observed `difference` and `sd`:
    power(n) >= power > power(n - 1). None when there is nothing to detect (difference 0 or unknown) or it would
    take more than N_MAX facts; 2 when sd is 0 (any test of two facts tells a constant shift)."""
    if difference is None or sd is None or not math.isfinite(difference) or abs(difference) <= TIE_TOL:
        return None
    if sd <= TIE_TOL:
        return 2
    effect = abs(difference) / sd
    if t_power(N_MAX, effect, paired, alpha) < power:
        return None
    lo, hi = 1, 2  # power(lo) < power (or lo = 1, no test) <= power(hi) after the doubling
    while t_power(hi, effect, paired, alpha) < power:
        lo, hi = hi, hi * 2
    while hi - lo > 1:  # power grows with n
        mid = (lo + hi) // 2
        if t_power(mid, effect, paired, alpha) >= power:
            hi = mid
        else:
            lo = mid
    return int(hi)


def detectable_difference(n: int, sd: float | None, paired: bool = True, alpha: float = ALPHA,
                          power: float = POWER) -> float | None:
    """The smallest |difference| the t-test detects with `power` at `n` facts and this `sd` (solves
    t_power(n, delta / sd) = power). None when n is too small for the test or sd unknown; 0 when sd is 0."""
    if sd is None or not math.isfinite(sd) or (n - 1 if paired else 2 * n - 2) < 1:
        return None
    if sd <= TIE_TOL:
        return 0.0
    hi = 1.0
    while t_power(n, hi, paired, alpha) < power:
        hi *= 2.0
    effect = optimize.brentq(lambda e: t_power(n, e, paired, alpha) - power, 0.0, hi, xtol=1e-10)
    return float(effect * sd)


def power_note(n: int, difference: float | None, sd: float | None, paired: bool = True) -> dict:
    """{n, difference, sd, facts_needed, detectable, test}: what a table's note says about a comparison."""
    return {"n": int(n), "difference": difference, "sd": sd,
            "facts_needed": facts_needed(difference, sd, paired),
            "detectable": detectable_difference(n, sd, paired),
            "test": "paired t-test" if paired else "two-sample Student's t-test"}


# ----------------------------------------------------------------------------------------------------------
# the bootstrap over facts
# ----------------------------------------------------------------------------------------------------------
def bootstrap_indices(n: int, replicates: int, seed) -> np.ndarray:
    """[replicates, n] indices of facts drawn with replacement (seeded): one fresh sample of facts per row."""
    if n < 1 or replicates < 1:
        raise ValueError(f"a bootstrap needs facts and replicates (got n={n}, replicates={replicates})")
    return np.random.default_rng(seed).integers(0, n, size=(replicates, n))


def percentile_ci(replicates, confidence: float = 0.95, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(low, high): the percentile interval of bootstrap replicates along `axis` (NaN replicates skipped; NaN
    where fewer than 2 remain)."""
    x = np.asarray(replicates, dtype=np.float64)
    tail = 100.0 * (1.0 - confidence) / 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN slice gives NaN, which is what we want
        low, high = np.nanpercentile(x, [tail, 100.0 - tail], axis=axis)
    enough = np.sum(~np.isnan(x), axis=axis) >= 2
    return np.where(enough, low, np.nan), np.where(enough, high, np.nan)


def centred(replicates, estimate: float | None = None) -> np.ndarray:
    """Bootstrap replicate statistics moved so that their mean is `estimate` (the statistic on the original
    facts; None: unchanged). A resampled set of n facts holds ~63 % distinct facts, which biases statistics such
    as a regret (a best layer's mean minus the chosen layer's) upwards; the shift removes that first-order bias
    and keeps the spread. (Each replicate averages a few re-splits, so the spread also holds their split noise:
    the interval is wider than the facts alone would make it, i.e. conservative.)"""
    m = np.asarray(replicates, dtype=np.float64)
    if estimate is None or not np.any(~np.isnan(m)) or not math.isfinite(estimate):
        return m
    return m + (float(estimate) - float(np.nanmean(m)))


def bootstrap_mean_ci(values, replicates: int = 2000, confidence: float = 0.95, seed=0) -> tuple:
    """(mean, low, high) of per-fact values [..., n] (a leading axis = independent datasets, vectorised): the
    percentile bootstrap over facts with `bootstrap_indices`, the same resampling the pipeline's fact bootstrap
    uses. The coverage test runs it on simulated datasets with a known mean."""
    x = np.asarray(values, dtype=np.float64)
    idx = bootstrap_indices(x.shape[-1], replicates, seed)
    means = x[..., idx].mean(axis=-1)  # [..., replicates]
    low, high = percentile_ci(means, confidence, axis=-1)
    return x.mean(axis=-1), low, high
