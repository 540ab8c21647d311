"""Sequential editing (the paper's Table 11): N edits written one after another into the same weights, then all
N evaluated on the final model.

The N samples are a seeded random choice from one split (the test split by default), in the drawn order; the
choice depends only on the split's ids, N and the seed, so every layer and every editor edits the same samples in
the same order. Each edit is computed on the weights as the previous edits left them. An edit that is
non-finite or over the norm bound is recorded as failed and skipped (the sequence goes on without it). The
original weight is restored bit-exactly at the end.

An editor that batches (EMMET) writes its hparams' `batch_size` requests per update (1 by default, one update per
sample like ROME). Rows are the single-edit sweep's (`editing.apply.edit_once` builds them) plus `edit_index`.
"""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd

from goldenlayers.editing.apply import edit_sequentially
from goldenlayers.io import write_parquet
from goldenlayers.sweep.single import COLUMNS

DEFAULT_N_EDITS = 10
# the single-edit sweep's table, plus the position in the sequence
SEQUENTIAL_COLUMNS = [COLUMNS[0], "split", *COLUMNS[1:], "edit_index"]  # labelled by the subset it drew from


def choose_sequence(ids: list[str], n_edits: int = DEFAULT_N_EDITS, seed: int = 42) -> list[str]:
    """A seeded choice of `n_edits` ids (all of them if there are fewer), in edit order."""
    if n_edits < 1:
        raise ValueError(f"n_edits must be at least 1, got {n_edits}")
    return random.Random(seed).sample(sorted(ids), min(n_edits, len(ids)))


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
