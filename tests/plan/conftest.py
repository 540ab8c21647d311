"""Configs as the workflow sees them: config/config.yaml, then each --configfile merged key by key (as Snakemake
does), then the model and dataset lists replaced (goldenlayers.plan.study.replace_merged_sections)."""

from __future__ import annotations

import copy

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


def load_config(*names: str, **overrides) -> dict:
    """The config of `snakemake --configfile config/<name>.yaml ...` (none: the default config)."""
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    files = [str(REPO / f"config/{name}.yaml") for name in names]
    for path in files:
        config = merged(config, yaml.safe_load(open(path).read()))
    study.replace_merged_sections(config, files)
    config = merged(config, overrides)
    # the schema's defaults filled in, as the workflow's validation does (sweep_chunks, ...)
    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"))
    return config


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in an empty directory (no results/ of a real run nearby)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
