"""Editors: a dispatch table from name to (hparams class, compute function).

Every compute function has the signature

    compute(model, tok, requests, hparams, layer, templates, covariance=None) -> LowRankEdit

`requests` is a list of request dicts {prompt, subject, target_new} (a single dict is taken as a list of one);
ROME and R-ROME write one request per edit, EMMET any number. `covariance` is the layer's KeyCovariance, needed
by EMMET always and by ROME/R-ROME when `mom2_adjustment` is true (`needs_covariance`). Computing an edit leaves
the model unchanged; `apply_edit` adds it and `restore_weight` undoes it bit-exactly (or use `edit_applied`).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from goldenlayers.editing.covariance import KeyCovariance
from goldenlayers.editing.edits import (
    EditError,
    LowRankEdit,
    RankOneEdit,
    apply_edit,
    edit_applied,
    edit_failure,
    restore_weight,
)
from goldenlayers.editing.emmet import EmmetHparams, compute_emmet_edit
from goldenlayers.editing.hparams import HparamsError
from goldenlayers.editing.long_targets import capped_requests
from goldenlayers.editing.rome import RomeHparams, compute_rome_edit
from goldenlayers.io import read_yaml


def _as_requests(requests) -> list[dict]:
    return [requests] if isinstance(requests, dict) else list(requests)


def _one_request(requests, editor: str, tok, hparams) -> dict:
    requests = capped_requests(tok, _as_requests(requests), hparams)
    if len(requests) != 1:
        raise ValueError(f"{editor} writes one request per edit, got {len(requests)}; "
                         "use emmet for batches, or sequential editing")
    return requests[0]


def edit_r_rome(model, tok, requests, hparams: RomeHparams, layer: int, templates: list[str],
                covariance: KeyCovariance | None = None) -> RankOneEdit:
    request = _one_request(requests, "r-rome", tok, hparams)
    return compute_rome_edit(model, tok, request, hparams, layer, templates, covariance)


def edit_rome(model, tok, requests, hparams: RomeHparams, layer: int, templates: list[str],
              covariance: KeyCovariance | None = None) -> RankOneEdit:
    # original ROME: the bare prompt's key and value in the update, the averaged key only in u
    hparams = replace(hparams, averaged_keys_in_update=False, averaged_key_direction=True)
    request = _one_request(requests, "rome", tok, hparams)
    return compute_rome_edit(model, tok, request, hparams, layer, templates, covariance)


def edit_emmet(model, tok, requests, hparams: EmmetHparams, layer: int, templates: list[str],
               covariance: KeyCovariance | None = None) -> LowRankEdit:
    requests = capped_requests(tok, _as_requests(requests), hparams)
    return compute_emmet_edit(model, tok, requests, hparams, layer, templates, covariance)


EDITORS = {
    "r-rome": (RomeHparams, edit_r_rome),
    "rome": (RomeHparams, edit_rome),
    "emmet": (EmmetHparams, edit_emmet),
}
# EasyEdit's alg_name for each editor; a hparams file naming another algorithm is refused
ALG_NAMES = {"r-rome": "R-ROME", "rome": "ROME", "emmet": "EMMET"}


def get_editor(name: str):
    if name not in EDITORS:
        raise ValueError(f"unknown editor {name!r}; known editors: {', '.join(sorted(EDITORS))}")
    return EDITORS[name]


def try_edit(model, tok, record: dict, editor: str, hparams, layer: int, templates: list[str], covariance=None):
    """One sample's edit, checked: (edit, None) when it may be applied, else (edit or None, why not).

    Not applied here; the sweep and the appendix evaluation apply it, evaluate and restore (a failed edit is a
    recorded row, not an exception: EditError, a non-finite update or one over the hparams' norm bound)."""
    _, compute = get_editor(editor)
    try:
        edit = compute(model, tok, [record], hparams, layer, templates, covariance=covariance)
    except EditError as err:
        return None, str(err)
    return edit, edit_failure(model, edit, getattr(hparams, "max_update_norm_ratio", None))


def needs_covariance(editor: str, hparams) -> bool:
    return editor == "emmet" or bool(getattr(hparams, "mom2_adjustment", False))


def _read_yaml(path: str) -> dict:
    values = read_yaml(path) or {}
    if not isinstance(values, dict):
        raise HparamsError(f"{path}: expected a mapping of hyperparameters")
    return values


def _alg_key(name) -> str:
    return re.sub(r"[^A-Z0-9]", "", str(name).upper())


def load_hparams(editor: str, path: str | Path):
    """Read an EasyEdit-style hparams YAML for `editor` (its `layers` entry is ignored: the pipeline picks layers)."""
    hparams_cls, _ = get_editor(editor)
    if not Path(path).exists():
        raise FileNotFoundError(f"hparams file not found: {path}")
    values = dict(_read_yaml(str(path)))
    alg_name = values.get("alg_name")
    if alg_name is not None and _alg_key(alg_name) != _alg_key(ALG_NAMES[editor]):
        raise HparamsError(f"{path}: alg_name {alg_name!r} is not {ALG_NAMES[editor]} (editor {editor!r})")
    return hparams_cls.from_dict(values, source=str(path))


__all__ = [
    "EDITORS", "ALG_NAMES", "get_editor", "needs_covariance", "load_hparams", "apply_edit", "restore_weight",
    "edit_applied", "edit_failure", "try_edit", "EditError", "HparamsError", "KeyCovariance", "LowRankEdit", "RankOneEdit",
]
