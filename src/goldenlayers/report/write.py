"""The report stage writes files: the paper tables of `goldenlayers.report.tables` (CSV, Markdown and a provenance sidecar)
and the figures drawn from the same inputs.

Every table gets a JSON sidecar with the hash of the resolved config (the merged config the workflow ran with, see
the `resolved_config` rule) and the git commit, so each number traces back to a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from goldenlayers.io import config_hash, git_commit, read_json, read_parquet, read_yaml, write_json, write_text
from goldenlayers.report.tables import INPUTS, PAPER_TABLES, Built, build_table, summary_key, to_markdown

if TYPE_CHECKING:  # annotations only
    import pandas as pd

# pandas and the plotting modules are imported inside the functions: the CLI reads FIGURES to build its choices.


def provenance(config_file: str | None, inputs: list[str]) -> dict:
    """The sidecar of a table: the config file (the workflow passes its resolved config) and its content's hash,
    the git commit, the input files; for a table rebuilt from a study archive the study's hash and commit
    (analysis.archive.rebuild_provenance)."""
    config = read_yaml(config_file) if config_file else None
    origin = {"config_hash": config_hash(config), "git_commit": git_commit()}
    if config and config.get("archive"):  # rebuilt from a study archive: the study's config and commit
        from goldenlayers.analysis.archive import rebuild_provenance

        origin = rebuild_provenance(config)
    return {"config_file": config_file, **origin, "inputs": inputs}


def write_built(built: Built, out_prefix: Path, provenance: dict) -> None:
    write_text(f"{out_prefix}.csv", built.frame.to_csv(index=False))
    markdown = built.markdown if built.markdown is not None else to_markdown(built.frame) + "\n"
    write_text(f"{out_prefix}.md", markdown)
    write_json(f"{out_prefix}.provenance.json", {**provenance, **built.provenance})


def write_tables(table_ids: list[str], files: list[str], out_dir: str, metric: str = "rewrite",
                 config_file: str | None = None) -> dict[str, pd.DataFrame]:
    """Build each table of `table_ids` from `files` and write <out_dir>/<id>.{csv,md,provenance.json}."""
    _one_kind(table_ids, [])
    sidecar = provenance(config_file, [str(p) for p in files])
    out = {}
    for table_id in table_ids:
        built = build_table(table_id, files, metric)
        write_built(built, Path(out_dir) / table_id, sidecar)
        out[table_id] = built.frame
    return out


# ----------------------------------------------------------------------------------------------------------
# figures: which input kind each reads and how it is drawn
# ----------------------------------------------------------------------------------------------------------
def figure_layer_curves(files: list[str], out_prefix: Path, metric: str) -> None:
    """Figure 1: per-layer curves of every (model, dataset), each selector's layer marked above them."""
    from goldenlayers.report.plots import plot_layer_curves

    summaries = [(path, read_json(path)) for path in files]
    keys = [summary_key(summary, path) for path, summary in summaries]
    one_model = len({model for model, _, _ in keys}) == 1
    stats, markers = {}, {}
    for (path, summary), (model, dataset, _) in zip(summaries, keys):
        panel = dataset if one_model else f"{model} / {dataset}"
        stats[panel] = read_parquet(Path(path).parent / "layer_stats.parquet")
        markers[panel] = {"proxy golden": summary["proxy_golden_layer"], "test golden": summary["test_golden_layer"],
                          **{name: sel["layer"] for name, sel in summary.get("selected", {}).items()}}
    plot_layer_curves(stats, markers, out_prefix)


def figure_delta_heatmap(files: list[str], out_prefix: Path, metric: str) -> None:
    import pandas as pd

    from goldenlayers.report.plots import plot_delta_heatmap

    sweeps: dict[str, dict[str, pd.DataFrame]] = {}
    for path in files:
        model, dataset, _ = summary_key(read_json(path), path)
        sweeps.setdefault(model, {})[dataset] = read_parquet(Path(path).parent / "sweep.parquet")
    plot_delta_heatmap(sweeps, out_prefix, metric=metric)


def figure_selector_scores(files: list[str], out_prefix: Path, metric: str) -> None:
    """Figure 4: the first editor's Table 2 selectors, by the overall score."""
    from goldenlayers.report.plots import plot_selector_scores

    frame = INPUTS["editor_aggregates"].load(files)
    # Table 2's selectors (plot_selector_scores' default), for the first editor
    plot_selector_scores(frame[frame["editor"] == frame["editor"].iloc[0]], out_prefix, metric="overall")


