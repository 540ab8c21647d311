"""Edit-quality metrics with EasyEdit's conventions.

- rewrite / rephrase / portability: teacher-forced token accuracy of `prompt + " " + answer` tokenised as one
  string, the answer being the tokens after the prompt's own (the argmax at each answer position, given the gold
  prefix, compared with the gold token), one value per prompt, averaged per sample;
- locality: fraction of argmax tokens over the locality answer span that the edit left unchanged, against the
  pre-edit argmax computed once per sample (stored in the record by `data.filter_known`).
- fluency (optional, costs a 100-token generation per edit): normalised weighted n-gram entropy of the greedy
  continuation of the prompt (raw value kept as `fluency_raw`).
A sample without rephrase/locality/portability prompts gets NaN for that metric.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import torch

from goldenlayers.data import METRICS
from goldenlayers.models import logits_at
from goldenlayers.text import batch_prompt_answers


def token_accuracy(predicted: torch.Tensor, gold: torch.Tensor) -> float:
    return float((predicted == gold).float().mean())


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


@torch.no_grad()
def evaluate_record(model, tok, record: dict) -> dict:
    """All metrics of one (edited) model on one record, from one batched forward pass."""
    pairs, kinds = [], []
    pairs.append((record["prompt"], record["target_new"]))
    kinds.append(("rewrite", None))
    for prompt in record["rephrase_prompts"]:
        pairs.append((prompt, record["target_new"]))
        kinds.append(("rephrase", None))
    for item in record["portability"]:
        pairs.append((item["prompt"], item["answer"]))
        kinds.append(("portability", None))
    for item in record["locality"]:
        pairs.append((item["prompt"], item["answer"]))
        kinds.append(("locality", item["pre_edit_ids"]))

    input_ids, mask, labels = batch_prompt_answers(tok, pairs)
    rows, cols = (labels != -100).nonzero(as_tuple=True)
    device = model.device
    argmax = logits_at(model, input_ids.to(device), mask.to(device), rows.to(device), cols.to(device)).argmax(-1).cpu()
    return score_predictions(kinds, rows, argmax, labels[rows, cols])


def score_predictions(kinds: list[tuple[str, list[int] | None]], rows: torch.Tensor, argmax: torch.Tensor,
                      gold: torch.Tensor) -> dict:
    """Per-metric scores from the argmax tokens at every answer position of a batch of prompts.

    `kinds[i]` = (metric, pre-edit ids or None) of prompt i; `rows[j]` says which prompt answer position j belongs
    to. Locality compares with the pre-edit ids, every other metric with the gold answer tokens.
    """
    scores = {m: [] for m in METRICS}
    for i, (metric, pre_edit) in enumerate(kinds):
        sel = rows == i
        reference = torch.tensor(pre_edit) if pre_edit is not None else gold[sel]
        if len(reference) != int(sel.sum()):
            raise ValueError(
                f"{metric} prompt {i}: {len(reference)} pre-edit tokens for {int(sel.sum())} answer positions; the "
                "known-facts file was made with another tokenisation of the answers: re-run the known-fact filter"
            )
        scores[metric].append(token_accuracy(argmax[sel], reference))
    return {m: _mean(v) for m, v in scores.items()}


# --- fluency -------------------------------------------------------------------------------------------------

_WORD = re.compile(r"\w+|[^\w\s]")


def words(text: str) -> list[str]:
    """Word and punctuation tokens (NLTK's word_tokenize needs a network download for its models; this regex
    splits the same way for the plain English text that fluency is measured on)."""
    return _WORD.findall(text)


def ngram_entropy(tokens: list[str], n: int) -> float:
    """Shannon entropy (bits) of the n-gram frequency distribution of `tokens`; 0 when there are no n-grams."""
    grams = Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    total = sum(grams.values())
    return -sum(c / total * math.log2(c / total) for c in grams.values()) if total else 0.0


def fluency_entropy(text: str) -> tuple[float, float]:
    """EasyEdit's weighted n-gram entropy H₂/3 + 2·H₃/3, and the same normalised to [0, 1].

    Normalisation: divide by the largest value a text with this many word tokens can reach (every bigram and
    trigram distinct: H_n = log2(#n-grams)), so 1 means no repetition at all and a text stuck in a loop tends to 0.
    """
    tokens = words(text)
    raw = ngram_entropy(tokens, 2) / 3 + 2 * ngram_entropy(tokens, 3) / 3
    n = len(tokens)
    best = (math.log2(n - 1) if n > 1 else 0.0) / 3 + 2 * (math.log2(n - 2) if n > 2 else 0.0) / 3
    return raw, (raw / best if best > 0 else 0.0)


@torch.no_grad()
def greedy_text(model, tok, prompt: str, max_new_tokens: int = 100) -> str:
    """Greedy continuation of `prompt` (the paper decodes greedily; EasyEdit samples top-5)."""
    ids = tok(prompt, return_tensors="pt").to(model.device)
    out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
    return tok.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)


def evaluate_fluency(model, tok, record: dict, max_new_tokens: int = 100) -> dict:
    raw, normalised = fluency_entropy(greedy_text(model, tok, record["prompt"], max_new_tokens))
    return {"fluency": normalised, "fluency_raw": raw}
