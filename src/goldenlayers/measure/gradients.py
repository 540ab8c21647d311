"""Per-sample, per-layer gradient scalars for LGA and LGA(K'), and per-layer SaLEM saliency (paper §5.1 and
Appendix F; docs/methods.md, "Layer selectors").

For a sample with prompt Q, old answer K and new answer K', and for every candidate layer L with edited weight W_L
(the MLP output projection), we need

    dot_old_new = <g_old, g_new>,   sq_norm_old = ||g_old||^2,   sq_norm_new = ||g_new||^2,
    g_old = dl(Q + K)/dW_L,         g_new = dl(Q + K')/dW_L,

where l is the causal-LM cross-entropy *averaged* over the answer tokens only (prompt tokens are not scored), like
an ordinary LM loss on the answer. The old answer K is the ground truth when the record has one; otherwise it is the
model's own greedy continuation of the prompt, as many tokens as K' has (the model's current "old knowledge").

How it is computed (exactly, without materialising any d_out x d_in gradient unless that is cheaper):

* One forward + backward per batch of sequences covers *all* layers. Forward hooks on the edited modules record
  their inputs X (T x d_in, the "keys") and outputs; `torch.autograd.grad` of the loss w.r.t. those outputs gives
  the output gradients D (T x d_out). Parameters stay frozen: the embedding output is made to require grad so the
  graph exists, and `autograd.grad` fills no parameter `.grad`.
* For a linear map out_t = W x_t, dl/dW = sum_t d_t x_t^T = D^T X, so for two sequences a and b
      <dW(a), dW(b)> = sum_{s,t} (d_{a,s} . d_{b,t}) (x_{a,s} . x_{b,t}) = sum((D_a D_b^T) * (X_a X_b^T)),
  which costs T^2 (d_in + d_out) instead of T d_in d_out. Per layer we take whichever of the two is cheaper
  (`method="auto"`) or force one; both are exact and evaluated in float64.
* GPT-2's Conv1D stores W transposed ([d_in, d_out]); its gradient is X^T D, the transpose of D^T X, so inner
  products and norms are the same numbers.
* Sequences (a sample's old and new, and several samples: `batch_size`) are right-padded into one batch; each
  sequence's X and D are cut to its own length (padded positions would not contribute anyway: causal attention
  means no real token sees them and they carry no label). Each sequence keeps its own mean loss.

SaLEM needs more than scalars: the *summed* new-knowledge gradient G_L = sum_i dl(Q_i + K'_i)/dW_L over the proxy
samples, whose mean absolute entry is the layer's saliency. `NewGradientSum` collects it in the same pass. It keeps
each layer's new-sequence X and D (tokens x (d_in + d_out)) and only materialises G_L = sum D^T X (d_out x d_in)
when the buffered tokens would outgrow it, so for short edit prompts no gradient matrix exists until the end, and
then one layer at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from goldenlayers.models import check_layer, edited_module, num_layers
from goldenlayers.text import encode_prompt_answer, pad_batch, prompt_ids

COLUMNS = ["sample_id", "layer", "dot_old_new", "sq_norm_old", "sq_norm_new"]
SALIENCY_COLUMNS = ["layer", "saliency", "n_samples", "n_entries"]
METHODS = ("auto", "identity", "materialise")
# Sequences per forward+backward pass (a sample has two: old and new). Measured with
# benchmarks/bench_gradients.py (SmolLM2-135M, 20 capital-city samples, 1 torch thread on a shared 2-core CPU):
# 1 -> 5.7 s, 2 -> 3.5 s, 8 -> 2.0 s, against 7.0 s for a plain forward + loss.backward() in batches of 2.
# Right padding wastes little on short edit prompts; lower it for long (WikiBio-like) texts on small memory.
DEFAULT_BATCH_SIZE = 8


@dataclass(frozen=True)
class ScoredSequence:
    """Token ids of prompt + answer; the tokens from `answer_start` on are the scored answer."""

    input_ids: tuple[int, ...]
    answer_start: int

    @property
    def n_answer(self) -> int:
        return len(self.input_ids) - self.answer_start


def greedy_continuation(model, ids: Sequence[int], n_tokens: int) -> list[int]:
    """The model's greedy next `n_tokens` tokens after `ids` (no early stop at EOS: exactly n_tokens come back).

    A plain re-run of the growing sequence per token (no KV cache): answers are a few tokens long, and this keeps
    clear of the cache API, which differs between transformers versions.
    """
    device = next(model.parameters()).device
    seq = list(ids)
    out: list[int] = []
    with torch.no_grad():
        for _ in range(n_tokens):
            logits = model(input_ids=torch.tensor([seq], dtype=torch.long, device=device), use_cache=False).logits
            nxt = int(logits[0, -1].argmax())
            out.append(nxt)
            seq.append(nxt)
    return out


def _ground_truth(record: dict) -> str | None:
    gt = record.get("ground_truth")
    if isinstance(gt, (list, tuple)):  # tolerate un-normalised KnowEdit lists: the first alias is the answer
        gt = next((g for g in gt if isinstance(g, str) and g.strip()), None)
    if isinstance(gt, str) and gt.strip():
        return gt
    return None


def old_and_new_sequences(model, tok, record: dict) -> tuple[ScoredSequence, ScoredSequence, str]:
    """The (old, new) scored sequences of one record, and where the old answer came from.

    new = prompt + " " + target_new. old = prompt + " " + ground_truth when the record has a ground truth
    ("ground_truth"), otherwise prompt + the model's greedy continuation of len(target_new tokens) tokens ("greedy").
    Each text is tokenised as one string; its answer is every token after the prompt's own (text.py).
    """
    new_ids, start = encode_prompt_answer(tok, record["prompt"], record["target_new"])
    gt = _ground_truth(record)
    if gt is not None:
        old_ids, old_start = encode_prompt_answer(tok, record["prompt"], gt)
        source = "ground_truth"
    else:
        p = prompt_ids(tok, record["prompt"])
        old_ids, old_start = p + greedy_continuation(model, p, len(new_ids) - start), len(p)
        source = "greedy"
    return ScoredSequence(tuple(old_ids), old_start), ScoredSequence(tuple(new_ids), start), source


class _LayerCapture:
    """Hooks that record the edited modules' inputs and outputs during one forward pass.

    The embedding output is made a leaf that requires grad, so the forward builds a graph through frozen parameters.
    """

    def __init__(self, model, layers: Sequence[int]):
        self.model = model
        self.layers = list(layers)
        self.inputs: dict[int, torch.Tensor] = {}
        self.outputs: dict[int, torch.Tensor] = {}
        self._handles: list = []

    def __enter__(self):
        def track_embeddings(_module, _args, output):
            if not output.requires_grad:
                output.requires_grad_(True)
            return output

        self._handles.append(self.model.get_input_embeddings().register_forward_hook(track_embeddings))
        for layer in self.layers:
            self._handles.append(edited_module(self.model, layer).register_forward_hook(self._recorder(layer)))
        return self

    def _recorder(self, layer: int):
        def record(_module, args, output):
            if layer in self.outputs:
                raise RuntimeError(f"edited module of layer {layer} ran twice in one forward pass")
            self.inputs[layer] = args[0].detach()
            self.outputs[layer] = output

        return record

    def __exit__(self, *exc):
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def answer_labels(seqs: Sequence[ScoredSequence], width: int) -> torch.Tensor:
    """Labels aligned with logits: the answer token at each position that predicts it, -100 elsewhere."""
    labels = torch.full((len(seqs), width), -100, dtype=torch.long)
    for i, s in enumerate(seqs):
        # position t predicts token t+1, so answer tokens ids[start:] are scored at positions start-1 .. len-2
        labels[i, s.answer_start - 1 : len(s.input_ids) - 1] = torch.tensor(s.input_ids[s.answer_start :])
    return labels


def answer_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-sequence cross-entropy averaged over its answer tokens (labels != -100); shape [batch]."""
    token_loss = F.cross_entropy(
        logits.float().flatten(0, 1), labels.flatten(), ignore_index=-100, reduction="none"
    ).view(labels.shape)
    counts = (labels != -100).sum(dim=1)
    if bool((counts == 0).any()):
        raise ValueError("a sequence has no answer tokens to score")
    return token_loss.sum(dim=1) / counts


