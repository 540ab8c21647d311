"""Tukey-fenced layer selection on hand-made scores and gradient tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from goldenlayers.selection.baselines import run_bf, run_cma, run_random, run_salem
from goldenlayers.selection.lga import lga_kprime_scores, lga_scores, run_lga, select_layer, tukey_fences
from goldenlayers.analysis.aggregate import mean_of_selected
from goldenlayers.report.tables import speedup_table
from goldenlayers.walltime import read_benchmark_seconds


def kept(scores, k):
    """Which scores lie inside Tukey's fences, as `select_layer` reports them."""
    return select_layer(scores, k=k)["kept"]


def test_fences_use_linear_percentiles():
    scores = [1.0, 2.0, 3.0, 4.0]  # Q1 = 1.75, Q3 = 3.25, IQR = 1.5
    assert tukey_fences(scores, k=1.0) == pytest.approx((0.25, 4.75))
    assert tukey_fences(scores, k=0.5) == pytest.approx((1.0, 4.0))


def test_outliers_on_both_sides_are_dropped():
    scores = [-50.0, 1.0, 2.0, 3.0, 2.5, 1.5, 60.0]
    result = select_layer(scores, k=1.0)
    assert result["kept"] == [False, True, True, True, True, True, False]
    assert result["chosen_layer"] == 3  # the high outlier (layer 6) is not chosen
    assert result["fallback"] is False


def test_bounds_are_inclusive():
    scores = [1.0, 2.0, 3.0, 4.0]
    assert kept(scores, k=0.5) == [True, True, True, True]  # 1.0 and 4.0 sit on the fences


def test_all_equal_keeps_everything_and_ties_go_to_lowest_layer():
    result = select_layer([3.0] * 5, k=1.0, layers=[4, 5, 6, 7, 8])
    assert result["kept"] == [True] * 5
    assert result["chosen_layer"] == 4
    assert result["fallback"] is False


def test_all_dropped_falls_back_to_argmax():
    # Two layers with k < 0.5: the fences sit strictly between the two scores.
    assert kept([0.0, 1.0], k=0.25) == [False, False]
    result = select_layer([0.0, 1.0], k=0.25, layers=[10, 11])
    assert result["fallback"] is True
    assert result["chosen_layer"] == 11
    assert result["k"] == 0.25


def test_k_changes_the_choice():
    scores = [0.0, 1.0, 2.0, 3.0, 4.0, 5.5]  # Q1 = 1.25, Q3 = 3.75: upper fence 6.25 (k=1), 5.0 (k=0.5)
    assert select_layer(scores, k=1.0)["chosen_layer"] == 5
    assert select_layer(scores, k=0.5)["chosen_layer"] == 4


def test_invalid_inputs():
    with pytest.raises(ValueError, match="finite"):
        select_layer([1.0, np.nan], k=1.0)
    with pytest.raises(ValueError, match="non-empty"):
        tukey_fences([], k=1.0)
    with pytest.raises(ValueError, match=">= 0"):
        tukey_fences([1.0, 2.0], k=-1)
    with pytest.raises(ValueError, match="layers"):
        select_layer([1.0, 2.0], k=1.0, layers=[0])


def grads_table() -> pd.DataFrame:
    rows = []
    for i, sid in enumerate(["a", "b", "c"]):
        for layer in range(4):
            rows.append((sid, layer, float(layer * (i + 1)), 1.0, float((layer + 1) ** 2 * (i + 1) ** 2)))
    return pd.DataFrame(rows, columns=["sample_id", "layer", "dot_old_new", "sq_norm_old", "sq_norm_new"])


def test_scores_from_table():
    df = grads_table().sample(frac=1.0, random_state=0)  # row order must not matter
    np.testing.assert_allclose(lga_scores(df, ["a", "c"]), [0.0, 4.0, 8.0, 12.0])
    np.testing.assert_allclose(lga_kprime_scores(df, ["a", "b"]), [3.0, 6.0, 9.0, 12.0])
    with pytest.raises(KeyError, match="not in the gradient table"):
        lga_scores(df, ["a", "zzz"])
    with pytest.raises(ValueError, match="duplicates"):
        lga_scores(df, ["a", "a"])
    with pytest.raises(ValueError, match="one row per"):
        lga_scores(df[~((df.sample_id == "b") & (df.layer == 2))], ["a", "b"])


