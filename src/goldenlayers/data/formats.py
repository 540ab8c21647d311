"""Dataset formats: one registry (`FORMATS`) of adapters from each distributed format to the normalised record
(see `goldenlayers.data`), with the validation every adapter shares.

Formats (`FORMATS`; `detect_format` picks one from the first record's keys when the config names none):

- `knowedit`: KnowEdit's ZsRE (`ZsRE-test-all.json`), WikiData_counterfact (`test_cf.json`) and WikiData_recent
  (`recent_test.json`): subject, prompt, target_new, ground_truth (absent in WikiData_recent), `rephrase_prompt`
  (ZsRE) or `rephrase` (WikiDatapartial(_flat, FLAT_FIELDS["counterfact"])), and `locality` / `portability` as {kind: [{prompt, ground_truth}]}
  with the kinds Relation_Specificity, Forgetfulness, Reasoning, Subject_Aliasing, Logical_Generalization. The
  project's own embedded dataset is written in this format too.
- `wikibio`: KnowEdit's WikiBio (`wikibio-test-all.json`): text -> prompt, labels -> target_new,
  concept -> subject, no ground truth, locality Relation_Specificity.
- `counterfact`: EasyEdit's flat Counterfact (`counterfact-edit.json` and friends): case_id, prompt, target_new,
  subject, ground_truth, rephrase_prompt, locality_prompt, locality_ground_truth.
- `rome_counterfact`: ROME's nested `counterfact.json` (requested_rewrite {prompt with "{}", subject, target_new
  {str}, target_true {str}, relation_id}, paraphrase_prompts, neighborhood_prompts, ...). Neighbourhood prompts are
  the locality prompts, answered by target_true (the true object they share with the subject, as ROME scores them);
  attribute and generation prompts are not used. EasyEdit's `counterfact_portability_gpt4.json` is this format plus
  `portability: {"New Question", "New Answer"}`.
- `zsre_mend`: the MEND split of zsRE (`zsre_mend_eval.json`): subject, src -> prompt, alt -> target_new,
  answers -> ground truth, rephrase, loc / loc_ans -> locality (the "nq question: ..." prompt used as it is, like
  EasyEdit); optional `portability: {"New Question", "New Answer"}` (`zsre_mend_eval_portability_gpt4.json`).
  `pred` is the MEND base model's prediction and is ignored.
- `peakcf` and `unke`: the appendix datasets (composite editing on PEAK's PEAK_counter.json, unstructured editing
  on UnKEBench's final_data_v3.json); their field mapping is above `_unke` and `_peakcf`. PeakCF records
  carry one more field, `answer_list` (the subject's true answers a composite edit must keep).
- `normalised`: records already in the form above (what `prepare-dataset` writes), validated again on reading.

Validation (every format): subject, prompt and target_new are non-empty strings and the subject occurs in the
prompt (editors look up the subject's last token); answers are strings or (nested) lists of strings; ids are
unique. A problem raises `InvalidRecord`, whose message names the file, the record index and the field as the file
spells it; `on_invalid="skip"` drops such records instead and reports each one (`goldenlayers.data.load`).
Locality/portability items whose answer is an empty string are dropped (EasyEdit skips them too) and counted in the
load report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from typing import Callable

from goldenlayers.data.sources import DatasetError

# The edit-quality metrics a normalised record can be scored on, one per kind of prompt it carries.
METRICS = ("rewrite", "rephrase", "locality", "portability")


class InvalidRecord(DatasetError):
    """One record that breaks the format: which file, which record (0-based index in the file), which field."""

    def __init__(self, path, index: int, field: str, problem: str):
        self.path, self.index, self.field, self.problem = str(path), index, field, problem
        super().__init__(f"{path}: record {index}: field {field!r} {problem}")

    def as_dict(self) -> dict:
        return {"index": self.index, "field": self.field, "problem": self.problem}


# --- typed access to one raw record ----------------------------------------------------------------------------


class _Fields:
    """Reads the fields of one raw record; every problem raises InvalidRecord with the field's name in the file."""

    def __init__(self, item, index: int, path):
        self.item, self.index, self.path = item, index, path
        self.dropped_items = 0  # locality/portability entries with an empty answer (skipped, as EasyEdit does)

    def fail(self, name: str, problem: str):
        raise InvalidRecord(self.path, self.index, name, problem)

    def get(self, name: str):
        """A possibly nested field: "requested_rewrite.target_new.str"."""
        value = self.item
        for part in name.split("."):
            if not isinstance(value, dict):
                self.fail(name, f"cannot be read: its parent is a {type(value).__name__}, not an object")
            value = value.get(part)
        return value

    def text(self, name: str, required: bool = True) -> str | None:
        value = self.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str):
            self.fail(name, "is missing" if value is None else f"must be a string, not {type(value).__name__}")
        if not value.strip():
            if not required:
                return None
            self.fail(name, "is empty")
        return value

    def texts(self, name: str) -> list[str]:
        """A string or a list of strings (rephrase prompts); empty strings are ignored."""
        value = self.get(name)
        if value is None:
            return []
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            self.fail(name, f"must be a string or a list of strings, not {_describe(value)}")
        return [v for v in values if v.strip()]

    def aliases(self, name: str, value=None) -> list[str]:
        """Every alias of a ground truth given as str, list of str or list of alias lists; order kept."""
        value = self.get(name) if value is None else value
        if value is None:
            return []
        flat = _flatten_answers(value)
        if flat is None:
            self.fail(name, f"must be a string, a list of strings or a list of alias lists, not {_describe(value)}")
        return [a for a in flat if a.strip()]

    def prompt_answer_items(self, name: str) -> list[dict]:
        """KnowEdit's locality/portability: {kind: [{prompt, ground_truth}, ...]}, {kind: {...}} or a plain list."""
        value = self.get(name)
        if not value:
            return []
        if isinstance(value, dict) and "prompt" not in value:
            groups = [(f"{name}.{kind}", group) for kind, group in value.items()]
        else:
            groups = [(name, value)]
        items = []
        for where, group in groups:
            entries = group if isinstance(group, list) else [group]
            for j, entry in enumerate(entries):
                at = f"{where}[{j}]" if isinstance(group, list) else where
                if not isinstance(entry, dict):
                    self.fail(at, f"must be an object with prompt and ground_truth, not {_describe(entry)}")
                items.extend(self._entry_items(entry, at))
        return items

    def _entry_items(self, entry: dict, at: str) -> list[dict]:
        prompts = entry.get("prompt")
        answers = entry.get("ground_truth", entry.get("answer"))
        if isinstance(prompts, list):  # some files pair a list of prompts with a list of answers
            if not isinstance(answers, list) or len(answers) != len(prompts):
                self.fail(f"{at}.ground_truth", "must be a list as long as the list of prompts")
            pairs = [(f"{at}.prompt[{k}]", p, f"{at}.ground_truth[{k}]", a)
                     for k, (p, a) in enumerate(zip(prompts, answers))]
        else:
            pairs = [(f"{at}.prompt", prompts, f"{at}.ground_truth", answers)]
        items = []
        for prompt_name, prompt, answer_name, answer in pairs:
            if not isinstance(prompt, str) or not prompt.strip():
                self.fail(prompt_name, "is missing" if prompt is None else f"must be a non-empty string, not "
                          f"{_describe(prompt)}")
            if answer is None:
                self.fail(answer_name, "is missing")
            aliases = self.aliases(answer_name, answer)
            if not aliases:
                self.dropped_items += 1
                continue
            items.append(_item(prompt, aliases))
        return items


