"""Checks of a pipeline config beyond what JSON Schema says clearly: unknown keys (with the nearest valid one),
result-path names, and settings that contradict each other. Run by the workflow before schema validation
(workflow/rules/common.smk) and by `goldenlayers check-config`; each problem is one line naming the key.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any

from goldenlayers.io import read_yaml

# Model and dataset names become path parts and Snakemake wildcard values (joined into a regex alternation), so
# only characters that mean nothing in a regex or a path are allowed.
NAME_PATTERN = r"^[A-Za-z0-9_-]+$"
# The schema in a source checkout; the workflow passes its own path.
SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
# Keys an older config may still use (full dotted path -> the new name): named as renamed, not as unknown.
RENAMED_KEYS = {"layer_stats": "key_covariance"}


def unknown_keys(config: Any, schema: dict, where: str = "") -> list[str]:
    """One message per key the schema does not know, anywhere in `config`, with the nearest valid key."""
    problems = []
    if not isinstance(config, dict) or not isinstance(schema, dict):
        return problems
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, value in config.items():
        path = f"{where}.{key}" if where else str(key)
        if key in properties:
            problems += unknown_keys(value, properties[key], path)
        elif isinstance(extra, dict):  # a map of names (models, datasets): each value follows one schema
            problems += unknown_keys(value, extra, path)
        elif path in RENAMED_KEYS:
            problems.append(f"key {path!r} was renamed to {RENAMED_KEYS[path]!r}; rename it in your config")
        elif extra is False:
            near = difflib.get_close_matches(str(key), list(properties), n=1, cutoff=0.5)
            hint = f"did you mean {near[0]!r}?" if near else f"valid keys: {', '.join(properties)}"
            problems.append(f"unknown key {path!r} ({hint})")
    return problems


def config_problems(config: dict, schema: dict, editors=None) -> list[str]:
    """Every problem of a (possibly partial) config that the schema alone would miss or word badly. `editors`: the
    names of the editors registry (`goldenlayers.editing.EDITORS`, passed in: config sits below the stages) that
    the config's `editors` must come from; None checks nothing."""
    problems = unknown_keys(config, schema)
    for section in ("models", "datasets"):
        for name in (config.get(section) or {}) if isinstance(config.get(section), dict) else {}:
            if not re.match(NAME_PATTERN, str(name)):
                problems.append(f"{section} name {name!r} may only contain letters, digits, '_' and '-' (it becomes "
                                "a path part and a Snakemake wildcard)")
    chosen = config.get("editors")
    if isinstance(chosen, list) and editors is not None:
        unknown = [e for e in chosen if e not in editors]
        if unknown:
            problems.append(f"editors: unknown editor(s) {', '.join(map(repr, unknown))}; known editors: "
                            f"{', '.join(editors)}")
    problems += layer_problems(config)
    if config.get("metric") == "fluency" and not config.get("fluency", False):
        problems.append("metric: fluency needs fluency: true (fluency is only measured when it is switched on); "
                        "set fluency: true or choose another metric")
    return problems


def layer_problems(config: dict) -> list[str]:
    """Layers (a model's own `layers`, else the top-level list) outside 0..num_layers-1 of a model whose layer count
    the config gives: the workflow's planning refuses them, so check-config does too."""
    models = config.get("models")
    problems = []
    for name, entry in (models.items() if isinstance(models, dict) else []):
        if not isinstance(entry, dict) or not isinstance(entry.get("num_layers"), int):
            continue
        n, layers = entry["num_layers"], entry.get("layers", config.get("layers"))
        if isinstance(layers, list):
            bad = [layer for layer in layers if isinstance(layer, int) and not 0 <= layer < n]
            if bad:
                problems.append(f"layers {bad} out of range for model {name!r}, which has layers 0..{n - 1}")
    return problems


def _meant_alternative(error):
    """Of a oneOf/anyOf error, the error of the alternative the value was meant for: one whose type the value has
    (`layers: []` is a list too short, not a string that is not 'all'), the deepest into the value."""
    depth = len(error.absolute_path)
    wrong_type = {e.relative_schema_path[0] for e in error.context
                  if e.validator == "type" and len(e.absolute_path) == depth}
    meant = [e for e in error.context if e.relative_schema_path[0] not in wrong_type] or list(error.context)
    return max(meant, key=lambda e: len(e.absolute_path))


def schema_problems(config: dict, schema: dict) -> list[str]:
    """What the workflow's JSON Schema validation (snakemake.utils.validate, same schema) refuses, one message per
    value naming its key, the value and the rule. A config file may set only some keys (Snakemake merges it over
    config/config.yaml key by key), so a missing required key counts only inside a model or dataset entry, which
    a given file replaces whole (goldenlayers.plan.study.replace_merged_sections)."""
    import jsonschema

    validator = jsonschema.validators.validator_for(schema)(schema)
    problems = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        if error.context:  # oneOf/anyOf: the alternative the value was meant for says what is wrong
            error = _meant_alternative(error)
        path = [str(p) for p in error.absolute_path]
        if error.validator == "required" and (len(path) < 2 or path[0] not in ("models", "datasets")):
            continue
        key = ".".join(path) or "(top level)"
        if error.validator == "required":
            problems.append(f"{key}: {error.message}")
        else:
            problems.append(f"{key}: value {error.instance!r} breaks the schema's rule {error.validator}: "
                            f"{error.validator_value!r} ({error.message})")
    return problems


def check_config(config: dict, schema: dict | str | os.PathLike = SCHEMA, source: str = "config",
                 editors=None, full: bool = False) -> None:
    """Raise one ValueError listing every problem (`config_problems`), or return. `full`: the JSON Schema's rules
    too (`schema_problems`; the workflow validates those itself, after these checks)."""
    if not isinstance(schema, dict):
        schema = read_yaml(schema)
    problems = config_problems(config, schema, editors)
    if full and not problems:  # unknown keys first: the schema's message for them is the unclear one
        problems = schema_problems(config, schema)
    if problems:
        raise ValueError(f"{source}: " + "; ".join(problems))


def load_config(path: str | os.PathLike, schema: dict | str | os.PathLike = SCHEMA, editors=None) -> dict:
    """Read and check a config file against everything the workflow checks (a syntax error names the file and
    line)."""
    config = read_yaml(path) or {}
    if not isinstance(config, dict):
        raise ValueError(f"{path}: expected a mapping of config keys")
    check_config(config, schema, source=str(path), editors=editors, full=True)
    return config


def run_subset(config: dict, section: str) -> list[str]:
    """The names of `models` or `datasets` this run plans: all of the section, or the subset its `only_<section>`
    names, in the section's order (a study too big for one sitting runs a model, or a (model, dataset) cell, at a
    time, each under its own run_name; config/study-cpu.yaml shows how)."""
    defined = list(config[section])
    only = config.get(f"only_{section}") or defined
    unknown = sorted(set(only) - set(defined))
    if unknown:
        raise ValueError(f"only_{section} names {unknown}, which {section} does not define (it defines {defined})")
    return [name for name in defined if name in only]


def main_cells(config: dict) -> list[tuple[str, str]]:
    """The (model, dataset) cells of a run: each planned model with each planned dataset that has no appendix
    setting (those feed Tables 12-13 only)."""
    return [(m, d) for m in run_subset(config, "models") for d in run_subset(config, "datasets")
            if not config["datasets"][d].get("setting")]
