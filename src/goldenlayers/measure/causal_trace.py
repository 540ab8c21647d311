"""Causal tracing of MLP outputs (ROME's causal mediation analysis), the measurement behind the CMA selector.

For an edit record with prompt Q, subject s and true answer token o (ROME §2.1; docs/methods.md, "Layer
selectors"):

* clean run: p_clean = P(o | Q).
* corrupted run: Gaussian noise of std nu * sigma is added to the input embeddings of every subject token, where
  sigma is the std of subject-token embedding values over the dataset and nu = 3 (ROME's default);
  p_corrupted = mean of P(o | corrupted Q) over n_noise noise draws (10).
* restored run for layer L: the corrupted run in which the MLP outputs of the layers in window(L) at the last
  subject token are replaced by their clean values; p_restored(L) = mean over the *same* noise draws.
* indirect effect IE(L) = p_restored(L) - p_corrupted.

window(L) = [L - w//2, L + ceil(w/2)) clipped to [0, n_layers), ROME's window of w = 10 layers centred on L.

o is the first token of the ground-truth answer (or, for a record without one, the clean model's greedy next token);
a sample is "correct" when the clean model's greedy next token is o. The MLP output is the output of the edited
module (the MLP output projection): for every supported family the MLP returns exactly that (GPT-2's MLP dropout is
the identity in eval mode), so one hook point serves editors, gradients and tracing.

Cost: per sample, one clean forward pass (recording every layer's MLP output at the last subject token) and one
batched pass over n_noise * (1 + traced layers) corrupted rows (chunked by `max_batch_rows`); in that pass a hook on
each layer's MLP output overwrites the last-subject-token output on the rows whose window covers the layer. The LM
head runs at the last position only. The tokens before the subject are the same clean tokens in every row (the noise
and the restoring start at the subject), so they run once, as one row whose key/value cache every corrupted row
continues from: on "The capital of France is" that halves the tokens of the batched pass. Noise is drawn on the CPU
from a generator seeded by (seed, sample id), so a sample's noise does not depend on the order of the records or the
device.
"""

from __future__ import annotations

import copy
import inspect
import zlib
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import torch

from goldenlayers.models import edited_module, num_layers
from goldenlayers.text import answer_span_ids, prompt_ids, subject_last_index

EFFECT_COLUMNS = [
    "sample_id", "layer", "window_start", "window_end", "answer_token", "correct",
    "clean_prob", "corrupted_prob", "restored_prob", "indirect_effect",
]


@dataclass(frozen=True)
class TraceSettings:
    """The rule's parameters (ROME's defaults); `max_batch_rows` only trades memory for speed."""

    noise_multiplier: float = 3.0
    n_noise: int = 10
    window: int = 10
    seed: int = 42
    max_batch_rows: int = 320

    def __post_init__(self):
        if self.n_noise < 1 or self.window < 1 or self.max_batch_rows < 1:
            raise ValueError("n_noise, window and max_batch_rows must be >= 1")
        if self.noise_multiplier < 0:
            raise ValueError("noise_multiplier must be >= 0")


