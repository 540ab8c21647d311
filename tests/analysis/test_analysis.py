"""Analysis of sweep tables on hand-made sweeps whose answers are worked out by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from goldenlayers import stats as A
from goldenlayers.report import tables as T

NAN = float("nan")


def make_sweep(rows):
    """rows: (sample_id, split, layer, rewrite, rephrase, locality, portability[, status])."""
    recs = []
    for r in rows:
        sid, split, layer, rw, rp, loc, port = r[:7]
        status = r[7] if len(r) > 7 else "ok"
        failed = status == "failed"
        recs.append(dict(
            sample_id=sid, split=split, layer=layer, editor="r-rome",
            rewrite=NAN if failed else rw, rephrase=NAN if failed else rp,
            locality=NAN if failed else loc, portability=NAN if failed else port,
            edit_seconds=0.1, status=status, reason="boom" if failed else "",
        ))
    return pd.DataFrame(recs)


# Test split (rewrite):          L0    L1    L2
#   a                           1.0   1.0   0.5   → best 1.0 at [0, 1]
#   b                           0.0   1.0   1.0   → best 1.0 at [1, 2]
#   c                           0.5   0.5   0.0   → best 0.5 at [0, 1]
#   mean                        0.5   0.8333 0.5  → test golden 1
# Proxy split (rewrite):
#   p                           1.0   0.0   1.0
#   q                           1.0   1.0   1.0
#   mean                        1.0   0.5   1.0   → tie 0/2 → proxy golden 0
REWRITE = {
    ("a", "test"): [1.0, 1.0, 0.5],
    ("b", "test"): [0.0, 1.0, 1.0],
    ("c", "test"): [0.5, 0.5, 0.0],
    ("p", "proxy"): [1.0, 0.0, 1.0],
    ("q", "proxy"): [1.0, 1.0, 1.0],
}
# rephrase = 1 - rewrite; locality: only sample a has it (others NaN); portability: nobody (unsupported)
LOCALITY_A = [0.2, 0.4, 0.6]


@pytest.fixture
def sweep():
    rows = []
    for (sid, split), vals in REWRITE.items():
        for layer, v in enumerate(vals):
            loc = LOCALITY_A[layer] if sid == "a" else NAN
            rows.append((sid, split, layer, v, 1.0 - v, loc, NAN))
    return make_sweep(rows)


def test_supported_metrics(sweep):
    assert A.supported_metrics(sweep) == ["rewrite", "rephrase", "locality"]


def test_overall_only_over_supported_metrics(sweep):
    df = A.overall(sweep)
    row_a0 = df[(df.sample_id == "a") & (df.layer == 0)].iloc[0]
    # rewrite 1.0, rephrase 0.0, locality 0.2 → 0.4 (portability unsupported, ignored)
    assert row_a0["overall"] == pytest.approx(0.4)
    row_b1 = df[(df.sample_id == "b") & (df.layer == 1)].iloc[0]
    # rewrite 1.0, rephrase 0.0, locality NaN for this sample → 0.5
    assert row_b1["overall"] == pytest.approx(0.5)
    # the input is not modified
    assert "overall" not in sweep.columns


def test_overall_with_explicit_metrics(sweep):
    df = A.overall(sweep, metrics=["rewrite"])
    np.testing.assert_allclose(df["overall"].to_numpy(), df["rewrite"].to_numpy())


def test_sample_optimal_keeps_ties(sweep):
    so = A.sample_optimal(sweep, "rewrite", "test").set_index("sample_id")
    assert list(so.index) == ["a", "b", "c"]
    assert so.loc["a", "best"] == 1.0 and so.loc["a", "optimal_layers"] == [0, 1]
    assert so.loc["b", "best"] == 1.0 and so.loc["b", "optimal_layers"] == [1, 2]
    assert so.loc["c", "best"] == 0.5 and so.loc["c", "optimal_layers"] == [0, 1]
    assert (so["n_layers"] == 3).all()


def test_sample_optimal_drops_samples_without_metric(sweep):
    so = A.sample_optimal(sweep, "locality", "test")
    assert list(so["sample_id"]) == ["a"]
    assert so.iloc[0]["best"] == pytest.approx(0.6) and so.iloc[0]["optimal_layers"] == [2]


def test_golden_layer_and_ties_to_lowest(sweep):
    assert A.golden_layer(sweep, "rewrite", "test") == 1
    # proxy: L0 and L2 tie at 1.0 → lowest
    assert A.golden_layer(sweep, "rewrite", "proxy") == 0
    assert A.golden_layers(sweep, "rewrite", "proxy") == [0, 2]
    # rephrase = 1 - rewrite → test means 0.5, 0.1667, 0.5 → tie 0/2 → 0
    assert A.golden_layer(sweep, "rephrase", "test") == 0
    means = A.layer_means(sweep, "rewrite", "test")
    np.testing.assert_allclose(means.to_numpy(), [0.5, 2.5 / 3, 0.5])


def test_golden_layer_none_without_values(sweep):
    assert A.golden_layer(sweep, "portability", "test") is None


def test_layer_stats(sweep):
    ls = A.layer_stats(sweep)
    assert list(ls.columns) == ["split", "layer", "metric", "mean", "std", "sem", "n"]
    assert set(ls["metric"]) == {"rewrite", "rephrase", "locality", "overall"}
    r = ls[(ls.split == "test") & (ls.layer == 0) & (ls.metric == "rewrite")].iloc[0]
    vals = np.array([1.0, 0.0, 0.5])
    assert r["n"] == 3
    assert r["mean"] == pytest.approx(0.5)
    assert r["std"] == pytest.approx(np.std(vals, ddof=1))
    assert r["sem"] == pytest.approx(np.std(vals, ddof=1) / math.sqrt(3))
    # locality: one sample per layer → std 0, sem 0
    loc = ls[(ls.split == "test") & (ls.metric == "locality")]
    assert list(loc["n"]) == [1, 1, 1]
    assert (loc["std"] == 0).all() and (loc["sem"] == 0).all()
    np.testing.assert_allclose(loc["mean"].to_numpy(), LOCALITY_A)
    # sorted by split, layer, metric (canonical metric order)
    first = ls[(ls.split == "proxy") & (ls.layer == 0)]["metric"].tolist()
    assert first == ["rewrite", "rephrase", "overall"]  # proxy has no locality values
    assert ls["split"].tolist() == sorted(ls["split"].tolist())


def test_failed_rows_count_as_zero():
    rows = [
        ("x", "test", 0, None, None, None, None, "failed"),
        ("x", "test", 1, 1.0, 1.0, 1.0, NAN),
        ("y", "test", 0, 1.0, 0.5, 1.0, 0.5),
        ("y", "test", 1, 0.5, 0.5, 1.0, 0.5),
        ("z", "test", 0, None, None, None, None, "failed"),  # every edit of z failed
        ("z", "test", 1, None, None, None, None, "failed"),
    ]
    sw = make_sweep(rows)
    fixed = A.apply_failures(sw)
    x0 = fixed[(fixed.sample_id == "x") & (fixed.layer == 0)].iloc[0]
    assert x0["rewrite"] == 0.0 and x0["rephrase"] == 0.0 and x0["locality"] == 0.0
    assert math.isnan(x0["portability"])  # x has no portability prompt: stays NaN
    z = fixed[fixed.sample_id == "z"]
    assert (z[["rewrite", "rephrase", "locality", "portability"]] == 0.0).all().all()
    # idempotent
    pd.testing.assert_frame_equal(A.apply_failures(fixed), fixed)
    # means: L0 rewrite = (0 + 1 + 0)/3, L1 = (1 + 0.5 + 0)/3 → golden 1
    means = A.layer_means(sw, "rewrite", "test")
    np.testing.assert_allclose(means.to_numpy(), [1 / 3, 0.5])
    assert A.golden_layer(sw, "rewrite", "test") == 1
    ls = A.layer_stats(sw)
    r = ls[(ls.layer == 0) & (ls.metric == "rewrite")].iloc[0]
    assert r["n"] == 3 and r["mean"] == pytest.approx(1 / 3)
    so = A.sample_optimal(sw, "rewrite", "test").set_index("sample_id")
    assert so.loc["z", "best"] == 0.0 and so.loc["z", "optimal_layers"] == [0, 1]
    # x at L0 failed → overall 0 (mean over its metrics, all 0)
    ov = A.overall(sw)
    assert ov[(ov.sample_id == "x") & (ov.layer == 0)]["overall"].iloc[0] == 0.0
    s = A.summarise_sweep(sw)
    assert s["n_failed"] == 3


def test_compare_matches_scipy(sweep):
    res = A.compare_optimal_vs_golden(sweep, "rewrite", "test", 0)
    opt = np.array([1.0, 1.0, 0.5])  # a, b, c
    gold = np.array([1.0, 0.0, 0.5])  # at layer 0
    ind = stats.ttest_ind(opt, gold, equal_var=True)
    rel = stats.ttest_rel(opt, gold)
    assert res["n"] == 3 and res["layer"] == 0
    assert res["t"] == pytest.approx(float(ind.statistic))
    assert res["p"] == pytest.approx(float(ind.pvalue))
    assert res["paired_t"] == pytest.approx(float(rel.statistic))
    assert res["paired_p"] == pytest.approx(float(rel.pvalue))
    assert res["different"] is (float(ind.pvalue) < 0.05)
    assert res["optimal_mean"] == pytest.approx(2.5 / 3)
    assert res["optimal_std"] == pytest.approx(np.std(opt, ddof=1))
    assert res["golden_mean"] == pytest.approx(0.5)
    assert res["golden_std"] == pytest.approx(np.std(gold, ddof=1))
    json.dumps(res, allow_nan=False)
    for k in ("t", "p", "paired_t", "paired_p", "optimal_mean", "golden_std"):
        assert type(res[k]) is float
    assert type(res["different"]) is bool and type(res["n"]) is int


def test_compare_significant_difference():
    rng = np.random.default_rng(0)
    rows = []
    for i in range(40):
        good = float(rng.uniform(0.9, 1.0))
        bad = float(rng.uniform(0.0, 0.3))
        rows += [(f"s{i}", "test", 0, good, 0, 0, 0), (f"s{i}", "test", 1, bad, 0, 0, 0)]
    sw = make_sweep(rows)
    res = A.compare_optimal_vs_golden(sw, "rewrite", "test", 1)
    assert res["different"] is True and res["p"] < 1e-10 and res["t"] > 0
    res0 = A.compare_optimal_vs_golden(sw, "rewrite", "test", 0)
    assert res0["different"] is False and res0["t"] == 0.0 and res0["p"] == 1.0


def test_compare_zero_variance_identical():
    rows = [(f"s{i}", "test", layer, 1.0, 1.0, 1.0, 1.0) for i in range(5) for layer in range(3)]
    res = A.compare_optimal_vs_golden(make_sweep(rows), "rewrite", "test", 1)
    assert (res["t"], res["p"], res["different"]) == (0.0, 1.0, False)
    assert (res["paired_t"], res["paired_p"], res["paired_different"]) == (0.0, 1.0, False)
    assert res["optimal_std"] == 0.0 and res["golden_std"] == 0.0


def test_compare_zero_variance_different_means(monkeypatch):
    rows = []
    for i in range(4):
        rows += [(f"s{i}", "test", 0, 1.0, 0, 0, 0), (f"s{i}", "test", 1, 0.0, 0, 0, 0)]
    sw = make_sweep(rows)
    res = A.compare_optimal_vs_golden(sw, "rewrite", "test", 1)
    assert res["t"] == math.inf and res["p"] == 0.0 and res["different"] is True
    assert res["paired_t"] == math.inf and res["paired_p"] == 0.0 and res["paired_different"] is True

    # scipy versions that return NaN here go through the explicit fallback

    class R:
        statistic = float("nan")
        pvalue = float("nan")

    monkeypatch.setattr(A.stats, "ttest_ind", lambda *a, **k: R())
    monkeypatch.setattr(A.stats, "ttest_rel", lambda *a, **k: R())
    res = A.compare_optimal_vs_golden(sw, "rewrite", "test", 1)
    assert res["t"] == math.inf and res["p"] == 0.0 and res["different"] is True
    assert res["paired_t"] == math.inf and res["paired_p"] == 0.0


def test_compare_single_sample_no_test():
    rows = [("s", "test", 0, 1.0, 0, 0, 0), ("s", "test", 1, 0.5, 0, 0, 0)]
    res = A.compare_optimal_vs_golden(make_sweep(rows), "rewrite", "test", 1)
    # no test, so no claim of "no difference" (issue #11 item 6): different is None, not False
    assert res["n"] == 1 and res["t"] is None and res["p"] is None and res["different"] is None
    assert res["paired_different"] is None and "n too small" in res["note"]
    assert res["optimal_std"] == 0.0
    table = T.table1({("m", "tiny"): {"optimal_vs_golden": res}})
    assert table.loc[table["Method"] == "Statistical difference", "tiny"].item() == "n too small (n=1)"


def test_summarise_sweep(sweep):
    s = A.summarise_sweep(sweep, selected_layers={"lga": 2, "cma": None, "far": 99})
    json.dumps(s, allow_nan=False)
    assert s["supported_metrics"] == ["rewrite", "rephrase", "locality"]
    assert s["layers"] == [0, 1, 2]
    assert s["n_samples"] == {"proxy": 2, "test": 3}
    assert s["proxy_golden_layer"] == 0
    assert s["proxy_golden_test_mean"] == pytest.approx(0.5)
    assert s["proxy_golden_proxy_mean"] == pytest.approx(1.0)
    assert s["test_golden_layer"] == 1
    assert s["test_golden_layers"] == [1]
    assert s["test_golden_test_mean"] == pytest.approx(2.5 / 3)
    c = s["optimal_vs_golden"]
    assert c["layer"] == 1 and c["n"] == 3
    # optimal [1, 1, .5] vs at layer 1 [1, 1, .5] → identical
    assert (c["t"], c["p"], c["different"]) == (0.0, 1.0, False)
    pm = s["per_metric"]
    assert set(pm) == {"rewrite", "rephrase", "locality", "overall"}
    assert pm["rewrite"] == {"proxy_layer": 0, "proxy_value": pytest.approx(0.5),
                             "test_layer": 1, "test_value": pytest.approx(2.5 / 3)}
    # rephrase proxy means: 0, .5, 0 → proxy layer 1, test value 1/6; test means .5, 1/6, .5 → layer 0
    assert pm["rephrase"]["proxy_layer"] == 1
    assert pm["rephrase"]["proxy_value"] == pytest.approx(1 / 6)
    assert pm["rephrase"]["test_layer"] == 0 and pm["rephrase"]["test_value"] == pytest.approx(0.5)
    # locality has no proxy values
    assert pm["locality"]["proxy_layer"] is None and pm["locality"]["proxy_value"] is None
    assert pm["locality"]["test_layer"] == 2
    sel = s["selected"]
    assert sel["lga"]["layer"] == 2
    assert sel["lga"]["test"]["rewrite"] == pytest.approx(0.5)
    assert sel["lga"]["test"]["locality"] == pytest.approx(0.6)
    # overall at layer 2 on test: a (.5+.5+.6)/3, b (1+0)/2, c (0+1)/2
    assert sel["lga"]["test"]["overall"] == pytest.approx(((1.6 / 3) + 0.5 + 0.5) / 3)
    assert sel["cma"] == {"layer": None, "test": {m: None for m in ["rewrite", "rephrase", "locality", "overall"]}}
    assert sel["far"]["test"]["rewrite"] is None


def test_summarise_unsupported_metric_raises(sweep):
    with pytest.raises(KeyError):
        A.summarise_sweep(sweep, metric="portability")


def _summaries(sweep):
    other = sweep.copy()
    other.loc[(other.split == "test") & (other.layer == 1), "rewrite"] = 0.0
    return {
        ("GPT-2 XL", "ZSRE"): A.summarise_sweep(sweep, selected_layers={"LGA": 2}),
        ("GPT-2 XL", "Counterfact"): A.summarise_sweep(other, selected_layers={"LGA": 0}),
        ("LLaMA2-7B", "ZSRE"): A.summarise_sweep(sweep, selected_layers={"LGA": 1, "bf": 0}),
    }


def test_table1(sweep):
    summ = _summaries(sweep)
    t = T.table1(summ)
    assert list(t.columns) == ["Model", "Method", "ZSRE", "Counterfact"]
    assert t["Method"].tolist() == ["Sample-wise optimal layer", "Golden layer", "Statistical difference"] * 2
    # ZSRE: optimal [1, 1, .5] at golden layer 1 identical
    sd = np.std([1.0, 1.0, 0.5], ddof=1)
    assert t.iloc[0]["ZSRE"] == f"{2.5 / 3:.4f}±{sd:.4f}" == "0.8333±0.2887"
    assert t.iloc[1]["ZSRE"] == "0.8333±0.2887"
    assert t.iloc[2]["ZSRE"] == "No"
    # LLaMA2 has no Counterfact → empty cells
    assert t.iloc[3]["Counterfact"] == "" and t.iloc[5]["Counterfact"] == ""
    # Counterfact (GPT-2): test means L0 .5, L1 0, L2 .5 → golden 0; optimal per sample:
    # a max(1,0,.5)=1, b max(0,0,1)=1, c max(.5,0,0)=.5 vs at L0 [1, 0, .5]
    c = summ[("GPT-2 XL", "Counterfact")]["optimal_vs_golden"]
    ind = stats.ttest_ind([1, 1, 0.5], [1, 0, 0.5])
    assert c["layer"] == 0 and c["p"] == pytest.approx(float(ind.pvalue))
    assert t.iloc[2]["Counterfact"] == ("Yes" if ind.pvalue < 0.05 else "No")
    md = T.to_markdown(t)
    lines = md.strip().split("\n")
    assert len(lines) == 2 + 6
    assert lines[0].startswith("| Model") and "Counterfact" in lines[0]
    assert set(lines[1].replace("|", "").replace(" ", "")) <= {"-", ":"}
    assert "0.8333±0.2887" in lines[2]
    assert all(line.count("|") == 5 for line in lines)


def test_table_proxy_vs_test(sweep):
    t = T.table_proxy_vs_test(_summaries(sweep), "rewrite")
    assert list(t.columns) == ["Model", "Set", "ZSRE Layer", "ZSRE Rewrite", "Counterfact Layer",
                               "Counterfact Rewrite"]
    g = t[t.Model == "GPT-2 XL"].set_index("Set")
    assert g.loc["Proxy", "ZSRE Layer"] == 0 and g.loc["Proxy", "ZSRE Rewrite"] == pytest.approx(0.5)
    assert g.loc["Test", "ZSRE Layer"] == 1 and g.loc["Test", "ZSRE Rewrite"] == pytest.approx(2.5 / 3)
    ll = t[t.Model == "LLaMA2-7B"].set_index("Set")
    assert pd.isna(ll.loc["Proxy", "Counterfact Layer"])
    md = T.to_markdown(t)
    assert "| GPT-2 XL" in md and "0.8333" in md
    # a metric no dataset has → no dataset columns
    assert list(T.table_proxy_vs_test(_summaries(sweep), "portability").columns) == ["Model", "Set"]


def test_table_selected_layers(sweep):
    t = T.table_selected_layers(_summaries(sweep))
    assert list(t.columns) == ["Model", "Dataset", "Selector", "Layer", "Rewrite"]
    z = t[(t.Model == "GPT-2 XL") & (t.Dataset == "ZSRE")].set_index("Selector")
    assert list(z.index) == ["LGA", "BF", "Test golden"]
    assert z.loc["LGA", "Layer"] == 2 and z.loc["LGA", "Rewrite"] == pytest.approx(0.5)
    assert z.loc["BF", "Layer"] == 0 and z.loc["BF", "Rewrite"] == pytest.approx(0.5)
    assert z.loc["Test golden", "Layer"] == 1 and z.loc["Test golden", "Rewrite"] == pytest.approx(2.5 / 3)
    # a selector already called bf → no duplicate BF row
    ll = t[t.Model == "LLaMA2-7B"]
    assert ll["Selector"].tolist() == ["LGA", "bf", "Test golden"]
    # table for another metric reads per_metric
    tl = T.table_selected_layers(_summaries(sweep), metric="rephrase")
    z = tl[(tl.Model == "GPT-2 XL") & (tl.Dataset == "ZSRE")].set_index("Selector")
    assert z.loc["BF", "Layer"] == 1 and z.loc["BF", "Rephrase"] == pytest.approx(1 / 6)


def test_to_markdown_formats():
    df = pd.DataFrame({"name": ["a|b", "c"], "x": [0.123456, NAN], "n": [3, 4],
                       "L": pd.array([1, None], dtype="Int64")})
    md = T.to_markdown(df)
    lines = md.strip().split("\n")
    assert lines[0].split("|")[1].strip() == "name"
    assert "a\\|b" in lines[2] and "0.1235" in lines[2]
    cells = [c.strip() for c in lines[3].split("|")[1:-1]]
    assert cells == ["c", "", "4", ""]
    # numeric columns right-aligned
    assert lines[1].split("|")[2].strip().endswith(":")
    assert not lines[1].split("|")[1].strip().endswith(":")
    assert md.endswith("\n")


def test_the_split_is_joined_to_a_sweep_keyed_by_its_sample_set():
    sweep = pd.DataFrame({"sample_id": ["a", "b", "c", "a"], "layer": [0, 0, 0, 1], "rewrite": [1.0, 0.0, 1.0, 0.0]})
    joined = A.with_split(sweep, {"proxy": ["b"], "test": ["a", "c"]})
    assert list(joined.columns[:3]) == ["sample_id", "split", "layer"]  # the layout the sweeps had with the label
    assert list(joined["split"]) == ["test", "proxy", "test", "test"] and "split" not in sweep.columns
    with pytest.raises(ValueError, match="neither part of the split.*different sample sets"):
        A.with_split(sweep, {"proxy": ["b"], "test": ["a"]})
    labelled = joined.assign(split="test")  # the sequential sweep's rows carry their subset already
    assert A.with_split(labelled, {"proxy": ["b"], "test": ["a", "c"]}) is labelled
