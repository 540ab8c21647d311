"""The model-side known-fact filter: keep the records whose true answer the model already predicts.

A query's old knowledge K is what the model predicts before the edit (LGA's gradients use it, paper §5.1), so the
pipeline edits facts the model knows; the filter runs once per (model, dataset), before the split. It also stores
each kept record's pre-edit locality predictions, against which the locality metric is scored
(`goldenlayers.editing.evaluate`).
"""

from __future__ import annotations

import logging

import torch
from tqdm import tqdm

from goldenlayers.data.sources import DatasetError
from goldenlayers.text import answer_span_ids, batch_prompt_answers

log = logging.getLogger(__name__)


@torch.no_grad()
def teacher_forced_argmax(model, tok, pairs: list[tuple[str, str]], batch_size: int = 16) -> list[list[int]]:
    """Argmax token ids at the answer positions of `prompt + " " + answer`, given the gold prefix."""
    out = []
    for start in range(0, len(pairs), batch_size):
        input_ids, mask, labels = batch_prompt_answers(tok, pairs[start : start + batch_size])
        device = model.device
        logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).logits
        argmax = logits.argmax(-1).cpu()
        for row in range(len(input_ids)):
            out.append(argmax[row][labels[row] != -100].tolist())
    return out


def context_length(model) -> int | None:
    """The longest input the model was trained on (None when its config does not say)."""
    config = model.config.get_text_config()
    for name in ("n_positions", "max_position_embeddings", "max_sequence_length"):
        if getattr(config, name, None):
            return int(getattr(config, name))
    return None


def warn_long_records(model, tok, records: list[dict]) -> list[str]:
    """Warn, in one line naming them, about records with a prompt + answer longer than the model's context: past
    it a model with learned positions (GPT-2) fails and a rotary one (LLaMA, Gemma) computes on positions it never
    saw, so their numbers are not comparable. Returns their ids."""
    n_ctx = context_length(model)
    if n_ctx is None:
        return []
    long = []
    for rec in records:
        answers = [a for a in (rec.get("target_new"), rec.get("ground_truth")) if a]
        texts = [f"{rec['prompt']} {a}" for a in answers] + list(rec.get("rephrase_prompts") or [])
        texts += [f"{item['prompt']} {item['answer']}" for key in ("locality", "portability")
                  for item in rec.get(key) or []]
        n = max(len(tok(text)["input_ids"]) for text in texts)
        if n > n_ctx:
            long.append((rec["id"], n))
    if long:
        shown = ", ".join(f"{rid!r} ({n} tokens)" for rid, n in long[:5])
        more = f" and {len(long) - 5} more" if len(long) > 5 else ""
        log.warning("%d record(s) are longer than the model's context of %d tokens: %s%s; their metrics are not "
                    "reliable: shorten or drop them", len(long), n_ctx, shown, more)
    return [rid for rid, _ in long]


@torch.no_grad()
def filter_known(model, tok, records: list[dict], keep_unknown: bool = False,
                 progress: bool = True) -> tuple[list[dict], list[dict]]:
    """Keep records whose ground truth the model predicts greedily; attach pre-edit locality predictions.

    `keep_unknown` keeps every record (still reporting which ones the model knows), for datasets whose facts
    are new to the model by design (WikiData_recent) or for tests on random models.

    Greedy decoding reproduces the ground truth's tokens exactly when the argmax at every answer position, given
    the gold prefix, is the gold token, so one teacher-forced pass per record decides it. Returns (kept records,
    report rows {id, kept, reason}).
    """
    warn_long_records(model, tok, records)  # the pipeline's filter, suggest and edit all start here
    kept, report = [], []
    chunk_size = 16  # records per batched forward pass
    with tqdm(total=len(records), desc="checking known facts", disable=not progress) as bar:
        for start in range(0, len(records), chunk_size):
            chunk = records[start : start + chunk_size]
            checkable = [r for r in chunk if r["ground_truth"] is not None]
            preds = teacher_forced_argmax(model, tok, [(r["prompt"], r["ground_truth"]) for r in checkable])
            pred_of = {id(r): p for r, p in zip(checkable, preds)}
            chunk_kept = []
            for rec in chunk:
                if rec["ground_truth"] is None:
                    known, reason = False, "no ground truth to check"
                else:
                    pred = pred_of[id(rec)]
                    known = pred == answer_span_ids(tok, rec["prompt"], rec["ground_truth"])
                    reason = "" if known else f"model predicts {tok.decode(pred)!r}, not {rec['ground_truth']!r}"
                if known or keep_unknown:
                    chunk_kept.append(rec)
                report.append({"id": rec["id"], "known": known, "kept": known or keep_unknown, "reason": reason})
            # pre-edit locality predictions of the kept records, in one more batched pass
            pairs = [(item["prompt"], item["answer"]) for rec in chunk_kept for item in rec["locality"]]
            loc_preds = iter(teacher_forced_argmax(model, tok, pairs) if pairs else [])
            for rec in chunk_kept:
                kept.append({**rec, "locality": [{**item, "pre_edit_ids": next(loc_preds)} for item in rec["locality"]]})
            bar.update(len(chunk))
    return kept, report


def filter_dataset(model, tok, records: list[dict], keep_unknown: bool = False, progress: bool = True,
                   path: str = "records") -> tuple[list[dict], dict]:
    """`filter_known` over a whole dataset: (kept records, filter report {n_records, n_known, n_kept, records: one
    row per record}). A dataset of which nothing is kept cannot be edited, so that is an error (`path` names it)."""
    kept, rows = filter_known(model, tok, records, keep_unknown=keep_unknown, progress=progress)
    if not kept:
        raise DatasetError(f"the model knows none of the {len(records)} facts in {path}")
    n_known = sum(row["known"] for row in rows)
    return kept, {"n_records": len(records), "n_known": n_known, "n_kept": len(kept), "records": rows}
