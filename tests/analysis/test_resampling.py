"""Resampled proxy/test splits on hand-made per-sample tables with known answers, and re-scoring from cached
per-sample evidence against running each selector directly on the same subset."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from goldenlayers import stats as analysis
from goldenlayers.analysis import resampling
from goldenlayers.measure import factors as evidence
from goldenlayers.selection import baselines, lga
from goldenlayers.selection.plan import sweep_plan
from goldenlayers.measure.gradients import NewGradientSum, extract_layer_gradients

LAYERS = [0, 1, 2]


def known_sweep(n: int = 10) -> pd.DataFrame:
    """rewrite is 0 at layer 0, 1 at layer 1 and 0.5 at layer 2 for every sample: layer 1 is golden in every draw,
    layer 0 misses it by exactly 1 and layer 2 by exactly 0.5."""
    rows = []
    for i in range(n):
        for layer, value in zip(LAYERS, (0.0, 1.0, 0.5)):
            rows.append({"sample_id": f"s{i}", "split": "proxy" if i < 3 else "test", "layer": layer,
                         "editor": "r-rome", "rewrite": value, "status": "ok"})
    return pd.DataFrame(rows)


def known_gradients(n: int = 10) -> pd.DataFrame:
    """LGA's scores peak at layer 1 (the golden one), LGA(K')'s at layer 0, in every subset."""
    rows = []
    for i in range(n):
        for layer, dot, sq_new in zip(LAYERS, (1.0, 2.0, 1.5), (9.0, 1.0, 4.0)):
            rows.append({"sample_id": f"s{i}", "layer": layer, "dot_old_new": dot, "sq_norm_old": 1.0,
                         "sq_norm_new": sq_new})
    return pd.DataFrame(rows)


def test_regret_and_hit_rate_on_a_known_table():
    ev = resampling.build_evidence(known_sweep(), known_gradients())
    draws, verdicts = resampling.resample(ev, n_proxy=3, n_draws=25, seed=7)
    rewrite = draws[draws["metric"] == "rewrite"]
    lga = rewrite[rewrite["selector"] == "lga"]
    assert (lga["layer"] == 1).all() and (lga["regret"] == 0).all() and lga["hit"].all()
    kprime = rewrite[rewrite["selector"] == "lga_kprime"]
    # always layer 0: misses the golden mean by exactly 1, and 0s vs 1s differ significantly in every draw
    assert (kprime["layer"] == 0).all() and np.allclose(kprime["regret"], 1.0) and not kprime["hit"].any()
    # Random's regret is 0, 0.5 or 1 depending on the layer it drew
    random = rewrite[rewrite["selector"] == "random"]
    expected = random["layer"].map({0: 1.0, 1: 0.0, 2: 0.5})
    np.testing.assert_allclose(random["regret"], expected)
    assert set(verdicts["golden_layer"]) == {1} and verdicts["golden_exists"].all()

    table = resampling.summarise_draws(draws, ["rewrite"]).set_index("selector")
    assert table.loc["lga", "mean_regret"] == 0 and table.loc["lga", "hit_rate"] == 1.0  # the always-golden selector
    assert (table.loc["lga", "ci_low"], table.loc["lga", "ci_high"]) == (0.0, 0.0)
    assert table.loc["lga_kprime", "mean_regret"] == pytest.approx(1.0) and table.loc["lga_kprime", "hit_rate"] == 0
    assert table.loc["lga", "top_layer"] == 1 and table.loc["lga", "top_layer_share"] == 1.0
    assert table.loc["random", "mean_regret"] == pytest.approx(float(expected.mean()))
    assert resampling.golden_exists_rate(verdicts) == {"rewrite": 1.0, "overall": 1.0}


def test_hit_uses_the_table1_test_on_per_sample_values():
    # golden layer 1 = 1 for all; layer 2 = 1 for all but one sample: regret 1/7 on 7 test samples, not significant
    sweep = known_sweep()
    sweep.loc[sweep["layer"] == 2, "rewrite"] = 1.0
    sweep.loc[(sweep["layer"] == 2) & (sweep["sample_id"] == "s9"), "rewrite"] = 0.0
    ev = resampling.build_evidence(sweep, known_gradients())
    proxy = np.array([True] * 3 + [False] * 7)
    golden = ev["values"]["rewrite"][~proxy, 1]
    chosen = ev["values"]["rewrite"][~proxy, 2]
    hit, p = resampling._hit(golden, chosen, same=False)
    with warnings.catch_warnings():  # scipy warns of precision loss on the all-equal golden group; its p is exact
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = stats.ttest_ind(golden, chosen, equal_var=True).pvalue
    assert p == pytest.approx(expected) and p > 0.05 and hit


