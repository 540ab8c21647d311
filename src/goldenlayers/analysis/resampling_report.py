"""The resampling stage's files and its report: Tables 16-17, Table 1 per metric, Figures 5-7 (beyond the paper).

`run_resampling` is the per-(model, dataset, editor) stage (`goldenlayers resample`): it reads the cached evidence,
runs `goldenlayers.analysis.resampling` and writes draws / verdicts / curve / fact-bootstrap tables and a summary.
Tables 16, 17 and 1-per-metric are built in `goldenlayers.report.tables`; Figures 5-7 are drawn here
(`goldenlayers report --figures figure5 figure6 figure7`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from goldenlayers import stats as analysis  # noqa: E402
from goldenlayers.analysis import resampling  # noqa: E402
from goldenlayers.io import read_json, read_parquet, save_figure, write_json, write_parquet  # noqa: E402
from goldenlayers.selection import registry  # noqa: E402
from goldenlayers.selection.registry import TUKEY_K  # noqa: E402

log = logging.getLogger(__name__)


def draw_label(name: str) -> str:
    """A row's name: the registry's label (Random draws one layer per draw here, the pipeline's averages several);
    other rows (Figure 5's "test golden", a frontier setting such as "verify(k=3,m=5,overall)") keep their name."""
    if name not in registry.SELECTORS:
        return name
    spec = registry.spec(name)
    return f"{spec.label} (1 layer)" if spec.multi_layer else spec.label


def _style(name: str) -> dict:
    """A selector's plot style; a frontier setting ("verify(k=3,m=5,overall)") takes its selector's."""
    spec = registry.spec(name.split("(", 1)[0])
    return dict(color=spec.color, marker=spec.marker, linestyle=spec.linestyle)


def _curve_sizes(sizes: Sequence[int], n_samples: int) -> list[int]:
    """The proxy sizes the data allows (`resampling.proxy_sizes`); the others named once in the log, not dropped
    without a word."""
    usable = resampling.proxy_sizes(sizes, n_samples)
    dropped = sorted({int(n) for n in sizes} - set(usable))
    if dropped:
        log.warning("resampling.proxy_sizes %s left out of the proxy-size curve: %d samples were swept and a proxy "
                    "must leave at least 2 test samples (largest size: %d)", dropped, n_samples, n_samples - 2)
    return usable


def run_resampling(sweep_path: str, split_path: str, out_dir: str, gradients_path: str | None = None,
                   factors_path: str | None = None, effects_path: str | None = None, metric: str = "rewrite",
                   params: dict | None = None, n_draws: int = 200, curve_draws: int = 50,
                   sizes: Sequence[int] = (3, 5, 10, 20, 50), seed: int = 42, key: dict | None = None,
                   plan_path: str | None = None, aggregate_path: str | None = None, candidates: str = "grid",
                   fact_replicates: int = 0, fact_draws: int = 1, saliency_path: str | None = None,
                   frontier: dict | None = None, selection_paths: Sequence[str] = ()) -> dict:
    """R seeded re-splits of the swept samples and the proxy-size curve, written to `out_dir` (draws, verdicts,
    curve parquet files and summary.json). `params`: the selectors' parameters by name (the config's; each
    selector takes its own, `resampling.draw_params`). `key` ({model, dataset, editor}) is recorded in the summary:
    the tables and figures key a run by it.

    candidates "grid": the draws choose among the sweep plan's grid (`plan_path`), not the grid plus the layers the
    selectors chose on the pipeline's split (which would favour those selectors); "swept": among every swept layer.
    `aggregate_path` (the aggregate summary) gives the pipeline's chosen layers for the paired tests on its test
    split; `fact_replicates` > 0 adds the bootstrap over facts (`fact_draws` re-splits each, fact_draws.parquet).
    `saliency_path`: an archived study's stored SaLEM saliency (salem_draws.parquet), in place of `factors_path`.
    `frontier` (the config's `resampling.frontier`) adds its named settings to the main draws and the bootstrap over
    facts (`resampling.frontier_settings`); `selection_paths` (the pipeline's selection/<name>.json files) give the
    zero-edit selectors' measured seconds, shown beside their cost on the frontier."""
    from goldenlayers.analysis.archive import load_saliency_store
    from goldenlayers.measure.factors import load_factors

    started = time.perf_counter()
    sweep = read_parquet(sweep_path)
    split = read_json(split_path)
    if candidates not in ("grid", "swept"):
        raise ValueError(f"candidates must be 'grid' or 'swept', not {candidates!r}")
    if candidates == "grid" and not plan_path:
        raise ValueError("candidates 'grid' needs the sweep plan (--plan sweep_plan.json)")
    grid = [int(x) for x in read_json(plan_path)["grid"]] if candidates == "grid" else None
    ev = resampling.build_evidence(
        sweep, candidates=grid,
        gradients=read_parquet(gradients_path) if gradients_path else None,
        factors=load_factors(factors_path) if factors_path else None,
        effects=read_parquet(effects_path) if effects_path else None,
        metric=metric, saliency_store=load_saliency_store(saliency_path) if saliency_path else None,
    )
    settings = resampling.new_settings(resampling.frontier_settings(frontier), params)
    loaded = time.perf_counter()
    n_proxy = len(set(map(str, split["proxy"])) & set(ev["samples"]))
    draws, verdicts = resampling.resample(ev, n_proxy, n_draws, seed, params=params, settings=settings)
    drawn = time.perf_counter()
    curve_sizes = _curve_sizes(sizes, len(ev["samples"]))
    curve = resampling.proxy_size_curve(ev, curve_sizes, curve_draws, seed, params=params)
    done = time.perf_counter()
    facts = (resampling.fact_bootstrap(ev, n_proxy, fact_replicates, fact_draws, seed, params=params,
                                       settings=settings)
             if fact_replicates > 0 else pd.DataFrame(columns=resampling.DRAW_COLUMNS + ["replicate"]))
    booted = time.perf_counter()
    table1 = table1_entries(sweep, ev["metrics"], verdicts)
    pairs = _pipeline_pairs(aggregate_path, sweep, ev["metrics"], metric) if aggregate_path else []
    summary = {
        **(key or {}),
        "n_samples": len(ev["samples"]), "n_proxy": n_proxy,
        "swept_layers": sorted(int(x) for x in sweep["layer"].unique()),
        "metrics": ev["metrics"], "metric": metric, "selectors": sorted(set(draws["selector"])),
        "n_draws": n_draws, "curve_draws": curve_draws, "curve_sizes": curve_sizes,
        "curve_sizes_requested": [int(n) for n in sizes], "seed": seed,
        "tukey_k": (params or {}).get("tukey_k", TUKEY_K), "selector_params": dict(params or {}),
        "candidates": "the configured grid" if grid is not None else "the swept layers",
        "candidate_layers": ev["layers"], "table1": table1, "pipeline_pairs": pairs,
        "fact_bootstrap": {"replicates": int(fact_replicates), "draws": int(fact_draws)},
        "settings": row_settings(ev, params, settings),
        "frontier": dict(frontier or {}),
        "selector_seconds": selector_seconds(selection_paths),
        "seconds": {"load": loaded - started, "draws": drawn - loaded, "curve": done - drawn,
                    "fact_bootstrap": booted - done},
    }
    out = Path(out_dir)
    write_parquet(out / "draws.parquet", draws)
    write_parquet(out / "verdicts.parquet", verdicts)
    write_parquet(out / "curve.parquet", curve)
    write_parquet(out / "fact_draws.parquet", facts)
    write_json(out / "summary.json", summary)
    return summary


def _pipeline_pairs(aggregate_path: str, sweep: pd.DataFrame, metrics: Sequence[str], metric: str) -> list[dict]:
    """Table 17's paired tests of the pipeline's own choices (among every layer of the model) on its test split."""
    aggregate = read_json(aggregate_path)
    selected = {"bf": {"layer": aggregate.get("proxy_golden_layer")}, **aggregate.get("selected", {})}
    wanted = list(dict.fromkeys(m for m in (metric, analysis.OVERALL) if m in metrics))
    return resampling.pipeline_pairs(sweep, selected, ("lga", "random"), wanted)


def table1_entries(sweep: pd.DataFrame, metrics: Sequence[str], verdicts: pd.DataFrame) -> dict:
    """Table 1 on the pipeline's own split, for every metric, next to the share of draws with a golden layer."""
    df = analysis.overall(sweep)
    rates = resampling.golden_exists_rate(verdicts)
    table1 = {}
    for m in metrics:
        golden = analysis.golden_layer(df, m, "test")
        row = analysis.compare_optimal_vs_golden(df, m, "test", golden) if golden is not None else None
        table1[m] = {"comparison": row, "golden_exists_rate": rates.get(m),
                     "power": resampling.table1_power(sweep, m, golden) if golden is not None else None}
    return table1


def row_settings(ev: dict, params: dict | None, settings: dict) -> dict:
    """Every row's selector and parameters: the registry's selectors with the config's parameters as the draws
    pass them (`resampling.draw_params`), then the frontier's settings; the frontier's costs in edits are computed
    from these."""
    rows = {name: {"selector": name, "params": {k: v for k, v in resampling.draw_params(name, params, ev, None).items()
                                                if k != "rng"}}
            for name in resampling.draw_order()}
    return {**rows, **settings}


def selector_seconds(paths: Sequence[str]) -> dict[str, float]:
    """{method: wall_seconds} of the pipeline's selection records that have one (LGA, SaLEM, CMA, ...)."""
    out = {}
    for path in paths:
        record = read_json(path)
        if record.get("wall_seconds") is not None:
            out[str(record["method"])] = float(record["wall_seconds"])
    return out


def report_metrics(summary: dict) -> list[str]:
    """The metrics Tables 16-17 and Figures 5-7 report for a run: the config's metric and overall."""
    wanted = [summary["metric"], analysis.OVERALL]
    return [m for m in dict.fromkeys(wanted) if m in summary["metrics"]]


def plot_layer_distribution(runs: dict, out_prefix) -> dict:
    """Figure 5: per (model, dataset) of the first editor, the share of draws in which each selector chose each
    swept layer, against the share in which the layer is a test golden layer (config metric and overall)."""
    panels = {}
    for (model, dataset, editor), run in runs.items():
        if (model, dataset) in {(k[0], k[1]) for k in panels}:
            continue
        s = run["summary"]
        for m in report_metrics(s):
            freq = resampling.layer_frequencies(run["draws"], run["verdicts"], m, s["swept_layers"])
            panels[(model, dataset, m)] = freq
    n = len(panels)
    fig, axes = plt.subplots(n, 1, figsize=(max(6.0, 0.45 * max(len(f.columns) for f in panels.values()) + 3),
                                            1.0 + 0.42 * sum(len(f) for f in panels.values()) + 0.6 * n),
                             squeeze=False)
    for ax, ((model, dataset, m), freq) in zip(axes[:, 0], panels.items()):
        image = ax.imshow(freq.to_numpy(dtype=float), aspect="auto", cmap="viridis", vmin=0, vmax=1)
        ax.set_yticks(range(len(freq)), [draw_label(i) for i in freq.index])
        ax.set_xticks(range(len(freq.columns)), [str(c) for c in freq.columns])
        ax.axhline(len(freq) - 1.5, color="white", linewidth=2)
        for (i, j), v in np.ndenumerate(freq.to_numpy(dtype=float)):
            if v >= 0.005:
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                        color="black" if v > 0.6 else "white")
        ax.set_title(f"{model} / {dataset}: chosen layer per draw; test golden by {m}", fontsize=9)
        ax.set_xlabel("swept layer")
        fig.colorbar(image, ax=ax, label="share of draws", fraction=0.03)
    fig.tight_layout()
    save_figure(fig, out_prefix)
    plt.close(fig)
    return {f"{k[0]}/{k[1]}/{k[2]}": v for k, v in panels.items()}


def plot_proxy_size_curve(runs: dict, out_prefix) -> pd.DataFrame:
    """Figure 6: mean regret (test golden - chosen, test split) vs proxy size, 95 % bootstrap CI bands, per
    selector; one column per reported metric, one row per (model, dataset) of the first editor."""
    frames, seen = [], set()
    for (model, dataset, editor), run in runs.items():
        if (model, dataset) in seen:
            continue
        seen.add((model, dataset))
        summary = resampling.curve_summary(run["curve"], seed=run["summary"]["seed"])
        summary = summary[summary["metric"].isin(report_metrics(run["summary"]))]
        frames.append(summary.assign(model=model, dataset=dataset))
    data = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    keys = sorted(seen)
    present = set(data["metric"]) if len(data) else set()
    metrics = [m for m in dict.fromkeys(m for run in runs.values() for m in report_metrics(run["summary"]))
               if m in present]
    fig, axes = plt.subplots(max(len(keys), 1), max(len(metrics), 1), figsize=(5.2 * max(len(metrics), 1),
                                                                             3.6 * max(len(keys), 1)),
                             squeeze=False)
    for i, (model, dataset) in enumerate(keys):
        for j, m in enumerate(metrics):
            ax = axes[i, j]
            part = data[(data["model"] == model) & (data["dataset"] == dataset) & (data["metric"] == m)]
            names = [s for s in resampling.draw_order() if s in set(part["selector"])]
            for k, name in enumerate(names):
                line = part[part["selector"] == name].sort_values("n_proxy")
                style = _style(name)
                # a small multiplicative dodge (log axis) keeps overlapping selectors' markers apart
                x = line["n_proxy"].to_numpy(dtype=float) * 1.025 ** (k - (len(names) - 1) / 2)
                ax.plot(x, line["mean_regret"], label=draw_label(name), **style)
                ax.fill_between(x, line["ci_low"], line["ci_high"], color=style["color"], alpha=0.12)
            ax.set_xscale("log")
            sizes = sorted(set(part["n_proxy"]))
            ax.set_xticks(sizes, [str(s) for s in sizes])
            ax.minorticks_off()
            ax.set_xlabel("proxy size (samples)")
            ax.set_ylabel(f"mean regret ({m}, test split)")
            ax.set_title(f"{model} / {dataset}", fontsize=9)
            top = max(ax.get_ylim()[1], 1e-3)
            ax.set_ylim(-0.03 * top, top)  # regret >= 0; the margin keeps markers at 0 visible
            ax.grid(alpha=0.3)
    if metrics:
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.tight_layout()
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), frameon=False,
                   bbox_to_anchor=(0.5, 1.0))
    else:
        fig.tight_layout()
    save_figure(fig, out_prefix)
    plt.close(fig)
    return data


