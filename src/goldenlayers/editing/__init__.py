"""Editors, as data: one `EditorSpec` per entry of `EDITORS`.

What an editor needs is read from its entry by the sweep drivers (`goldenlayers.sweep.single`, `goldenlayers.sweep.sequential`),
`goldenlayers edit` (apply_edits.py), the CLI and the workflow (common.smk); nothing else lists editor names or
tests for one by name. Adding an editor is one module (its hparams class and compute function) plus one entry.

Every compute function has the signature

    compute(model, tok, requests, hparams, layer, templates, covariance=None, *, site) -> LowRankEdit

`requests` is a list of request dicts {prompt, subject, target_new} (a single dict is taken as a list of one);
ROME and R-ROME write one request per update, EMMET any number (`batches`). `covariance` is the layer's
KeyCovariance (`needs_covariance`). `site` is where v* is optimised (the entry's `site`); call `spec.edit(...)`,
which passes it. Computing an edit leaves the model unchanged; `apply_edit` adds it and `restore_weight` undoes it
bit-exactly.

This module imports no torch (the CLI's `--help` and the workflow read the registry): the editor modules, and the
torch-side names re-exported here (`apply_edit`, `KeyCovariance`, ...), are imported on first use.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from goldenlayers.editing.hparams import HparamsError
from goldenlayers.io import read_yaml

# when an editor uses the layer's key covariance: always, or when its hparams set mom2_adjustment
COVARIANCE_ALWAYS = "always"
COVARIANCE_IF_MOM2_ADJUSTMENT = "mom2_adjustment"


@dataclass(frozen=True)
class EditorSpec:
    name: str
    # EasyEdit's alg_name; a hparams file naming another algorithm is refused
    alg_name: str
    # the module holding the hparams class and the compute function (imported on first use)
    module: str
    hparams_name: str
    compute_name: str
    # COVARIANCE_ALWAYS or COVARIANCE_IF_MOM2_ADJUSTMENT
    covariance: str
    # writes several requests in one update (its hparams' batch_size when editing sequentially); else one
    batches: bool
    # where v* is optimised: "mlp_output" (the edited projection's output) or "block_output" (the residual stream)
    site: str
    # the keys EasyEdit's hparams dataclass for this editor accepts (its loaders call cls(**yaml), so any other key
    # breaks them): what `suggest` writes for the chosen layer
    easyedit_keys: tuple[str, ...] = ()
    # EasyEdit switches computed from our hparams (R-ROME's two flags), added to those keys
    easyedit_switches: Callable | None = None

    @property
    def hparams_class(self):
        return getattr(importlib.import_module(self.module), self.hparams_name)

    @property
    def compute(self):
        return getattr(importlib.import_module(self.module), self.compute_name)

    def edit(self, model, tok, requests, hparams, layer: int, templates: list[str], covariance=None):
        """Compute (not apply) this editor's update of `layer` for `requests`."""
        return self.compute(model, tok, requests, hparams, layer, templates, covariance=covariance, site=self.site)

    def needs_covariance(self, hparams) -> bool:
        """Whether edits with these hparams (an hparams object, or the mapping of a hparams YAML) use the key
        covariance."""
        if self.covariance == COVARIANCE_ALWAYS:
            return True
        values = hparams if isinstance(hparams, dict) else vars(hparams) if hparams is not None else {}
        return bool(values.get("mom2_adjustment", False))

    def batch_size(self, hparams) -> int:
        """Requests written per update when editing sequentially."""
        return int(getattr(hparams, "batch_size", 1)) if self.batches else 1


ROME_EASYEDIT_KEYS = ("fact_token", "v_num_grad_steps", "v_lr", "v_loss_layer", "v_weight_decay", "clamp_norm_factor",
                      "kl_factor", "mom2_adjustment", "context_template_length_params", "mom2_dataset",
                      "mom2_n_samples", "mom2_dtype")


def r_rome_switches(hp) -> dict:
    """EasyEdit's R-ROME switches for our two flags (see editing/rome.py)."""
    return {"enable_random_prefix_keys": bool(hp.averaged_keys_in_update),
            "original_implementation": bool(hp.averaged_key_direction and not hp.averaged_keys_in_update)}


