"""Edit objects: a low-rank change of one layer's edited weight that can be applied and undone exactly.

Every editor returns an edit with ΔW = right @ left on the [d_out, d_in] (Linear-convention) view of the edited
weight. Applying it adds ΔW in place and returns a copy of the original weight; restoring copies that back, so
the weights are bit-identical afterwards whatever rounding the addition did.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from goldenlayers.models import edited_module, edited_weight


class EditError(RuntimeError):
    """An edit that cannot be computed (e.g. a singular system); sweeps record it as a failed edit."""


@dataclass
class LowRankEdit:
    """ΔW = right @ left on the edited weight of `layer`; right [d_out, r], left [r, d_in]."""

    layer: int
    left: torch.Tensor
    right: torch.Tensor
    info: dict = field(default_factory=dict)

    def delta(self) -> torch.Tensor:
        return self.right @ self.left


@dataclass
class RankOneEdit(LowRankEdit):
    """ΔW = right ⊗ left: ROME's update; left = u [d_in], right = r [d_out]."""

    def delta(self) -> torch.Tensor:
        return torch.outer(self.right, self.left)


@torch.no_grad()
def apply_edit(model, edit: LowRankEdit) -> torch.Tensor:
    """Add ΔW to the model in place; return a copy of the original weight for an exact restore."""
    weight = edited_weight(model, edit.layer)
    original = edited_module(model, edit.layer).weight.detach().clone()
    weight += edit.delta().to(device=weight.device, dtype=weight.dtype)
    return original


@torch.no_grad()
def restore_weight(model, layer: int, original: torch.Tensor) -> None:
    edited_module(model, layer).weight.copy_(original)


def edit_failure(model, edit: LowRankEdit, max_update_norm_ratio: float | None) -> str | None:
    """Why `edit` must not be applied (non-finite, or larger than the norm bound), or None if it may be."""
    delta = edit.delta().float()
    if not torch.isfinite(delta).all():
        return "non-finite update"
    if max_update_norm_ratio is not None:
        weight_norm = float(edited_weight(model, edit.layer).detach().float().norm())
        update_norm = float(delta.norm())
        if not math.isfinite(update_norm) or update_norm > max_update_norm_ratio * weight_norm:
            return (f"update norm {update_norm:.4g} exceeds {max_update_norm_ratio:g} x the weight norm "
                    f"{weight_norm:.4g}")
    return None


def as_requests(requests) -> list[dict]:
    return [requests] if isinstance(requests, dict) else list(requests)


def single_request(requests, editor: str) -> dict:
    """The one request of an editor that writes one request per update."""
    requests = as_requests(requests)
    if len(requests) != 1:
        raise ValueError(f"{editor} writes one request per edit, got {len(requests)}; "
                         "use emmet for batches, or sequential editing")
    return requests[0]