def _flatten_answers(value) -> list[str] | None:
    """str | list[str | list[str]] -> flat list of strings (None when the shape is wrong)."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        return None
    out = []
    for element in value:
        if isinstance(element, str):
            out.append(element)
        elif isinstance(element, list) and all(isinstance(a, str) for a in element):
            out.extend(element)
        else:
            return None
    return out


def _describe(value) -> str:
    text = json.dumps(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


def _item(prompt: str, aliases: list[str]) -> dict:
    item = {"prompt": prompt, "answer": aliases[0].strip()}
    if len(aliases) > 1:
        item["aliases"] = [a.strip() for a in aliases]
    return item


def _new_question_items(f: _Fields, name: str) -> list[dict]:
    """EasyEdit's GPT-4 one-hop portability: {"New Question": str, "New Answer": str}."""
    value = f.get(name)
    if value is None:
        return []
    if isinstance(value, dict) and "New Question" in value:
        question = f.text(f"{name}.New Question")
        answers = f.aliases(f"{name}.New Answer")
        if not answers:
            f.dropped_items += 1
            return []
        return [_item(question, answers)]
    return f.prompt_answer_items(name)


def _record(f: _Fields, *, subject: tuple[str, str], prompt: tuple[str, str], target_new: str, aliases: list[str],
            rephrase: list[str], locality: list[dict], portability: list[dict], rid=None, relation="") -> dict:
    """Assemble a normalised record; (value, field name in the file) pairs let errors use the file's names."""
    (subject_value, subject_name), (prompt_value, prompt_name) = subject, prompt
    if subject_value not in prompt_value:
        f.fail(subject_name, f"{subject_value!r} does not occur in {prompt_name} {prompt_value!r}")
    return {
        "id": str(f.index if rid is None else rid),
        "relation": relation if isinstance(relation, str) else str(relation),
        "subject": subject_value,
        "prompt": prompt_value,
        "ground_truth": aliases[0].strip() if aliases else None,
        "ground_truth_aliases": [a.strip() for a in aliases],
        "target_new": target_new.strip(),
        "rephrase_prompts": rephrase,
        "locality": locality,
        "portability": portability,
    }