def plot_paired(runs: dict, out_prefix) -> pd.DataFrame:
    """Figure 7: Table 17's draws half as a forest plot. Per (model, dataset) of the first editor and reference
    (LGA, Random), one row per (selector, reported metric): the mean regret difference selector - reference over the
    draws (> 0: the reference's layer is better), its CI over draws (thick) and over facts (thin, the bootstrap over
    facts)."""
    frames, seen = [], set()
    for (model, dataset, editor), run in runs.items():
        if (model, dataset) in seen:
            continue
        seen.add((model, dataset))
        for ref in ("lga", "random"):
            part = resampling.paired_draws(run["draws"], ref, report_metrics(run["summary"]), run["fact_draws"],
                                           seed=run["summary"]["seed"])
            frames.append(part.assign(model=model, dataset=dataset))
    data = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    panels = [(k, ref) for k in sorted(seen) for ref in ("lga", "random")]
    height = max([len(data[(data["model"] == k[0]) & (data["dataset"] == k[1]) & (data["ref"] == r)])
                  for k, r in panels] + [1])
    fig, axes = plt.subplots(max(len(seen), 1), 2, figsize=(11, 0.9 + 0.32 * height * max(len(seen), 1)),
                             squeeze=False)
    for i, (model, dataset) in enumerate(sorted(seen)):
        for j, ref in enumerate(("lga", "random")):
            ax = axes[i, j]
            part = data[(data["model"] == model) & (data["dataset"] == dataset) & (data["ref"] == ref)]
            labels = []
            for y, row in enumerate(part.itertuples(index=False)):
                style = _style(row.selector)
                ax.plot([row.facts_low, row.facts_high], [y, y], color=style["color"], linewidth=1)
                ax.plot([row.draws_low, row.draws_high], [y, y], color=style["color"], linewidth=4, alpha=0.7)
                ax.plot([row.mean_diff], [y], marker=style["marker"], color=style["color"], linestyle="none")
                labels.append(f"{draw_label(row.selector)} ({row.metric})")
            ax.axvline(0.0, color="black", linewidth=0.8)
            ax.set_yticks(range(len(labels)), labels, fontsize=8)
            ax.invert_yaxis()
            ax.set_xlabel(f"mean regret difference: selector - {draw_label(ref)} (> 0: {draw_label(ref)} better)",
                          fontsize=8)
            ax.set_title(f"{model} / {dataset} vs {draw_label(ref)}: CI over draws (thick), over facts (thin)",
                         fontsize=9)
            ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    save_figure(fig, out_prefix)
    plt.close(fig)
    return data


