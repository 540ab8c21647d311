"""What a config runs: its run name, models, datasets, editors and each model's layers."""

from __future__ import annotations

import re
from pathlib import Path

from goldenlayers.editing import check_hparams_for_model
from goldenlayers.config import run_subset
from goldenlayers.io import read_yaml


def replace_merged_sections(config: dict, configfiles: list[str], sections=("models", "datasets")) -> dict:
    """Snakemake merges a --configfile into config/config.yaml key by key, so the default model and dataset would
    join every study given on the command line (config/paper.yaml). Models and datasets are lists of what to run,
    not settings to override: a command-line config file that names them replaces them (later files win); its other
    keys still override the defaults one by one. Changes `config` in place and returns it."""
    for path in configfiles:
        given = read_yaml(path) or {}
        for section in sections:
            if section in given:
                config[section] = given[section]
    return config


def run_name(config: dict, configfiles: list[str], default_config: str = "config/config.yaml") -> str:
    """The config's run_name; else the name of the last --configfile (config/heldout.yaml -> heldout); else
    "default". Each run's tables and figures go to their own folder, so a second config never overwrites them."""
    if config.get("run_name"):
        return config["run_name"]
    default = Path(default_config).resolve()
    given = [Path(p) for p in configfiles if Path(p).resolve() != default]
    return re.sub(r"[^A-Za-z0-9_-]", "-", given[-1].stem) if given else "default"


def report_dir(run: str) -> str:
    """Every table and figure of a run goes here (results/report/default/ for the default config)."""
    return f"results/report/{run}"


def models(config: dict) -> list[str]:
    """The models this run plans: `models`, or the subset `only_models` names."""
    return run_subset(config, "models")


def datasets(config: dict) -> list[str]:
    """The datasets this run plans: `datasets`, or the subset `only_datasets` names."""
    return run_subset(config, "datasets")


def main_datasets(config: dict) -> list[str]:
    """Datasets of the main study: those of an appendix setting (composite, unstructured) feed Tables 12-13 only."""
    return [d for d in datasets(config) if not config["datasets"][d].get("setting")]


def editors(config: dict) -> list[str]:
    return list(config["editors"])


def first_editor(config: dict) -> str:
    """The editor whose sweep BF reads (the others report their own proxy golden layer as BF)."""
    return editors(config)[0]


def appendix_editor(config: dict) -> str:
    """The editor of the appendix settings (Tables 12-13): R-ROME when configured."""
    return "r-rome" if "r-rome" in config["editors"] else first_editor(config)


def model_layers(config: dict, model: str) -> list[int]:
    """Layers to sweep for a model (the grid): config `layers` ("all" or a list), checked against num_layers."""
    n = config["models"][model]["num_layers"]
    layers = config["models"][model].get("layers", config["layers"])
    if layers == "all":
        return list(range(n))
    bad = [layer for layer in layers if not 0 <= layer < n]
    if bad:
        raise ValueError(f"config: layers {bad} out of range for {model}, which has layers 0..{n - 1}")
    return sorted(layers)


def hparams_path(config: dict, model: str, editor: str) -> str:
    return f"{config['hparams_dir']}/{editor}/{model}.yaml"


def check_hparams_files(config: dict) -> None:
    """Each model's hparams files against its size (v_loss_layer), before planning: a file written for another
    model would otherwise fail only at the sweep, after gradients and selection ran. A missing file is left to
    the jobs that read it, which name it."""
    for model in models(config):
        for editor in editors(config):
            path = Path(hparams_path(config, model, editor))
            if path.exists():
                check_hparams_for_model(editor, path, config["models"][model]["num_layers"], model)


def dataset_setting(config: dict, dataset: str) -> str:
    """The appendix setting (composite or unstructured) of a dataset that has one."""
    setting = config["datasets"][dataset].get("setting")
    if not setting:
        raise ValueError(f"config: dataset {dataset!r} has no `setting:` (composite or unstructured)")
    return setting
