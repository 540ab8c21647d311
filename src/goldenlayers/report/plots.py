"""Figures 1-4 of the paper and the causal-trace plot (matplotlib, Agg backend, PNG at 150 dpi + PDF).

Every plotting function takes the data and an output path *prefix* (``out/fig1`` writes ``out/fig1.png`` and
``out/fig1.pdf``, atomically, creating the folder) and returns the data it drew, so tests check numbers, not
pixels. Selectors keep their registry colour and marker (Okabe–Ito, colour-blind-safe) in every figure; Figure 1's
metric curves are greys told apart by line style and marker; the heatmap uses ``viridis`` (perceptually uniform,
readable with colour-vision deficiencies and in greyscale). Markers and line styles differ as well as colours,
so no information is carried by colour alone.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402

from goldenlayers import stats  # noqa: E402
from goldenlayers.io import save_figure  # noqa: E402
# Okabe & Ito (2008), "Color Universal Design": one palette, defined with the selectors' styles
from goldenlayers.selection.registry import OKABE_ITO, SELECTORS, selectors_in, timed  # noqa: E402

# Figure 1's metric curves are shades of grey told apart by line style and marker, so that colour in Figure 1 means
# one thing: a layer selector (its colour and marker come from goldenlayers.selection.registry.SELECTORS).
METRIC_STYLE = {
    "rewrite": dict(color="#000000", marker="o", linestyle="-"),
    "rephrase": dict(color="#5a5a5a", marker="s", linestyle="--"),
    "locality": dict(color="#7a7a7a", marker="^", linestyle="-."),
    "portability": dict(color="#9a9a9a", marker="D", linestyle=":"),
    "fluency": dict(color="#b0b0b0", marker="v", linestyle=(0, (5, 1))),
    "overall": dict(color="#2b2b2b", marker="P", linestyle=(0, (3, 1, 1, 1, 1, 1))),
}
_METRIC_ORDER = list(METRIC_STYLE)
_OTHER_METRIC = dict(color="#777777", marker="x", linestyle="-")

# the golden layer: Figure 2's band (outlined in black so it reads on any cell colour), Figure 1's test golden column
GOLD = "#FFC20A"


def layer_ticks(layers, max_ticks: int = 12) -> list[int]:
    """Integer layer ticks, thinned to a step of 1, 2, 5, 10, 20, ... so at most ~``max_ticks`` are shown."""
    layers = [int(x) for x in layers]
    if not layers:
        return []
    lo, hi = min(layers), max(layers)
    span = hi - lo + 1
    step = 1
    for cand in (1, 2, 5, 10, 20, 25, 50, 100, 200, 500):
        step = cand
        if math.ceil(span / cand) <= max_ticks:
            break
    first = int(math.ceil(lo / step) * step)
    return list(range(first, hi + 1, step))


def _metric_label(metric: str) -> str:
    return stats.METRIC_LABELS.get(metric, metric)


# ----------------------------------------------------------------------------------------------------------
# Figure 1
# ----------------------------------------------------------------------------------------------------------
def _strip_rows(markers: Mapping[str, int | None]) -> dict[str, int]:
    """The selector strip of one panel: registry name -> layer, in SELECTORS order, then names the registry does not
    know. "proxy golden" is BF's layer (BF picks the proxy golden layer), so BF is drawn once whichever key gives it;
    "test golden" is the oracle, drawn as the gold column instead; a None layer (Random's several layers) is left out.
    """
    rows: dict[str, int] = {}
    for kind, layer in markers.items():
        key = "bf" if kind.lower() == "proxy golden" else kind.lower()
        if key == "test golden" or layer is None or key in rows:
            continue
        rows[key] = int(layer)
    order = list(SELECTORS)
    return dict(sorted(rows.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))


def _selector_style(name: str) -> dict:
    spec = SELECTORS.get(name)
    if spec is None:
        return dict(label=name, color="#777777", marker="X")
    return dict(label=spec.label, color=spec.color, marker=spec.marker)


def _panel_means(s: pd.DataFrame, split: str, metrics: list[str] | None) -> tuple[list[str], pd.DataFrame,
                                                                                    pd.DataFrame]:
    """(metrics drawn, mean and SEM as layer x metric frames) of one dataset's `layer_stats` rows of `split`."""
    s = s.loc[s["split"] == split]
    ms = metrics or sorted(s["metric"].unique(), key=lambda m: (_METRIC_ORDER + [m]).index(m))
    mean = s.pivot_table(index="layer", columns="metric", values="mean", aggfunc="first")
    sem = s.pivot_table(index="layer", columns="metric", values="sem", aggfunc="first")
    ms = [m for m in ms if m in mean.columns]
    mean, sem = mean.reindex(columns=ms).sort_index(), sem.reindex(columns=ms).sort_index()
    mean.columns.name = sem.columns.name = None
    return ms, mean, sem


def _draw_strip(strip, strip_names: list[str], placed: Mapping[str, int]):
    """Figure 1's selector strip above a panel: one row per selector, its chosen layer marked in its colour."""
    for row, name in enumerate(strip_names):
        strip.axhline(row, color="#dddddd", linewidth=0.8, zorder=0)
        if name in placed:
            style = _selector_style(name)
            strip.plot([placed[name]], [row], linestyle="none", marker=style["marker"],
                       color=style["color"], markersize=8, markeredgecolor="black", markeredgewidth=0.6)
    strip.set_yticks(range(len(strip_names)), [_selector_style(name)["label"] for name in strip_names],
                     fontsize=8)
    strip.set_ylim(len(strip_names) - 0.5, -0.5)  # first selector on top
    strip.tick_params(axis="x", labelbottom=False, length=0)
    for side in ("top", "right", "bottom"):
        strip.spines[side].set_visible(False)
    return strip


def _layer_curves_handles(used_metrics: list[str], strip_names: list[str], golden: bool) -> list:
    """Figure 1's one legend: the metrics (greys), the selectors (coloured) and the test golden band."""
    handles = [Line2D([], [], color=METRIC_STYLE.get(m, _OTHER_METRIC)["color"],
                      marker=METRIC_STYLE.get(m, _OTHER_METRIC)["marker"],
                      linestyle=METRIC_STYLE.get(m, _OTHER_METRIC)["linestyle"], markersize=5,
                      label=_metric_label(m)) for m in used_metrics]
    handles += [Line2D([], [], linestyle="none", markersize=7, markeredgecolor="black", markeredgewidth=0.6,
                       color=_selector_style(name)["color"], marker=_selector_style(name)["marker"],
                       label=f"{_selector_style(name)['label']} layer" + (" (proxy golden)" if name == "bf" else ""))
                for name in strip_names]
    if golden:
        handles.append(Patch(facecolor=GOLD, alpha=0.35, label="test golden layer (oracle)"))
    return handles


def plot_layer_curves(
    stats: Mapping[str, pd.DataFrame],
    markers: Mapping[str, Mapping[str, int | None]] | None,
    out_prefix: str | Path,
    split: str = "test",
    metrics: list[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Figure 1: per-layer mean of each metric (SEM error bars), one panel per dataset; above each panel a strip with
    one row per layer selector, its chosen layer marked in the selector's colour, and the test golden layer as a gold
    column through strip and curves.

    ``stats`` maps dataset → `stats.layer_stats` frame; only rows of ``split`` are drawn. ``metrics``
    (default: all metrics in the frame, in the usual order) picks the curves. ``markers`` maps dataset →
    {"test golden": L, "bf": L (or "proxy golden": L), "lga": L, ...} with selector names of SELECTORS (any case);
    a None layer is skipped. Metrics are greys (line style and marker tell them apart), selectors are coloured;
    one legend below the panels.

    Returns dataset → {"layers": [int], "mean": DataFrame (layer × metric), "sem": DataFrame, "markers": dict (as
    given), "strip": {selector: layer} (the rows drawn, BF once), "test_golden": layer or None}.
    """
    datasets = list(stats)
    if not datasets:
        raise ValueError("no datasets to plot")
    markers = markers or {}
    strips = {ds: _strip_rows(markers.get(ds) or {}) for ds in datasets}
    # the same strip rows in every panel, so a selector is at the same height everywhere
    names = list(dict.fromkeys(name for ds in datasets for name in strips[ds]))
    strip_names = list(_strip_rows({name: 0 for name in names}))
    n = len(datasets)
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    strip_h = 0.28 * len(strip_names) + 0.25 if strip_names else 0.0
    fig = plt.figure(figsize=(5.0 * ncols, (3.6 + strip_h) * nrows + 0.9), layout="constrained")
    grid = fig.add_gridspec(2 * nrows, ncols, height_ratios=[strip_h or 0.01, 3.6] * nrows)
    used_metrics: list[str] = []
    out: dict[str, dict[str, Any]] = {}
    for i, ds in enumerate(datasets):
        r, c = divmod(i, ncols)
        ax = fig.add_subplot(grid[2 * r + 1, c])
        ms, mean, sem = _panel_means(stats[ds], split, metrics)
        layers = [int(x) for x in mean.index]
        for m in ms:
            st = METRIC_STYLE.get(m, _OTHER_METRIC)
            ax.errorbar(layers, mean[m].to_numpy(), yerr=sem[m].fillna(0).to_numpy(), label=_metric_label(m),
                        color=st["color"], marker=st["marker"], linestyle=st["linestyle"], markersize=3.5,
                        linewidth=1.3, elinewidth=0.8, capsize=2)
            if m not in used_metrics:
                used_metrics.append(m)
        given = {k: (None if v is None else int(v)) for k, v in (markers.get(ds) or {}).items()}
        test_golden = next((v for k, v in given.items() if k.lower() == "test golden"), None)
        axes = [ax]
        if strip_names:
            axes.append(_draw_strip(fig.add_subplot(grid[2 * r, c], sharex=ax), strip_names, strips[ds]))
        if test_golden is not None:
            for a in axes:
                a.axvspan(test_golden - 0.4, test_golden + 0.4, color=GOLD, alpha=0.35, zorder=0)
        notes = [f"{_selector_style(k)['label']} {v}" for k, v in strips[ds].items()]
        notes += [f"test golden {test_golden}"] if test_golden is not None else []
        title = f"({chr(65 + i)}) {ds}" if n > 1 else ds
        axes[-1].set_title(title + ("\n" + " · ".join(notes) if notes else ""), fontsize=10)
        ax.set_xlabel("Layer")
        ax.set_ylabel("Accuracy (fraction)")
        if layers:
            ax.set_xticks(layer_ticks(layers))
            ax.set_xlim(min(layers) - 0.7, max(layers) + 0.7)
        ax.set_ylim(-0.03, 1.03)
        ax.grid(True, alpha=0.3, linewidth=0.6)
        out[ds] = {"layers": layers, "mean": mean, "sem": sem, "markers": given, "strip": strips[ds],
                   "test_golden": test_golden}
    handles = _layer_curves_handles(used_metrics, strip_names, any(d["test_golden"] is not None for d in out.values()))
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 3 * ncols + 1, 6),
                   frameon=False, fontsize=9)
    save_figure(fig, out_prefix)
    plt.close(fig)
    return out


# ----------------------------------------------------------------------------------------------------------
# Figure 2
# ----------------------------------------------------------------------------------------------------------
def proxy_union_golden_layer(sweeps: Mapping[str, pd.DataFrame], metric: str = "rewrite") -> int | None:
    """Golden layer of the *proxy union*: the proxy splits of all datasets of one model, concatenated.

    Each dataset's sweep is failure-applied (and given its own ``overall``) first; sample ids are prefixed with
    the dataset name so they cannot collide. The mean is pooled over all proxy samples (larger proxy sets weigh
    more), ties → lowest layer. None if no dataset has proxy rows with ``metric``.
    """
    parts = []
    for ds, sweep in sweeps.items():
        df = stats.overall(sweep)
        if metric not in df.columns:
            continue
        df = df.loc[df["split"] == "proxy"].copy()
        df["sample_id"] = f"{ds}::" + df["sample_id"].astype(str)
        parts.append(df[["sample_id", "split", "layer", metric]])
    if not parts:
        return None
    union = pd.concat(parts, ignore_index=True)
    return stats.golden_layer(union, metric, "proxy")


def delta_matrix(
    sweeps: Mapping[str, pd.DataFrame], metric: str = "rewrite", split: str = "test"
) -> tuple[pd.DataFrame, list[tuple[int, str]]]:
    """Layers × datasets matrix of |mean ``metric`` at layer − mean at the split's optimal layer|, and the
    optimal cells [(layer, dataset), ...] (all ties, within `stats.TIE_TOL`). NaN where a layer was not swept.
    """
    cols = {}
    stars: list[tuple[int, str]] = []
    for ds, sweep in sweeps.items():
        means = stats.layer_means(sweep, metric, split)
        if means.dropna().empty:
            continue
        cols[ds] = (means - means.max()).abs()
        stars += [(layer, ds) for layer in stats.golden_layers(sweep, metric, split)]
    mat = pd.DataFrame(cols)
    mat = mat.sort_index()
    mat.index = mat.index.astype("int64")
    mat.index.name = "layer"
    return mat, stars


def plot_delta_heatmap(
    sweeps: Mapping[str, Mapping[str, pd.DataFrame]],
    out_prefix: str | Path,
    metric: str = "rewrite",
    union_golden: Mapping[str, int | None] | None = None,
) -> dict[str, tuple[pd.DataFrame, list[tuple[int, str]], int | None]]:
    """Figure 2: per model, heatmap of |Δ metric| from each dataset's test-optimal layer (layers × datasets).

    ``sweeps`` maps model → dataset → sweep table. Cells are `delta_matrix` on the test split (0 = as good as
    the optimal layer; dark = good, yellow = far from optimal); a white star marks every optimal cell (ties
    kept); a gold outline marks the proxy-union golden layer row, taken from ``union_golden[model]`` when given
    and otherwise computed with `proxy_union_golden_layer`. One panel per model, one shared colour scale and
    colourbar ("|Δ rewrite accuracy|" for rewrite).

    Returns model → (matrix DataFrame [index layer, columns datasets], star cells [(layer, dataset)], band row).
    """
    models = list(sweeps)
    if not models:
        raise ValueError("no models to plot")
    data: dict[str, tuple[pd.DataFrame, list[tuple[int, str]], int | None]] = {}
    for model in models:
        mat, stars = delta_matrix(sweeps[model], metric, "test")
        if union_golden is not None and model in union_golden:
            band = union_golden[model]
        else:
            band = proxy_union_golden_layer(sweeps[model], metric)
        data[model] = (mat, stars, None if band is None else int(band))

    finite = [float(np.nanmax(m.to_numpy())) for m, _, _ in data.values() if np.isfinite(m.to_numpy()).any()]
    vmax = max(finite + [1e-6])
    max_layers = max((len(m.index) for m, _, _ in data.values()), default=1)
    max_ds = max((len(m.columns) for m, _, _ in data.values()), default=1)
    panel_w = max(2.2, 0.55 * max_ds + 1.0)
    height = max(4.5, 0.15 * max_layers + 2.2)
    fig, axes = plt.subplots(1, len(models), figsize=(panel_w * len(models) + 1.4, height), squeeze=False,
                             layout="constrained")
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#d9d9d9")  # grey = layer not swept
    im = None
    for ax, model in zip(axes[0], models):
        mat, stars, band = data[model]
        layers = list(mat.index)
        dss = list(mat.columns)
        im = ax.imshow(np.ma.masked_invalid(mat.to_numpy(dtype=float)), aspect="auto", origin="lower",
                       cmap=cmap, vmin=0.0, vmax=vmax, interpolation="nearest")
        row_of = {layer: r for r, layer in enumerate(layers)}
        col_of = {d: c for c, d in enumerate(dss)}
        if stars:
            ax.scatter([col_of[d] for _, d in stars], [row_of[layer] for layer, _ in stars], marker="*", s=70,
                       c="white", edgecolors="black", linewidths=0.6, zorder=3)
        if band is not None and band in row_of:
            for lw, col in ((3.6, "black"), (2.2, GOLD)):
                ax.add_patch(Rectangle((-0.5, row_of[band] - 0.5), len(dss), 1.0, fill=False, edgecolor=col,
                                       linewidth=lw, zorder=4, clip_on=False))
        ax.set_xticks(range(len(dss)))
        ax.set_xticklabels(dss, rotation=40, ha="right", fontsize=9)
        # label swept rows themselves (a sweep of every 4th layer has few multiples of 5), thinned to <= 16
        ticks = list(layers)[:: max(1, math.ceil(len(layers) / 16))]
        ax.set_yticks([row_of[t] for t in ticks])
        ax.set_yticklabels([str(t) for t in ticks], fontsize=9)
        ax.set_ylabel("Layer")
        ax.set_title(model + (f"\ngolden (proxy union): {band}" if band is not None else ""), fontsize=10)
    cbar = fig.colorbar(im, ax=list(axes[0]), fraction=0.05, pad=0.02, shrink=0.9, aspect=30)
    accuracy_like = metric in ("rewrite", "rephrase", "portability")
    cbar.set_label(f"|Δ {metric} accuracy|" if accuracy_like else f"|Δ {metric}|")
    handles = [
        Line2D([], [], marker="*", linestyle="none", markersize=10, markerfacecolor="white",
               markeredgecolor="black", label="test-optimal layer"),
        Rectangle((0, 0), 1, 1, fill=False, edgecolor=GOLD, linewidth=2.2, label="proxy-union golden layer"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False, fontsize=9)
    save_figure(fig, out_prefix)
    plt.close(fig)
    return data


# ----------------------------------------------------------------------------------------------------------
# Figure 3 and the causal trace
# ----------------------------------------------------------------------------------------------------------
def _selector_handles(methods) -> list:
    """Legend patches of the selectors' bars (the registry's colour + hatch)."""
    return [Rectangle((0, 0), 1, 1, facecolor=SELECTORS[m].color, hatch=SELECTORS[m].hatch,
                      edgecolor="black", linewidth=0.5, label=SELECTORS[m].label) for m in methods]


def _selector_bar_panels(drawn: pd.DataFrame, methods: list[str], value: str, label, **subplot_kw):
    """Grouped bars shared by Figures 3 and 4: one panel per model, datasets on x, one bar per selector, each bar
    labelled with `label(value)`. Returns the figure and {model: axis} for the caller's axis styling."""
    models = list(dict.fromkeys(drawn["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(max(4.0, 1.2 + 1.1 * drawn["dataset"].nunique()) * len(models),
                                                      3.6), squeeze=False, layout="constrained", **subplot_kw)
    width = 0.8 / len(methods)
    panels = {}
    for ax, model in zip(axes[0], models):
        rows = drawn[drawn["model"] == model]
        datasets = list(dict.fromkeys(rows["dataset"]))
        for j, method in enumerate(methods):
            st = SELECTORS[method]
            values = rows[rows["method"] == method].set_index("dataset").reindex(datasets)[value].to_numpy(float)
            x = np.arange(len(datasets)) + (j - (len(methods) - 1) / 2) * width
            bars = ax.bar(x, values, width=width, color=st.color, hatch=st.hatch, edgecolor="black",
                          linewidth=0.5, label=st.label)
            ax.bar_label(bars, labels=[label(v) if v == v else "" for v in values], fontsize=7, padding=1)
        ax.set_xticks(range(len(datasets)))
        ax.set_xticklabels(datasets, fontsize=9)
        ax.set_title(model, fontsize=10)
        panels[model] = ax
    return fig, panels


def _finish_selector_figure(fig, handles, out_prefix) -> None:
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False, fontsize=9)
    save_figure(fig, out_prefix)
    plt.close(fig)


def plot_speedups(table: pd.DataFrame, out_prefix: str | Path) -> pd.DataFrame:
    """Figure 3: speed-up of each layer selector over brute force (BF), by dataset; one panel per model.

    ``table`` is `tables.speedup_table` (model, dataset, method, wall_seconds, bf_seconds, speedup). Bars on a
    log scale, labelled with their value; the dashed line at 1× is "as slow as BF". Returns the rows drawn.
    """
    drawn = table.dropna(subset=["speedup"])
    if drawn.empty:
        raise ValueError("no speed-ups to plot (missing BF or selector wall times)")
    methods = [m for m in timed() if m in set(drawn["method"])]
    fig, panels = _selector_bar_panels(drawn, methods, "speedup", lambda v: f"{v:.0f}×" if v >= 10 else f"{v:.1f}×")
    for ax in panels.values():
        ax.axhline(1.0, color="#444444", linestyle="--", linewidth=1.0)
        ax.set_yscale("log")
        ax.set_ylabel("Speed-up over BF (×, log scale)")
        ax.grid(True, axis="y", which="both", alpha=0.3, linewidth=0.6)
        ax.margins(y=0.15)
    handles = _selector_handles(methods)
    handles.append(Line2D([], [], color="#444444", linestyle="--", label="BF (1×)"))
    _finish_selector_figure(fig, handles, out_prefix)
    return drawn.reset_index(drop=True)


def plot_causal_trace(effects: pd.DataFrame, out_prefix: str | Path, max_samples: int = 4) -> dict[str, Any]:
    """Causal trace (ROME-style) of the first few samples plus the mean indirect effect per layer.

    ``effects`` is `causal_trace.trace_records` output. Each sample panel shows the restored probability of the
    true answer per layer (window restored at the last subject token) between the clean and corrupted levels; the
    last panel shows the mean indirect effect over the samples the clean model gets right (all samples if none).
    Returns {"samples": [ids], "mean_effect": Series (layer -> mean IE)}.
    """
    if effects.empty:
        raise ValueError("no causal-trace rows to plot")
    samples = list(dict.fromkeys(effects["sample_id"]))[:max_samples]
    correct = effects[effects["correct"].astype(bool)]
    used = correct if not correct.empty else effects
    mean_effect = used.groupby("layer")["indirect_effect"].mean().sort_index()
    n = len(samples) + 1
    fig, axes = plt.subplots(1, n, figsize=(3.0 * n, 2.9), squeeze=False, layout="constrained")
    for ax, sid in zip(axes[0], samples):
        rows = effects[effects["sample_id"] == sid].sort_values("layer")
        ax.bar(rows["layer"], rows["restored_prob"], color=OKABE_ITO["blue"], width=0.8, label="restored")
        ax.axhline(rows["clean_prob"].iloc[0], color=OKABE_ITO["bluish_green"], linestyle="-", linewidth=1.2,
                   label="clean")
        ax.axhline(rows["corrupted_prob"].iloc[0], color=OKABE_ITO["vermillion"], linestyle="--", linewidth=1.2,
                   label="corrupted")
        ax.set_title(f"{sid}" + ("" if rows["correct"].iloc[0] else " (clean run wrong)"), fontsize=9)
        ax.set_xlabel("Layer (window centre)")
        ax.set_ylabel("p(true answer)")
        ax.set_xticks(layer_ticks(rows["layer"], max_ticks=6))
    ax = axes[0][-1]
    ax.bar(mean_effect.index, mean_effect.to_numpy(), color=OKABE_ITO["orange"], width=0.8)
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.set_title("mean indirect effect" + ("" if not correct.empty else "\n(all samples: none correct)"), fontsize=9)
    ax.set_xlabel("Layer (window centre)")
    ax.set_ylabel("restored − corrupted")
    ax.set_xticks(layer_ticks(mean_effect.index, max_ticks=6))
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, frameon=False, fontsize=9)
    save_figure(fig, out_prefix)
    plt.close(fig)
    return {"samples": samples, "mean_effect": mean_effect}


def plot_selector_scores(table: pd.DataFrame, out_prefix: str | Path, metric: str = "overall",
                         methods: Sequence[str] | None = None) -> pd.DataFrame:
    """Figure 4: mean test `metric` at the layer each selector chose; one panel per model, bars by dataset.

    ``table`` has columns model, dataset, method and one column per metric (as `tables.selector_frame`);
    `methods` defaults to Table 2's selectors. Returns the rows drawn.
    """
    methods = selectors_in("table2") if methods is None else list(methods)
    drawn = table[table["method"].isin(methods)].dropna(subset=[metric])
    if drawn.empty:
        raise ValueError(f"no {metric} values of {', '.join(methods)} to plot")
    methods = [m for m in methods if m in set(drawn["method"])]
    fig, panels = _selector_bar_panels(drawn, methods, metric, lambda v: f"{v:.2f}", sharey=True)
    for ax in panels.values():
        ax.set_ylim(0, 1.1)
        ax.set_ylabel(f"{_metric_label(metric)} on the test split (fraction)")
        ax.grid(True, axis="y", alpha=0.3, linewidth=0.6)
    _finish_selector_figure(fig, _selector_handles(methods), out_prefix)
    return drawn.reset_index(drop=True)
