"""Which result files each rule reads and which the default target builds. Paths are relative to the workflow's
directory; a template keeps Snakemake's `{model}`-style wildcards for the rule to fill in.

The sweep plan has two parts: the grid (config `layers`), known before anything ran, and the layers the selectors
add, known once plan_sweep wrote results/{model}/{dataset}/sweep_plan.json. Functions that need the second take
`layers_of(model, dataset)`, the swept layers (the workflow reads them through its checkpoint; a test passes a dict).
"""

from __future__ import annotations

from itertools import product
from pathlib import Path
from typing import Callable

from goldenlayers.io import read_json, unfinished_outputs
from goldenlayers.plan.options import selector_param
from goldenlayers.plan.study import (
    appendix_editor, datasets, editors, first_editor, main_datasets, model_layers, models, report_dir,
)
from goldenlayers.report.tables import PAPER_TABLES
from goldenlayers.report.write import FIGURES
from goldenlayers.selection import registry as selectors

LayersOf = Callable[[str, str], list[int]]

# The file of each piece of evidence a measured selector reads ...
EVIDENCE_FILES = {
    "gradients": "results/{model}/{dataset}/gradients/samples.parquet",
    "saliency": "results/{model}/{dataset}/gradients/proxy_saliency.parquet",
    "effects": "results/{model}/{dataset}/causal_trace/samples.parquet",
}
# ... and the benchmark and timing files of the job that measured it (the selector's wall time: docs/methods.md).
STAGE_FILES = {
    "gradient": {
        "benchmark": "results/benchmarks/extract_gradients/{model}/{dataset}.tsv",
        "timing": "results/{model}/{dataset}/gradients/timing.json",
    },
    "trace": {
        "benchmark": "results/benchmarks/trace_causal_effects/{model}/{dataset}.tsv",
        "timing": "results/{model}/{dataset}/causal_trace/timing.json",
    },
}
# the appendix setting of each appendix table
APPENDIX_TABLES = {"composite": "table12", "unstructured": "table13"}


def sweep_file(model: str, dataset: str, editor: str, layer: int | str, kind: str = "sweep") -> str:
    """One layer's sweep (kind "sweep") or sequential-editing sweep (kind "sequential")."""
    return f"results/{model}/{dataset}/{kind}/{editor}/layer_{layer}.parquet"


# One sweep job per (model, dataset, editor, layer), or per chunk of a layer's samples when `sweep_chunks` > 1
# (chunks are merged into the layer's file, so everything downstream is the same either way).
def sweep_job(config: dict) -> str:
    """The sweep job's name (its log and benchmark files), with wildcards."""
    return "{model}/{dataset}/{editor}/layer_{layer}" + ("_chunk_{chunk}" if config["sweep_chunks"] > 1 else "")


def sweep_output(config: dict) -> str:
    """The sweep job's output, with wildcards: the layer's file, or one chunk of it."""
    return "results/{model}/{dataset}/sweep/{editor}/layer_{layer}" + (
        "_chunk_{chunk}.parquet" if config["sweep_chunks"] > 1 else ".parquet")


def layer_chunks(config: dict, model: str, dataset: str, editor: str, layer: int | str) -> list[str]:
    """The chunk files merged into one layer's sweep."""
    return [f"results/{model}/{dataset}/sweep/{editor}/layer_{layer}_chunk_{chunk}.parquet"
            for chunk in range(config["sweep_chunks"])]


def read_sweep_plan(path: str) -> list[int]:
    """The swept layers plan_sweep wrote (the grid plus every planned selector's chosen layer)."""
    return read_json(path)["layers"]


def grid_sweeps(config: dict) -> list[str]:
    """The configured grid's sweeps, known before the sweep plan: listed in `all` so they start while the
    selectors run (and show in a dry run); the plan's extra layers join once plan_sweep has run."""
    return [sweep_file(model, dataset, editor, layer)
            for model, dataset, editor in product(models(config), main_datasets(config), editors(config))
            for layer in model_layers(config, model)]


def planned_sweeps(config: dict, layers_of: LayersOf) -> list[str]:
    """Every layer of every sweep plan: in `all`, so a sweep file that is missing while the tables that read it
    exist (a forced rerun interrupted after Snakemake removed the old file) is redone by the default target;
    Snakemake would not rebuild it for its readers."""
    return [sweep_file(model, dataset, editor, layer)
            for model, dataset in product(models(config), main_datasets(config))
            for layer in layers_of(model, dataset)
            for editor in editors(config)]


