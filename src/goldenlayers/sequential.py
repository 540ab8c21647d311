"""Sequential editing (the paper's Table 11): N edits written one after another into the same weights, then all
N evaluated on the final model.

The N samples are a seeded random choice from one split (the test split by default), in the drawn order; the
choice depends only on the split's ids, N and the seed, so every layer and every editor edits the same samples in
the same order. Each edit is computed on the weights as the previous edits left them. An edit that is
non-finite or over the norm bound is recorded as failed and skipped (the sequence goes on without it). The
original weight is restored bit-exactly at the end.

An editor that batches (EMMET) writes its hparams' `batch_size` requests per update (1 by default, one update per
sample like ROME). Rows are the single-edit sweep's (`sweep.edit_once` builds them) plus `edit_index`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from goldenlayers.editing import apply_edit, get_editor, restore_weight
from goldenlayers.editing.edits import LowRankEdit
from goldenlayers.io import write_parquet
from goldenlayers.models import edited_module
from goldenlayers.sweep import COLUMNS, edit_once, evaluate_row

DEFAULT_N_EDITS = 10
# the single-edit sweep's table, plus the position in the sequence
SEQUENTIAL_COLUMNS = [*COLUMNS, "edit_index"]


def choose_sequence(ids: list[str], n_edits: int = DEFAULT_N_EDITS, seed: int = 42) -> list[str]:
    """A seeded choice of `n_edits` ids (all of them if there are fewer), in edit order."""
    if n_edits < 1:
        raise ValueError(f"n_edits must be at least 1, got {n_edits}")
    return random.Random(seed).sample(sorted(ids), min(n_edits, len(ids)))


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


def run_sequential_sweep(model, tok, records: list[dict], split: dict, editor: str, hparams, layer: int,
                         templates: list[str], out_path, n_edits: int = DEFAULT_N_EDITS, seed: int = 42,
                         subset: str = "test", covariance=None, fluency: bool = False,
                         progress: bool = True) -> pd.DataFrame:
    """One (editor, layer) job of the sequential-editing sweep; writes one row per edited sample."""
    by_id = {r["id"]: r for r in records}
    ids = [i for i in split[subset] if i in by_id]
    if not ids:
        raise ValueError(f"split {subset!r} has no records to edit")
    chosen = [by_id[i] for i in choose_sequence(ids, n_edits, seed)]
    result = edit_sequentially(model, tok, chosen, editor, hparams, layer, templates, covariance=covariance,
                               fluency=fluency, progress=progress)
    for row in result.rows:
        row["split"] = subset
    frame = pd.DataFrame(result.rows, columns=SEQUENTIAL_COLUMNS)
    write_parquet(Path(out_path), frame)
    return frame