def restore_window(layer: int, n_layers: int, window: int = 10) -> list[int]:
    """Layers restored when tracing `layer`: `window` layers centred on it, clipped at the model's edges."""
    if not 0 <= layer < n_layers:
        raise ValueError(f"layer {layer} out of range: the model has layers 0..{n_layers - 1}")
    return list(range(max(0, layer - window // 2), min(n_layers, layer - (-window // 2))))


def subject_token_range(tok, prompt: str, subject: str) -> tuple[int, int]:
    """(first, last) indices, inclusive, of the subject's tokens in `prompt_ids(tok, prompt)`.

    `last` is EasyEdit's subject-last token (`text.subject_last_index`), the one editors and tracing use; `first` is
    the first token whose characters overlap the subject (from the fast tokenizer's offsets).
    """
    last = subject_last_index(tok, prompt, subject)
    at = prompt.find(subject)
    if not getattr(tok, "is_fast", False):
        raise ValueError("causal tracing needs a fast tokenizer (character offsets locate the subject's tokens)")
    enc = tok(prompt, add_special_tokens=True, return_offsets_mapping=True)
    if enc["input_ids"] != prompt_ids(tok, prompt):
        raise ValueError(f"tokenising {prompt!r} with offsets gave different ids")
    end = at + len(subject)
    first = next(
        (i for i, (a, b) in enumerate(enc["offset_mapping"]) if b > a and a < end and b > at),
        last,
    )
    return min(first, last), last


def traceable(records: Iterable[dict]) -> list[dict]:
    """The records causal tracing can corrupt: those whose subject appears in the prompt."""
    return [r for r in records if r.get("subject") and r["subject"] in r["prompt"]]


def subject_embedding_std(model, tok, records: Iterable[dict]) -> float:
    """sigma: std of the input-embedding values of the subject tokens (in their prompts) over `records`.

    ROME takes the std of its subjects' token embeddings over the dataset; the noise std is a multiple of it.
    """
    embed = model.get_input_embeddings()
    device = next(model.parameters()).device
    values = []
    with torch.no_grad():
        for record in records:
            ids = prompt_ids(tok, record["prompt"])
            first, last = subject_token_range(tok, record["prompt"], record["subject"])
            out = embed(torch.tensor([ids], device=device))  # Gemma's embedding module applies its scale here
            values.append(out[0, first : last + 1].float().flatten().cpu())
    if not values:
        raise ValueError("no records to measure the subject embedding std on")
    return float(torch.cat(values).std())


def _sample_seed(seed: int, sample_id: str) -> int:
    return (int(seed) * 1_000_003 + zlib.crc32(str(sample_id).encode())) % (2**63)


def sample_noise(seed: int, sample_id: str, n_noise: int, n_tokens: int, dim: int, std: float) -> torch.Tensor:
    """[n_noise, n_tokens, dim] Gaussian noise of the given std, reproducible per (seed, sample id)."""
    gen = torch.Generator().manual_seed(_sample_seed(seed, sample_id))
    return torch.randn(n_noise, n_tokens, dim, generator=gen, dtype=torch.float32) * std


@contextmanager
def _hooks(pairs):
    handles = [module.register_forward_hook(fn) for module, fn in pairs]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _last_position_probs(model, input_ids: torch.Tensor, past=None) -> torch.Tensor:
    """Next-token probabilities after the last position of each row (rows have equal length, no padding), the rows
    continuing the key/value cache `past` when given."""
    if past is None:
        hidden = model.base_model(input_ids=input_ids, use_cache=False).last_hidden_state[:, -1]
    else:
        hidden = model.base_model(input_ids=input_ids, **_with_cache(model, past)).last_hidden_state[:, -1]
    logits = model.get_output_embeddings()(hidden).float()
    softcap = getattr(model.config.get_text_config(), "final_logit_softcapping", None)
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    return torch.softmax(logits, dim=-1)


def _true_answer(tok, record: dict, clean_probs: torch.Tensor) -> tuple[int, str]:
    gt = record.get("ground_truth")
    if isinstance(gt, (list, tuple)):  # tolerate un-normalised KnowEdit alias lists
        gt = next((g for g in gt if isinstance(g, str) and g.strip()), None)
    if isinstance(gt, str) and gt.strip():
        return answer_span_ids(tok, record["prompt"], gt)[0], "ground_truth"
    return int(clean_probs.argmax()), "greedy"


def _with_cache(model, cache) -> dict:
    """The forward keyword that takes a key/value cache: `cache` in recent transformers, `past_key_values` before."""
    params = inspect.signature(model.base_model.forward).parameters
    return {"cache" if "cache" in params else "past_key_values": cache, "use_cache": True}


def _prefix_cache(model, input_ids: torch.Tensor, n_prefix: int):
    """The key/value cache of the first `n_prefix` tokens (one row, no hooks), or None when there are none."""
    if n_prefix < 1:
        return None
    from transformers import DynamicCache

    cache = DynamicCache()
    with torch.no_grad():
        model.base_model(input_ids=input_ids[:, :n_prefix], **_with_cache(model, cache))
    return cache


def _rows_of(cache, n_rows: int):
    """A fresh copy of a one-row cache for `n_rows` rows (the forward pass appends to the cache it is given)."""
    if cache is None:
        return None
    rows = copy.deepcopy(cache)
    rows.batch_repeat_interleave(n_rows)
    return rows


def _group_probs(model, input_ids, embed, mlp_outputs, clean_mlp: dict, noise, groups: list, span: tuple[int, int],
                 answer: int, settings: TraceSettings) -> torch.Tensor:
    """Mean probability of `answer` per group of `n_noise` corrupted runs (subject embeddings `span` noised; a
    group's layers get their clean MLP output back at the subject's last token), batched `max_batch_rows` rows.
    The tokens before the subject run once (`_prefix_cache`); positions below are in the rest of the prompt."""
    prefix = _prefix_cache(model, input_ids, span[0])
    n_prefix = span[0] if prefix is not None else 0  # None: every row runs the whole prompt
    rest_ids = input_ids[:, n_prefix:]
    first, last = span[0] - n_prefix, span[1] - n_prefix
    device = input_ids.device
    per_chunk = max(1, settings.max_batch_rows // settings.n_noise)
    group_probs: list[torch.Tensor] = []
    for start in range(0, len(groups), per_chunk):
        chunk = groups[start : start + per_chunk]
        batch_noise = noise.repeat(len(chunk), 1, 1)  # row g * n_noise + j gets noise draw j

        def corrupt(_module, _args, output, batch_noise=batch_noise):
            output = output.clone()
            output[:, first : last + 1] += batch_noise.to(device=output.device, dtype=output.dtype)
            return output

        def restorer(layer, chunk=chunk):
            covered = torch.tensor([g is not None and layer in g for g in chunk], device=device)
            rows = covered.repeat_interleave(settings.n_noise)

            def restore(_module, _args, output):
                if not bool(rows.any()):
                    return output
                output = output.clone()
                output[rows, last] = clean_mlp[layer].to(output.dtype)
                return output

            return restore

        pairs = [(embed, corrupt)] + [(m, restorer(layer)) for layer, m in enumerate(mlp_outputs)]
        n_rows = len(chunk) * settings.n_noise
        with torch.no_grad(), _hooks(pairs):
            probs = _last_position_probs(model, rest_ids.repeat(n_rows, 1), _rows_of(prefix, n_rows))
        group_probs.append(probs[:, answer].view(len(chunk), settings.n_noise).mean(dim=1).double().cpu())
    return torch.cat(group_probs)


def trace_sample(
    model,
    tok,
    record: dict,
    noise_std: float,
    layers: Sequence[int] | None = None,
    settings: TraceSettings = TraceSettings(),
) -> dict:
    """Causal trace of one record: clean, corrupted and per-layer restored probabilities of the true answer.

    `noise_std` is the absolute std of the embedding noise (noise_multiplier * sigma). `layers` are the traced
    layers (default: all); every layer of the model can be restored, whatever is traced. Returns {sample_id,
    answer_token, answer_source, correct, clean_prob, corrupted_prob, layers, windows, restored_prob}.
    """
    if model.training:
        raise ValueError("put the model in eval mode (dropout would make the trace random)")
    n = num_layers(model)
    traced = list(range(n)) if layers is None else sorted({int(layer) for layer in layers})
    windows = [restore_window(layer, n, settings.window) for layer in traced]
    device = next(model.parameters()).device
    ids = prompt_ids(tok, record["prompt"])
    first, last = subject_token_range(tok, record["prompt"], record["subject"])
    input_ids = torch.tensor([ids], dtype=torch.long, device=device)
    mlp_outputs = [edited_module(model, layer) for layer in range(n)]

    clean_mlp: dict[int, torch.Tensor] = {}

    def recorder(layer):
        def record_output(_module, _args, output):
            clean_mlp[layer] = output[0, last].detach().clone()

        return record_output

    with torch.no_grad(), _hooks([(m, recorder(layer)) for layer, m in enumerate(mlp_outputs)]):
        clean_probs = _last_position_probs(model, input_ids)[0]
    answer, source = _true_answer(tok, record, clean_probs)

    embed = model.get_input_embeddings()
    noise = sample_noise(settings.seed, record["id"], settings.n_noise, last - first + 1,
                         embed.weight.shape[1], noise_std)
    # groups: None = corrupted baseline (nothing restored), then one group per traced layer; n_noise rows each
    groups: list[list[int] | None] = [None, *windows]
    mean_probs = _group_probs(model, input_ids, embed, mlp_outputs, clean_mlp, noise, groups, (first, last), answer,
                              settings)
    return {
        "sample_id": str(record["id"]),
        "answer_token": int(answer),
        "answer_source": source,
        "correct": int(clean_probs.argmax()) == answer,
        "clean_prob": float(clean_probs[answer]),
        "corrupted_prob": float(mean_probs[0]),
        "layers": traced,
        "windows": [(w[0], w[-1] + 1) for w in windows],
        "restored_prob": mean_probs[1:].tolist(),
    }


def trace_records(
    model,
    tok,
    records: Iterable[dict],
    noise_std: float,
    layers: Sequence[int] | None = None,
    settings: TraceSettings = TraceSettings(),
    progress: bool = True,
) -> pd.DataFrame:
    """`trace_sample` for each record, as one long table (columns `EFFECT_COLUMNS`, record then layer order).

    `df.attrs` holds the settings and the noise std, so the table says how it was made.
    """
    from tqdm.auto import tqdm

    rows = []
    for record in tqdm(list(records), desc="causal trace", unit="sample", disable=not progress):
        t = trace_sample(model, tok, record, noise_std, layers=layers, settings=settings)
        for layer, (lo, hi), restored in zip(t["layers"], t["windows"], t["restored_prob"]):
            rows.append((t["sample_id"], layer, lo, hi, t["answer_token"], t["correct"], t["clean_prob"],
                         t["corrupted_prob"], restored, restored - t["corrupted_prob"]))
    frame = pd.DataFrame(rows, columns=EFFECT_COLUMNS)
    for col in ("layer", "window_start", "window_end", "answer_token"):
        frame[col] = frame[col].astype(np.int64)
    frame["correct"] = frame["correct"].astype(bool)
    for col in EFFECT_COLUMNS[6:]:
        frame[col] = frame[col].astype(np.float64)
    frame.attrs["trace"] = {**asdict(settings), "noise_std": float(noise_std)}
    return frame
