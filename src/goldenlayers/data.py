"""Edit datasets: reading every distributed format into one record type, validating, filtering, splitting.

A normalised record is a plain dict::

    {"id": str, "relation": str, "subject": str, "prompt": str,
     "ground_truth": str | None, "ground_truth_aliases": [str], "target_new": str,
     "rephrase_prompts": [str],
     "locality": [{"prompt": str, "answer": str}], "portability": [{"prompt": str, "answer": str}]}

Ground truths come as a string, a list of strings, or a list of alias lists (KnowEdit's Wikidata files give
`[["Berlin", "Berlin, Germany", ...]]`). Every alias is kept, in file order (`ground_truth_aliases`; a locality or
portability item gets an `aliases` list when its source names more than one), and metrics score against the first,
as EasyEdit does (it unwraps nested lists to their first element). A record without a ground truth has
`ground_truth = None`.

Formats (`FORMATS`; `detect_format` picks one from the first record's keys when the config names none):

- `knowedit`: KnowEdit's ZsRE (`ZsRE-test-all.json`), WikiData_counterfact (`test_cf.json`) and WikiData_recent
  (`recent_test.json`): subject, prompt, target_new, ground_truth (absent in WikiData_recent), `rephrase_prompt`
  (ZsRE) or `rephrase` (WikiData_counterfact), and `locality` / `portability` as {kind: [{prompt, ground_truth}]}
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
  on UnKEBench's final_data_v3.json); their field mapping is in `goldenlayers.appendix_formats`. PeakCF records
  carry one more field, `answer_list` (the subject's true answers a composite edit must keep).
- `normalised`: records already in the form above (what `prepare-dataset` writes), validated again on reading.

Validation (every format): subject, prompt and target_new are non-empty strings and the subject occurs in the
prompt (editors look up the subject's last token); answers are strings or (nested) lists of strings; ids are
unique. A problem raises `InvalidRecord`, whose message names the file, the record index and the field as the file
spells it; `on_invalid="skip"` drops such records instead and reports each one. Locality/portability items whose
answer is an empty string are dropped (EasyEdit skips them too) and counted in the load report.

Which metrics a dataset supports follows from its fields (`supported_metrics`): rewrite always, rephrase /
locality / portability when records carry those prompts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable

import torch
from tqdm import tqdm

from goldenlayers.text import batch_prompt_answers

log = logging.getLogger(__name__)

DEFAULT_DATASET = "embedded:default_edits"
# Where a dataset file from the Hugging Face hub may be placed by hand (machines without network):
# <HUB_PLACEMENT_DIR>/<repo id>/<file inside the repo>, relative to the working directory (the repository root
# when Snakemake runs the pipeline).
HUB_PLACEMENT_DIR = "data/hub"
ON_INVALID = ("error", "skip")


class DatasetError(ValueError):
    """A dataset file that cannot be used; the message names the file, record and field."""


class InvalidRecord(DatasetError):
    """One record that breaks the format: which file, which record (0-based index in the file), which field."""

    def __init__(self, path, index: int, field: str, problem: str):
        self.path, self.index, self.field, self.problem = str(path), index, field, problem
        super().__init__(f"{path}: record {index}: field {field!r} {problem}")

    def as_dict(self) -> dict:
        return {"index": self.index, "field": self.field, "problem": self.problem}


# --- where a dataset file comes from ---------------------------------------------------------------------------


def dataset_path(source: str) -> Path:
    if source == DEFAULT_DATASET:
        return Path(str(resources.files("goldenlayers") / "data" / "default_edits.json"))
    path = Path(source)
    if not path.exists():
        raise DatasetError(f"{source}: dataset file not found")
    return path


def hub_placement_path(repo_id: str, filename: str, root: str | Path = HUB_PLACEMENT_DIR) -> Path:
    return Path(root) / repo_id / filename


def fetch_hub_file(repo_id: str, filename: str, revision: str | None = None,
                   placement_root: str | Path = HUB_PLACEMENT_DIR) -> Path:
    """A file of a Hugging Face *dataset* repository, as a local path.

    A copy placed by hand at `<placement_root>/<repo_id>/<filename>` wins (clusters whose nodes have no network);
    otherwise `huggingface_hub` downloads it into its cache (HF_HOME), or finds it there when offline.
    """
    placed = hub_placement_path(repo_id, filename, placement_root)
    if placed.exists():
        return placed
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{filename} of the Hugging Face dataset {repo_id}" + (f" (revision {revision})" if revision else "")
    how = (
        f"Download it where the hub is reachable (`hf download {repo_id} {filename} --repo-type dataset "
        f"--local-dir {Path(placement_root) / repo_id}`) so that it lies at {placed}, or give the dataset a local "
        "`source:` path instead."
    )
    try:
        return Path(hf_hub_download(repo_id, filename, repo_type="dataset", revision=revision))
    except LocalEntryNotFoundError:  # offline (no network or HF_HUB_OFFLINE=1) and not in the cache
        raise DatasetError(f"cannot download {where}: the hub is unreachable and the file is not cached. {how}") from None
    except GatedRepoError:
        raise DatasetError(f"{where}: the repository is gated; accept its terms on huggingface.co and log in "
                           "(`hf auth login` or HF_TOKEN)") from None
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError) as err:
        raise DatasetError(f"{where} does not exist on the hub ({type(err).__name__}); check the repo id, "
                           "file path and revision") from None
    except OSError as err:  # connection problems that huggingface_hub passes through
        raise DatasetError(f"cannot download {where}: {err}. {how}") from None


def resolve_dataset_file(source: str | None = None, hf_dataset: str | None = None, hf_file: str | None = None,
                         hf_revision: str | None = None) -> Path:
    """The local file of a dataset given by `source` (embedded name or local path) or by hub repo + file."""
    if (source is None) == (hf_dataset is None):
        raise DatasetError("give a dataset either a local `source` or `hf_dataset` + `hf_file`, not both or neither")
    if source is not None:
        return dataset_path(source)
    if not hf_file:
        raise DatasetError(f"hf_dataset {hf_dataset!r} needs `hf_file`, the path of the JSON file inside the repo")
    return fetch_hub_file(hf_dataset, hf_file, revision=hf_revision)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


def _counterfact(f: _Fields) -> dict:
    locality = []
    loc_prompt = f.text("locality_prompt", required=False)
    if loc_prompt is not None:
        answers = f.aliases("locality_ground_truth")
        if not answers:
            f.fail("locality_ground_truth", "is missing or empty while locality_prompt is given")
        locality.append(_item(loc_prompt, answers))
    return _record(
        f,
        subject=(f.text("subject"), "subject"),
        prompt=(f.text("prompt"), "prompt"),
        target_new=f.text("target_new"),
        aliases=f.aliases("ground_truth"),
        rephrase=f.texts("rephrase_prompt"),
        locality=locality,
        portability=_new_question_items(f, "portability"),
        rid=f.get("case_id"),
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


def _zsre_mend(f: _Fields) -> dict:
    locality = []
    loc = f.text("loc", required=False)
    if loc is not None:
        answers = f.aliases("loc_ans")
        if not answers:
            f.fail("loc_ans", "is missing or empty while loc is given")
        locality.append(_item(loc, answers))
    return _record(
        f,
        subject=(f.text("subject"), "subject"),
        prompt=(f.text("src"), "src"),
        target_new=f.text("alt"),
        aliases=f.aliases("answers"),
        rephrase=f.texts("rephrase"),
        locality=locality,
        portability=_new_question_items(f, "portability"),
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
    if f.get("answer_list") is not None:  # PeakCF's composite answers (appendix_formats)
        record["answer_list"] = f.texts("answer_list")
    return record


FORMATS: dict[str, RecordFormat] = {
    fmt.name: fmt
    for fmt in [
        RecordFormat("normalised", "records as this project writes them (prepare-dataset output)",
                     lambda r: "ground_truth_aliases" in r and "rephrase_prompts" in r, _normalised),
        RecordFormat("rome_counterfact", "ROME's counterfact.json (requested_rewrite, paraphrase/neighborhood prompts)",
                     lambda r: "requested_rewrite" in r, _rome_counterfact),
        RecordFormat("zsre_mend", "MEND's zsRE split (subject, src, alt, answers, rephrase, loc, loc_ans)",
                     lambda r: "src" in r and "alt" in r, _zsre_mend),
        RecordFormat("wikibio", "KnowEdit WikiBio (text, labels, concept, locality)",
                     lambda r: "text" in r and "labels" in r, _wikibio),
        RecordFormat("counterfact", "EasyEdit's flat Counterfact (prompt, ..., locality_prompt, locality_ground_truth)",
                     lambda r: "locality_prompt" in r or "locality_ground_truth" in r, _counterfact),
        RecordFormat("knowedit", "KnowEdit ZsRE / WikiData_counterfact / WikiData_recent (nested locality/portability)",
                     lambda r: "prompt" in r and "target_new" in r, _knowedit),
    ]
}
# The appendix formats first: PeakCF records also have ROME's requested_rewrite.
from goldenlayers.appendix_formats import _formats as _appendix_formats  # noqa: E402

FORMATS = {**{fmt.name: fmt for fmt in _appendix_formats()}, **FORMATS}


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


# --- loading ----------------------------------------------------------------------------------------------------


@dataclass
class LoadedDataset:
    path: str
    format: str
    records: list[dict]
    n_raw: int
    invalid: list[dict] = field(default_factory=list)  # {index, field, problem} of every skipped record
    dropped_items: int = 0  # locality/portability entries skipped for an empty answer
    dropped_fields: dict = field(default_factory=dict)  # what a declared format leaves out that the file has

    def report(self) -> dict:
        return {
            "path": self.path,
            "format": self.format,
            "n_raw": self.n_raw,
            "n_records": len(self.records),
            "n_invalid": len(self.invalid),
            "invalid": self.invalid,
            "dropped_empty_answer_items": self.dropped_items,
            "dropped_by_declared_format": self.dropped_fields,
            "supported_metrics": supported_metrics(self.records),
        }


def read_raw(path: Path) -> list:
    try:
        raw = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise DatasetError(f"{path}: malformed JSON at line {err.lineno}: {err.msg}") from None
    if not isinstance(raw, list) or not raw:
        raise DatasetError(f"{path}: expected a non-empty JSON list of records")
    return raw


def load_dataset(source: str | Path, format: str | None = None, on_invalid: str = "error") -> LoadedDataset:
    """Read a dataset file in any known format into normalised records, validating every record.

    on_invalid: "error" stops at the first invalid record (InvalidRecord names file, record, field); "skip" drops
    invalid records and lists them in `LoadedDataset.invalid`.
    """
    path = dataset_path(str(source))
    return parse_records(read_raw(path), path, format=format, on_invalid=on_invalid)


def parse_records(raw: list, path: str | Path = "records", format: str | None = None,
                  on_invalid: str = "error") -> LoadedDataset:
    """Normalise and validate raw records already in memory (a JSON list); `path` names them in error messages.

    The same rules as `load_dataset` (which reads the file and calls this): the format is detected from the first
    record when not given; a plain list of {prompt, subject, target_new[, ground_truth]} reads as `knowedit`.
    """
    if on_invalid not in ON_INVALID:
        raise ValueError(f"on_invalid must be one of {', '.join(ON_INVALID)}, got {on_invalid!r}")
    if not isinstance(raw, list) or not raw:
        raise DatasetError(f"{path}: expected a non-empty list of records")
    declared = format is not None
    if format is None:
        format = detect_format(raw, path)
    elif format not in FORMATS:
        raise DatasetError(f"unknown dataset format {format!r}; known formats: {', '.join(FORMATS)}")
    to_record = FORMATS[format].to_record
    loaded = LoadedDataset(path=str(path), format=format, records=[], n_raw=len(raw))
    first_index: dict[str, int] = {}
    for index, item in enumerate(raw):
        f = _Fields(item, index, path)
        try:
            if not isinstance(item, dict):
                f.fail("(record)", f"must be a JSON object, not {_describe(item)}")
            record = to_record(f)
            if record["id"] in first_index:
                f.fail("id", f"{record['id']!r} repeats the id of record {first_index[record['id']]}")
        except InvalidRecord as err:
            if on_invalid == "error":
                raise
            loaded.invalid.append(err.as_dict())
            continue
        first_index[record["id"]] = index
        loaded.dropped_items += f.dropped_items
        loaded.records.append(record)
    if not loaded.records:
        raise DatasetError(f"{path}: none of the {len(raw)} records is valid (first problem: {loaded.invalid[0]})")
    if declared:
        loaded.dropped_fields = fields_dropped_by_format(raw, path, format, loaded.records)
        if loaded.dropped_fields:
            log.warning("%s: the declared format %r drops %s that the file has (read as its detected format %r); "
                        "remove `format:` or set it to %r to keep them", path, format,
                        ", ".join(f"{m} ({n} records)" for m, n in loaded.dropped_fields["metrics"].items()),
                        loaded.dropped_fields["detected_format"], loaded.dropped_fields["detected_format"])
    return loaded


def fields_dropped_by_format(raw: list, path, format: str, records: list[dict]) -> dict:
    """What the file's detected format would read that `format` does not: {detected_format, metrics: {metric:
    records that lose it}}, or {} when nothing is lost (or no other format is detected)."""
    try:
        detected = detect_format(raw, path)
    except (DatasetError, InvalidRecord):
        return {}
    if detected == format:
        return {}
    try:
        other = load_dataset(path, format=detected, on_invalid="skip").records
    except DatasetError:
        return {}
    have, could = supported_metrics(records), supported_metrics(other)
    lost = {m: n - have.get(m, 0) for m, n in could.items() if n > have.get(m, 0)}
    return {"detected_format": detected, "metrics": lost} if lost else {}


def load_records(source: str, format: str | None = None, on_invalid: str = "error") -> list[dict]:
    """Normalised records of a dataset file (see `load_dataset`)."""
    return load_dataset(source, format=format, on_invalid=on_invalid).records


def supported_metrics(records: list[dict]) -> dict[str, int]:
    """Metric -> number of records that can be scored on it. Rewrite needs only the edit itself; rephrase,
    locality and portability need the record's prompts of that kind; a metric no record supports is left out."""
    counts = {
        "rewrite": len(records),
        "rephrase": sum(bool(r["rephrase_prompts"]) for r in records),
        "locality": sum(bool(r["locality"]) for r in records),
        "portability": sum(bool(r["portability"]) for r in records),
    }
    return {metric: n for metric, n in counts.items() if n}


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
    from goldenlayers.text import answer_span_ids

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
