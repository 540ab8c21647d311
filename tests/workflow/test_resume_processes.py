"""A sweep job as a process: killed and resumed, or split in chunk jobs and merged."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from goldenlayers.data import filter_known, load_records, split_ids
from helpers import build_tiny_llama, build_tiny_tokenizer

TIMING_COLUMNS = ["edit_seconds", "eval_seconds"]


@pytest.fixture
def sweep_inputs(tmp_path):
    from helpers import TINY_RECORDS

    tok = build_tiny_tokenizer()
    model = build_tiny_llama(tok)
    model.save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    (tmp_path / "model.json").write_text(json.dumps({"source": "test", "path": str(tmp_path / "model")}))
    raw = [dict(r, case_id=f"{r['case_id']}-{copy}") for copy in range(3) for r in TINY_RECORDS]  # 18 samples
    (tmp_path / "data.json").write_text(json.dumps(raw))
    records, _ = filter_known(model, tok, load_records(str(tmp_path / "data.json")), keep_unknown=True,
                              progress=False)
    (tmp_path / "records.json").write_text(json.dumps(records))
    (tmp_path / "split.json").write_text(json.dumps(split_ids([r["id"] for r in records], 0.5)))
    (tmp_path / "templates.json").write_text(json.dumps({"templates": ["{}", "A day. {}"]}))
    (tmp_path / "hp.yaml").write_text(yaml.safe_dump({"v_num_grad_steps": 40, "v_weight_decay": 0.0}))
    return tmp_path


def sweep_cmd(root, out):
    return [sys.executable, "-m", "goldenlayers.cli", "-q", "sweep", "--model", str(root / "model.json"),
            "--threads", "1", "--records", str(root / "records.json"), "--split", str(root / "split.json"),
            "--templates", str(root / "templates.json"), "--hparams", str(root / "hp.yaml"), "--layer", "1",
            "--out", str(out)]


@pytest.mark.slow
def test_sigkilled_sweep_resumes_and_matches_an_uninterrupted_run(sweep_inputs):
    root = sweep_inputs
    reference = root / "reference.parquet"
    subprocess.run(sweep_cmd(root, reference), check=True, timeout=300)

    out = root / "killed.parquet"
    partial = root / "killed.parquet.partial.jsonl"
    # SIGKILL at a named point, after the 3rd saved row: no race against a poll loop (goldenlayers.faults)
    killed = subprocess.run(sweep_cmd(root, out), env={**os.environ, "GOLDENLAYERS_FAULT": "sweep_row@3:sigkill"},
                            timeout=300)
    assert killed.returncode == -signal.SIGKILL
    assert not out.exists() and len(partial.read_text().splitlines()) == 1 + 3  # the header and 3 rows
    with open(partial, "a") as f:  # a line torn by the kill must not break the resume
        f.write('{"sample_id": "torn')

    subprocess.run(sweep_cmd(root, out), check=True, timeout=300)
    assert not partial.exists()
    resumed, expected = pd.read_parquet(out), pd.read_parquet(reference)
    pd.testing.assert_frame_equal(resumed.drop(columns=TIMING_COLUMNS), expected.drop(columns=TIMING_COLUMNS),
                                  check_exact=True)


@pytest.mark.slow
def test_chunked_sweep_merges_to_the_whole_layer(sweep_inputs):
    root = sweep_inputs
    (root / "hp.yaml").write_text(yaml.safe_dump({"v_num_grad_steps": 5, "v_weight_decay": 0.0}))
    whole = root / "whole.parquet"
    subprocess.run(sweep_cmd(root, whole), check=True, timeout=300)
    chunks = []
    for k in range(3):
        out = root / f"chunk_{k}.parquet"
        subprocess.run([*sweep_cmd(root, out), "--chunk", f"{k}/3"], check=True, timeout=300)
        chunks.append(str(out))
        (root / f"chunk_{k}.tsv").write_text(f"s\th:m:s\n{k + 1}.5\t0:00:01\n")
    merged = root / "merged.parquet"
    subprocess.run([sys.executable, "-m", "goldenlayers.cli", "merge-chunks", "--chunks", *chunks, "--out",
                    str(merged)], check=True, timeout=120)
    pd.testing.assert_frame_equal(pd.read_parquet(merged).drop(columns=TIMING_COLUMNS),
                                  pd.read_parquet(whole).drop(columns=TIMING_COLUMNS), check_exact=True)
    # no benchmark file of our own making: BF adds up the chunk jobs' own Snakemake benchmark files
    assert sorted(p.name for p in root.glob("*.tsv")) == [f"chunk_{k}.tsv" for k in range(3)]
