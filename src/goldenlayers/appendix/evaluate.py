"""The paper's appendix settings (Appendix D): composite editing on PeakCF (Table 12) and unstructured editing on
UnKE (Table 13), each evaluated at the layer a selector (LGA, SaLEM, CMA) chose, on the test split.

Every test sample is edited on its own (R-ROME by default) at the chosen layer, evaluated, and the weights restored
exactly, as in the sweep. Generation is greedy with `max_new_tokens` from the config (`appendix.max_new_tokens`).

Composite (PeakCF records: prompt, target_new, rephrase prompts, `answer_list` of true answers):
- SR-1, single-edit success: 1 when the edited model reproduces every token of target_new after the prompt
  (teacher-forced argmax, EasyEdit's exact-match rule), else 0;
- SRS, compositional success: the fraction of the composite answer set {target_new} ∪ answer_list (the new answer
  appended to the subject's answers, PEAK's "appending" edit) that the edited model reproduces the same way;
- GSR, generalisation success: the fraction of rephrase prompts (PEAK's para_add_prompts) after which target_new is
  reproduced (NaN when a record has none);
- LSR: ROUGE-L recall of the greedy generation after the prompt against the composite answers joined by ", ".
A^3E's code does not spell out these four, so this is our reading of the names; docs/paper-mapping.md says so.

Unstructured (UnKE records: question -> prompt, answer -> target_new, para_question -> rephrase_prompts):
BLEU and ROUGE-1/2/L of the greedy answer to the question against the reference answer (the whole answer, not the
capped edit target), Para-ROUGE-L of the answer to the paraphrased question, BERTScore F1 (question's answer vs
reference) and MMLU accuracy of the edited model on the first `mmlu_questions` questions of a local MMLU file.
A metric that cannot be computed (no BERTScore model offline, no MMLU file) is skipped: NaN in every row and its
reason in `skipped`, never a zero. See `goldenlayers.appendix.metrics`.

Overall is the mean of a setting's metrics over the ones computed (Table 13's Overall column is exactly the mean
of its seven metrics; Table 12's Overall is not the mean of its four and its rule is not stated).
"""

from __future__ import annotations

import math
import time

import torch
from tqdm import tqdm

from goldenlayers.editing import apply_edit, restore_weight, try_edit
from goldenlayers.editing.covariance import for_layer
from goldenlayers.editing.evaluate import greedy_text
from goldenlayers.appendix.metrics import (
    MetricSkipped,
    bertscore_f1,
    bleu,
    load_mmlu,
    mean_or_nan,
    mmlu_accuracy,
    rouge,
)
from goldenlayers.models import logits_at
from goldenlayers.text import batch_prompt_answers

SETTINGS = {
    "composite": ("SRS", "SR-1", "GSR", "LSR"),
    "unstructured": ("BLEU", "ROUGE-1", "ROUGE-2", "ROUGE-L", "Para-ROUGE-L", "BERTScore", "MMLU"),
}
TABLE_OF_SETTING = {"composite": "table12", "unstructured": "table13"}
DEFAULTS = {"max_new_tokens": 64, "decoding": "greedy", "bertscore_model": "roberta-large", "bertscore_layers": None,
            "mmlu_file": None, "mmlu_questions": 20}


@torch.no_grad()
def exact_success(model, tok, pairs: list[tuple[str, str]]) -> list[float]:
    """1.0 per (prompt, answer) whose every answer token is the teacher-forced argmax, else 0.0."""
    if not pairs:
        return []
    input_ids, mask, labels = batch_prompt_answers(tok, pairs)
    rows, cols = (labels != -100).nonzero(as_tuple=True)
    device = model.device
    argmax = logits_at(model, input_ids.to(device), mask.to(device), rows.to(device), cols.to(device)).argmax(-1)
    hit = (argmax.cpu() == labels[rows, cols]).float()
    return [float(hit[rows == i].min()) for i in range(len(pairs))]


def composite_answers(record: dict) -> list[str]:
    """target_new first, then the true answers (answer_list), each once."""
    answers = [record["target_new"]]
    for answer in record.get("answer_list") or ([record["ground_truth"]] if record.get("ground_truth") else []):
        if answer not in answers:
            answers.append(answer)
    return answers


def composite_metrics(model, tok, record: dict, max_new_tokens: int) -> dict:
    answers = composite_answers(record)
    pairs = [(record["prompt"], a) for a in answers] + [(p, record["target_new"]) for p in record["rephrase_prompts"]]
    hits = exact_success(model, tok, pairs)
    generation = greedy_text(model, tok, record["prompt"], max_new_tokens)
    return {
        "SRS": sum(hits[: len(answers)]) / len(answers),
        "SR-1": hits[0],
        "GSR": mean_or_nan(hits[len(answers):]) if record["rephrase_prompts"] else math.nan,
        "LSR": rouge(generation, ", ".join(answers))["rougeL"],
        "generation": generation,
    }