EDITORS: dict[str, EditorSpec] = {
    s.name: s
    for s in (
        EditorSpec("r-rome", "R-ROME", "goldenlayers.editing.rome", "RomeHparams", "edit_r_rome",
                   covariance=COVARIANCE_IF_MOM2_ADJUSTMENT, batches=False, site="mlp_output",
                   easyedit_keys=ROME_EASYEDIT_KEYS, easyedit_switches=r_rome_switches),
        EditorSpec("rome", "ROME", "goldenlayers.editing.rome", "RomeHparams", "edit_rome",
                   covariance=COVARIANCE_IF_MOM2_ADJUSTMENT, batches=False, site="mlp_output",
                   easyedit_keys=ROME_EASYEDIT_KEYS),
        # EasyEdit's EMMET uses the covariance whatever its mom2_adjustment flag says; so do we
        EditorSpec("emmet", "EMMET", "goldenlayers.editing.emmet", "EmmetHparams", "edit_emmet",
                   covariance=COVARIANCE_ALWAYS, batches=True, site="block_output",
                   easyedit_keys=(*ROME_EASYEDIT_KEYS, "mom2_update_weight", "emmet_lambda", "update_norm_lambda",
                                  "batch_size")),
    )
}


def get_editor(name: str) -> EditorSpec:
    if name not in EDITORS:
        raise ValueError(f"unknown editor {name!r}; known editors: {', '.join(sorted(EDITORS))}")
    return EDITORS[name]


def needs_covariance(editor: str, hparams) -> bool:
    """Whether `editor` with `hparams` (an hparams object or a hparams YAML's mapping) uses the key covariance."""
    return get_editor(editor).needs_covariance(hparams)


def try_edit(model, tok, requests, editor: str, hparams, layer: int, templates: list[str], covariance=None):
    """One checked update for `requests` (a record, or a list of them for an editor that batches): (edit, None)
    when it may be applied, else (edit or None, why not).

    Not applied here; the sweep drivers and the appendix evaluation apply it, evaluate and restore (a failed edit
    is a recorded row, not an exception: EditError, a non-finite update or one over the hparams' norm bound)."""
    from goldenlayers.editing.edits import EditError, edit_failure

    try:
        edit = get_editor(editor).edit(model, tok, requests, hparams, layer, templates, covariance=covariance)
    except EditError as err:
        return None, str(err)
    return edit, edit_failure(model, edit, getattr(hparams, "max_update_norm_ratio", None))


def _read_yaml(path: str) -> dict:
    values = read_yaml(path) or {}
    if not isinstance(values, dict):
        raise HparamsError(f"{path}: expected a mapping of hyperparameters")
    return values


def _alg_key(name) -> str:
    return re.sub(r"[^A-Z0-9]", "", str(name).upper())


def load_hparams(editor: str, path: str | Path):
    """Read an EasyEdit-style hparams YAML for `editor` (its `layers` entry is ignored: the pipeline picks layers)."""
    spec = get_editor(editor)
    if not Path(path).exists():
        raise FileNotFoundError(f"hparams file not found: {path}")
    values = dict(_read_yaml(str(path)))
    alg_name = values.get("alg_name")
    if alg_name is not None and _alg_key(alg_name) != _alg_key(spec.alg_name):
        raise HparamsError(f"{path}: alg_name {alg_name!r} is not {spec.alg_name} (editor {editor!r})")
    return spec.hparams_class.from_dict(values, source=str(path))


def check_hparams_for_model(editor: str, path: str | Path, n_layers: int, model: str = "the model"):
    """`load_hparams`, plus what depends on the model's size (v_loss_layer must be its last layer). Run when the
    pipeline starts (workflow/rules/common.smk) and by `edit` before any work, so a file written for another model
    size fails there, not at the sweep after gradients and selection ran."""
    hparams = load_hparams(editor, path)
    try:
        hparams.check_loss_layer(n_layers)
    except HparamsError as err:
        raise HparamsError(f"{path}: {err}; {model} has {n_layers} layers (a file written for another model "
                           "size?)") from None
    return hparams


# torch-side names, imported from their modules on first use (so importing this package stays torch-free)
_LAZY = {
    "apply_edit": "goldenlayers.editing.edits",
    "restore_weight": "goldenlayers.editing.edits",
    "edit_failure": "goldenlayers.editing.edits",
    "EditError": "goldenlayers.editing.edits",
    "LowRankEdit": "goldenlayers.editing.edits",
    "RankOneEdit": "goldenlayers.editing.edits",
    "KeyCovariance": "goldenlayers.editing.covariance",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "EditorSpec", "EDITORS", "get_editor", "needs_covariance", "load_hparams", "try_edit", "HparamsError", *_LAZY,
]
