"""Loaders for the paper's appendix datasets: UnKE (unstructured editing) and PeakCF (composite editing).

Both go through `goldenlayers.data`'s format registry (`FORMATS`), with the same validation, `on_invalid` skip rule
and load report as every other format; `data` imports `APPENDIX_FORMATS` from here and puts them first in the
detection order (PeakCF records also carry ROME's `requested_rewrite`, so they must be recognised before it).

- `unke`: UnKEBench as distributed (`final_data_v3.json`, which EasyEdit reads as `UnKE/final_data_v3.json` and
  turns into {question, para_question, answer, sub_question, sub_answer}): a JSON list of
  {id, question, para_question, answer, sub_question: [str], sub_answer: [str]}.
  question -> prompt; answer (a paragraph) -> target_new; para_question -> rephrase_prompts; each
  (sub_question[i], sub_answer[i]) -> a portability item; no ground truth (the pre-edit answer is the model's own
  continuation). UnKE marks no subject, so the whole question is the subject: R-ROME's key is read at the
  question's last token (where UnKE-style editors read it too) and causal tracing noises the whole question.
  EasyEdit falls back to the question when para_question is missing; we do the same (no rephrase prompt then).
- `peakcf`: PEAK's counterfactual set (`data/PEAK_counter.json` of "Neighboring Perturbations of Knowledge Editing
  on Large Language Models", the set A^3E's compositional benchmark calls PeakCF): ROME-style records
  {case_id, requested_rewrite {prompt with "{}", subject, relation_id, target_new {str}, target_true {str}},
  postive_list [str], negtive_list [str], para_add_prompts [str], neighborhood_prompts [[prompt, answer]],
  negtive_random_list [str]} (PEAK's spellings).
  prompt.format(subject) -> prompt; target_new.str -> target_new; target_true.str -> ground truth;
  para_add_prompts -> rephrase_prompts; neighborhood_prompts -> locality items; postive_list (the subject's true
  answers, target_true first) -> `answer_list`, the answers a composite edit must keep beside the new one.
  negtive_list and negtive_random_list (PEAK's distractors for its additivity score) are not used.
"""

from __future__ import annotations


def _unke(f) -> dict:
    from goldenlayers.data import _item, _record

    question = f.text("question")
    sub_questions = f.get("sub_question") or []
    sub_answers = f.get("sub_answer") or []
    for name, value in (("sub_question", sub_questions), ("sub_answer", sub_answers)):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            f.fail(name, "must be a list of strings")
    if len(sub_answers) != len(sub_questions):
        f.fail("sub_answer", f"has {len(sub_answers)} answers for {len(sub_questions)} sub_question(s)")
    portability = []
    for prompt, answer in zip(sub_questions, sub_answers):
        if not prompt.strip() or not answer.strip():
            f.dropped_items += 1  # skipped, like an empty portability answer in the other formats
            continue
        portability.append(_item(prompt, [answer]))
    rephrase = f.texts("para_question")
    return _record(
        f,
        subject=(question, "question"),
        prompt=(question, "question"),
        target_new=f.text("answer"),
        aliases=[],
        rephrase=[p for p in rephrase if p.strip() != question.strip()],
        locality=[],
        portability=portability,
        rid=f.get("id"),
        relation="unstructured",
    )


def _peakcf(f) -> dict:
    from goldenlayers.data import _item, _record, requested_rewrite

    rw = "requested_rewrite"
    template, subject = requested_rewrite(f)
    true_answer = f.text(f"{rw}.target_true.str")
    answers = f.texts("postive_list")
    locality = []
    neighbours = f.get("neighborhood_prompts") or []
    if not isinstance(neighbours, list):
        f.fail("neighborhood_prompts", "must be a list of [prompt, answer] pairs")
    for j, pair in enumerate(neighbours):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            f.fail(f"neighborhood_prompts[{j}]", "must be a [prompt, answer] pair of strings")
        if not pair[0].strip():
            f.fail(f"neighborhood_prompts[{j}][0]", "is empty")
        if not pair[1].strip():
            f.dropped_items += 1
            continue
        locality.append(_item(pair[0], [pair[1]]))
    record = _record(
        f,
        subject=(subject, f"{rw}.subject"),
        prompt=(template.replace("{}", subject), f"{rw}.prompt"),
        target_new=f.text(f"{rw}.target_new.str"),
        aliases=[true_answer],
        rephrase=f.texts("para_add_prompts"),
        locality=locality,
        portability=[],
        rid=f.get("case_id"),
        relation=f.get(f"{rw}.relation_id") or "",
    )
    # target_true first, then the other true answers in file order, each once
    kept = [true_answer.strip()]
    for answer in answers:
        if answer.strip() and answer.strip() not in kept:
            kept.append(answer.strip())
    record["answer_list"] = kept
    return record


def _formats():
    from goldenlayers.data import RecordFormat

    return [
        RecordFormat("peakcf", "PEAK's PEAK_counter.json / PeakCF (requested_rewrite, postive_list, para_add_prompts)",
                     lambda r: "requested_rewrite" in r and ("postive_list" in r or "para_add_prompts" in r),
                     _peakcf),
        RecordFormat("unke", "UnKEBench final_data_v3.json (question, para_question, answer, sub_question, sub_answer)",
                     lambda r: "question" in r and "answer" in r and "prompt" not in r, _unke),
    ]