# --- the formats ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordFormat:
    name: str
    description: str
    looks_like: Callable[[dict], bool]  # does this raw record (the file's first) look like this format?
    to_record: Callable[[_Fields], dict]


def _knowedit(f: _Fields) -> dict:
    rephrase = f.texts("rephrase_prompt") + f.texts("rephrase") + f.texts("rephrase_prompts")
    return _record(
        f,
        subject=(f.text("subject"), "subject"),
        prompt=(f.text("prompt"), "prompt"),
        target_new=f.text("target_new"),
        aliases=f.aliases("ground_truth"),
        rephrase=rephrase,
        locality=f.prompt_answer_items("locality"),
        portability=f.prompt_answer_items("portability"),
        rid=f.get("case_id"),
        relation=f.get("relation") or "",
    )


def _wikibio(f: _Fields) -> dict:
    return _record(
        f,
        subject=(f.text("concept"), "concept"),
        prompt=(f.text("text"), "text"),
        target_new=f.text("labels"),
        aliases=[],
        rephrase=[],
        locality=f.prompt_answer_items("locality"),
        portability=[],
    )


def _flat_locality(f: _Fields, prompt_name: str, answer_name: str) -> list[dict]:
    """A flat format's one optional locality prompt (`prompt_name`) and its answers (`answer_name`), as items."""
    prompt = f.text(prompt_name, required=False)
    if prompt is None:
        return []
    answers = f.aliases(answer_name)
    if not answers:
        f.fail(answer_name, f"is missing or empty while {prompt_name} is given")
    return [_item(prompt, answers)]


# The flat formats: one record per object, field names differing only. EasyEdit's counterfact (prompt, target_new,
# ground_truth, rephrase_prompt, locality_prompt/locality_ground_truth, case_id) and MEND's zsRE (src, alt, answers,
# rephrase, loc/loc_ans).
FLAT_FIELDS = {
    "counterfact": dict(prompt="prompt", target_new="target_new", aliases="ground_truth", rephrase="rephrase_prompt",
                        loc_prompt="locality_prompt", loc_answer="locality_ground_truth", rid="case_id"),
    "zsre_mend": dict(prompt="src", target_new="alt", aliases="answers", rephrase="rephrase", loc_prompt="loc",
                      loc_answer="loc_ans", rid=None),
}


