"""One sweep job: edit every sample of a dataset at one layer with one editor and evaluate each edit.

Each edit starts from the unedited weights (restored exactly afterwards). Per-sample results are appended to a
partial JSONL file as they finish, so a job that is killed resumes from the last finished sample; the final
parquet is written atomically and the partial file removed.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from goldenlayers.editing import EditError, apply_edit, edit_failure, get_editor, restore_weight
from goldenlayers.evaluation import METRICS, evaluate_fluency, evaluate_record
from goldenlayers.io import write_parquet

COLUMNS = ["sample_id", "split", "layer", "editor", *METRICS, "fluency", "fluency_raw", "edit_seconds", "eval_seconds", "steps", "status", "reason"]


def _read_partial(path: Path) -> dict[str, dict]:
    done = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                break  # a line cut short by a kill: everything after it is redone
            done[row["sample_id"]] = row
    return done


def edit_and_evaluate(model, tok, record, editor: str, hparams, layer: int, templates, fluency: bool = False,
                      covariance=None) -> dict:
    """Edit one sample, evaluate, restore. A diverging edit is recorded as failed, not raised.

    Failed = the editor raised EditError, or the update is non-finite or over the hparams' norm bound
    (`editing.edit_failure`); a failed edit is not applied. `covariance` is the layer's KeyCovariance for
    editors that need it (EMMET; ROME/R-ROME with mom2_adjustment).
    """
    _, compute = get_editor(editor)
    row = {"sample_id": record["id"], "layer": layer, "editor": editor, "status": "ok", "reason": "",
           "fluency": math.nan, "fluency_raw": math.nan}
    started = time.perf_counter()
    edit, reason = None, None
    try:
        edit = compute(model, tok, [record], hparams, layer, templates, covariance=covariance)
        reason = edit_failure(model, edit, getattr(hparams, "max_update_norm_ratio", None))
    except EditError as err:
        reason = str(err)
    if reason is not None:
        row.update({m: math.nan for m in METRICS}, status="failed", reason=reason)
        row.update(edit_seconds=time.perf_counter() - started, eval_seconds=0.0,
                   steps=edit.info["steps"] if edit is not None else 0)
        return row
    original = apply_edit(model, edit)
    edit_seconds = time.perf_counter() - started
    try:
        started = time.perf_counter()
        row.update(evaluate_record(model, tok, record))
        if fluency:
            row.update(evaluate_fluency(model, tok, record))
        row.update(edit_seconds=edit_seconds, eval_seconds=time.perf_counter() - started, steps=edit.info["steps"])
    finally:
        restore_weight(model, layer, original)
    return row


def chunk_of(items: list, chunk: int, n_chunks: int) -> list:
    """The chunk-th of n_chunks contiguous, near-equal slices of items (0-based); the slices cover items once."""
    if not 0 <= chunk < n_chunks:
        raise ValueError(f"chunk {chunk} out of range for {n_chunks} chunks")
    return items[chunk * len(items) // n_chunks : (chunk + 1) * len(items) // n_chunks]


def run_sweep(model, tok, records, split: dict, editor: str, hparams, layer: int, templates, out_path,
              fluency: bool = False, progress: bool = True, covariance=None,
              chunk: tuple[int, int] = (0, 1)) -> pd.DataFrame:
    """Edit and evaluate the split's samples (or chunk (k, n) of them, for a cluster job per chunk) at `layer`."""
    split_of = {rid: name for name in ("proxy", "test") for rid in split[name]}
    todo = chunk_of([r for r in records if r["id"] in split_of], *chunk)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(out_path.name + ".partial.jsonl")
    done = _read_partial(partial)
    with open(partial, "w") as f:  # rewrite the valid prefix, dropping a torn last line
        for row in done.values():
            f.write(json.dumps(row) + "\n")
    with open(partial, "a") as f:
        for record in tqdm(todo, desc=f"{editor} layer {layer}", disable=not progress):
            if record["id"] in done:
                continue
            row = edit_and_evaluate(model, tok, record, editor, hparams, layer, templates, fluency=fluency,
                                    covariance=covariance)
            row["split"] = split_of[record["id"]]
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())
            done[record["id"]] = row
    frame = pd.DataFrame([done[r["id"]] for r in todo], columns=COLUMNS)
    write_parquet(out_path, frame)
    partial.unlink()
    return frame
