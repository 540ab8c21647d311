"""Model problems give one clear line naming the path or setting and what to do (issue #11, items 4 and 5)."""

import json
import os

import pytest

from helpers import build_tiny_llama, build_tiny_tokenizer
from goldenlayers import cli

GOOD = {"subject": "France", "prompt": "The capital of France is", "ground_truth": "Paris", "target_new": "Rome"}


@pytest.fixture
def tiny_dir(tmp_path):
    tok = build_tiny_tokenizer()
    build_tiny_llama(tok, layers=3).save_pretrained(tmp_path / "tiny")
    tok.save_pretrained(tmp_path / "tiny")
    return tmp_path / "tiny"


def run_cli(capsys, *argv):
    code = cli.main(["-q", *map(str, argv)])
    err = capsys.readouterr().err.strip().splitlines()
    return code, err[-1] if err else ""


@pytest.mark.parametrize("num_layers", [12, 1, 40])
def test_num_layers_that_disagree_with_the_model_fail_at_prepare_model(tiny_dir, tmp_path, capsys, num_layers):
    code, line = run_cli(capsys, "prepare-model", "--source", tiny_dir, "--num-layers", num_layers,
                         "--out-dir", tmp_path / "prepared")
    assert code != 0
    assert f"num_layers is {num_layers}" in line and "has 3 transformer layers" in line and "to 3" in line
    assert not (tmp_path / "prepared" / "model.json").exists()


def test_matching_num_layers_is_recorded(tiny_dir, tmp_path, capsys):
    code, _ = run_cli(capsys, "prepare-model", "--source", tiny_dir, "--num-layers", 3, "--out-dir", tmp_path / "p")
    assert code == 0
    assert json.loads((tmp_path / "p" / "model.json").read_text())["num_layers"] == 3


@pytest.mark.parametrize("source", ["/no/such/model/dir", "./models/missing", "results/models/x/hf"])
def test_missing_local_model_directory(tmp_path, capsys, source):
    code, line = run_cli(capsys, "prepare-model", "--source", source, "--out-dir", tmp_path / "p")
    assert code != 0 and f"model directory not found: {source}" in line and "Repo id" not in line


def filter_with(model_json, tmp_path, capsys, *extra):
    data = tmp_path / "data.json"
    data.write_text(json.dumps([GOOD]))
    return run_cli(capsys, "filter-dataset", "--model", model_json, "--dataset", data, "--out-records",
                   tmp_path / "records.json", "--out-report", tmp_path / "report.json", *extra)


def test_deleted_prepared_model_folder(tmp_path, capsys):
    (tmp_path / "model.json").write_text(json.dumps({"source": "embedded:smollm2-135m",
                                                     "path": str(tmp_path / "models/x/hf")}))
    code, line = filter_with(tmp_path / "model.json", tmp_path, capsys)
    assert code != 0 and "prepared model folder" in line and "models/x/hf" in line and "is missing" in line
    assert "--forcerun prepare_model" in line


def test_truncated_safetensors(tiny_dir, tmp_path, capsys):
    weights = tiny_dir / "model.safetensors"
    os.truncate(weights, weights.stat().st_size // 2)
    (tmp_path / "model.json").write_text(json.dumps({"source": "test", "path": str(tiny_dir)}))
    code, line = filter_with(tmp_path / "model.json", tmp_path, capsys)
    assert code != 0 and f"cannot read the model in {tiny_dir}" in line and "truncated or corrupt" in line
    assert not (tmp_path / "records.json").exists()


def test_cuda_device_on_a_torch_without_cuda(tiny_dir, tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # what a CPU-only torch says
    (tmp_path / "model.json").write_text(json.dumps({"source": "test", "path": str(tiny_dir)}))
    code, line = filter_with(tmp_path / "model.json", tmp_path, capsys, "--device", "cuda")
    assert code != 0 and "device 'cuda'" in line and "no CUDA GPU" in line and "`device:` to cpu" in line


def test_keep_unknown_filter_log_counts_the_known_records(tmp_path, caplog):
    """Issue #11 item 6: with keep_unknown the log must not say every record is predicted."""
    import logging

    from goldenlayers.data import filter_known, load_records
    from helpers import TINY_RECORDS

    tok = build_tiny_tokenizer()
    build_tiny_llama(tok).save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    (tmp_path / "model.json").write_text(json.dumps({"source": "test", "path": str(tmp_path / "m")}))
    data = tmp_path / "data.json"
    data.write_text(json.dumps(TINY_RECORDS))
    # the reference count: a random tiny model knows (almost) none of these facts
    _, report = filter_known(build_tiny_llama(tok), tok, load_records(str(data)), progress=False)
    n_known = sum(r["known"] for r in report)
    assert n_known < len(TINY_RECORDS)
    with caplog.at_level(logging.INFO, logger="goldenlayers"):
        code = cli.main(["-q", "filter-dataset", "--model", str(tmp_path / "model.json"), "--dataset", str(data),
                         "--out-records", str(tmp_path / "r.json"), "--out-report", str(tmp_path / "f.json"),
                         "--keep-unknown"])
    assert code == 0
    assert f"predicts {n_known} of {len(TINY_RECORDS)} records; kept {len(TINY_RECORDS)}" in caplog.text
    assert json.loads((tmp_path / "f.json").read_text())["n_known"] == n_known