def _flat(fields: dict, f: _Fields) -> dict:
    # locality first: its problem is the one reported when a record has several
    locality = _flat_locality(f, fields["loc_prompt"], fields["loc_answer"])
    return _record(
        f,
        subject=(f.text("subject"), "subject"),
        prompt=(f.text(fields["prompt"]), fields["prompt"]),
        target_new=f.text(fields["target_new"]),
        aliases=f.aliases(fields["aliases"]),
        rephrase=f.texts(fields["rephrase"]),
        locality=locality,
        portability=_new_question_items(f, "portability"),
        rid=f.get(fields["rid"]) if fields["rid"] else None,
    )


def requested_rewrite(f: _Fields) -> tuple[str, str]:
    """(prompt template, subject) of a ROME-style `requested_rewrite` (Counterfact, PeakCF), the template checked."""
    rw = "requested_rewrite"
    template = f.text(f"{rw}.prompt")
    subject = f.text(f"{rw}.subject")
    if "{}" not in template:
        f.fail(f"{rw}.prompt", f"must contain '{{}}' where the subject goes, got {template!r}")
    return template, subject


def _rome_counterfact(f: _Fields) -> dict:
    rw = "requested_rewrite"
    template, subject = requested_rewrite(f)
    true_answers = f.aliases(f"{rw}.target_true.str")
    neighbours = f.texts("neighborhood_prompts")
    if neighbours and not true_answers:
        f.fail(f"{rw}.target_true.str", "is needed to score the neighborhood_prompts")
    return _record(
        f,
        subject=(subject, f"{rw}.subject"),
        prompt=(template.replace("{}", subject), f"{rw}.prompt"),
        target_new=f.text(f"{rw}.target_new.str"),
        aliases=true_answers,
        rephrase=f.texts("paraphrase_prompts"),
        locality=[_item(p, true_answers) for p in neighbours],
        portability=_new_question_items(f, "portability"),
        rid=f.get("case_id"),
        relation=f.get(f"{rw}.relation_id") or "",
    )


def _normalised(f: _Fields) -> dict:
    def items(name):
        value = f.get(name) or []
        if not isinstance(value, list):
            f.fail(name, f"must be a list of {{prompt, answer}} objects, not {_describe(value)}")
        out = []
        for j, entry in enumerate(value):
            at = f"{name}[{j}]"
            if not isinstance(entry, dict):
                f.fail(at, f"must be an object with prompt and answer, not {_describe(entry)}")
            for key in ("prompt", "answer"):
                if not isinstance(entry.get(key), str) or not entry[key].strip():
                    f.fail(f"{at}.{key}", "is missing or not a non-empty string")
            out.append(dict(entry))
        return out

    aliases = f.aliases("ground_truth_aliases") or f.aliases("ground_truth")
    rid = f.get("id")
    if not isinstance(rid, (str, int)) or str(rid) == "":
        f.fail("id", "is missing or not a string")
    record = _record(
        f,
        subject=(f.text("subject"), "subject"),
        prompt=(f.text("prompt"), "prompt"),
        target_new=f.text("target_new"),
        aliases=aliases,
        rephrase=f.texts("rephrase_prompts"),
        locality=items("locality"),
        portability=items("portability"),
        rid=rid,
        relation=f.get("relation") or "",
    )
    if f.get("answer_list") is not None:  # PeakCF's composite answers (_peakcf)
        record["answer_list"] = f.texts("answer_list")
    return record


