"""EMMET: a batch of n edits written into one MLP output projection under equality constraints.

For requests i = 1..n (Gupta et al., "A Unified Framework for Model Editing"; EasyEdit's emmet_main.py):
  - key k_i: the edited module's input at the subject's last token, ½ from the bare prompt + ½ the mean over the
    prefixed context templates (EasyEdit averages within each template group, then over the groups "{}" and the
    generated prefixes);
  - target: z_i* = z_i + δ_i on the block output (residual stream) of the edit layer, δ_i optimised as in
    EasyEdit's MEMIT-style compute_z (editing/vstar.py, site "block_output"); residual r_i = z_i* − z_i;
  - with K = [k_1..k_n], R = [r_1..r_n], C = w·C₀ + μ·I (C₀ = E[kkᵀ], w = mom2_update_weight,
    μ = update_norm_lambda):
        ΔW = R (Kᵀ C⁻¹ K + λ I)⁻¹ Kᵀ C⁻¹          (λ = emmet_lambda)
    which is the least-change update (in the C metric) with ΔW K = R exactly when λ = 0. With μ = 0 this equals
    R (Kᵀ C₀⁻¹ K + λ·w·I)⁻¹ Kᵀ C₀⁻¹, the form EasyEdit's emmet_main.py computes (docs/methods.md, EMMET). For n = 1 it is rank one along C⁻¹k, ROME's direction.
All of it runs in float64. C is factorised once per layer (KeyCovariance) and reused by every edit.
Unlike EasyEdit's EMMET, the weights are never left modified by computing an edit: the caller applies the
returned edit and restores it exactly (non-sequential edits do not accumulate).

The update reaches the residual stream unchanged in GPT-2 and LLaMA; Gemma3 normalises the MLP output
(post-feedforward norm) before adding it, so there the residual target is met only approximately, as in EasyEdit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from goldenlayers.editing.covariance import KeyCovariance
from goldenlayers.editing.edits import EditError, LowRankEdit, as_requests
from goldenlayers.editing.hparams import HparamsError, VStarHparams
from goldenlayers.editing.long_targets import capped_requests
from goldenlayers.editing.vstar import optimise_vstar


@dataclass
class EmmetHparams(VStarHparams):
    v_num_grad_steps: int = 20
    v_lr: float = 0.5
    v_weight_decay: float = 0.5
    clamp_norm_factor: float = 0.75
    kl_factor: float = 0.0625
    # EasyEdit's EMMET files say true and its code uses the covariance whatever the flag says; so do we
    mom2_adjustment: bool = True
    mom2_update_weight: float = 1.0
    emmet_lambda: float = 0.1
    update_norm_lambda: float = 0.0
    # requests written by one EMMET update when editing sequentially (EasyEdit's batch_size)
    batch_size: int = 1
    # EasyEdit's EMMET hard-codes "{}" + 5 generated prefixes of 10 tokens
    context_template_length_params: list = field(default_factory=lambda: [[10, 5]])

    def validate(self, source: str = "hparams") -> None:
        super().validate(source)
        if self.mom2_update_weight <= 0:
            raise HparamsError(f"{source}: mom2_update_weight must be positive")
        if self.emmet_lambda < 0 or self.update_norm_lambda < 0:
            raise HparamsError(f"{source}: emmet_lambda and update_norm_lambda must be non-negative")
        if self.batch_size < 1:
            raise HparamsError(f"{source}: batch_size must be at least 1")


def emmet_key(keys: torch.Tensor) -> torch.Tensor:
    """½ the bare-prompt key + ½ the mean of the prefixed templates' keys (row 0 is the bare prompt)."""
    if len(keys) == 1:
        return keys[0]
    return 0.5 * keys[0] + 0.5 * keys[1:].mean(0)


def emmet_update(keys: torch.Tensor, residuals: torch.Tensor, covariance: KeyCovariance,
                 mom2_update_weight: float, emmet_lambda: float,
                 update_norm_lambda: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """ΔW = right @ left for keys K [d_in, n] and residuals R [d_out, n]; returns (right, left), float64."""
    keys, residuals = keys.double(), residuals.double()
    w = mom2_update_weight
    # (w·C₀ + μ·I)⁻¹ K = (C₀ + (μ/w)·I)⁻¹ K / w, so one factorisation of C₀ (+ ridge) serves every edit
    c_inv_k = covariance.solve(keys, ridge=update_norm_lambda / w) / w
    gram = keys.T @ c_inv_k
    gram = gram + emmet_lambda * torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
    solution, info = torch.linalg.solve_ex(gram, c_inv_k.T)
    if int(info) != 0:  # singular Kᵀ C⁻¹ K (e.g. λ = 0 and two identical keys): least squares, as EasyEdit's pinv
        solution = torch.linalg.pinv(gram) @ c_inv_k.T
    if not torch.isfinite(solution).all():
        raise EditError("EMMET system has no finite solution (ill-conditioned covariance or keys)")
    return residuals, solution


def compute_emmet_edit(model, tok, requests: list[dict], hparams: EmmetHparams, layer: int, templates: list[str],
                       covariance: KeyCovariance | None = None, *, site: str) -> LowRankEdit:
    """Compute (not apply) one EMMET update writing every request of `requests` into `layer`; each v* is optimised
    at `site` (the editor's entry in editing.EDITORS)."""
    if covariance is None:
        raise ValueError(
            "EMMET needs the layer's key covariance: compute it with `goldenlayers key-covariance` "
            "(the key_covariance rule) and pass it (--key-covariance)"
        )
    started = time.perf_counter()
    # every v* is optimised on the same (unedited-by-this-batch) weights, as EasyEdit does
    results = [optimise_vstar(model, tok, request, hparams, layer, templates, site=site)
               for request in requests]
    keys = torch.stack([emmet_key(r.keys) for r in results], 1)
    residuals = torch.stack([r.v_star - r.v_init for r in results], 1)
    right, left = emmet_update(keys, residuals, covariance, hparams.mom2_update_weight, hparams.emmet_lambda,
                               hparams.update_norm_lambda)
    info = {
        "steps": max(r.steps for r in results),
        "final_loss": max(r.final_loss for r in results),
        "delta_norm": max(float(r.delta.norm()) for r in results),
        "v_init_norm": float(results[0].v_init.norm()),
        "n_requests": len(requests),
        "mom2_adjustment": True,
        "compute_seconds": time.perf_counter() - started,
    }
    return LowRankEdit(layer=layer, left=left.float(), right=right.float(), info=info)


def edit_emmet(model, tok, requests, hparams: EmmetHparams, layer: int, templates: list[str],
               covariance: KeyCovariance | None = None, *, site: str) -> LowRankEdit:
    requests = capped_requests(tok, as_requests(requests), hparams)
    return compute_emmet_edit(model, tok, requests, hparams, layer, templates, covariance, site=site)