def test_student_p_matches_the_table1_test():
    rng = np.random.default_rng(0)
    cases = [(rng.random(12), rng.random(9)), (rng.random(5) + 1, rng.random(5)), (np.ones(4), np.zeros(4)),
             (np.ones(4), np.ones(4)), (np.array([1.0, 0.0, 1.0]), np.array([1.0, 0.0, 1.0])), (np.ones(1), np.ones(3))]
    for a, b in cases:
        _, p = analysis._safe_ttest(a, b, paired=False)
        got = resampling.student_p(a, b)
        assert (got is None and p is None) or got == pytest.approx(p, rel=1e-9, abs=1e-15), (a, b)


def test_bootstrap_ci_on_a_known_spread():
    x = np.random.default_rng(1).normal(0.3, 0.1, size=400)
    mean, low, high = resampling.mean_ci(x, seed=0)
    assert mean == pytest.approx(x.mean())
    assert low < 0.3 < high
    # the CI of a mean of n values with sd 0.1 is about 2 x 1.96 x 0.1 / sqrt(n) wide
    assert (high - low) == pytest.approx(2 * 1.96 * 0.1 / 20, rel=0.15)
    assert resampling.mean_ci([0.2] * 5) == (0.2, 0.2, 0.2)
    assert resampling.mean_ci(x, seed=3) == resampling.mean_ci(x, seed=3)


def test_resampling_is_seeded_and_deterministic():
    ev = resampling.build_evidence(known_sweep(), known_gradients())
    masks = resampling.draw_masks(10, 3, 50, seed=5)
    assert masks.shape == (50, 10) and (masks.sum(axis=1) == 3).all()
    assert np.array_equal(masks, resampling.draw_masks(10, 3, 50, seed=5))
    assert not np.array_equal(masks, resampling.draw_masks(10, 3, 50, seed=6))
    assert len({tuple(m) for m in masks}) > 20  # draws differ from each other
    a, va = resampling.resample(ev, 3, 20, seed=5)
    b, vb = resampling.resample(ev, 3, 20, seed=5)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(va, vb)
    with pytest.raises(ValueError, match="empty split"):
        resampling.draw_masks(10, 10, 5, seed=0)
    assert resampling.proxy_sizes([3, 5, 10, 20, 50], 12) == [3, 5, 10]