def layer_sweeps(model: str, dataset: str, editor: str, layers: list[int], kind: str = "sweep") -> list[str]:
    """One (model, dataset, editor)'s swept layers' files, in plan order (aggregate_sweep, BF, sequential)."""
    return [sweep_file(model, dataset, editor, layer, kind) for layer in layers]


def bf_benchmarks(config: dict, model: str, dataset: str, layers: list[int]) -> list[str]:
    """Snakemake's benchmark files of the first editor's sweep jobs, in the same layer order (BF's wall time): one
    per layer, or each layer's chunk jobs' in chunk order (BF adds them up; nothing but Snakemake writes a
    benchmark file)."""
    chunks = config["sweep_chunks"]
    return [f"results/benchmarks/sweep_layer/{model}/{dataset}/{first_editor(config)}/layer_{layer}"
            + (f"_chunk_{chunk}.tsv" if chunks > 1 else ".tsv")
            for layer in layers for chunk in range(chunks)]


def unfinished_sweeps(config: dict) -> list[str]:
    """Sweep outputs an interrupted job left unfinished (their partial file, no output). `all` lists them, so the
    default target finishes them from their saved rows (a run of a table target says "Nothing to be done" while
    its tables still come from the sweep before)."""
    return unfinished_outputs([f"results/{model}/{dataset}/sweep/{editor}" for model, dataset, editor
                               in product(models(config), main_datasets(config), editors(config))])


def unfinished_message(unfinished: list[str]) -> str:
    """The one line that names unfinished sweep outputs and the command that finishes them."""
    return (f"goldenlayers: an interrupted run left {len(unfinished)} sweep output(s) unfinished, and the tables "
            f"that read them are from before it: {' '.join(unfinished)}; `snakemake --cores N` (or `snakemake "
            f"--cores N {' '.join(unfinished)}`) finishes them from their saved rows and redoes those tables")


# ---------------------------------------------------------------------------------------------------------------
# layer selection
def selection_files(model: str, dataset: str, methods: list[str]) -> list[str]:
    return [f"results/{model}/{dataset}/selection/{method}.json" for method in methods]


def selector_inputs(method: str) -> dict[str, str]:
    """A measured selector's inputs (named, with wildcards): its evidence files, the split, and its measuring
    job's benchmark and timing."""
    spec = selectors.SELECTORS[method]
    return {**{need: EVIDENCE_FILES[need] for need in spec.needs},
            "split": "results/{model}/{dataset}/split.json", **STAGE_FILES[spec.stage]}


def planned_selections(model: str, dataset: str) -> list[str]:
    """What plan_sweep reads: the selections of every selector that scores every layer."""
    return selection_files(model, dataset, selectors.planned())


def cheap_selections(config: dict, model: str, dataset: str) -> list[str]:
    """The cheap selectors' files that verify and consensus combine (config selector_params.cheap_selectors, else
    the registry's default); plan_sweep reads them too, for verify's shortlist."""
    names = selectors.cheap_names({"cheap_selectors": selector_param(config, "cheap_selectors", model, dataset)})
    return selection_files(model, dataset, names)


def read_shortlist(path: str) -> list[int]:
    """verify's shortlisted layers, as plan_sweep wrote them."""
    return read_json(path).get("shortlist", [])


def verify_sweeps(config: dict, model: str, dataset: str, shortlist: list[int]) -> list[str]:
    """What select_verify reads of the sweep: the first editor's files of the shortlisted layers only (the plan's
    `shortlist`; the m proxy facts' rows are picked from them)."""
    return layer_sweeps(model, dataset, first_editor(config), shortlist)


def aggregate_selections(config: dict, model: str, dataset: str, editor: str) -> list[str]:
    """Selection files an aggregate reports (every selector). BF is the first editor's proxy golden layer, so only
    that editor's aggregate gets bf.json (the others report their own proxy golden layer as BF); verify's layer,
    checked with the first editor's edits, is a choice like LGA's and every editor's aggregate reports it."""
    methods = [m for m in selectors.SELECTORS if m != "bf" or editor == first_editor(config)]
    return selection_files(model, dataset, methods)


