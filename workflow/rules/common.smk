# Glue between the config and the plan. What the workflow runs, which files each rule reads, each rule's options
# and job sizes are plain functions of goldenlayers.plan (config dict in, paths and options out; tested in
# tests/plan/); here the config is checked and merged, the run's constants are set, and the plan is asked with the
# wildcards. Input functions that only adapt one stage's wildcards live beside that stage's rules.
import sys
from pathlib import Path

from snakemake.utils import validate

import goldenlayers.selection.registry as selector_registry
from goldenlayers.config import check_config
from goldenlayers.editing import EDITORS as EDITOR_REGISTRY
from goldenlayers.plan import files, jobs, options, study
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


onerror:
    # the plugin reports a job that sbatch refused as "sbatch failed"; say which rule asked for what, and what the
    # nodes have, in one line each (`log` is the run's log file, a list of them in some Snakemake versions)
    for line in jobs.refusal_lines(
        [log] if isinstance(log, (str, Path)) else list(log or [])
    ):
        print(line, file=sys.stderr)
