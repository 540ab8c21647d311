"""Edit-quality metrics with EasyEdit's conventions.

- rewrite / rephrase / portability: teacher-forced token accuracy of `prompt + " " + answer` (the argmax at each
  answer position, given the gold prefix, compared with the gold token), one value per prompt, averaged per sample;
- locality: fraction of argmax tokens over the locality answer span that the edit left unchanged, against the
  pre-edit argmax computed once per sample (stored in the record by `data.filter_known`).
A sample without rephrase/locality/portability prompts gets NaN for that metric.
"""

from __future__ import annotations

import math

import torch

from goldenlayers.models import logits_at
from goldenlayers.text import batch_prompt_answers

METRICS = ("rewrite", "rephrase", "locality", "portability")


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
        scores[metric].append(token_accuracy(argmax[sel], reference))
    return {m: _mean(v) for m, v in scores.items()}
