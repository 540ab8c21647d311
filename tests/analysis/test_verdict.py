"""The verdict statistics against scipy, hand arithmetic and simulation: paired tests, t-test power (test facts
needed), and the coverage of the bootstrap over facts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from goldenlayers.analysis import verdict


def test_paired_tests_match_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.random(13), rng.random(13)
    got = verdict.paired_tests(a, b)
    assert got["n"] == 13 and got["mean_diff"] == pytest.approx(np.mean(a - b))
    assert got["sd_diff"] == pytest.approx(np.std(a - b, ddof=1))
    assert got["p_t"] == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-12)
    assert got["t"] == pytest.approx(stats.ttest_rel(a, b).statistic, rel=1e-12)
    assert got["p_wilcoxon"] == pytest.approx(stats.wilcoxon(a - b).pvalue, rel=1e-12)
    # zero differences are dropped before Wilcoxon's ranks; NaN pairs are dropped from both tests
    a2, b2 = np.append(a, [0.5, np.nan]), np.append(b, [0.5, 0.1])
    got2 = verdict.paired_tests(a2, b2)
    assert got2["n"] == 14 and got2["p_wilcoxon"] == pytest.approx(got["p_wilcoxon"])
    assert got2["p_t"] == pytest.approx(stats.ttest_rel(a2[:14], b2[:14]).pvalue)


def test_paired_tests_degenerate_cases():
    same = verdict.paired_tests([1.0, 0.5, 1.0], [1.0, 0.5, 1.0])
    assert (same["p_t"], same["p_wilcoxon"], same["t"]) == (1.0, 1.0, 0.0)  # no evidence of a difference
    shift = verdict.paired_tests([1.0, 1.0, 1.0], [0.5, 0.5, 0.5])
    assert shift["t"] == math.inf and shift["p_t"] == 0.0 and shift["sd_diff"] == 0.0
    # three equal positive differences: exact Wilcoxon p = 2 / 2^3
    assert shift["p_wilcoxon"] == pytest.approx(0.25)
    one = verdict.paired_tests([1.0], [0.0])
    assert one["n"] == 1 and one["p_t"] is None and one["p_wilcoxon"] is None and one["sd_diff"] is None
    assert verdict.paired_tests([], [])["mean_diff"] is None
    with pytest.raises(ValueError, match="same facts"):
        verdict.paired_tests([1.0, 2.0], [1.0])


def _simulated_power(n: int, effect: float, paired: bool, reps: int = 40000, seed: int = 1) -> float:
    """Rejection rate of the two-sided t-test at alpha 0.05 on normal data with this standardised effect."""
    rng = np.random.default_rng(seed)
    if paired:
        d = rng.normal(effect, 1.0, size=(reps, n))
        t = d.mean(axis=1) / (d.std(axis=1, ddof=1) / math.sqrt(n))
        df = n - 1
    else:
        a, b = rng.normal(effect, 1.0, size=(reps, n)), rng.normal(0.0, 1.0, size=(reps, n))
        pooled = np.sqrt((a.var(axis=1, ddof=1) + b.var(axis=1, ddof=1)) / 2)
        t = (a.mean(axis=1) - b.mean(axis=1)) / (pooled * math.sqrt(2 / n))
        df = 2 * n - 2
    return float(np.mean(np.abs(t) > stats.t.ppf(0.975, df)))


@pytest.mark.parametrize("paired", [True, False])
def test_power_agrees_with_simulated_t_tests(paired):
    for n, effect in ((13, 0.5), (8, 1.0), (30, 0.3)):
        assert verdict.t_power(n, effect, paired) == pytest.approx(_simulated_power(n, effect, paired), abs=0.01)


def test_facts_needed_is_the_smallest_n_with_80_percent_power():
    for diff, sd, paired in ((0.05, 0.2, True), (0.3, 0.4, True), (0.1, 0.3, False), (0.9, 0.5, True)):
        n = verdict.facts_needed(diff, sd, paired)
        effect = diff / sd
        assert verdict.t_power(n, effect, paired) >= 0.8 > verdict.t_power(n - 1, effect, paired) or n == 2
    # hand arithmetic: the normal approximation n = ((z_.975 + z_.8) / effect)^2 = 125.6 for effect 0.25; the exact
    # t-test needs a little more (the t quantile is wider than z): 128
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert (z / 0.25) ** 2 == pytest.approx(125.58, abs=0.01)
    assert verdict.facts_needed(0.05, 0.2) == 128
    assert verdict.facts_needed(0.05, 0.2, paired=False) == 253  # two samples of n: about twice as many
    assert verdict.facts_needed(0.0, 0.2) is None and verdict.facts_needed(None, 0.2) is None
    assert verdict.facts_needed(0.1, 0.0) == 2
    assert verdict.facts_needed(1e-6, 1.0) is None  # beyond N_MAX


def test_detectable_difference_inverts_the_power():
    for n, sd, paired in ((13, 0.3, True), (13, 0.3, False), (50, 1.0, True)):
        delta = verdict.detectable_difference(n, sd, paired)
        assert verdict.t_power(n, delta / sd, paired) == pytest.approx(0.8, abs=1e-8)
        assert verdict.facts_needed(delta * 1.001, sd, paired) <= n < verdict.facts_needed(delta * 0.95, sd, paired)
    assert verdict.detectable_difference(1, 0.3) is None and verdict.detectable_difference(5, 0.0) == 0.0
    note = verdict.power_note(13, 0.1, 0.3)
    assert note["facts_needed"] == verdict.facts_needed(0.1, 0.3) and note["test"] == "paired t-test"


def test_fact_bootstrap_interval_covers_a_known_gap_near_its_nominal_rate():
    # 200 simulated datasets of 30 facts whose paired differences have a known mean gap: the 95 % percentile
    # interval of the bootstrap over facts (the resampling the pipeline's fact bootstrap uses) covers it in >= 90 %
    gap, rng = 0.12, np.random.default_rng(2026)
    data = gap + rng.normal(0.0, 0.3, size=(200, 30))
    mean, low, high = verdict.bootstrap_mean_ci(data, replicates=2000, seed=5)
    covered = (low <= gap) & (gap <= high)
    assert 0.90 <= covered.mean() <= 0.99
    # the interval is about 2 x 1.96 sd / sqrt(n) wide
    assert np.median(high - low) == pytest.approx(2 * 1.96 * 0.3 / math.sqrt(30), rel=0.1)
    np.testing.assert_allclose(mean, data.mean(axis=1))


def test_bootstrap_pieces():
    idx = verdict.bootstrap_indices(20, 50, seed=3)
    assert idx.shape == (50, 20) and idx.min() >= 0 and idx.max() < 20
    assert np.array_equal(idx, verdict.bootstrap_indices(20, 50, seed=3))
    assert len({tuple(r) for r in idx}) == 50  # with replacement: repeats within a row
    assert any(len(set(r)) < 20 for r in idx)
    low, high = verdict.percentile_ci(np.arange(101.0))
    assert (float(low), float(high)) == pytest.approx((2.5, 97.5))
    low, high = verdict.percentile_ci([1.0, np.nan])
    assert math.isnan(low) and math.isnan(high)
    moved = verdict.centred(np.array([1.0, 2.0, 3.0]), 0.5)
    np.testing.assert_allclose(moved, [-0.5, 0.5, 1.5])  # mean moved to the estimate, spread kept
    with pytest.raises(ValueError, match="needs facts"):
        verdict.bootstrap_indices(0, 5, seed=0)


def test_table1_notes_say_how_many_facts_its_test_needs():
    import pandas as pd

    from goldenlayers import stats as analysis
    from goldenlayers.report import tables

    rng = np.random.default_rng(4)
    rows = [dict(sample_id=f"s{i}", split="proxy" if i < 4 else "test", layer=layer, editor="r-rome",
                 rewrite=float(rng.random() < 0.5 + 0.1 * layer), status="ok") for i in range(17) for layer in range(3)]
    summary = analysis.summarise_sweep(pd.DataFrame(rows), metric="rewrite")
    built = tables.table1_with_power({("m", "d"): summary})
    c = summary["optimal_vs_golden"]
    pooled = math.sqrt((c["optimal_std"] ** 2 + c["golden_std"] ** 2) / 2)
    need = verdict.facts_needed(c["mean_diff"], pooled, paired=False)
    low = verdict.detectable_difference(13, pooled, paired=False)
    assert f"with 13 test facts Table 1's test cannot tell apart differences below {low:.4f}" in built.markdown
    assert f"would need {need} test facts" in built.markdown
    pd.testing.assert_frame_equal(built.frame, tables.table1({("m", "d"): summary}))
