"""Editors: a dispatch table from name to (hparams class, compute function).

Every compute function has the signature (model, tok, request, hparams, layer, templates) -> RankOneEdit; the edit
is applied with `apply_edit` and undone exactly with `restore_weight`.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path

import yaml

from goldenlayers.editing.rome import RankOneEdit, RomeHparams, apply_edit, compute_rome_edit, restore_weight


def _compute_original_rome(model, tok, request, hparams, layer, templates) -> RankOneEdit:
    return compute_rome_edit(model, tok, request, replace(hparams, averaged_keys_in_update=False), layer, templates)


EDITORS = {
    "r-rome": (RomeHparams, compute_rome_edit),
    "rome": (RomeHparams, _compute_original_rome),
}


def get_editor(name: str):
    if name not in EDITORS:
        raise ValueError(f"unknown editor {name!r}; known editors: {', '.join(sorted(EDITORS))}")
    return EDITORS[name]


@functools.cache
def _read_yaml(path: str) -> dict:
    return yaml.safe_load(Path(path).read_text()) or {}


def load_hparams(editor: str, path: str | Path):
    """Read an EasyEdit-style hparams YAML for `editor` (its `layers` entry is ignored: the pipeline picks layers)."""
    if not Path(path).exists():
        raise FileNotFoundError(f"hparams file not found: {path}")
    hparams_cls, _ = get_editor(editor)
    return hparams_cls.from_dict(_read_yaml(str(path)))


__all__ = ["EDITORS", "get_editor", "load_hparams", "apply_edit", "restore_weight", "RankOneEdit"]
