"""One sweep job: edit every sample of a dataset at one layer with one editor and evaluate each edit.

Each edit starts from the unedited weights (restored exactly afterwards). Per-sample results are appended to a
partial JSONL file as they finish, so a job that is killed resumes from the last finished sample; the final
parquet is written atomically and the partial file removed.

The partial file's first line is a fingerprint of everything that determines a row (model, hparams, templates,
records (the sample set), editor, layer, fluency, chunk, covariance, row format); rows made with other settings are
discarded, never mixed in. One process at a time owns a partial file (an exclusive `flock` held for the whole
job): a second job on the same output waits for the first, then takes over its rows or its finished output.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from goldenlayers.editing import apply_edit, restore_weight
from goldenlayers.editing.apply import edit_once, evaluate_row
from goldenlayers.editing.evaluate import METRICS
from goldenlayers.faults import fault_point
from goldenlayers.io import PARTIAL_SUFFIX, config_hash, write_parquet

log = logging.getLogger(__name__)

# Bump when a row's columns or their meaning change: partial files of an older format are then redone.
ROW_FORMAT = 3  # 3: no proxy/test label (a sweep is keyed by its sample set; the split is joined at aggregation)
COLUMNS = ["sample_id", "layer", "editor", *METRICS, "fluency", "fluency_raw", "edit_seconds", "eval_seconds", "steps", "status", "reason"]


def sweep_fingerprint(model, todo: list[dict], editor: str, hparams, layer: int, templates,
                      fluency: bool, covariance=None, chunk: tuple[int, int] = (0, 1), model_ref=None) -> dict:
    """Short hashes of everything that determines a sweep row, by part (so a mismatch can say what changed)."""
    weight = next(model.parameters())
    cov = None if covariance is None else {"corpus": covariance.corpus, "n_tokens": covariance.n_tokens,
                                           "metadata": covariance.metadata}
    hp = dataclasses.asdict(hparams) if dataclasses.is_dataclass(hparams) else vars(hparams)
    parts = {
        "model": {"ref": model_ref, "config": model.config.to_json_string(), "dtype": str(weight.dtype),
                  "device": weight.device.type},
        "hparams": hp,
        "templates": list(templates),
        "records": todo,
        "editor": editor,
        "layer": layer,
        "fluency": bool(fluency),
        "chunk": list(chunk),
        "covariance": cov,
        "row_format": ROW_FORMAT,
    }
    return {name: config_hash(value) for name, value in parts.items()}


def _fingerprint_mismatch(found: dict | None, expected: dict) -> list[str]:
    """Names of the parts that differ; ['fingerprint'] when the file has none (older format or not ours)."""
    if not isinstance(found, dict):
        return ["fingerprint"]
    return [name for name in expected if found.get(name) != expected[name]] or (
        ["fingerprint"] if set(found) != set(expected) else [])


def _parse_partial(text: str) -> tuple[dict | None, dict[str, dict]]:
    """(fingerprint from the header line, finished rows by sample id); a torn line ends the valid prefix."""
    fingerprint, done = None, {}
    for i, line in enumerate(text.splitlines()):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            break  # a line cut short by a kill: everything after it is redone
        if i == 0 and "fingerprint" in row:
            fingerprint = row["fingerprint"]
        elif isinstance(row, dict) and "sample_id" in row:
            done[row["sample_id"]] = row
    return fingerprint, done


def _lock_partial(partial: Path):
    """Open `partial` and hold an exclusive lock on it; wait while another process holds it.

    The holder may finish (and remove the file) while we wait: then the lock we got is on a removed file, so
    lock whatever file is at the path now.
    """
    while True:
        f = open(partial, "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("%s is being written by another sweep process; waiting for it to finish (stop that "
                        "process to take over its finished rows)", partial)
            fault_point("sweep_lock_wait")  # a test lets the owner finish here, while this job is known to wait
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            current = os.stat(partial).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(f.fileno()).st_ino:
            return f
        f.close()


def _finished_output(out_path: Path, fingerprint: dict):
    """The output another process already finished with the same settings, or None."""
    if not out_path.exists():
        return None
    try:
        frame = pd.read_parquet(out_path)
    except Exception:  # unreadable: redo it
        return None
    return frame if frame.attrs.get("sweep_fingerprint") == fingerprint else None


def edit_and_evaluate(model, tok, record, editor: str, hparams, layer: int, templates, fluency: bool = False,
                      covariance=None) -> dict:
    """Edit one sample, evaluate, restore: its sweep row. A diverging edit is a failed row, not an exception."""
    edit, (row,) = edit_once(model, tok, [record], editor, hparams, layer, templates, covariance=covariance)
    if edit is None:
        return row
    original = apply_edit(model, edit)
    try:
        evaluate_row(model, tok, record, row, fluency=fluency)
    finally:
        restore_weight(model, layer, original)
    return row


def chunk_of(items: list, chunk: int, n_chunks: int) -> list:
    """The chunk-th of n_chunks contiguous, near-equal slices of items (0-based); the slices cover items once."""
    if not 0 <= chunk < n_chunks:
        raise ValueError(f"chunk {chunk} out of range for {n_chunks} chunks")
    return items[chunk * len(items) // n_chunks : (chunk + 1) * len(items) // n_chunks]


def sample_ids(content: dict, source="samples file") -> list[str]:
    """The ids of a samples.json (`ids`) or of a split.json (proxy then test): the sample set a sweep edits."""
    if "ids" in content:
        return list(content["ids"])
    if "proxy" in content and "test" in content:
        return [*content["proxy"], *content["test"]]
    raise ValueError(f"{source}: expected samples.json (key 'ids') or split.json (keys 'proxy', 'test')")


def run_sweep(model, tok, records, samples, editor: str, hparams, layer: int, templates, out_path,
              fluency: bool = False, progress: bool = True, covariance=None,
              chunk: tuple[int, int] = (0, 1), model_ref=None) -> pd.DataFrame:
    """Edit and evaluate the records whose ids are in `samples` (the sample set: ids, or the content of a
    samples.json or split.json), or chunk (k, n) of them for a cluster job per chunk, at `layer`. Rows carry no
    proxy/test label: an edit does not depend on the split, so a new split reuses every sweep file
    (`stats.with_split` joins it where needed).

    `model_ref` (the prepared model's model.json content) joins the fingerprint of the partial file.
    """
    in_set = set(sample_ids(samples) if isinstance(samples, dict) else samples)
    todo = chunk_of([r for r in records if r["id"] in in_set], *chunk)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(out_path.name + PARTIAL_SUFFIX)
    fingerprint = sweep_fingerprint(model, todo, editor, hparams, layer, templates, fluency,
                                    covariance=covariance, chunk=chunk, model_ref=model_ref)
    with _lock_partial(partial) as f:
        finished = _finished_output(out_path, fingerprint)
        if finished is not None:  # a process we waited for finished this very job
            log.info("%s was finished by another process with the same settings; using it", out_path)
            partial.unlink()
            return finished
        f.seek(0)
        found, done = _parse_partial(f.read())
        if done or found is not None:
            changed = _fingerprint_mismatch(found, fingerprint)
            if changed:
                log.warning("discarding %d finished rows of %s: they were made with different %s", len(done),
                            partial, ", ".join(changed))
                done = {}
            elif done:
                log.info("resuming from %s: %d of %d samples already done", partial, len(done), len(todo))
        wanted = {r["id"] for r in todo}
        done = {k: v for k, v in done.items() if k in wanted}
        f.seek(0)
        f.truncate()  # rewrite the header and the valid prefix, dropping a torn last line
        f.write(json.dumps({"fingerprint": fingerprint}) + "\n")
        for row in done.values():
            f.write(json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())
        for record in tqdm(todo, desc=f"{editor} layer {layer}", disable=not progress):
            if record["id"] in done:
                continue
            row = edit_and_evaluate(model, tok, record, editor, hparams, layer, templates, fluency=fluency,
                                    covariance=covariance)
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())
            done[record["id"]] = row
            fault_point("sweep_row")  # a test stops, kills or pauses the job here, after a saved row
        frame = pd.DataFrame([done[r["id"]] for r in todo], columns=COLUMNS)
        frame.attrs["sweep_fingerprint"] = fingerprint
        write_parquet(out_path, frame)
        partial.unlink()  # still under our lock: nobody else owns it
    return frame