def test_run_lga_is_json_ready_and_deterministic():
    df = grads_table()
    result = run_lga(df, ["a", "b", "c"], k=1.0)
    assert result["method"] == "lga"
    assert result["layers"] == [0, 1, 2, 3]
    assert result["scores"] == [0.0, 6.0, 12.0, 18.0]
    assert result["chosen_layer"] == 3
    assert result["n_samples"] == 3
    assert set(result) >= {"method", "layers", "scores", "kept", "chosen_layer", "k", "fallback", "n_samples"}
    assert json.loads(json.dumps(result)) == result
    assert run_lga(df, ["a", "b", "c"], k=1.0) == result
    assert run_lga(df, ["a"], k=1.0, method="lga_kprime")["method"] == "lga_kprime"
    with pytest.raises(ValueError, match="unknown LGA method"):
        run_lga(df, ["a"], k=1.0, method="salem")


def test_candidate_layers_restrict_the_scores_and_the_fences():
    df = grads_table()
    result = run_lga(df, ["a", "b", "c"], k=1.0, layers=[2, 0])
    assert result["layers"] == [0, 2]
    assert result["scores"] == [0.0, 12.0]
    assert result["chosen_layer"] == 2
    assert result["params"]["tukey_k"] == 1.0
    with pytest.raises(ValueError, match="not in the gradient table"):
        run_lga(df, ["a"], k=1.0, layers=[0, 7])


def saliency_table(values) -> pd.DataFrame:
    return pd.DataFrame({"layer": range(len(values)), "saliency": values, "n_samples": 3,
                         "n_entries": 100})


def test_salem_takes_the_plain_argmax_without_fences():
    # layer 5's saliency is an outlier: Tukey's fences (LGA, LGA(K')) would drop it; SaLEM's rule does not
    values = [1.0, 2.0, 3.0, 2.5, 1.5, 60.0]
    result = run_salem(saliency_table(values))
    assert result["method"] == "salem"
    assert result["chosen_layer"] == 5
    assert select_layer(values, k=1.0)["chosen_layer"] == 2
    assert result["scores"] == values and result["n_samples"] == 3
    assert run_salem(saliency_table(values), layers=[0, 1, 2, 3])["chosen_layer"] == 2
    assert json.loads(json.dumps(result)) == result
    assert run_salem(saliency_table(values).sample(frac=1.0, random_state=1)) == result


def effects_table() -> pd.DataFrame:
    rows = []
    # sample "a" (clean model right) peaks at layer 1; "b" (wrong) peaks at layer 3 with a large effect
    for sid, correct, effects in (("a", True, [0.1, 0.5, 0.2, 0.0]), ("b", False, [0.0, 0.0, 0.1, 0.9])):
        for layer, ie in enumerate(effects):
            rows.append({"sample_id": sid, "layer": layer, "correct": correct, "indirect_effect": ie})
    return pd.DataFrame(rows)


def test_cma_averages_over_the_samples_the_model_gets_right():
    result = run_cma(effects_table())
    assert result["chosen_layer"] == 1
    assert result["scores"] == [0.1, 0.5, 0.2, 0.0]
    assert (result["n_correct"], result["n_samples"], result["fallback"]) == (1, 2, False)
    assert run_cma(effects_table(), layers=[0, 2, 3])["chosen_layer"] == 2
    assert run_cma(effects_table(), layers=[0, 2, 3])["all_layers"] == [0, 1, 2, 3]
    nobody = effects_table().assign(correct=False)
    fallback = run_cma(nobody)
    assert fallback["fallback"] is True and fallback["chosen_layer"] == 3
    np.testing.assert_allclose(fallback["scores"], [0.05, 0.25, 0.15, 0.45])


