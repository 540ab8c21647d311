# Glue between the config and the plan. What the workflow runs, which files each rule reads, each rule's options
# and job sizes are plain functions of goldenlayers.plan (config dict in, paths and options out; tested in
# tests/plan/); here the config is checked and merged, the run's constants are set, and the plan is asked with the
# wildcards: one-line lambdas in the rules, the adapters used more than once (or in a loop) below, by stage.
import sys
from pathlib import Path

from snakemake.utils import validate

import goldenlayers.selection.registry as selector_registry
from goldenlayers.config import check_config
from goldenlayers.editing import EDITORS as EDITOR_REGISTRY
from goldenlayers.plan import files, jobs, options, study
from goldenlayers.plan import archive as archive_plan
from goldenlayers.report.tables import INPUTS, PAPER_TABLES
from goldenlayers.report.write import FIGURES

# the command line's --configfile files (the default config/config.yaml is read first, then these)
CONFIGFILES = list(getattr(workflow, "overwrite_configfiles", None) or [])
study.replace_merged_sections(config, CONFIGFILES)
# unknown keys (with the nearest valid one), result-path names, metric vs fluency: one line each, before the schema
check_config(
    config,
    Path(workflow.basedir) / "workflow/schemas/config.schema.yaml",
    editors=EDITOR_REGISTRY,
)
validate(config, schema="../schemas/config.schema.yaml")

# Each run's tables and figures go to their own folder (results/report/<run name>/).
RUN_NAME = study.run_name(config, CONFIGFILES)
REPORT = study.report_dir(RUN_NAME)
# the merged config this run uses (every --configfile and --config applied), written by rule resolved_config and
# hashed into every table's provenance sidecar
RESOLVED_CONFIG = f"{REPORT}/config.resolved.yaml"


onsuccess:
    print(
        f"goldenlayers: the tables and figures of run {RUN_NAME!r} are in {REPORT}/",
        file=sys.stderr,
    )


MODELS = study.models(config)
DATASETS = study.datasets(config)
MAIN_DATASETS = study.main_datasets(config)
EDITORS = study.editors(config)
SWEEP_CHUNKS = config["sweep_chunks"]
study.check_hparams_files(config)
# config `archive`: the cells this run restores from a study archive instead of measuring (archive.smk)
ARCHIVED_CELLS = archive_plan.archived_cells(config)


wildcard_constraints:
    model="|".join(MODELS),
    dataset="|".join(DATASETS),
    editor="|".join(EDITORS),
    layer=r"\d+",
    chunk=r"\d+",


# Wildcards -> plan, for the rules of every stage.
def model_opts(wildcards):
    return options.model_opts(config, wildcards.model)


def get_gpu(wildcards):
    return options.gpus(config, wildcards.model)


def get_hparams(wildcards):
    return study.hparams_path(config, wildcards.model, wildcards.editor)


def swept_layers(model, dataset):
    """The layers swept for (model, dataset): plan_sweep's output, once the checkpoint ran."""
    plan = checkpoints.plan_sweep.get(model=model, dataset=dataset).output.plan
    return files.read_sweep_plan(plan)


def sized(rule_name, what):
    """A resource callable for a rule's `what` (mem_mb or runtime), asked when the job is ready (goldenlayers.plan.jobs)."""

    def resource(wildcards, input, attempt):
        view = jobs.model_view(config, wildcards.model)
        found = {
            name: getattr(input, name, None) for name in ("samples", "split", "records")
        }
        records = jobs.job_records(config, getattr(wildcards, "dataset", None), found)
        editor = getattr(wildcards, "editor", None)
        size = jobs.job_size(config, rule_name, view, records, editor, attempt)
        return size[what]

    return resource


# An interrupted sweep's unfinished outputs: named once, and built by `all` (goldenlayers.plan.files.unfinished_sweeps).
UNFINISHED_SWEEPS = files.unfinished_sweeps(config)
if UNFINISHED_SWEEPS:
    print(files.unfinished_message(UNFINISHED_SWEEPS), file=sys.stderr)


def get_final_outputs():
    return files.final_outputs(config, RUN_NAME, UNFINISHED_SWEEPS)


def get_planned_sweeps(wildcards=None):
    return files.planned_sweeps(config, swept_layers)


# Adapters of the stages' rules (Snakemake's lint wants functions out of the rules' files): wildcards -> plan.
# selection.smk
def selector_opts(method):
    """`goldenlayers select` flags of a selector's parameters, from the config (--tukey-k 1.0, ...)."""
    return lambda w: options.selector_opts(config, method, w.model, w.dataset)


def selector_evidence_opts(method):
    """`goldenlayers select` flags naming a selector's evidence files (--gradients ..., --effects ...)."""
    return lambda wildcards, input: options.selector_evidence_opts(method, input)


def get_candidate_layers(wildcards):
    """Candidate layers of Random (and the grid of the sweep plan): the configured sweep layers."""
    return " ".join(str(layer) for layer in study.model_layers(config, wildcards.model))


def get_bf_sweeps(wildcards):
    """The first editor's per-layer sweeps (BF's proxy golden layer is read from them)."""
    layers = swept_layers(wildcards.model, wildcards.dataset)
    return files.layer_sweeps(wildcards.model, wildcards.dataset, EDITORS[0], layers)


def get_bf_benchmarks(wildcards):
    """Those sweep jobs' benchmark files, in the same layer order (BF's wall time)."""
    layers = swept_layers(wildcards.model, wildcards.dataset)
    return files.bf_benchmarks(config, wildcards.model, wildcards.dataset, layers)


def get_verify_sweeps(wildcards):
    """The first editor's sweeps of verify's shortlisted layers (the plan's shortlist)."""
    plan = checkpoints.plan_sweep.get(model=wildcards.model, dataset=wildcards.dataset)
    shortlist = files.read_shortlist(plan.output.plan)
    return files.verify_sweeps(config, wildcards.model, wildcards.dataset, shortlist)


# sweep.smk
def get_key_covariance(wildcards):
    """The layer's key covariance file for editors that use it (goldenlayers.plan.options), nothing otherwise."""
    w = wildcards
    return options.key_covariance_file(config, w.model, w.editor, w.layer)


def get_key_covariance_opt(wildcards, input):
    return f"--key-covariance {input.covariance}" if input.covariance else ""


# report.smk
def report_files(kind):
    """The files of one kind of report input, asked when the DAG is built."""
    return lambda wildcards: files.report_inputs(config, kind)


def report_siblings(kind, siblings):
    """The files beside each of them that a table or figure reads too."""
    return lambda wildcards: files.report_siblings(config, kind, siblings)


def figure_table(figure_id, figure):
    """A figure's table (Figure 3's wall times), written beside it with the resolved config's hash, when it has one."""
    if not figure.table:
        return {}, {}
    outputs = {
        "table": report(
            f"{REPORT}/{figure_id}.csv",
            caption=f"../report/{figure_id}.rst",
            category="Tables",
        ),
        "table_md": f"{REPORT}/{figure_id}.md",
    }
    return {"config": RESOLVED_CONFIG}, outputs


def config_opt(wildcards, input):
    return f" --config {input.config}" if "config" in input.keys() else ""


onerror:
    # the plugin reports a job that sbatch refused as "sbatch failed"; say which rule asked for what, and what the
    # nodes have, in one line each (`log` is the run's log file, a list of them in some Snakemake versions)
    for line in jobs.refusal_lines(
        [log] if isinstance(log, (str, Path)) else list(log or [])
    ):
        print(line, file=sys.stderr)