def plot_frontier(runs: dict, out_prefix) -> pd.DataFrame:
    """The cost-regret frontier's figure: per (model, dataset) of the first editor (rows) and reported metric
    (columns), every selector setting's mean regret (with its CI over facts, thin bars) against its cost in edits
    (symmetric-log axis: the zero-edit selectors sit at 0), BF's edits dashed and the ambition's budget (20 % of
    them) dotted; the best setting of each panel ringed."""
    from goldenlayers.analysis import frontier

    first = {}
    for (model, dataset, editor), run in runs.items():
        first.setdefault((model, dataset), run)
    frames = []
    for (model, dataset), run in first.items():
        rows = frontier.frontier_rows(run, report_metrics(run["summary"]))
        bf_edits = run["summary"]["n_proxy"] * len(run["summary"]["candidate_layers"])
        frames.append(rows.assign(model=model, dataset=dataset, bf_edits=bf_edits))
    data = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    keys = list(first)
    metrics = list(dict.fromkeys(data["metric"])) if len(data) else []
    fig, axes = plt.subplots(max(len(keys), 1), max(len(metrics), 1),
                             figsize=(6.0 * max(len(metrics), 1), 4.2 * max(len(keys), 1)), squeeze=False)
    for i, (model, dataset) in enumerate(keys):
        for j, m in enumerate(metrics):
            ax = axes[i, j]
            part = data[(data["model"] == model) & (data["dataset"] == dataset) & (data["metric"] == m)]
            free = int((part["edits"] == 0).sum())
            k = 0
            same: dict[int, int] = {}  # settings of equal cost (verify by rewrite and by overall) side by side
            for row in part.itertuples(index=False):
                style = _style(row.selector)
                x = row.edits
                if x == 0:  # the zero-edit selectors spread over the axis' linear part around 0, so none hides
                    x = -0.7 + 1.4 * k / max(free - 1, 1)
                    k += 1
                else:
                    same[x] = same.get(x, -1) + 1
                    x = x * 1.08 ** same[x]
                low = max(row.mean_regret - row.facts_low, 0.0) if not np.isnan(row.facts_low) else 0.0
                high = max(row.facts_high - row.mean_regret, 0.0) if not np.isnan(row.facts_high) else 0.0
                ax.errorbar([x], [row.mean_regret], yerr=[[low], [high]], color=style["color"],
                            marker=style["marker"], linestyle="none", elinewidth=0.8, capsize=2)
                if row.best:
                    ax.plot([x], [row.mean_regret], marker="o", markersize=14, markerfacecolor="none",
                            color="black", linestyle="none")
                ax.annotate(row.label, (x, row.mean_regret), fontsize=6, xytext=(3, 3), rotation=20,
                            textcoords="offset points")
            if len(part):
                bf_edits = int(part["bf_edits"].iloc[0])
                ax.axvline(bf_edits, color="grey", linestyle="--", linewidth=0.8, label="BF's edits")
                ax.axvline(frontier.BUDGET * bf_edits, color="grey", linestyle=":", linewidth=0.8,
                           label=f"{frontier.BUDGET:.0%} of BF's edits")
            ax.set_xscale("symlog", linthresh=1.0)
            if len(part):
                ax.set_xlim(-1.0, 2.0 * int(part["bf_edits"].iloc[0]))
            ax.set_xlabel("cost (edits on the proxy facts)")
            ax.set_ylabel(f"mean regret ({m}), CI over facts")
            ax.set_title(f"{model} / {dataset}: {m} regret against cost (best ringed)", fontsize=9)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    save_figure(fig, out_prefix)
    plt.close(fig)
    return data
