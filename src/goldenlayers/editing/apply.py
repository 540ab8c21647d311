"""Applying edits to a model: one checked update (`edit_once`), the evaluation of a row on the model as it is now
(`evaluate_row`) and N edits one after another (`edit_sequentially`). The sweeps (`goldenlayers.sweep`), the public
`edit()` (`goldenlayers.apply_edits`) and the appendix call these; none of them goes through another's driver.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from tqdm import tqdm

from goldenlayers.editing import apply_edit, get_editor, restore_weight, try_edit
from goldenlayers.editing.edits import LowRankEdit
from goldenlayers.editing.evaluate import METRICS, evaluate_fluency, evaluate_record
from goldenlayers.models import edited_module


def edit_once(model, tok, records: list[dict], editor: str, hparams, layer: int, templates,
              covariance=None) -> tuple:
    """One checked update writing `records` (one sample; an EMMET batch when editing sequentially), not applied:
    (the edit to apply, or None when it failed; one row per record).

    The rows carry everything but the evaluation: a failed edit's rows are final (metrics NaN, status "failed",
    the reason), an edit that may be applied leaves its rows to `evaluate_row` once the caller has applied it.
    Failed = the editor raised EditError, or the update is non-finite or over the hparams' norm bound
    (`editing.edit_failure`). `covariance` is the layer's KeyCovariance for editors that use it
    (`editing.needs_covariance`)."""
    started = time.perf_counter()
    edit, reason = try_edit(model, tok, records, editor, hparams, layer, templates, covariance=covariance)
    seconds = (time.perf_counter() - started) / len(records)  # a batch's time, shared by its requests
    steps = edit.info["steps"] if edit is not None else 0
    rows = []
    for record in records:
        row = {"sample_id": record["id"], "layer": layer, "editor": editor, "status": "ok", "reason": "",
               "fluency": math.nan, "fluency_raw": math.nan, "edit_seconds": seconds, "steps": steps}
        if reason is not None:
            row.update({m: math.nan for m in METRICS}, status="failed", reason=reason, eval_seconds=0.0)
        rows.append(row)
    return (edit if reason is None else None), rows


def evaluate_row(model, tok, record: dict, row: dict, fluency: bool = False) -> dict:
    """Fill `row` with the metrics of `record` on the model as it is now (and fluency when asked)."""
    started = time.perf_counter()
    row.update(evaluate_record(model, tok, record))
    if fluency:
        row.update(evaluate_fluency(model, tok, record))
    row["eval_seconds"] = time.perf_counter() - started
    return row


@dataclass
class SequentialResult:
    rows: list[dict]
    edits: list[LowRankEdit | None] = field(default_factory=list)  # per update, None where it was skipped


def edit_sequentially(model, tok, records: list[dict], editor: str, hparams, layer: int, templates: list[str],
                      covariance=None, fluency: bool = False, progress: bool = False,
                      restore: bool = True) -> SequentialResult:
    """Apply an edit per record (per batch for an editor that batches) in order, then evaluate every record on the
    final model."""
    batch_size = get_editor(editor).batch_size(hparams)
    original = edited_module(model, layer).weight.detach().clone()
    rows, edits = [], []
    try:
        for start in tqdm(range(0, len(records), batch_size), desc=f"{editor} sequential layer {layer}",
                          disable=not progress):
            chunk = records[start : start + batch_size]
            edit, chunk_rows = edit_once(model, tok, chunk, editor, hparams, layer, templates, covariance=covariance)
            if edit is not None:
                apply_edit(model, edit)
            edits.append(edit)
            for offset, row in enumerate(chunk_rows):
                row["edit_index"] = start + offset
            rows.extend(chunk_rows)
        for row, record in zip(rows, records):
            if row["status"] == "ok":
                evaluate_row(model, tok, record, row, fluency=fluency)
    finally:
        if restore:
            restore_weight(model, layer, original)
    return SequentialResult(rows=rows, edits=edits)
