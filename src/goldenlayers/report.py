"""The report stage: Table 1 and Figures 1–2 from the aggregated sweeps of every (model, dataset).

Every table gets a JSON sidecar with the config hash and git commit, so each number traces back to a run.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd

from goldenlayers.analysis import table1, table_proxy_vs_test, table_selected_layers, to_markdown
from goldenlayers.io import config_hash, read_json, read_yaml, write_json, write_text
from goldenlayers.plots import plot_delta_heatmap, plot_layer_curves, plot_selector_scores
from goldenlayers.selectors import SELECTORS, selectors_in


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _provenance(config_file: str | None, inputs: list[str]) -> dict:
    config = read_yaml(config_file) if config_file else None
    return {"config_file": config_file, "config_hash": config_hash(config), "git_commit": _git_commit(),
            "inputs": inputs}


def write_table(frame: pd.DataFrame, out_prefix: Path, provenance: dict) -> None:
    write_text(f"{out_prefix}.csv", frame.to_csv(index=False))
    write_text(f"{out_prefix}.md", to_markdown(frame) + "\n")
    write_json(f"{out_prefix}.provenance.json", provenance)


def write_proxy_vs_test(summaries: dict, out_prefix: Path, provenance: dict) -> pd.DataFrame:
    """Tables 3–8: proxy-optimal vs test-golden layer and test value, one table per metric.

    The CSV is long (Model, Metric, Set, Dataset, Layer, Value); the Markdown has one wide table per metric.
    """
    metrics = []
    for summary in summaries.values():
        metrics += [m for m in summary["per_metric"] if m not in metrics]
    long_rows, sections = [], []
    for metric in metrics:
        wide = table_proxy_vs_test(summaries, metric)
        sections.append(f"### {metric}\n\n{to_markdown(wide)}\n")
        for (model, dataset), summary in summaries.items():
            per_metric = summary["per_metric"].get(metric)
            if per_metric is None:
                continue
            for set_name, layer_key, value_key in (("Proxy", "proxy_layer", "proxy_value"),
                                                   ("Test", "test_layer", "test_value")):
                long_rows.append({"Model": model, "Metric": metric, "Set": set_name, "Dataset": dataset,
                                  "Layer": per_metric[layer_key], "Value": per_metric[value_key]})
    frame = pd.DataFrame(long_rows, columns=["Model", "Metric", "Set", "Dataset", "Layer", "Value"])
    write_text(f"{out_prefix}.csv", frame.to_csv(index=False))
    write_text(f"{out_prefix}.md", "\n".join(sections))
    write_json(f"{out_prefix}.provenance.json", provenance)
    return frame


def build_report(aggregate_dirs: list[str], out_dir: str, metric: str = "rewrite", config_file: str | None = None):
    """aggregate_dirs are results/<model>/<dataset>/aggregate/<editor> directories."""
    out_dir = Path(out_dir)
    summaries, stats, markers, sweeps = {}, {}, {}, {}
    for directory in aggregate_dirs:
        directory = Path(directory)
        model, dataset = directory.parts[-4], directory.parts[-3]
        summary = read_json(directory / "summary.json")
        summaries[(model, dataset)] = summary
        panel = dataset if len({Path(d).parts[-4] for d in aggregate_dirs}) == 1 else f"{model} / {dataset}"
        stats[panel] = pd.read_parquet(directory / "layer_stats.parquet")
        markers[panel] = {
            "proxy golden (BF)": summary["proxy_golden_layer"],
            "test golden": summary["test_golden_layer"],
            **{name.upper(): sel["layer"] for name, sel in summary.get("selected", {}).items()},
        }
        sweeps.setdefault(model, {})[dataset] = pd.read_parquet(directory / "sweep.parquet")

    provenance = _provenance(config_file, [str(d) for d in aggregate_dirs])
    write_table(table1(summaries), out_dir / "table1", provenance)
    write_table(table_selected_layers(summaries, metric=metric), out_dir / "selected_layers", provenance)
    write_proxy_vs_test(summaries, out_dir / "tables3_8", provenance)
    plot_layer_curves(stats, markers, out_dir / "figure1")
    plot_delta_heatmap(sweeps, out_dir / "figure2", metric=metric)


def build_figure3(selection_files: list[str], out_prefix: str, config_file: str | None = None) -> pd.DataFrame:
    """Figure 3: speed-up of LGA, LGA(K'), SaLEM and CMA over BF per (model, dataset), as PNG/PDF plus CSV/MD.

    selection_files are results/<model>/<dataset>/selection/<method>.json (the BF files included).
    """
    from goldenlayers.plots import plot_speedups
    from goldenlayers.walltime import speedup_table

    entries = []
    for path in selection_files:
        parts = Path(path).parts
        entries.append((parts[-4], parts[-3], read_json(path)))
    table = speedup_table(entries)
    write_table(table, Path(out_prefix), _provenance(config_file, [str(p) for p in selection_files]))
    plot_speedups(table, out_prefix)
    return table


def selector_frame(summary_files: list[str]) -> pd.DataFrame:
    """One row per (model, dataset, editor, selector): the chosen layer and the mean test value of every metric.

    summary_files are results/<model>/<dataset>/aggregate/<editor>/summary.json. Random's layer is empty: its
    metrics are the mean over its seeded layers (see `goldenlayers aggregate`).
    """
    rows = []
    for path in summary_files:
        parts = Path(path).parts
        model, dataset, editor = parts[-5], parts[-4], parts[-2]
        for method, chosen in read_json(path).get("selected", {}).items():
            layer = chosen.get("layer")
            rows.append({"model": model, "dataset": dataset, "editor": editor, "method": method,
                         "layer": layer if isinstance(layer, int) else None, **chosen.get("test", {})})
    return pd.DataFrame(rows)


def build_selector_tables(summary_files: list[str], out_dir: str, metric: str = "overall",
                          config_file: str | None = None,
                          names: tuple[str, ...] = ("table2", "table14", "table15")) -> dict[str, pd.DataFrame]:
    """Tables 2, 14 and 15 (selectors × editors × datasets, every metric) and Figure 4 (LGA vs SaLEM vs CMA);
    with names=("table11",) and the sequential aggregates' summaries, Table 11."""
    out_dir = Path(out_dir)
    frame = selector_frame(summary_files)
    provenance = _provenance(config_file, [str(p) for p in summary_files])
    metric_cols = [c for c in frame.columns if c not in ("model", "dataset", "editor", "method", "layer")]
    tables = {}
    for name in names:
        methods = selectors_in(name)
        table = frame[frame["method"].isin(methods)].copy()
        table["method"] = pd.Categorical(table["method"], categories=list(methods), ordered=True)
        table = table.sort_values(["model", "dataset", "editor", "method"]).reset_index(drop=True)
        table["method"] = table["method"].map(lambda m: SELECTORS[m].label)
        table["layer"] = table["layer"].astype("Int64")
        table = table.rename(columns={"model": "Model", "dataset": "Dataset", "editor": "Editor",
                                      "method": "Selector", "layer": "Layer"})
        write_table(table[["Model", "Dataset", "Editor", "Selector", "Layer", *metric_cols]], out_dir / name,
                    provenance)
        tables[name] = table
    if "table2" in names:
        plot_selector_scores(frame[frame["editor"] == frame["editor"].iloc[0]], out_dir / "figure4", metric=metric)
    return tables
