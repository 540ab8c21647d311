"""Edit datasets: loading KnowEdit/Counterfact-style JSON into one record type, filtering, splitting.

A normalised record is a plain dict::

    {"id": str, "relation": str, "subject": str, "prompt": str,
     "ground_truth": str | None, "ground_truth_aliases": [str], "target_new": str,
     "rephrase_prompts": [str],
     "locality": [{"prompt": str, "answer": str}], "portability": [{"prompt": str, "answer": str}]}

Ground truths given as a list (or a list of alias lists) keep every alias; metrics score against the first, as
EasyEdit does.
"""

from __future__ import annotations

import json
import random
from importlib import resources
from pathlib import Path

import torch
from tqdm import tqdm

from goldenlayers.text import batch_prompt_answers

DEFAULT_DATASET = "embedded:default_edits"


class DatasetError(ValueError):
    """A dataset file that cannot be used; the message names the file, record and field."""


def dataset_path(source: str) -> Path:
    if source == DEFAULT_DATASET:
        return Path(str(resources.files("goldenlayers") / "data" / "default_edits.json"))
    path = Path(source)
    if not path.exists():
        raise DatasetError(f"{source}: dataset file not found")
    return path


def load_records(source: str) -> list[dict]:
    path = dataset_path(source)
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DatasetError(f"{path}: malformed JSON at line {err.lineno}: {err.msg}") from None
    if not isinstance(raw, list) or not raw:
        raise DatasetError(f"{path}: expected a non-empty JSON list of records")
    return [normalise_record(item, i, path) for i, item in enumerate(raw)]


def _aliases(value) -> list[str]:
    """Flatten a ground truth given as str, list of str, or list of alias lists; order kept."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    out = []
    for item in value:
        out.extend(_aliases(item))
    return out


def _prompt_answer_items(value, where: str) -> list[dict]:
    """KnowEdit nests locality/portability as {kind: [{prompt, ground_truth}, ...]} (or one dict per kind)."""
    if not value:
        return []
    groups = value.values() if isinstance(value, dict) and "prompt" not in value else [value]
    items = []
    for group in groups:
        for entry in group if isinstance(group, list) else [group]:
            prompts = entry.get("prompt")
            if isinstance(prompts, list):  # some KnowEdit files pair a list of prompts with a list of answers
                pairs = zip(prompts, entry.get("ground_truth") or [])
            else:
                pairs = [(prompts, entry.get("ground_truth", entry.get("answer")))]
            for p, a in pairs:
                aliases = _aliases(a)
                if not p or not aliases:
                    raise DatasetError(f"{where}: locality/portability entry needs a prompt and a ground_truth")
                items.append({"prompt": p, "answer": aliases[0]})
    return items


def normalise_record(item: dict, index: int, path) -> dict:
    where = f"{path}: record {index}"
    for field in ("subject", "prompt", "target_new"):
        if not isinstance(item.get(field), str) or not item[field].strip():
            raise DatasetError(f"{where}: field {field!r} is missing or not a non-empty string")
    if item["subject"] not in item["prompt"]:
        raise DatasetError(f"{where}: subject {item['subject']!r} does not occur in prompt {item['prompt']!r}")
    aliases = _aliases(item.get("ground_truth"))
    rephrase = item.get("rephrase_prompt") or item.get("rephrase_prompts") or []
    record = {
        "id": str(item.get("case_id", index)),
        "relation": item.get("relation", ""),
        "subject": item["subject"],
        "prompt": item["prompt"],
        "ground_truth": aliases[0] if aliases else None,
        "ground_truth_aliases": aliases,
        "target_new": item["target_new"].strip(),
        "rephrase_prompts": [rephrase] if isinstance(rephrase, str) else list(rephrase),
        "locality": _prompt_answer_items(item.get("locality"), where),
        "portability": _prompt_answer_items(item.get("portability"), where),
    }
    return record


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
    from goldenlayers.text import answer_ids

    kept, report = [], []
    for rec in tqdm(records, desc="checking known facts", disable=not progress):
        if rec["ground_truth"] is None:
            known, reason = False, "no ground truth to check"
        else:
            [pred] = teacher_forced_argmax(model, tok, [(rec["prompt"], rec["ground_truth"])])
            known = pred == answer_ids(tok, rec["ground_truth"])
            reason = "" if known else f"model predicts {tok.decode(pred)!r}, not {rec['ground_truth']!r}"
        kept_rec = rec if known or keep_unknown else None
        if kept_rec is not None:
            pairs = [(item["prompt"], item["answer"]) for item in rec["locality"]]
            preds = teacher_forced_argmax(model, tok, pairs) if pairs else []
            kept_rec = {
                **rec,
                "locality": [{**item, "pre_edit_ids": p} for item, p in zip(rec["locality"], preds)],
            }
            kept.append(kept_rec)
        report.append({"id": rec["id"], "known": known, "kept": kept_rec is not None, "reason": reason})
    return kept, report


def split_ids(ids: list[str], proxy_fraction: float, seed: int = 42, max_samples: int | None = None) -> dict:
    """Seeded proxy/test split of record ids (optionally of a seeded subsample of `max_samples`)."""
    if not 0 < proxy_fraction < 1:
        raise ValueError(f"proxy_fraction must be in (0, 1), got {proxy_fraction}")
    rng = random.Random(seed)
    order = list(ids)
    rng.shuffle(order)
    if max_samples is not None:
        order = order[:max_samples]
    n_proxy = round(len(order) * proxy_fraction)
    if n_proxy == 0 or n_proxy == len(order):
        raise ValueError(
            f"proxy fraction {proxy_fraction} of {len(order)} samples leaves an empty split; "
            "use more samples or another proxy_fraction"
        )
    # keep file order inside each split so outputs are easy to read and stable
    position = {rid: i for i, rid in enumerate(ids)}
    proxy = sorted(order[:n_proxy], key=position.get)
    test = sorted(order[n_proxy:], key=position.get)
    return {"seed": seed, "proxy_fraction": proxy_fraction, "proxy": proxy, "test": test}