def capture_keys_and_grads(
    model, seqs: Sequence[ScoredSequence], pad_id: int, layers: Sequence[int]
) -> list[dict[int, tuple[torch.Tensor, torch.Tensor]]]:
    """One forward+backward over a right-padded batch: per sequence, per layer, (X [T, d_in], D [T, d_out]).

    D is the gradient of that sequence's own answer loss (the batch loss is the sum of per-sequence losses, and
    sequences in a batch do not interact), and T is the sequence's own length (padding removed).
    """
    if model.training:
        raise ValueError("put the model in eval mode (dropout would make the gradients random)")
    device = next(model.parameters()).device
    input_ids, mask = pad_batch([list(s.input_ids) for s in seqs], pad_id)
    labels = answer_labels(seqs, input_ids.shape[1])
    input_ids, mask, labels = input_ids.to(device), mask.to(device), labels.to(device)
    with torch.enable_grad(), _LayerCapture(model, layers) as cap:
        logits = model(input_ids=input_ids, attention_mask=mask, use_cache=False).logits
        loss = answer_loss(logits, labels).sum()
        outs = [cap.outputs[layer] for layer in layers]
        grads = torch.autograd.grad(loss, outs, allow_unused=True)
    captured: list[dict[int, tuple[torch.Tensor, torch.Tensor]]] = [{} for _ in seqs]
    for layer, out, grad in zip(layers, outs, grads):
        x = cap.inputs[layer]
        if grad is None:  # the layer does not reach the loss (cannot happen for a causal LM, kept for safety)
            grad = torch.zeros_like(out)
        for i, s in enumerate(seqs):
            n = len(s.input_ids)
            captured[i][layer] = (x[i, :n], grad[i, :n].detach())
    return captured