def unstructured_metrics(model, tok, record: dict, max_new_tokens: int, mmlu: list[dict] | None) -> dict:
    reference = record["target_new"]
    generation = greedy_text(model, tok, record["prompt"], max_new_tokens)
    scores = rouge(generation, reference)
    row = {"BLEU": bleu(generation, reference), "ROUGE-1": scores["rouge1"], "ROUGE-2": scores["rouge2"],
           "ROUGE-L": scores["rougeL"], "generation": generation, "para_generation": None}
    if record["rephrase_prompts"]:
        row["para_generation"] = greedy_text(model, tok, record["rephrase_prompts"][0], max_new_tokens)
        row["Para-ROUGE-L"] = rouge(row["para_generation"], reference)["rougeL"]
    else:
        row["Para-ROUGE-L"] = math.nan
    row["MMLU"] = mmlu_accuracy(model, tok, mmlu) if mmlu else math.nan
    return row


def evaluate_at_layer(model, tok, records: list[dict], split: dict, setting: str, editor: str, hparams, layer: int,
                      templates: list[str], settings: dict | None = None, progress: bool = True,
                      covariance=None) -> dict:
    """Edit and evaluate every test sample at `layer`; per-sample rows, means and skipped metrics. `covariance`:
    the layer's key covariance for editors that use it (`editing.covariance.for_layer`)."""
    if setting not in SETTINGS:
        raise ValueError(f"unknown appendix setting {setting!r}; known: {', '.join(SETTINGS)}")
    settings = {**DEFAULTS, **(settings or {})}
    if settings["decoding"] != "greedy":
        raise ValueError(f"appendix.decoding {settings['decoding']!r} is not supported; the paper decodes greedily")
    covariance = for_layer(editor, hparams, layer, given=covariance, what="the appendix evaluation")
    test_ids = set(split["test"])
    todo = [r for r in records if r["id"] in test_ids]
    if not todo:
        raise ValueError("the split's test set is empty")
    skipped: dict[str, str] = {}
    mmlu = None
    if setting == "unstructured":
        try:
            mmlu = load_mmlu(settings["mmlu_file"], settings["mmlu_questions"])
        except MetricSkipped as err:
            skipped["MMLU"] = str(err)
    rows = []
    for record in tqdm(todo, desc=f"{setting} {editor} layer {layer}", disable=not progress):
        row = {"sample_id": record["id"], "status": "ok", "reason": ""}
        started = time.perf_counter()
        edit, reason = try_edit(model, tok, record, editor, hparams, layer, templates, covariance=covariance)
        if reason is not None:
            row.update({m: math.nan for m in SETTINGS[setting]}, status="failed", reason=reason)
            rows.append(row)
            continue
        original = apply_edit(model, edit)
        try:
            if setting == "composite":
                row.update(composite_metrics(model, tok, record, settings["max_new_tokens"]))
            else:
                row.update(unstructured_metrics(model, tok, record, settings["max_new_tokens"], mmlu))
        finally:
            restore_weight(model, layer, original)
        row["seconds"] = time.perf_counter() - started
        rows.append(row)
    if setting == "unstructured":
        _add_bertscore(rows, {r["id"]: r["target_new"] for r in todo}, settings, skipped)
    means = {m: mean_or_nan([r[m] for r in rows]) for m in SETTINGS[setting]}
    computed = [v for m, v in means.items() if m not in skipped and not math.isnan(v)]
    means["Overall"] = sum(computed) / len(computed) if computed else math.nan
    return {"setting": setting, "editor": editor, "layer": layer, "n_test": len(todo),
            "n_failed": sum(r["status"] != "ok" for r in rows), "metrics": means, "skipped": skipped,
            "generation": {"decoding": "greedy", "max_new_tokens": settings["max_new_tokens"]},
            "samples": rows}


def _add_bertscore(rows: list[dict], references: dict, settings: dict, skipped: dict) -> None:
    done = [r for r in rows if r["status"] == "ok"]
    for r in rows:
        r["BERTScore"] = math.nan
    if not done:
        return
    try:
        scores = bertscore_f1([r["generation"] for r in done], [references[r["sample_id"]] for r in done],
                              settings["bertscore_model"], settings["bertscore_layers"])
    except MetricSkipped as err:
        skipped["BERTScore"] = str(err)
        return
    for r, s in zip(done, scores):
        r["BERTScore"] = s