def test_random_is_deterministic_given_the_seed():
    layers = list(range(0, 30, 3))
    a = run_random(layers, n=3, seed=42)
    assert a == run_random(layers[::-1], n=3, seed=42)
    assert len(set(a["chosen_layers"])) == 3 and set(a["chosen_layers"]) <= set(layers)
    assert a["chosen_layers"] == sorted(a["chosen_layers"])
    assert a["chosen_layer"] is None and a["params"] == {**a["params"], "n_layers": 3, "seed": 42}
    draws = {tuple(run_random(layers, n=3, seed=seed)["chosen_layers"]) for seed in range(10)}
    assert len(draws) > 1
    assert run_random([4, 5], n=3, seed=0)["chosen_layers"] == [4, 5]  # fewer candidates than n: all of them
    with pytest.raises(ValueError, match="no candidate"):
        run_random([], n=3)


def sweep_table() -> pd.DataFrame:
    rows = []
    for layer, proxy_vals, test_vals in ((0, [0.2, 0.4], [1.0, 1.0, 1.0, 1.0]), (1, [0.9, 0.7], [0.0] * 4),
                                         (2, [0.9, 0.7], [0.5] * 4)):
        for i, v in enumerate(proxy_vals):
            rows.append({"sample_id": f"p{i}", "split": "proxy", "layer": layer, "rewrite": v,
                         "edit_seconds": 1.0, "eval_seconds": 0.5, "status": "ok"})
        for i, v in enumerate(test_vals):
            rows.append({"sample_id": f"t{i}", "split": "test", "layer": layer, "rewrite": v,
                         "edit_seconds": 1.0, "eval_seconds": 0.5, "status": "ok"})
    return pd.DataFrame(rows)


def test_bf_is_the_proxy_golden_layer_and_apportions_the_sweep_time():
    result = run_bf(sweep_table(), "rewrite", job_seconds={0: 30.0, 1: 60.0, 2: 90.0})
    assert result["chosen_layer"] == 1  # tie between 1 and 2 on proxy goes to the lowest; test split ignored
    np.testing.assert_allclose(result["scores"], [0.3, 0.8, 0.8])
    # each job edits 2 proxy + 4 test samples: a third of its time is BF's
    assert result["wall_seconds"] == pytest.approx((30 + 60 + 90) / 3)
    assert result["proxy_edit_eval_seconds"] == pytest.approx(3 * 2 * 1.5)
    assert result["n_samples"] == 2
    assert "wall_seconds" not in run_bf(sweep_table())
    with pytest.raises(ValueError, match="no sweep job time"):
        run_bf(sweep_table(), job_seconds={0: 1.0})


def test_bf_time_over_every_candidate_layer_interpolates_the_unswept_ones():
    """Figure 3 compares selectors that choose among all layers with BF over the same candidates: swept layers
    count their measured proxy share, unswept ones the straight line between swept neighbours, ends held flat."""
    sweep = sweep_table()
    sweep = sweep[sweep["layer"] != 1].replace({"layer": {2: 4}})  # swept layers 1 and 4 of a 6-layer model
    sweep.loc[sweep["layer"] == 0, "layer"] = 1
    result = run_bf(sweep, "rewrite", job_seconds={1: 30.0, 4: 90.0}, num_layers=6)
    proxy = {1: 30.0 / 3, 4: 90.0 / 3}  # 2 proxy of 6 edits per job
    by_hand = [proxy[1], proxy[1], proxy[1] + (proxy[4] - proxy[1]) / 3, proxy[1] + 2 * (proxy[4] - proxy[1]) / 3,
               proxy[4], proxy[4]]
    assert result["wall_seconds"] == pytest.approx(proxy[1] + proxy[4])  # the swept layers, as measured
    assert result["candidate_wall_seconds"] == pytest.approx(sum(by_hand))
    assert result["candidate_layers"] == 6
    table = speedup_table([("m", "d", result), ("m", "d", {"method": "lga", "wall_seconds": 2.0})])
    assert table["bf_seconds"].iloc[0] == pytest.approx(sum(by_hand))
    with pytest.raises(ValueError, match="outside the model's 3 layers"):
        run_bf(sweep, "rewrite", job_seconds={1: 30.0, 4: 90.0}, num_layers=3)


