"""A sweep job killed with SIGKILL resumes from its partial file and ends with the same table as an unkilled run."""

import json
import logging
import os
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from goldenlayers.data import filter_known, load_records, split_ids

TIMING_COLUMNS = ["edit_seconds", "eval_seconds"]


def test_chunk_slices_cover_every_item_once():
    from goldenlayers.sweep.single import chunk_of

    items = list(range(17))
    for n in (1, 2, 3, 5, 17):
        parts = [chunk_of(items, k, n) for k in range(n)]
        assert sum(parts, []) == items
        assert max(map(len, parts)) - min(map(len, parts)) <= 1
    with pytest.raises(ValueError, match="out of range"):
        chunk_of(items, 3, 3)


def test_bf_charges_a_chunked_layer_the_sum_of_its_chunk_jobs(tmp_path):
    from goldenlayers.walltime import sweep_job_seconds

    benches = []
    for k, seconds in enumerate((1.5, 2.5, 3.5, 10.0, 20.0, 30.0)):
        benches.append(tmp_path / f"b{k}.tsv")
        benches[-1].write_text(f"s\th:m:s\n{seconds}\t0:00:01\n")
    assert sweep_job_seconds([[3], [5]], benches) == {3: 7.5, 5: 60.0}  # three chunk jobs per layer
    assert sweep_job_seconds([[3], [5]], benches[:2]) == {3: 1.5, 5: 2.5}  # one job per layer
    with pytest.raises(ValueError, match="the same number per sweep file"):
        sweep_job_seconds([[3], [5]], benches[:3])


@pytest.fixture
def in_process_sweep(tiny_llama, tiny_tokenizer):
    """run_sweep on the tiny model with 6 samples (3 proxy, 3 test), templates and hparams of its own."""
    from helpers import TINY_RECORDS

    from goldenlayers.editing import load_hparams
    from goldenlayers.sweep.single import run_sweep

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.json"
        data.write_text(json.dumps(TINY_RECORDS))
        records, _ = filter_known(tiny_llama, tiny_tokenizer, load_records(str(data)), keep_unknown=True,
                                  progress=False)
    split = split_ids([r["id"] for r in records], 0.5)

    def sweep(out, steps, **kw):
        hp = Path(out).with_suffix(".hp.yaml")
        hp.write_text(yaml.safe_dump({"v_num_grad_steps": steps, "v_weight_decay": 0.0}))
        return run_sweep(tiny_llama, tiny_tokenizer, records, split, "r-rome", load_hparams("r-rome", hp), 1,
                         ["{}"], out, progress=False, **kw)

    return sweep


def test_resumed_sweep_discards_rows_made_with_other_hparams(in_process_sweep, tmp_path, monkeypatch, caplog):
    """Issue #11 item 1: kill a sweep, change v_num_grad_steps, rerun: no row of the old settings survives."""
    from goldenlayers.sweep import single as sweep_module

    reference = in_process_sweep(tmp_path / "reference.parquet", steps=1)
    real_edit, calls = sweep_module.edit_and_evaluate, []

    def dies_after_two(*args, **kwargs):
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        calls.append(1)
        return real_edit(*args, **kwargs)

    out = tmp_path / "layer_1.parquet"
    monkeypatch.setattr(sweep_module, "edit_and_evaluate", dies_after_two)
    with pytest.raises(KeyboardInterrupt):
        in_process_sweep(out, steps=8)
    partial = tmp_path / "layer_1.parquet.partial.jsonl"
    assert len(partial.read_text().splitlines()) == 3  # header + 2 rows made with 8 steps
    monkeypatch.setattr(sweep_module, "edit_and_evaluate", real_edit)

    with caplog.at_level(logging.WARNING, logger="goldenlayers.sweep.single"):
        resumed = in_process_sweep(out, steps=1)
    assert "discarding 2 finished rows" in caplog.text and "different hparams" in caplog.text
    assert (resumed["steps"] == 1).all()
    pd.testing.assert_frame_equal(resumed.drop(columns=TIMING_COLUMNS), reference.drop(columns=TIMING_COLUMNS),
                                  check_exact=True)


def test_partial_rows_with_the_same_settings_are_kept(in_process_sweep, tmp_path, monkeypatch):
    from goldenlayers.sweep import single as sweep_module

    out = tmp_path / "layer_1.parquet"
    real_edit, calls = sweep_module.edit_and_evaluate, []

    def counting(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return real_edit(*args, **kwargs)

    monkeypatch.setattr(sweep_module, "edit_and_evaluate", counting)
    with pytest.raises(KeyboardInterrupt):
        in_process_sweep(out, steps=2)
    calls.clear()
    monkeypatch.setattr(sweep_module, "edit_and_evaluate", lambda *a, **k: (calls.append(1), real_edit(*a, **k))[1])
    frame = in_process_sweep(out, steps=2)
    assert len(frame) == 6 and len(calls) == 4  # the 2 finished rows were reused


def test_second_writer_waits_for_the_owner_and_keeps_its_output(in_process_sweep, tmp_path, monkeypatch):
    """Issue #11 item 2: an orphaned sweep still owns the partial file when a new job starts on the same output.
    The new job must wait for it (not edit alongside, not fail on the file the orphan removes) and then use the
    orphan's finished output instead of redoing or deleting it."""
    import fcntl
    import shutil
    import threading

    from goldenlayers import faults
    from goldenlayers.sweep import single as sweep_module

    finished = in_process_sweep(tmp_path / "orphan_result.parquet", steps=2)
    out = tmp_path / "layer_1.parquet"
    partial = tmp_path / "layer_1.parquet.partial.jsonl"
    owner = open(partial, "a+")
    fcntl.flock(owner, fcntl.LOCK_EX)  # the orphan's lock

    def must_not_edit(*args, **kwargs):
        raise AssertionError("the second job edited while another process owned the partial file")

    monkeypatch.setattr(sweep_module, "edit_and_evaluate", must_not_edit)
    outcome = {}

    def second_job():
        try:
            outcome["frame"] = in_process_sweep(out, steps=2)
        except BaseException as err:  # noqa: BLE001 - reported below
            outcome["error"] = err

    # the second job stops where it starts to wait for the lock (a named fault point), so the orphan is known to
    # finish while it waits, whatever the machine's load
    monkeypatch.setenv(faults.FAULT_ENV, "sweep_lock_wait:pause")
    monkeypatch.setenv(faults.DIR_ENV, str(tmp_path / "faults"))
    monkeypatch.setattr(faults, "_reached", {})
    thread = threading.Thread(target=second_job, daemon=True)
    thread.start()
    reached = tmp_path / "faults/sweep_lock_wait.reached"
    deadline = time.monotonic() + 600  # a generous bound, so a job that never waits fails instead of hanging
    while not reached.exists() and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert reached.exists() and thread.is_alive(), outcome
    (tmp_path / "faults/sweep_lock_wait.release").touch()
    # the orphan finishes: its output lands atomically, it removes its partial file and releases its lock
    shutil.copy(tmp_path / "orphan_result.parquet", tmp_path / "tmp.parquet")
    os.replace(tmp_path / "tmp.parquet", out)
    partial.unlink()
    owner.close()
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert "error" not in outcome, outcome.get("error")
    assert out.exists() and not partial.exists()
    pd.testing.assert_frame_equal(outcome["frame"], finished)