def _costs(t_a: int, t_b: int, d_in: int, d_out: int) -> tuple[int, int]:
    """Multiply-adds of (identity, materialise) for the dot product *and* both norms of one layer."""
    t = t_a + t_b
    identity = t * t * (d_in + d_out)  # Gram matrices of the concatenated X and D, then an elementwise product
    materialise = t * d_in * d_out + 3 * d_in * d_out  # D_a^T X_a and D_b^T X_b, then three reductions
    return identity, materialise


def pair_products(
    xa: torch.Tensor, da: torch.Tensor, xb: torch.Tensor, db: torch.Tensor, method: str = "auto"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(<dW(a), dW(b)>, ||dW(a)||^2, ||dW(b)||^2) for stacked layers, in float64.

    xa [n, T_a, d_in], da [n, T_a, d_out] (and the same for b), where dW = D^T X per layer. `method` picks the
    identity sum((D_a D_b^T) * (X_a X_b^T)), the materialised gradients, or the cheaper of the two ("auto").
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    xa, da, xb, db = (t.to(torch.float64) for t in (xa, da, xb, db))
    t_a, t_b, d_in, d_out = xa.shape[1], xb.shape[1], xa.shape[2], da.shape[2]
    if method == "auto":
        identity_cost, materialise_cost = _costs(t_a, t_b, d_in, d_out)
        method = "identity" if identity_cost <= materialise_cost else "materialise"
    if method == "identity":
        x = torch.cat([xa, xb], dim=1)
        d = torch.cat([da, db], dim=1)
        prod = torch.bmm(d, d.transpose(1, 2)) * torch.bmm(x, x.transpose(1, 2))  # [n, T, T]
        return (
            prod[:, :t_a, t_a:].sum(dim=(1, 2)),
            prod[:, :t_a, :t_a].sum(dim=(1, 2)),
            prod[:, t_a:, t_a:].sum(dim=(1, 2)),
        )
    # One layer at a time: never hold more than two d_out x d_in gradients.
    dots, sq_a, sq_b = [], [], []
    for i in range(xa.shape[0]):
        ga = da[i].T @ xa[i]
        gb = db[i].T @ xb[i]
        dots.append((ga * gb).sum())
        sq_a.append((ga * ga).sum())
        sq_b.append((gb * gb).sum())
    return torch.stack(dots), torch.stack(sq_a), torch.stack(sq_b)


def _sample_rows(
    sample_id: str,
    layers: Sequence[int],
    old: dict[int, tuple[torch.Tensor, torch.Tensor]],
    new: dict[int, tuple[torch.Tensor, torch.Tensor]],
    method: str,
) -> list[tuple]:
    # Stack layers whose edited weights have the same shape (all of them in the supported families) and compute
    # their products in one batched call.
    groups: dict[tuple, list[int]] = {}
    for layer in layers:
        groups.setdefault((old[layer][0].shape[1], old[layer][1].shape[1]), []).append(layer)
    values: dict[int, tuple[float, float, float]] = {}
    for group in groups.values():
        xa = torch.stack([old[layer][0] for layer in group])
        da = torch.stack([old[layer][1] for layer in group])
        xb = torch.stack([new[layer][0] for layer in group])
        db = torch.stack([new[layer][1] for layer in group])
        dot, sq_old, sq_new = pair_products(xa, da, xb, db, method=method)
        for j, layer in enumerate(group):
            values[layer] = (float(dot[j]), float(sq_old[j]), float(sq_new[j]))
    return [(sample_id, layer, *values[layer]) for layer in layers]


class NewGradientSum:
    """Sum over samples of each layer's new-knowledge gradient dl(Q + K')/dW_L, for SaLEM's saliency.

    `add(layer, X, D)` takes one sequence's keys X [T, d_in] and output gradients D [T, d_out]. They are buffered
    (copied, so the batch's activations can be freed) until the buffered tokens cost more memory than the gradient
    matrix itself, T_buffered (d_in + d_out) > d_in d_out; then they are folded into a float64 running sum
    G_L += D^T X. `saliency_frame()` materialises each layer's G_L in turn and reduces it to mean |entry|.
    `fold_tokens` overrides the folding threshold (tests use 0 to force the running-sum branch).
    """

    def __init__(self, fold_tokens: int | None = None):
        self.fold_tokens = fold_tokens
        self.n_samples = 0
        self._buffers: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {}
        self._buffered_tokens: dict[int, int] = {}
        self._sums: dict[int, torch.Tensor] = {}

    def add(self, layer: int, x: torch.Tensor, d: torch.Tensor) -> None:
        self._buffers.setdefault(layer, []).append((x.detach().clone(), d.detach().clone()))
        self._buffered_tokens[layer] = self._buffered_tokens.get(layer, 0) + x.shape[0]
        d_in, d_out = x.shape[1], d.shape[1]
        limit = self.fold_tokens if self.fold_tokens is not None else (d_in * d_out) // (d_in + d_out)
        if self._buffered_tokens[layer] > limit:
            self._fold(layer)

    def _fold(self, layer: int) -> torch.Tensor:
        buffered = self._buffers.pop(layer, [])
        self._buffered_tokens[layer] = 0
        total = self._sums.get(layer)
        if buffered:
            x = torch.cat([b[0] for b in buffered]).to(torch.float64)
            d = torch.cat([b[1] for b in buffered]).to(torch.float64)
            part = d.T @ x  # [d_out, d_in]; GPT-2's Conv1D stores the transpose, which has the same entries
            total = part if total is None else total + part
        if total is not None:
            self._sums[layer] = total
        return total

    def layers(self) -> list[int]:
        return sorted(set(self._buffers) | set(self._sums))

    def saliency_frame(self) -> pd.DataFrame:
        """Columns layer, saliency (mean |entry| of the summed gradient, float64), n_samples, n_entries.

        Consumes the sums (each layer's gradient is freed once reduced), so call it once, after the last `add`.
        """
        rows = []
        for layer in self.layers():
            total = self._fold(layer)
            rows.append((layer, float(total.abs().mean()), self.n_samples, int(total.numel())))
            del self._sums[layer]  # one layer's gradient at a time
        frame = pd.DataFrame(rows, columns=SALIENCY_COLUMNS)
        frame["layer"] = frame["layer"].astype(np.int64)
        frame["saliency"] = frame["saliency"].astype(np.float64)
        frame["n_samples"] = frame["n_samples"].astype(np.int64)
        frame["n_entries"] = frame["n_entries"].astype(np.int64)
        return frame


def _checked_inputs(model, records: Iterable[dict], layers, method: str, batch_size: int) -> tuple[list, list, list]:
    """(records, their ids, the sorted candidate layers), refused with a clear error before any pass runs."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    records = list(records)
    ids = [str(r["id"]) for r in records]
    if len(set(ids)) != len(ids):
        raise ValueError("record ids must be unique")
    layers = list(range(num_layers(model))) if layers is None else sorted({int(layer) for layer in layers})
    for layer in layers:
        check_layer(model, layer)
    return records, ids, layers


def extract_layer_gradients(
    model,
    tok,
    records: Iterable[dict],
    layers: Sequence[int] | None = None,
    progress: bool = True,
    method: str = "auto",
    batch_size: int = DEFAULT_BATCH_SIZE,
    new_gradient_sum: NewGradientSum | None = None,
    new_factors=None,
) -> pd.DataFrame:
    """Per-sample, per-layer <g_old, g_new>, ||g_old||^2, ||g_new||^2 of the edited weights (see module docstring).

    records: normalised edit records (id, prompt, ground_truth or None, target_new, ...).
    layers: candidate layers (default: all). method: "auto" | "identity" | "materialise" (inner-product branch;
    all exact). batch_size: sequences per forward+backward pass (each sample has two: old and new).
    new_gradient_sum: if given, every sample's new-knowledge keys and output gradients are also added to it (for
    SaLEM; read the saliency with `new_gradient_sum.saliency_frame()` afterwards).
    new_factors: if given, `new_factors.add_sample(sample_id, {layer: (X, D)})` receives every sample's
    new-knowledge keys and output gradients (`goldenlayers.measure.factors.NewGradientFactors`: SaLEM on any subset).
    Returns columns sample_id, layer, dot_old_new, sq_norm_old, sq_norm_new (float64), in record order then layer
    order; `df.attrs["old_answer_source"]` maps sample_id -> "ground_truth" | "greedy".
    """
    from tqdm.auto import tqdm

    records, ids, layers = _checked_inputs(model, records, layers, method, batch_size)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id

    rows: list[tuple] = []
    sources: dict[str, str] = {}
    # Flat list of (sample index, "old"/"new", sequence); a sample's products are computed as soon as both of its
    # sequences have been through a pass, so memory holds at most one batch of activations.
    pending: dict[int, dict[str, dict]] = {}
    bar = tqdm(total=len(records), desc="gradients", unit="sample", disable=not progress)
    batch: list[tuple[int, str, ScoredSequence]] = []

    def flush():
        captured = capture_keys_and_grads(model, [s for _, _, s in batch], pad_id, layers)
        for (idx, kind, _), cap in zip(batch, captured):
            pending.setdefault(idx, {})[kind] = cap
            if kind == "new" and new_gradient_sum is not None:
                new_gradient_sum.n_samples += 1
                for layer in layers:
                    new_gradient_sum.add(layer, *cap[layer])
            if kind == "new" and new_factors is not None:
                new_factors.add_sample(ids[idx], cap)
            if len(pending[idx]) == 2:
                both = pending.pop(idx)
                rows.extend(_sample_rows(ids[idx], layers, both["old"], both["new"], method))
                bar.update(1)
        batch.clear()

    try:
        for idx, record in enumerate(records):
            old, new, sources[ids[idx]] = old_and_new_sequences(model, tok, record)
            for kind, seq in (("old", old), ("new", new)):
                batch.append((idx, kind, seq))
                if len(batch) == batch_size:
                    flush()
        if batch:
            flush()
    finally:
        bar.close()
    # rows were appended in completion order, which is record order (passes run in order, a sample completes when
    # its "new" sequence does); sort anyway so the contract does not depend on that.
    order = {sid: i for i, sid in enumerate(ids)}
    rows.sort(key=lambda r: (order[r[0]], r[1]))
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["layer"] = df["layer"].astype(np.int64)
    for col in COLUMNS[2:]:
        df[col] = df[col].astype(np.float64)
    df.attrs["old_answer_source"] = sources
    return df
