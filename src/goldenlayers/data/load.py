"""Loading a dataset: read a file (`goldenlayers.data.sources`), normalise every record through its format
(`goldenlayers.data.formats`), validate, and report what was kept, skipped and dropped.

Which metrics a dataset supports follows from its records' fields (`metric_counts`): rewrite always, rephrase /
locality / portability when records carry those prompts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from goldenlayers.data.formats import FORMATS, InvalidRecord, _describe, _Fields, detect_format
from goldenlayers.data.sources import DatasetError, dataset_path, read_raw, resolve_dataset_file
from goldenlayers.io import sha256_file

log = logging.getLogger(__name__)
ON_INVALID = ("error", "skip")


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
            "supported_metrics": metric_counts(self.records),
        }


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
    have, could = metric_counts(records), metric_counts(other)
    lost = {m: n - have.get(m, 0) for m, n in could.items() if n > have.get(m, 0)}
    return {"detected_format": detected, "metrics": lost} if lost else {}


def prepare_dataset(source: str | None = None, hf_dataset: str | None = None, hf_file: str | None = None,
                    hf_revision: str | None = None, format: str | None = None,
                    on_invalid: str = "error") -> tuple[list[dict], dict]:
    """Fetch a dataset file (local `source`, or `hf_file` of the hub repo `hf_dataset`), read it in its format and
    validate it: (normalised records, validation report = where the file came from, its SHA-256, and the load
    report of `LoadedDataset.report`)."""
    path = resolve_dataset_file(source, hf_dataset, hf_file, hf_revision)
    loaded = load_dataset(path, format=format, on_invalid=on_invalid)
    report = {"source": source, "hf_dataset": hf_dataset, "hf_file": hf_file, "hf_revision": hf_revision,
              "sha256": sha256_file(path), **loaded.report()}
    return loaded.records, report


def load_records(source: str, format: str | None = None, on_invalid: str = "error") -> list[dict]:
    """Normalised records of a dataset file (see `load_dataset`)."""
    return load_dataset(source, format=format, on_invalid=on_invalid).records


def metric_counts(records: list[dict]) -> dict[str, int]:
    """Metric -> number of records that can be scored on it (the validation report's `supported_metrics`).

    Rewrite needs only the edit itself; rephrase, locality and portability need the record's prompts of that kind;
    a metric no record supports is left out."""
    counts = {
        "rewrite": len(records),
        "rephrase": sum(bool(r["rephrase_prompts"]) for r in records),
        "locality": sum(bool(r["locality"]) for r in records),
        "portability": sum(bool(r["portability"]) for r in records),
    }
    return {metric: n for metric, n in counts.items() if n}