def test_bf_time_of_a_resumed_sweep_counts_every_row():
    """Issue #11 item 6: a job resumed near its end has a benchmark of a few seconds; its rows hold each sample's
    edit + evaluation time (6 rows x 1.5 s per layer here), so BF must not cost less than that."""
    resumed = run_bf(sweep_table(), "rewrite", job_seconds={0: 2.0, 1: 60.0, 2: 90.0})
    assert resumed["wall_seconds"] == pytest.approx((6 * 1.5 + 60 + 90) / 3)
    assert resumed["sweep_row_seconds"] == {"0": 9.0, "1": 9.0, "2": 9.0}


def test_read_benchmark_seconds(tmp_path):
    path = tmp_path / "b.tsv"
    path.write_text("s\th:m:s\tmax_rss\n12.5\t0:00:12\t100\n")
    assert read_benchmark_seconds(path) == 12.5


def test_mean_of_selected_keeps_the_order_and_averages():
    selected = {
        "lga": {"layer": 1, "test": {"rewrite": 0.9}},
        "random#0": {"layer": 0, "test": {"rewrite": 0.2, "overall": None}},
        "random#1": {"layer": 2, "test": {"rewrite": 0.4, "overall": 0.5}},
        "cma": {"layer": 2, "test": {"rewrite": 0.4}},
    }
    merged = mean_of_selected(selected, "random", ["random#0", "random#1"])
    assert list(merged) == ["lga", "random", "cma"]
    assert merged["random"]["layers"] == [0, 2] and merged["random"]["layer"] is None
    assert merged["random"]["test"]["rewrite"] == pytest.approx(0.3)
    assert merged["random"]["test"]["overall"] == 0.5


def test_aggregate_reports_random_as_the_mean_of_its_layers(tmp_path):
    from goldenlayers.cli import main
    from goldenlayers.io import read_json, write_json

    sweep = sweep_table()
    paths = []
    for layer, rows in sweep.groupby("layer"):
        paths.append(str(tmp_path / f"layer_{layer}.parquet"))
        rows.to_parquet(paths[-1])
    write_json(tmp_path / "random.json", run_random([0, 1, 2], n=2, seed=3))
    write_json(tmp_path / "lga.json", {"method": "lga", "chosen_layer": 2})
    out = tmp_path / "out"
    assert main(["aggregate", "--sweeps", *paths, "--selection", str(tmp_path / "lga.json"),
                 str(tmp_path / "random.json"), "--model-name", "m", "--dataset-name", "d", "--editor", "r-rome",
                 "--out-sweep", str(out / "s.parquet"),
                 "--out-stats", str(out / "st.parquet"), "--out-summary", str(out / "summary.json")]) == 0
    summary = read_json(out / "summary.json")
    assert (summary["model"], summary["dataset"], summary["editor"]) == ("m", "d", "r-rome")
    chosen = read_json(tmp_path / "random.json")["chosen_layers"]
    test_means = {0: 1.0, 1: 0.0, 2: 0.5}
    assert summary["selected"]["random"]["layers"] == chosen
    assert summary["selected"]["random"]["test"]["rewrite"] == pytest.approx(np.mean([test_means[x] for x in chosen]))
    assert summary["selected"]["lga"] == {"layer": 2, "test": {"rewrite": 0.5, "overall": 0.5}}


def test_speedup_table_and_figure3(tmp_path):
    from goldenlayers.report.plots import plot_speedups

    entries = [
        ("m", "d1", {"method": "bf", "wall_seconds": 1000.0}),
        ("m", "d1", {"method": "lga", "wall_seconds": 4.0}),
        ("m", "d1", {"method": "cma", "wall_seconds": 100.0}),
        ("m", "d1", {"method": "random", "wall_seconds": 0.0}),
        ("m", "d2", {"method": "lga", "wall_seconds": 5.0}),  # no BF for d2
    ]
    table = speedup_table(entries)
    assert list(table["method"]) == ["lga", "cma", "lga"]
    np.testing.assert_allclose(table["speedup"].iloc[:2], [250.0, 10.0])
    assert np.isnan(table["speedup"].iloc[2])
    drawn = plot_speedups(table, tmp_path / "fig3")
    assert len(drawn) == 2
    assert (tmp_path / "fig3.png").stat().st_size > 0 and (tmp_path / "fig3.pdf").stat().st_size > 0