def random_evidence(n: int = 12, layers=(0, 2, 3, 5), seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = [f"r{i}" for i in range(n)]
    sweep = pd.DataFrame([{"sample_id": s, "split": "test", "layer": layer, "editor": "r-rome",
                           "rewrite": float(rng.random() < 0.6), "rephrase": rng.random(), "status": "ok"}
                          for s in ids for layer in layers])
    grads = pd.DataFrame([{"sample_id": s, "layer": layer, "dot_old_new": rng.normal(), "sq_norm_old": rng.random(),
                           "sq_norm_new": rng.random()} for s in ids for layer in range(6)])
    effects = pd.DataFrame([{"sample_id": s, "layer": layer, "correct": bool(rng.random() < 0.7),
                             "indirect_effect": rng.random()} for s in ids for layer in range(6)])
    # one `correct` flag per sample, as causal tracing writes it
    effects["correct"] = effects.groupby("sample_id")["correct"].transform("first")
    return ids, sweep, grads, effects


def test_rescoring_from_cached_values_equals_each_selector_run_directly():
    ids, sweep, grads, effects = random_evidence()
    ev = resampling.build_evidence(sweep, grads, effects=effects)
    layers = ev["layers"]
    masks = resampling.draw_masks(len(ids), 5, 15, seed=3)
    for proxy in masks:
        subset = [s for s, keep in zip(ev["samples"], proxy) if keep]
        got = {k: (None if v is None else layers[v]) for k, v in resampling.choose(ev, proxy, params={"tukey_k": 1.0}).items()}
        assert got["lga"] == lga.run_lga(grads, subset, k=1.0, layers=layers)["chosen_layer"]
        assert got["lga_kprime"] == lga.run_lga(grads, subset, k=1.0, method="lga_kprime",
                                                      layers=layers)["chosen_layer"]
        assert got["cma"] == baselines.run_cma(effects, layers=layers, sample_ids=subset)["chosen_layer"]
        as_proxy = sweep.assign(split=np.where(sweep["sample_id"].isin(subset), "proxy", "test"))
        assert got["bf"] == baselines.run_bf(as_proxy, "rewrite")["chosen_layer"]


def test_salem_from_cached_factors_equals_a_direct_pass_on_the_subset(tiny_llama, tiny_tokenizer, tiny_records,
                                                                        tmp_path):
    factors = evidence.NewGradientFactors()
    extract_layer_gradients(tiny_llama, tiny_tokenizer, tiny_records, progress=False, new_factors=factors)
    factors.save(tmp_path / "f.safetensors", provenance={"what": "test"})
    loaded = evidence.load_factors(tmp_path / "f.safetensors")
    assert loaded["sample_ids"] == [str(r["id"]) for r in tiny_records] and loaded["provenance"] == {"what": "test"}
    for subset in (tiny_records[:2], tiny_records[1::2], tiny_records):
        direct = NewGradientSum()
        extract_layer_gradients(tiny_llama, tiny_tokenizer, subset, progress=False, new_gradient_sum=direct)
        expected = direct.saliency_frame()
        got = evidence.salem_saliency(loaded, [r["id"] for r in subset])
        assert list(got.columns) == list(expected.columns)
        np.testing.assert_allclose(got["saliency"], expected["saliency"], rtol=1e-5)
        assert (got["n_samples"] == len(subset)).all()
        assert baselines.run_salem(got)["chosen_layer"] == baselines.run_salem(expected)["chosen_layer"]
    with pytest.raises(KeyError, match="no gradient factors"):
        evidence.salem_saliency(loaded, ["nope"])
    (tmp_path / "bad.safetensors").write_bytes(b"not a file")
    with pytest.raises(ValueError, match="factors file"):
        evidence.load_factors(tmp_path / "bad.safetensors")


def test_evidence_for_other_samples_is_refused():
    ids, sweep, grads, effects = random_evidence()
    with pytest.raises(ValueError, match="no gradient scalars"):
        resampling.build_evidence(sweep, grads[grads["sample_id"] != ids[0]])
    with pytest.raises(ValueError, match="not in the gradient table"):
        resampling.build_evidence(sweep, grads[grads["layer"] != 5])


def test_sweep_plan_adds_chosen_layers_outside_the_grid():
    plan = sweep_plan([0, 4, 8], [{"method": "lga", "chosen_layer": 5},
                                            {"method": "cma", "chosen_layer": 4}])
    assert plan == {"grid": [0, 4, 8], "chosen": {"lga": 5, "cma": 4}, "added": [5], "layers": [0, 4, 5, 8]}
    with pytest.raises(ValueError, match="chose no layer"):
        sweep_plan([0], [{"method": "lga", "chosen_layer": None}])


def test_resample_stage_and_report(tmp_path):
    from goldenlayers.report.write import write_figures, write_tables
    from goldenlayers.analysis.resampling_report import run_resampling

    ids, sweep, grads, effects = random_evidence(n=14)
    run_dir = tmp_path / "results/m/d/resampling/r-rome"
    paths = {}
    for name, frame in (("sweep", sweep), ("grads", grads), ("effects", effects)):
        paths[name] = tmp_path / f"{name}.parquet"
        frame.to_parquet(paths[name])
    (tmp_path / "split.json").write_text(json.dumps({"proxy": ids[:4], "test": ids[4:]}))
    sweep["split"] = np.where(sweep["sample_id"].isin(ids[:4]), "proxy", "test")
    sweep.to_parquet(paths["sweep"])
    (tmp_path / "plan.json").write_text(json.dumps({"grid": [0, 3, 5], "chosen": {"lga": 2}, "added": [2],
                                                    "layers": [0, 2, 3, 5]}))
    (tmp_path / "agg.json").write_text(json.dumps({"proxy_golden_layer": 3, "selected": {
        "lga": {"layer": 2}, "lga_kprime": {"layer": 0}, "cma": {"layer": 5},
        "random": {"layer": None, "layers": [0, 3, 5]}}}))
    summary = run_resampling(str(paths["sweep"]), str(tmp_path / "split.json"), str(run_dir),
                             gradients_path=str(paths["grads"]), effects_path=str(paths["effects"]),
                             n_draws=30, curve_draws=10, sizes=(3, 5, 50),
                             key={"model": "m", "dataset": "d", "editor": "r-rome"},
                             plan_path=str(tmp_path / "plan.json"), aggregate_path=str(tmp_path / "agg.json"),
                             fact_replicates=8, fact_draws=2)
    assert summary["n_proxy"] == 4 and summary["curve_sizes"] == [3, 5] and summary["swept_layers"] == [0, 2, 3, 5]
    assert summary["candidate_layers"] == [0, 3, 5] and summary["candidates"] == "the configured grid"
    assert summary["table1"]["rewrite"]["power"]["two_sample"]["n"] == 10
    assert set(summary["table1"]) == {"rewrite", "rephrase", "overall"}
    runs = [str(run_dir / "summary.json")]
    tables = write_tables(["table16", "table17", "table1_by_metric"], runs, str(tmp_path / "report"))
    write_figures(["figure5", "figure6", "figure7"], runs, str(tmp_path / "report"))
    t16 = tables["table16"]
    assert set(t16["Model"]) == {"m"} and set(t16["Editor"]) == {"r-rome"}  # the key the summary recorded
    assert set(t16["Selector"]) == {"LGA", "LGA(K')", "CMA", "BF", "Verify", "Consensus", "Random (1 layer)"}
    assert set(t16["Metric"]) == {"rewrite", "overall"}
    assert (t16["CI low (over draws)"] <= t16["Mean regret"] + 1e-12).all()
    assert (t16["Mean regret"] <= t16["CI high (over draws)"] + 1e-12).all()
    assert (t16["CI low (over facts)"] >= 0).all() and (t16["CI high (over facts)"] >= t16["CI low (over facts)"]).all()
    md = (tmp_path / "report/table16.md").read_text()
    assert "swept layers [0, 2, 3, 5]; the draws chose among the configured grid [0, 3, 5]" in md
    t17 = tables["table17"]
    assert set(t17["Versus"]) == {"LGA", "Random"} and set(t17["Metric"]) == {"rewrite", "overall"}
    row = t17[(t17["Selector"] == "CMA") & (t17["Versus"] == "LGA") & (t17["Metric"] == "rewrite")].iloc[0]
    assert row["Layer"] == 5 and row["Versus layer"] == 2 and row["Test facts"] == 10 and row["Draws"] > 0
    assert "with 10 test facts this comparison cannot tell apart differences below" in (
        tmp_path / "report/table17.md").read_text()
    assert "Table 1's test cannot tell apart" in (tmp_path / "report/table1_by_metric.md").read_text()
    t1 = tables["table1_by_metric"]
    assert t1["Draws with a golden layer"].between(0, 1).all()
    for name in ("figure5.png", "figure5.pdf", "figure6.png", "figure7.png", "table1_by_metric.csv"):
        assert (tmp_path / "report" / name).stat().st_size > 0


def test_a_draw_without_proxy_values_of_the_metric_gives_bf_no_choice():
    # metric: rephrase, which the first four samples lack (no rephrase prompt): a draw of those has nothing for BF
    ids, sweep, grads, effects = random_evidence(n=12)
    sweep.loc[sweep["sample_id"].isin(ids[:4]), "rephrase"] = np.nan
    ev = resampling.build_evidence(sweep, grads, None, effects, metric="rephrase")
    proxy = np.array([s in ids[:3] for s in ev["samples"]])
    out = resampling.choose(ev, proxy)
    assert out["bf"] is None and out["lga"] is not None
    # a draw with values chooses as before
    assert resampling.choose(ev, ~proxy)["bf"] is not None


def spike_case(n: int = 12):
    """Grid 0, 2, 4 (values 0.5, 0.7, 0.5 for every fact) plus layer 3, swept only because CMA chose it on the
    pipeline's split: a narrow spike (1.0). CMA's effects always peak at layer 3 (at 0 among the grid), LGA's
    gradient scores at layer 4."""
    ids = [f"s{i}" for i in range(n)]
    values = {0: 0.5, 2: 0.7, 3: 1.0, 4: 0.5}
    sweep = pd.DataFrame([{"sample_id": s, "split": "test", "layer": layer, "editor": "r-rome", "rewrite": v,
                           "status": "ok"} for s in ids for layer, v in values.items()])
    grads = pd.DataFrame([{"sample_id": s, "layer": layer, "dot_old_new": 2.0 if layer == 4 else 1.0,
                           "sq_norm_old": 1.0, "sq_norm_new": 1.0} for s in ids for layer in range(5)])
    effects = pd.DataFrame([{"sample_id": s, "layer": layer, "correct": True,
                             "indirect_effect": {3: 0.9, 0: 0.5}.get(layer, 0.1)} for s in ids for layer in range(5)])
    return ids, sweep, grads, effects


def test_a_selectors_added_spike_favours_it_only_when_added_layers_are_candidates():
    ids, sweep, grads, effects = spike_case()
    swept = resampling.build_evidence(sweep, grads, effects=effects)
    grid = resampling.build_evidence(sweep, grads, effects=effects, candidates=[0, 2, 4])
    assert swept["layers"] == [0, 2, 3, 4] and grid["layers"] == [0, 2, 4]
    summary = {}
    for name, ev in (("swept", swept), ("grid", grid)):
        draws, _ = resampling.resample(ev, 4, 20, seed=1)
        summary[name] = resampling.summarise_draws(draws, ["rewrite"]).set_index("selector")["mean_regret"]
    # with the spike as a candidate CMA looks perfect and LGA misses by the spike's height
    assert summary["swept"]["cma"] == 0 and summary["swept"]["lga"] == pytest.approx(0.5)
    # over the grid alone both choose among the same layers and miss the grid's golden layer 2 equally (0 and 4)
    assert summary["grid"]["cma"] == pytest.approx(0.2) and summary["grid"]["lga"] == pytest.approx(0.2)
    assert summary["swept"]["bf"] == 0 and summary["grid"]["bf"] == 0  # BF's proxy golden follows the candidates
    with pytest.raises(ValueError, match="were not swept"):
        resampling.build_evidence(sweep, grads, effects=effects, candidates=[0, 1])


def test_fact_bootstrap_copies_facts_and_weighs_repeats():
    ids, sweep, grads, effects = random_evidence(n=8)
    ev = resampling.build_evidence(sweep, grads, effects=effects)
    rep = resampling.replicate_evidence(ev, [0, 0, 3, 5, 5, 5, 6, 7])
    assert len(set(rep["samples"])) == 8 and rep["samples"][:2] == [f"{ev['samples'][0]}#0", f"{ev['samples'][0]}#1"]
    for m in ev["metrics"]:
        np.testing.assert_array_equal(rep["values"][m], ev["values"][m][[0, 0, 3, 5, 5, 5, 6, 7]])
    assert (rep["gradients"]["sample_id"].str.startswith(ev["samples"][5])).sum() == 3 * 6  # 3 copies x 6 layers
    # identity indices: the same choices as the original evidence in every draw
    same = resampling.replicate_evidence(ev, range(8))
    for proxy in resampling.draw_masks(8, 3, 5, seed=2):
        assert resampling.choose(same, proxy) == resampling.choose(ev, proxy)
    # a known table: LGA is golden on every set of facts, LGA(K') misses by exactly 1
    known = resampling.build_evidence(known_sweep(), known_gradients())
    boot = resampling.fact_bootstrap(known, 3, replicates=6, draws=2, seed=4)
    assert set(boot["replicate"]) == set(range(6)) and len(boot[boot["selector"] == "lga"]) == 6 * 2 * 2
    ci = resampling.fact_ci(boot).set_index(["selector", "metric"])
    assert tuple(ci.loc[("lga", "rewrite"), ["facts_low", "facts_high"]]) == (0.0, 0.0)
    assert ci.loc[("lga_kprime", "rewrite"), "facts_low"] == pytest.approx(1.0)
    paired = resampling.paired_draws(resampling.resample(known, 3, 10, seed=4)[0], "lga", ["rewrite"], boot)
    row = paired.set_index("selector").loc["lga_kprime"]
    assert row["mean_diff"] == pytest.approx(1.0) and row["ref_at_least_as_good"] == 1.0
    assert (row["facts_low"], row["facts_high"]) == pytest.approx((1.0, 1.0))


def test_pipeline_pairs_are_scipy_paired_tests_on_the_test_split():
    ids, sweep, grads, effects = random_evidence(n=14)
    sweep["split"] = np.where(sweep["sample_id"].isin(ids[:4]), "proxy", "test")
    selected = {"lga": {"layer": 2}, "cma": {"layer": 5}, "random": {"layer": None, "layers": [0, 3, 5]}}
    rows = {(r["selector"], r["ref"], r["metric"]): r
            for r in resampling.pipeline_pairs(sweep, selected, ("lga", "random"), ["rephrase"])}
    test = sweep[sweep["split"] == "test"].pivot(index="sample_id", columns="layer", values="rephrase")
    lga, cma, rnd = test[2].to_numpy(), test[5].to_numpy(), test[[0, 3, 5]].mean(axis=1).to_numpy()
    r = rows[("cma", "lga", "rephrase")]
    assert r["n"] == 10 and r["mean_diff"] == pytest.approx(np.mean(lga - cma))
    assert r["p_t"] == pytest.approx(stats.ttest_rel(lga, cma).pvalue)
    assert r["p_wilcoxon"] == pytest.approx(stats.wilcoxon(lga - cma).pvalue)
    assert r["power"]["facts_needed"] is None or r["power"]["facts_needed"] >= 2
    assert rows[("lga", "random", "rephrase")]["p_t"] == pytest.approx(stats.ttest_rel(rnd, lga).pvalue)
    assert ("random", "lga", "rephrase") in rows and ("lga", "lga", "rephrase") not in rows
