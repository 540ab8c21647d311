"""ROME and R-ROME: a rank-one update of one MLP output projection.

The math, for the edited weight W ([d_out, d_in], input = key k, output = value v):
  1. keys k_j and values v_j of the subject's last token under each context template j (template "{}" is the
     bare prompt); k̄, v̄ their means;
  2. v* = v_bare + δ, δ optimised so the model predicts the new target from every templated prompt
     (NLL + KL on "{subject} is a" + weight decay, norm clamp);
  3. u = k̄ / ‖k̄‖ (C⁻¹k̄ normalised with the covariance adjustment), ΔW = r uᵀ with
       ROME:   r = (v* − v_bare) / (k_bare · u)   (mixes the bare key with the averaged u)
       R-ROME: r = (v* − v̄) / (k̄ · u)           (so the averaged key maps exactly to v*: W' k̄ = v*)
EasyEdit names and defaults are kept for the hyperparameters so its YAML files load as they are.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field, fields

import torch

from goldenlayers.models import blocks, edited_module, edited_weight, logits_at
from goldenlayers.text import answer_ids, pad_batch, prompt_ids, subject_last_index

EARLY_STOP_LOSS = 5e-2  # EasyEdit/ROME stop optimising v* once the total loss is below this


@dataclass
class RomeHparams:
    v_num_grad_steps: int = 20
    v_lr: float = 0.5
    v_weight_decay: float = 0.5
    clamp_norm_factor: float = 4.0
    kl_factor: float = 0.0625
    mom2_adjustment: bool = False
    context_template_length_params: list = field(default_factory=lambda: [[5, 10], [10, 10]])
    fact_token: str = "subject_last"
    # R-ROME's fix: use the averaged key/value in the update (False reproduces original ROME)
    averaged_keys_in_update: bool = True
    # speed only (same numbers): reuse the blocks before the edited layer instead of recomputing them each step
    replay_prefix: bool = True

    @classmethod
    def from_dict(cls, values: dict) -> "RomeHparams":
        known = {f.name for f in fields(cls)}
        hp = cls(**{k: v for k, v in values.items() if k in known})
        # EasyEdit YAMLs write floats like 1e-3 that PyYAML reads as strings
        for f in fields(cls):
            if f.type in ("float", float):
                setattr(hp, f.name, float(getattr(hp, f.name)))
        if hp.fact_token != "subject_last":
            raise ValueError(f"fact_token {hp.fact_token!r} is not supported; use 'subject_last'")
        return hp


@dataclass
class RankOneEdit:
    """ΔW = right ⊗ left on the edited weight of `layer` ([d_out, d_in] view)."""

    layer: int
    left: torch.Tensor  # u, [d_in]
    right: torch.Tensor  # r, [d_out]
    info: dict = field(default_factory=dict)

    def delta(self) -> torch.Tensor:
        return torch.outer(self.right, self.left)


def _templated(template: str, prompt: str, subject: str) -> tuple[str, int]:
    """Apply a context template; return the text and the character offset where the subject ends."""
    at = template.index("{}")
    text = template[:at] + prompt + template[at + 2 :]
    return text, at + prompt.index(subject) + len(subject)


class _EditHook:
    """Forward hook on the edited module: records its input/output at lookup positions and adds δ there."""

    def __init__(self, rows: torch.Tensor, cols: torch.Tensor):
        self.rows, self.cols = rows, cols
        self.delta: torch.Tensor | None = None
        self.keys = self.values = None

    def __call__(self, module, inputs, output):
        if self.keys is None:
            self.keys = inputs[0][self.rows, self.cols].detach().float()
            self.values = output[self.rows, self.cols].detach().float()
        output = output.clone()
        output[self.rows, self.cols] += self.delta.to(output.dtype)
        return output


@contextlib.contextmanager
def replay_prefix(model, layer: int):
    """Blocks before `layer` never see δ: run them once, then replay their output on every later forward.

    The replayed object is whatever block `layer - 1` returned (tensor or tuple, per transformers version), and
    every earlier block returns it too, so nothing family-specific is needed. This removes the forward of the
    first `layer` blocks from every optimisation step after the first (autograd already skips their backward).
    """
    prefix = list(blocks(model))[:layer]
    if not prefix:
        yield
        return
    saved = {}

    def replay(*args, **kwargs):
        return saved["output"]

    def capture(module, inputs, output):
        saved["output"] = output
        for block in prefix:
            block.forward = replay  # an instance attribute shadows the class's forward

    handle = prefix[-1].register_forward_hook(capture)
    try:
        yield
    finally:
        handle.remove()
        for block in prefix:
            block.__dict__.pop("forward", None)


def compute_rome_edit(model, tok, request: dict, hparams: RomeHparams, layer: int, templates: list[str]) -> RankOneEdit:
    """Compute (not apply) the ROME/R-ROME update for one request {prompt, subject, target_new}."""
    if hparams.mom2_adjustment:
        raise NotImplementedError(
            "mom2_adjustment needs covariance statistics, which this build does not compute yet; "
            "set mom2_adjustment: false (EasyEdit's shipped ROME/R-ROME settings do)"
        )
    started = time.perf_counter()
    device = model.device
    subject, target = request["subject"], request["target_new"]
    target_ids = answer_ids(tok, target)

    # Rewriting prompts: each template around the prompt, followed by the target minus its last token;
    # the last row is the KL prompt "{subject} is a" whose prediction should stay as it was.
    sequences, lookup = [], []
    for template in templates:
        text, subject_end = _templated(template, request["prompt"], subject)
        ids = prompt_ids(tok, text)
        sequences.append(ids + target_ids[:-1])
        lookup.append(subject_last_index(tok, text[:subject_end], subject))
    kl_text = f"{subject} is a"
    sequences.append(prompt_ids(tok, kl_text))
    lookup.append(subject_last_index(tok, kl_text, subject))
    n_rewrite = len(templates)

    input_ids, mask = pad_batch(sequences, tok.pad_token_id)
    input_ids, mask = input_ids.to(device), mask.to(device)
    lengths = mask.sum(1).tolist()
    # Positions whose logits are needed: the target positions of each rewriting row, the last token of the KL row.
    rows, cols, gold = [], [], []
    for r in range(n_rewrite):
        first = lengths[r] - len(target_ids)
        for j, token in enumerate(target_ids):
            rows.append(r), cols.append(first + j), gold.append(token)
    rows.append(n_rewrite), cols.append(lengths[n_rewrite] - 1)
    rows_t, cols_t = torch.tensor(rows, device=device), torch.tensor(cols, device=device)
    gold_t = torch.tensor(gold, device=device)
    target_rows = rows_t[:-1]

    hook = _EditHook(torch.arange(len(sequences), device=device), torch.tensor(lookup, device=device))
    handle = edited_module(model, layer).register_forward_hook(hook)
    with contextlib.ExitStack() as stack:
        stack.callback(handle.remove)
        if hparams.replay_prefix:
            stack.enter_context(replay_prefix(model, layer))
        d_out = edited_weight(model, layer).shape[0]
        delta = torch.zeros(d_out, device=device, requires_grad=True)
        hook.delta = delta
        optimiser = torch.optim.Adam([delta], lr=hparams.v_lr)
        kl_init, loss_value, steps = None, float("nan"), 0
        for step in range(hparams.v_num_grad_steps):
            steps = step + 1
            logits = logits_at(model, input_ids, mask, rows_t, cols_t).float()
            if step == 0:  # the hook captured keys and values before adding δ
                v_init = hook.values[0]
                max_norm = hparams.clamp_norm_factor * v_init.norm()
            log_probs = torch.log_softmax(logits, -1)
            kl_log_probs = log_probs[-1:]
            if kl_init is None:
                kl_init = kl_log_probs.detach()
            token_nll = -log_probs[:-1].gather(1, gold_t[:, None]).squeeze(1)
            per_row = torch.zeros(n_rewrite + 1, device=device).index_add(0, target_rows, token_nll)
            # EasyEdit averages per-row NLL over every row, the KL row (which has none) included.
            nll = (per_row / len(target_ids)).mean()
            kl = hparams.kl_factor * torch.nn.functional.kl_div(
                kl_init, kl_log_probs, log_target=True, reduction="batchmean"
            )
            decay = hparams.v_weight_decay * (delta.norm() / v_init.norm() ** 2)
            loss = nll + kl + decay
            loss_value = loss.item()
            if loss_value < EARLY_STOP_LOSS or step == hparams.v_num_grad_steps - 1:
                break
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            with torch.no_grad():
                norm = delta.norm()
                if norm > max_norm:
                    delta.mul_(max_norm / norm)

    keys = hook.keys[:n_rewrite].double()
    values = hook.values[:n_rewrite].double()
    v_star = (v_init + delta.detach()).double()
    k_mean, v_mean = keys.mean(0), values.mean(0)
    left = k_mean / k_mean.norm()
    if hparams.averaged_keys_in_update:
        right = (v_star - v_mean) / (k_mean @ left)
    else:
        right = (v_star - values[0]) / (keys[0] @ left)
    info = {
        "steps": steps,
        "final_loss": loss_value,
        "delta_norm": float(delta.detach().norm()),
        "v_init_norm": float(v_init.norm()),
        "compute_seconds": time.perf_counter() - started,
    }
    return RankOneEdit(layer=layer, left=left.float(), right=right.float(), info=info)


@torch.no_grad()
def apply_edit(model, edit: RankOneEdit) -> torch.Tensor:
    """Add ΔW to the model in place; return a copy of the original weight for an exact restore."""
    weight = edited_weight(model, edit.layer)
    original = edited_module(model, edit.layer).weight.detach().clone()
    weight += edit.delta().to(device=weight.device, dtype=weight.dtype)
    return original


@torch.no_grad()
def restore_weight(model, layer: int, original: torch.Tensor) -> None:
    edited_module(model, layer).weight.copy_(original)
