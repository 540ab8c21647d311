"""ROME and R-ROME: a rank-one update of one MLP output projection.

The math, for the edited weight W ([d_out, d_in], input = key k, output = value v):
  1. keys k_j and values v_j of the subject's last token under each context template j (template "{}" is the
     bare prompt); k̄, v̄ their means;
  2. v* = v_bare + δ, δ optimised so the model predicts the new target from every templated prompt
     (editing/vstar.py: NLL + KL on "{subject} is a" + weight decay, norm clamp);
  3. u = k̄ / ‖k̄‖, or C⁻¹k̄ normalised with `mom2_adjustment` (C = E[kkᵀ], editing/covariance.py); ΔW = r uᵀ with
       ROME:   r = (v* − v_bare) / (k_bare · u)   (mixes the bare key with the averaged u)
       R-ROME: r = (v* − v̄) / (k̄ · u)           (so the averaged key maps exactly to v*: W' k̄ = v*)
All of step 3 runs in float64 whatever the model's dtype. EasyEdit names and defaults are kept for the
hyperparameters so its YAML files load as they are.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from goldenlayers.editing.covariance import KeyCovariance
from goldenlayers.editing.edits import RankOneEdit, apply_edit, as_requests, restore_weight, single_request
from goldenlayers.editing.hparams import VStarHparams
from goldenlayers.editing.long_targets import capped_requests
from goldenlayers.editing.vstar import EARLY_STOP_LOSS, optimise_vstar, replay_prefix

__all__ = ["RomeHparams", "RankOneEdit", "compute_rome_edit", "edit_rome", "edit_r_rome", "apply_edit", "restore_weight", "replay_prefix",
           "EARLY_STOP_LOSS"]


@dataclass
class RomeHparams(VStarHparams):
    # R-ROME's fix: use the averaged key/value in the update (False reproduces original ROME).
    # EasyEdit's R-ROME calls this `enable_random_prefix_keys`.
    averaged_keys_in_update: bool = True
    # u from the template-averaged key (ROME, R-ROME) or from the bare prompt's key only (EasyEdit's R-ROME with
    # enable_random_prefix_keys and original_implementation both false)
    averaged_key_direction: bool = True

    @classmethod
    def from_dict(cls, values: dict, source: str = "hparams") -> "RomeHparams":
        values = dict(values or {})
        # EasyEdit's R-ROME switches (r_rome_hparams.py, compute_u/compute_v): the averaged key and value enter
        # the update with enable_random_prefix_keys; u comes from the averaged key if either switch is on.
        if "enable_random_prefix_keys" in values or "original_implementation" in values:
            prefix_keys = bool(values.pop("enable_random_prefix_keys", True))
            original = bool(values.pop("original_implementation", False))
            values["averaged_keys_in_update"] = prefix_keys
            values["averaged_key_direction"] = prefix_keys or original
        return super().from_dict(values, source)


def compute_rome_edit(model, tok, request: dict, hparams: RomeHparams, layer: int, templates: list[str],
                      covariance: KeyCovariance | None = None, *, site: str) -> RankOneEdit:
    """Compute (not apply) the ROME/R-ROME update for one request {prompt, subject, target_new}; v* is optimised
    at `site` (the editor's entry in editing.EDITORS)."""
    if hparams.mom2_adjustment and covariance is None:
        raise ValueError(
            "mom2_adjustment is true, so this edit needs the layer's key covariance: compute it with "
            "`goldenlayers key-covariance` (the key_covariance rule) and pass it (--key-covariance)"
        )
    started = time.perf_counter()
    vstar = optimise_vstar(model, tok, request, hparams, layer, templates, site=site)
    keys, values, v_star = vstar.keys, vstar.values, vstar.v_star
    k_mean, v_mean = keys.mean(0), values.mean(0)
    direction = k_mean if hparams.averaged_key_direction else keys[0]
    if hparams.mom2_adjustment:
        direction = covariance.solve(direction)
    left = direction / direction.norm()
    if hparams.averaged_keys_in_update:
        right = (v_star - v_mean) / (k_mean @ left)
    else:
        right = (v_star - values[0]) / (keys[0] @ left)
    info = {
        "steps": vstar.steps,
        "final_loss": vstar.final_loss,
        "delta_norm": float(vstar.delta.norm()),
        "v_init_norm": float(vstar.v_init.norm()),
        "mom2_adjustment": hparams.mom2_adjustment,
        "compute_seconds": time.perf_counter() - started,
    }
    return RankOneEdit(layer=layer, left=left.float(), right=right.float(), info=info)


def edit_r_rome(model, tok, requests, hparams: RomeHparams, layer: int, templates: list[str],
                covariance: KeyCovariance | None = None, *, site: str) -> RankOneEdit:
    request = single_request(capped_requests(tok, as_requests(requests), hparams), "r-rome")
    return compute_rome_edit(model, tok, request, hparams, layer, templates, covariance, site=site)


def edit_rome(model, tok, requests, hparams: RomeHparams, layer: int, templates: list[str],
              covariance: KeyCovariance | None = None, *, site: str) -> RankOneEdit:
    # original ROME: the bare prompt's key and value in the update, the averaged key only in u
    hparams = replace(hparams, averaged_keys_in_update=False, averaged_key_direction=True)
    request = single_request(capped_requests(tok, as_requests(requests), hparams), "rome")
    return compute_rome_edit(model, tok, request, hparams, layer, templates, covariance, site=site)