def figure_layer_distribution(files: list[str], out_prefix: Path, metric: str) -> None:
    from goldenlayers.analysis.resampling_report import plot_layer_distribution

    plot_layer_distribution(INPUTS["resampling"].load(files), out_prefix)


def figure_proxy_size_curve(files: list[str], out_prefix: Path, metric: str) -> None:
    from goldenlayers.analysis.resampling_report import plot_proxy_size_curve

    plot_proxy_size_curve(INPUTS["resampling"].load(files), out_prefix)


def figure_paired(files: list[str], out_prefix: Path, metric: str) -> None:
    from goldenlayers.analysis.resampling_report import plot_paired

    plot_paired(INPUTS["resampling"].load(files), out_prefix)


def figure_frontier(files: list[str], out_prefix: Path, metric: str) -> None:
    from goldenlayers.analysis.resampling_report import plot_frontier

    plot_frontier(INPUTS["resampling"].load(files), out_prefix)


def figure_speedups(files: list[str], out_prefix: Path, metric: str) -> None:
    from goldenlayers.report.plots import plot_speedups

    plot_speedups(build_table("figure3", files).frame, out_prefix)


@dataclass(frozen=True)
class Figure:
    # key of goldenlayers.report.tables.INPUTS: which result files it reads
    reads: str
    draw: Callable[[list[str], Path, str], None]
    # files beside each input file that it reads too (the workflow declares them)
    siblings: tuple[str, ...] = ()
    # whether the PAPER_TABLES entry of the same id (its data) is written beside it, with the provenance sidecar
    table: bool = False


# Figures drawn by `goldenlayers report --figures`; the workflow makes one plot_<id> rule each.
FIGURES = {
    "figure1": Figure("aggregates", figure_layer_curves, ("layer_stats.parquet",)),
    "figure2": Figure("aggregates", figure_delta_heatmap, ("sweep.parquet",)),
    "figure3": Figure("timed_selections", figure_speedups, table=True),
    "figure4": Figure("editor_aggregates", figure_selector_scores),
    "figure5": Figure("resampling", figure_layer_distribution, INPUTS["resampling"].siblings),
    "figure6": Figure("resampling", figure_proxy_size_curve, INPUTS["resampling"].siblings),
    "figure7": Figure("resampling", figure_paired, INPUTS["resampling"].siblings),
    "figure8": Figure("resampling", figure_frontier, INPUTS["resampling"].siblings),
}


def _one_kind(table_ids: list[str], figure_ids: list[str]) -> None:
    """Tables and figures built from one list of files must all read that kind of file."""
    kinds = {PAPER_TABLES[t].reads for t in table_ids} | {FIGURES[f].reads for f in figure_ids}
    if len(kinds) > 1:
        raise ValueError(f"{', '.join([*table_ids, *figure_ids])} read different kinds of inputs "
                         f"({', '.join(sorted(kinds))}); build them one kind at a time")


def write_figures(figure_ids: list[str], files: list[str], out_dir: str, metric: str = "rewrite",
                  config_file: str | None = None) -> None:
    """Draw each figure of `figure_ids` from `files` as <out_dir>/<id>.{png,pdf}, and its table where it has one."""
    _one_kind([], figure_ids)
    for figure_id in figure_ids:
        if FIGURES[figure_id].table:
            write_tables([figure_id], files, out_dir, metric=metric, config_file=config_file)
        FIGURES[figure_id].draw(list(files), Path(out_dir) / figure_id, metric)


def write_report(table_ids: list[str], figure_ids: list[str], files: list[str], out_dir: str,
                 metric: str = "rewrite", config_file: str | None = None) -> dict:
    """`goldenlayers report`: the tables and figures of `table_ids` and `figure_ids`, all from `files`."""
    if not table_ids and not figure_ids:
        raise ValueError("nothing to build: give --tables and/or --figures")
    _one_kind(table_ids, figure_ids)
    frames = write_tables(table_ids, files, out_dir, metric=metric, config_file=config_file) if table_ids else {}
    write_figures(figure_ids, files, out_dir, metric=metric, config_file=config_file)
    return frames
