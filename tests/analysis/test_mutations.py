"""Issue #31 item 8: tests that catch the mutations of the statistics the fast tests let through (each was checked
once against the mutated code): means over the proxy facts instead of the test facts, a bootstrap that never draws
the last fact, and a p-value exactly at alpha counted as a miss."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from goldenlayers import stats as analysis
from goldenlayers.analysis import resampling, verdict


def test_golden_and_chosen_values_are_means_over_the_test_facts_only():
    # every fact has its own value per layer, so proxy and test means differ (the earlier tables gave every fact
    # the same value per layer, and a mean over the proxy facts passed)
    rng = np.random.default_rng(3)
    ids = [f"s{i}" for i in range(8)]
    values = rng.random((8, 3))
    sweep = pd.DataFrame([{"sample_id": s, "split": "test", "layer": layer, "editor": "r-rome",
                           "rewrite": float(values[i, layer]), "status": "ok"}
                          for i, s in enumerate(ids) for layer in range(3)])
    ev = resampling.build_evidence(sweep)
    draws, verdicts = resampling.resample(ev, n_proxy=3, n_draws=12, seed=5)
    masks = resampling.draw_masks(8, 3, 12, 5)
    checked = 0
    for r, proxy in enumerate(masks):
        test_ids = [s for s, p in zip(ids, proxy) if not p]
        # pandas over the sweep table: a route of its own to the test means
        means = sweep[sweep["sample_id"].isin(test_ids)].groupby("layer")["rewrite"].mean()
        row = verdicts[(verdicts["draw"] == r) & (verdicts["metric"] == "rewrite")].iloc[0]
        assert row["golden_layer"] == means.idxmax() and row["golden_value"] == pytest.approx(means.max())
        for _, d in draws[(draws["draw"] == r) & (draws["metric"] == "rewrite")].iterrows():
            if pd.isna(d["layer"]):  # a selector without its evidence here (verify/consensus: no gradients)
                continue
            assert d["value"] == pytest.approx(means[d["layer"]])
            assert d["regret"] == pytest.approx(means.max() - means[d["layer"]])
            checked += 1
    assert checked >= 12


def test_the_fact_bootstrap_draws_every_fact_the_last_one_too():
    drawn = verdict.bootstrap_indices(3, 400, seed=0)
    assert drawn.shape == (400, 3) and set(np.unique(drawn)) == {0, 1, 2}
    assert set(np.unique(verdict.bootstrap_indices(1, 5, seed=0))) == {0}  # one fact: always that one


def test_a_p_value_exactly_at_alpha_is_a_hit(monkeypatch):
    # Table 1's rule: "not significantly different" is p >= alpha, so p == alpha is a hit (and a golden layer)
    monkeypatch.setattr(resampling, "student_p", lambda a, b: analysis.ALPHA)
    hit, p = resampling._hit(np.array([1.0, 0.0]), np.array([0.0, 0.0]), same=False)
    assert p == analysis.ALPHA and bool(hit)
    monkeypatch.setattr(resampling, "student_p", lambda a, b: np.nextafter(analysis.ALPHA, 0))
    assert resampling._hit(np.array([1.0, 0.0]), np.array([0.0, 0.0]), same=False)[0] == False  # noqa: E712 - numpy's bool


# --- survivors of a mutmut run over stats.py (docs/reliability.md, "Bugs the tests catch") ------------------------
def test_the_failed_count_counts_failed_rows_not_ok_ones():
    # 1 failed row of 4: a count of the ok rows (3) or of all rows (4) is wrong
    rows = [{"sample_id": s, "split": split, "layer": layer, "editor": "r-rome", "rewrite": 1.0,
             "status": "failed" if (s, layer) == ("a", 1) else "ok"}
            for s, split in (("a", "proxy"), ("b", "test")) for layer in (0, 1)]
    assert analysis.summarise_sweep(pd.DataFrame(rows), metric="rewrite")["n_failed"] == 1


def test_a_t_test_on_two_facts_a_side_is_run():
    # two values a side is the smallest sample a two-sample t-test takes; scipy is the reference
    from scipy import stats as scipy_stats

    a, b = np.array([1.0, 2.0]), np.array([3.0, 5.0])
    t, p = analysis._safe_ttest(a, b, paired=False)
    ref = scipy_stats.ttest_ind(a, b)
    assert t == pytest.approx(ref.statistic) and p == pytest.approx(ref.pvalue)