def sequential_selections(model: str, dataset: str) -> list[str]:
    """Selectors whose layers Table 11 compares under sequential editing (BF needs the single-edit sweep)."""
    return selection_files(model, dataset, [m for m in selectors.SELECTORS if m != "bf"])


def resampling_selections(model: str, dataset: str) -> list[str]:
    """The measured selectors' files resample_splits reads for their measured seconds (the frontier's zero-edit
    rows)."""
    return selection_files(model, dataset, selectors.measured())


# ---------------------------------------------------------------------------------------------------------------
# what the report reads (goldenlayers.report.tables.INPUTS kinds) and what `all` builds
def _per_study(config: dict, template: str, editors_: list[str]) -> list[str]:
    return [template.format(model=m, dataset=d, editor=e)
            for m, d, e in product(models(config), main_datasets(config), editors_)]


def aggregates(config: dict) -> list[str]:
    """The first editor's aggregate summaries (Table 1 and most tables)."""
    return _per_study(config, "results/{model}/{dataset}/aggregate/{editor}/summary.json", [first_editor(config)])


def editor_aggregates(config: dict) -> list[str]:
    """Every editor's aggregate summary (Tables 2, 14, 15 compare selectors across editors)."""
    return _per_study(config, "results/{model}/{dataset}/aggregate/{editor}/summary.json", editors(config))


def sequential_aggregates(config: dict) -> list[str]:
    return _per_study(config, "results/{model}/{dataset}/aggregate_sequential/{editor}/summary.json",
                      editors(config))


def resampling_summaries(config: dict) -> list[str]:
    return _per_study(config, "results/{model}/{dataset}/resampling/{editor}/summary.json", editors(config))


def timed_selections(config: dict) -> list[str]:
    """Figure 3: the selectors that measure something, and BF's wall time."""
    return [path for model, dataset in product(models(config), main_datasets(config))
            for path in selection_files(model, dataset, [*selectors.timed(), "bf"])]


def appendix_results(config: dict, setting: str) -> list[str]:
    """Every appendix evaluation of one setting (Tables 12-13); refused when no dataset has that setting."""
    found = [d for d in datasets(config) if config["datasets"][d].get("setting") == setting]
    if not found:
        raise ValueError(f"{APPENDIX_TABLES[setting]} needs a dataset with `setting: {setting}` in the config "
                         "(config/paper.yaml has one)")
    return [f"results/{model}/{dataset}/appendix/{appendix_editor(config)}/{method}.json"
            for model, dataset, method in product(models(config), found, selectors.selectors_in("table12"))]


# The files of each kind of report input (goldenlayers.report.tables.INPUTS)
REPORT_INPUTS = {
    "aggregates": aggregates,
    "editor_aggregates": editor_aggregates,
    "sequential_aggregates": sequential_aggregates,
    "timed_selections": timed_selections,
    "resampling": resampling_summaries,
    "appendix_composite": lambda config: appendix_results(config, "composite"),
    "appendix_unstructured": lambda config: appendix_results(config, "unstructured"),
}


def report_inputs(config: dict, kind: str) -> list[str]:
    """The files of one kind of report input."""
    return REPORT_INPUTS[kind](config)


def report_siblings(config: dict, kind: str, siblings: tuple[str, ...]) -> list[str]:
    """The files beside each report input that a table or figure reads too (resampling draws, layer statistics)."""
    return [str(Path(path).parent / name) for path in report_inputs(config, kind) for name in siblings]


def table_in_all(config: dict, table) -> bool:
    """Whether `all` builds a paper table (its registry entry's in_all)."""
    return table.in_all == "always" or (table.in_all == "sequential" and config["sequential"]["enabled"])


def final_outputs(config: dict, run: str, unfinished: list[str] = ()) -> list[str]:
    """What `all` builds before the sweep plan is known (planned_sweeps joins it after)."""
    report = report_dir(run)
    return [
        *grid_sweeps(config),
        *unfinished,
        *[f"{report}/{t.id}.csv" for t in PAPER_TABLES.values() if table_in_all(config, t)],
        *[f"{report}/{figure}.png" for figure in FIGURES],
        *editor_aggregates(config),
        *(sequential_aggregates(config) if config["sequential"]["enabled"] else []),
        *[f"results/{model}/{dataset}/causal_trace/trace.png"
          for model, dataset in product(models(config), main_datasets(config))],
    ]
