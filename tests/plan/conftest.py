"""Configs as the workflow sees them: config/config.yaml, then each --configfile merged key by key (as Snakemake
does), then the model and dataset lists replaced (goldenlayers.plan.study.replace_merged_sections)."""

from __future__ import annotations

import copy
import functools

import pytest
import yaml
from snakemake.utils import validate

from goldenlayers.plan import study
from helpers import REPO


def merged(base: dict, over: dict) -> dict:
    """Snakemake's merge of a config file into the config: nested dicts key by key, anything else replaced."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@functools.lru_cache(maxsize=None)
def _merged_files(names: tuple[str, ...]) -> dict:
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    files = [str(REPO / f"config/{name}.yaml") for name in names]
    for path in files:
        config = merged(config, yaml.safe_load(open(path).read()))
    study.replace_merged_sections(config, files)
    # the schema's defaults filled in, as the workflow's validation does (sweep_chunks, ...)
    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"))
    return config


def load_config(*names: str, **overrides) -> dict:
    """The config of `snakemake --configfile config/<name>.yaml ... --config key=value ...` (no name: the default
    config). A fresh copy each call: tests change it."""
    config = merged(_merged_files(names), overrides)
    if overrides:  # a section an override adds gets its defaults too
        validate(config, str(REPO / "workflow/schemas/config.schema.yaml"))
    return config


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in an empty directory (no results/ of a real run nearby)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
