"""Figures: files are written, and the data drawn is the data expected (not pixels)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from goldenlayers import stats as A
from goldenlayers.report import plots as P


def sweep_from(table):
    """table: {(sample_id, split): [rewrite per layer]}; other metrics derived, portability absent."""
    rows = []
    for (sid, split), vals in table.items():
        for layer, v in enumerate(vals):
            rows.append(dict(sample_id=sid, split=split, layer=layer, editor="r-rome", rewrite=v,
                             rephrase=v / 2, locality=1.0 - v / 4, portability=np.nan, edit_seconds=0.1,
                             status="ok", reason=""))
    return pd.DataFrame(rows)


# dataset A: test means 0.5, 0.8333, 0.5 → optimal layer 1; proxy means 1.0, 0.5, 1.0
SWEEP_A = sweep_from({
    ("a", "test"): [1.0, 1.0, 0.5],
    ("b", "test"): [0.0, 1.0, 1.0],
    ("c", "test"): [0.5, 0.5, 0.0],
    ("p", "proxy"): [1.0, 0.0, 1.0],
    ("q", "proxy"): [1.0, 1.0, 1.0],
})
# dataset B: test means 1.0, 1.0, 0.25 → optimal layers 0 and 1 (tie); proxy (1 sample) 0, 0, 1
SWEEP_B = sweep_from({
    ("a", "test"): [1.0, 1.0, 0.5],  # same ids as A on purpose: the proxy union must not mix them
    ("b", "test"): [1.0, 1.0, 0.0],
    ("p", "proxy"): [0.0, 0.0, 1.0],
})
# proxy union (pooled over 3 samples): L0 2/3, L1 1/3, L2 1.0 → 2


def _check_files(prefix):
    for ext in ("png", "pdf"):
        f = prefix.parent / f"{prefix.name}.{ext}"
        assert f.exists() and f.stat().st_size > 1000, f


def test_layer_ticks_thinned():
    for n in (3, 12, 30, 32, 40, 48):
        ticks = P.layer_ticks(range(n))
        assert 2 <= len(ticks) <= 12 or n < 2
        assert all(isinstance(t, int) for t in ticks)
        assert ticks[0] >= 0 and ticks[-1] <= n - 1
    assert P.layer_ticks(range(3)) == [0, 1, 2]
    assert P.layer_ticks(range(48)) == list(range(0, 48, 5))


def test_proxy_union_golden_layer():
    assert P.proxy_union_golden_layer({"A": SWEEP_A, "B": SWEEP_B}, "rewrite") == 2
    # A alone: proxy L0 and L2 tie at 1.0 → lowest
    assert P.proxy_union_golden_layer({"A": SWEEP_A}, "rewrite") == 0
    # B alone: 2
    assert P.proxy_union_golden_layer({"B": SWEEP_B}, "rewrite") == 2


def test_delta_heatmap_data(tmp_path):
    prefix = tmp_path / "figs" / "fig2"
    out = P.plot_delta_heatmap({"M1": {"A": SWEEP_A, "B": SWEEP_B}}, prefix)
    _check_files(prefix)
    mat, stars, band = out["M1"]
    assert list(mat.columns) == ["A", "B"] and list(mat.index) == [0, 1, 2]
    np.testing.assert_allclose(mat["A"].to_numpy(), [2.5 / 3 - 0.5, 0.0, 2.5 / 3 - 0.5])
    np.testing.assert_allclose(mat["B"].to_numpy(), [0.0, 0.0, 0.75])
    assert sorted(stars) == [(0, "B"), (1, "A"), (1, "B")]
    assert band == 2
    # every star cell is a zero of the matrix, and only those
    zeros = {(int(layer), ds) for ds in mat.columns for layer in mat.index if mat.loc[layer, ds] == 0}
    assert zeros == set(stars)


def test_delta_heatmap_union_override_and_models(tmp_path):
    prefix = tmp_path / "fig2b"
    sweeps = {"M1": {"A": SWEEP_A, "B": SWEEP_B}, "M2": {"A": SWEEP_A}}
    out = P.plot_delta_heatmap(sweeps, prefix, union_golden={"M1": 1})
    _check_files(prefix)
    assert out["M1"][2] == 1  # given
    assert out["M2"][2] == 0  # computed
    assert out["M2"][1] == [(1, "A")]


def test_delta_heatmap_other_metric(tmp_path):
    out = P.plot_delta_heatmap({"M": {"A": SWEEP_A}}, tmp_path / "f", metric="locality")
    mat, stars, band = out["M"]
    # locality = 1 - rewrite/4 → test means 0.875, 0.7917, 0.875 → optimal 0 and 2
    assert sorted(stars) == [(0, "A"), (2, "A")]
    np.testing.assert_allclose(mat["A"].to_numpy(), [0.0, (2.5 / 3 - 0.5) / 4, 0.0])


def test_layer_curves_data(tmp_path):
    stats = {"A": A.layer_stats(SWEEP_A), "B": A.layer_stats(SWEEP_B)}
    markers = {"A": {"proxy golden": 0, "test golden": 1, "LGA": 2}, "B": {"proxy golden": 2, "LGA": None}}
    prefix = tmp_path / "fig1"
    out = P.plot_layer_curves(stats, markers, prefix)
    _check_files(prefix)
    for ds, s in stats.items():
        t = s[s.split == "test"]
        d = out[ds]
        assert d["layers"] == [0, 1, 2]
        assert list(d["mean"].columns) == ["rewrite", "rephrase", "locality", "overall"]
        for m in d["mean"].columns:
            exp = t[t.metric == m].sort_values("layer")
            np.testing.assert_allclose(d["mean"][m].to_numpy(), exp["mean"].to_numpy())
            np.testing.assert_allclose(d["sem"][m].to_numpy(), exp["sem"].to_numpy())
    np.testing.assert_allclose(out["A"]["mean"]["rewrite"].to_numpy(), [0.5, 2.5 / 3, 0.5])
    assert out["A"]["markers"] == {"proxy golden": 0, "test golden": 1, "LGA": 2}
    assert out["B"]["markers"] == {"proxy golden": 2, "LGA": None}
    # the strip: one row per selector in registry order, "proxy golden" is BF's row, the oracle is the gold column
    assert out["A"]["strip"] == {"lga": 2, "bf": 0} and list(out["A"]["strip"]) == ["lga", "bf"]
    assert out["A"]["test_golden"] == 1
    assert out["B"]["strip"] == {"bf": 2} and out["B"]["test_golden"] is None


def test_layer_curves_draw_bf_once(tmp_path):
    stats = {"A": A.layer_stats(SWEEP_A)}
    out = P.plot_layer_curves(stats, {"A": {"proxy golden": 1, "test golden": 1, "bf": 1, "cma": 0, "random": None}},
                              tmp_path / "bf")
    assert out["A"]["strip"] == {"cma": 0, "bf": 1}
    fig_labels = P._strip_rows({"bf": 2, "proxy golden": 2, "lga": 0})
    assert list(fig_labels) == ["lga", "bf"]


def test_layer_curves_proxy_split_and_metric_subset(tmp_path):
    stats = {"A": A.layer_stats(SWEEP_A)}
    out = P.plot_layer_curves(stats, None, tmp_path / "p", split="proxy", metrics=["rewrite"])
    np.testing.assert_allclose(out["A"]["mean"]["rewrite"].to_numpy(), [1.0, 0.5, 1.0])
    assert list(out["A"]["mean"].columns) == ["rewrite"]


@pytest.mark.parametrize("n_datasets", [1, 4])
def test_layer_curves_many_layers(tmp_path, n_datasets):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(6):
        for layer in range(48):
            rows.append(dict(sample_id=f"s{i}", split="test", layer=layer, editor="e",
                             rewrite=rng.uniform(), rephrase=rng.uniform(), locality=rng.uniform(),
                             portability=rng.uniform(), edit_seconds=0.1, status="ok", reason=""))
    st = A.layer_stats(pd.DataFrame(rows))
    stats = {f"D{k}": st for k in range(n_datasets)}
    out = P.plot_layer_curves(stats, {"D0": {"test golden": 40}}, tmp_path / "many")
    _check_files(tmp_path / "many")
    assert len(out) == n_datasets and out["D0"]["layers"] == list(range(48))


# --- what the figure draws, read back from its artists (issue #31 item 8), not the data the function returns ---
@pytest.fixture
def drawn(monkeypatch):
    """The figures the plot functions save, kept open for the test to read."""
    figures = []
    real = P.save_figure

    def keep(fig, prefix):
        figures.append(fig)
        real(fig, prefix)

    monkeypatch.setattr(P, "save_figure", keep)
    monkeypatch.setattr(P.plt, "close", lambda fig=None: None)
    return figures


def test_layer_curves_draw_the_hand_computed_test_means(tmp_path, drawn):
    P.plot_layer_curves({"A": A.layer_stats(SWEEP_A)}, {"A": {"test golden": 1}}, tmp_path / "fig1")
    (fig,) = drawn
    # one errorbar per metric: its container carries the legend label, its first line the means
    lines = {bars.get_label(): bars.lines[0] for ax in fig.axes for bars in ax.containers}
    rewrite = next(line for label, line in lines.items() if "rewrite" in label.lower())
    # SWEEP_A's test samples a, b, c: layer 0 (1+0+0.5)/3, layer 1 (1+1+0.5)/3, layer 2 (0.5+1+0)/3
    np.testing.assert_allclose(np.asarray(rewrite.get_xdata(), dtype=float), [0, 1, 2])
    np.testing.assert_allclose(np.asarray(rewrite.get_ydata(), dtype=float), [0.5, 2.5 / 3, 0.5])
    rephrase = next(line for label, line in lines.items() if "rephrase" in label.lower())
    np.testing.assert_allclose(np.asarray(rephrase.get_ydata(), dtype=float), [0.25, 2.5 / 6, 0.25])  # rephrase = rewrite / 2
    # the gold band marks the test-golden layer 1: a span from 0.6 to 1.4
    spans = [p for ax in fig.axes for p in ax.patches if abs(p.get_x() - 0.6) < 1e-9]
    assert spans and all(abs(p.get_width() - 0.8) < 1e-9 for p in spans)


def test_delta_heatmap_draws_the_hand_computed_matrix_and_stars(tmp_path, drawn):
    P.plot_delta_heatmap({"M1": {"A": SWEEP_A, "B": SWEEP_B}}, tmp_path / "fig2")
    (fig,) = drawn
    ax = fig.axes[0]
    (image,) = ax.get_images()
    # rows = layers 0..2, columns = datasets A, B: |test mean - the dataset's best test mean|
    expected = np.array([[2.5 / 3 - 0.5, 0.0], [0.0, 0.0], [2.5 / 3 - 0.5, 0.75]])
    np.testing.assert_allclose(np.ma.getdata(image.get_array()), expected)
    stars = ax.collections[0].get_offsets()
    assert sorted(map(tuple, np.asarray(stars).tolist())) == [(0.0, 1.0), (1.0, 0.0), (1.0, 1.0)]  # (column, row)