# --- the appendix formats (Tables 12-13): UnKE (unstructured editing), PeakCF (composite editing) -------------
#
# - `unke`: UnKEBench as distributed (`final_data_v3.json`, which EasyEdit reads as `UnKE/final_data_v3.json` and
#   turns into {question, para_question, answer, sub_question, sub_answer}): a JSON list of
#   {id, question, para_question, answer, sub_question: [str], sub_answer: [str]}.
#   question -> prompt; answer (a paragraph) -> target_new; para_question -> rephrase_prompts; each
#   (sub_question[i], sub_answer[i]) -> a portability item; no ground truth (the pre-edit answer is the model's own
#   continuation). UnKE marks no subject, so the whole question is the subject: R-ROME's key is read at the
#   question's last token (where UnKE-style editors read it too) and causal tracing noises the whole question.
#   EasyEdit falls back to the question when para_question is missing; we do the same (no rephrase prompt then).
# - `peakcf`: PEAK's counterfactual set (`data/PEAK_counter.json` of "Neighboring Perturbations of Knowledge Editing
#   on Large Language Models", the set A^3E's compositional benchmark calls PeakCF): ROME-style records
#   {case_id, requested_rewrite {prompt with "{}", subject, relation_id, target_new {str}, target_true {str}},
#   postive_list [str], negtive_list [str], para_add_prompts [str], neighborhood_prompts [[prompt, answer]],
#   negtive_random_list [str]} (PEAK's spellings).
#   prompt.format(subject) -> prompt; target_new.str -> target_new; target_true.str -> ground truth;
#   para_add_prompts -> rephrase_prompts; neighborhood_prompts -> locality items; postive_list (the subject's true
#   answers, target_true first) -> `answer_list`, the answers a composite edit must keep beside the new one.
#   negtive_list and negtive_random_list (PEAK's distractors for its additivity score) are not used.


def _unke(f) -> dict:
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


# Detection order (`detect_format`): most specific first. The appendix formats lead because PeakCF records also
# carry ROME's requested_rewrite.
FORMATS: dict[str, RecordFormat] = {
    fmt.name: fmt
    for fmt in [
        RecordFormat("peakcf", "PEAK's PEAK_counter.json / PeakCF (requested_rewrite, postive_list, para_add_prompts)",
                     lambda r: "requested_rewrite" in r and ("postive_list" in r or "para_add_prompts" in r),
                     _peakcf),
        RecordFormat("unke", "UnKEBench final_data_v3.json (question, para_question, answer, sub_question, sub_answer)",
                     lambda r: "question" in r and "answer" in r and "prompt" not in r, _unke),
        RecordFormat("normalised", "records as this project writes them (prepare-dataset output)",
                     lambda r: "ground_truth_aliases" in r and "rephrase_prompts" in r, _normalised),
        RecordFormat("rome_counterfact", "ROME's counterfact.json (requested_rewrite, paraphrase/neighborhood prompts)",
                     lambda r: "requested_rewrite" in r, _rome_counterfact),
        RecordFormat("zsre_mend", "MEND's zsRE split (subject, src, alt, answers, rephrase, loc, loc_ans)",
                     lambda r: "src" in r and "alt" in r, partial(_flat, FLAT_FIELDS["zsre_mend"])),
        RecordFormat("wikibio", "KnowEdit WikiBio (text, labels, concept, locality)",
                     lambda r: "text" in r and "labels" in r, _wikibio),
        RecordFormat("counterfact", "EasyEdit's flat Counterfact (prompt, ..., locality_prompt, locality_ground_truth)",
                     lambda r: "locality_prompt" in r or "locality_ground_truth" in r, partial(_flat, FLAT_FIELDS["counterfact"])),
        RecordFormat("knowedit", "KnowEdit ZsRE / WikiData_counterfact / WikiData_recent (nested locality/portability)",
                     lambda r: "prompt" in r and "target_new" in r, _knowedit),
    ]
}


def detect_format(raw: list, path) -> str:
    """The first format (in FORMATS order, most specific first) whose signature the first record has."""
    first = raw[0]
    if not isinstance(first, dict):
        raise InvalidRecord(path, 0, "(record)", f"must be a JSON object, not {_describe(first)}")
    for fmt in FORMATS.values():
        if fmt.looks_like(first):
            return fmt.name
    raise DatasetError(
        f"{path}: cannot tell the dataset format from the first record's fields {sorted(first)}; set `format:` to one "
        "of: " + "; ".join(f"{f.name} ({f.description})" for f in FORMATS.values())
    )

