"""Bad inputs: each gives one clear error line (what, where), a non-zero exit, and no output file."""

import errno
import json

import pytest

from helpers import build_tiny_llama, build_tiny_tokenizer
from goldenlayers import cli, io

GOOD = {"subject": "France", "prompt": "The capital of France is", "ground_truth": "Paris", "target_new": "Rome"}


@pytest.fixture(scope="module")
def tiny_model_json(tmp_path_factory):
    root = tmp_path_factory.mktemp("model")
    tok = build_tiny_tokenizer()
    build_tiny_llama(tok).save_pretrained(root / "hf")
    tok.save_pretrained(root / "hf")
    (root / "model.json").write_text(json.dumps({"source": "test", "path": str(root / "hf")}))
    return root / "model.json"


def run_cli(capsys, *argv):
    code = cli.main(["-q", *map(str, argv)])
    err = capsys.readouterr().err.strip().splitlines()
    return code, err[-1] if err else ""


def filter_cmd(model_json, dataset, out):
    return ["filter-dataset", "--model", model_json, "--dataset", dataset, "--out-records", out / "records.json",
            "--out-report", out / "report.json"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("[{", "malformed JSON at line 1"),
        (json.dumps([GOOD, {k: v for k, v in GOOD.items() if k != "subject"}]), "record 1: field 'subject'"),
        ("[]", "expected a non-empty JSON list"),
        (json.dumps([GOOD, dict(GOOD, subject="Spain")]), "record 1: field 'subject' 'Spain' does not occur"),
        (json.dumps([GOOD, dict(GOOD, prompt=3)]), "record 1: field 'prompt' must be a string"),
    ],
    ids=["malformed-json", "missing-field", "empty-dataset", "subject-not-in-prompt", "wrong-type"],
)
def test_bad_datasets(tmp_path, capsys, tiny_model_json, content, message):
    data = tmp_path / "data.json"
    data.write_text(content)
    code, line = run_cli(capsys, *filter_cmd(tiny_model_json, data, tmp_path))
    assert code != 0
    assert line.startswith("goldenlayers filter-dataset: error:") and message in line and str(data) in line
    assert not (tmp_path / "records.json").exists() and not (tmp_path / "report.json").exists()


def test_missing_dataset_file(tmp_path, capsys, tiny_model_json):
    code, line = run_cli(capsys, *filter_cmd(tiny_model_json, tmp_path / "nope.json", tmp_path))
    assert code != 0 and "dataset file not found" in line and "nope.json" in line


def test_unknown_model_family(tmp_path, capsys):
    from transformers import BertConfig, BertLMHeadModel

    tok = build_tiny_tokenizer()
    config = BertConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, is_decoder=True)
    BertLMHeadModel(config).save_pretrained(tmp_path / "bert")
    tok.save_pretrained(tmp_path / "bert")
    (tmp_path / "model.json").write_text(json.dumps({"path": str(tmp_path / "bert")}))
    data = tmp_path / "data.json"
    data.write_text(json.dumps([GOOD]))
    code, line = run_cli(capsys, *filter_cmd(tmp_path / "model.json", data, tmp_path))
    assert code != 0 and "unsupported model family 'bert'" in line and "gpt2" in line and "llama" in line
    assert not (tmp_path / "records.json").exists()


def test_tokenizer_model_mismatch(tmp_path, capsys):
    tok = build_tiny_tokenizer()
    small = build_tiny_llama(tok)
    small.resize_token_embeddings(100)  # fewer embeddings than the tokenizer has tokens
    small.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    (tmp_path / "model.json").write_text(json.dumps({"path": str(tmp_path / "m")}))
    data = tmp_path / "data.json"
    data.write_text(json.dumps([GOOD]))
    code, line = run_cli(capsys, *filter_cmd(tmp_path / "model.json", data, tmp_path))
    assert code != 0 and "tokenizer/model mismatch" in line and "320 tokens" in line


@pytest.fixture
def sweep_files(tmp_path):
    rec = {"id": "0", "relation": "", "subject": "France", "prompt": "The capital of France is",
           "ground_truth": "Paris", "ground_truth_aliases": ["Paris"], "target_new": "Rome",
           "rephrase_prompts": [], "locality": [], "portability": []}
    (tmp_path / "records.json").write_text(json.dumps([rec, dict(rec, id="1")]))
    (tmp_path / "split.json").write_text(json.dumps({"proxy": ["0"], "test": ["1"]}))
    (tmp_path / "templates.json").write_text(json.dumps({"templates": ["{}"]}))
    (tmp_path / "hp.yaml").write_text("v_num_grad_steps: 2\n")
    return tmp_path


def sweep_cmd(model_json, root, **over):
    args = {"--model": model_json, "--records": root / "records.json", "--split": root / "split.json",
            "--templates": root / "templates.json", "--hparams": root / "hp.yaml", "--layer": 1,
            "--out": root / "sweep" / "layer_1.parquet", **over}
    return ["sweep", *[x for kv in args.items() for x in kv]]


def test_layer_out_of_range(sweep_files, capsys, tiny_model_json):
    code, line = run_cli(capsys, *sweep_cmd(tiny_model_json, sweep_files, **{"--layer": 7}))
    assert code != 0 and "layer 7 out of range" in line and "0..2" in line
    assert not (sweep_files / "sweep").exists()


def test_nonexistent_hparams_file(sweep_files, capsys, tiny_model_json):
    code, line = run_cli(capsys, *sweep_cmd(tiny_model_json, sweep_files, **{"--hparams": sweep_files / "no.yaml"}))
    assert code != 0 and "hparams file not found" in line and "no.yaml" in line


def test_unknown_editor(sweep_files, capsys, tiny_model_json):
    # the editor choices come from the registry, so argparse refuses the name and lists the known ones
    with pytest.raises(SystemExit) as exit_info:
        run_cli(capsys, *sweep_cmd(tiny_model_json, sweep_files), "--editor", "magic")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit_info.value.code == 2 and "invalid choice: 'magic'" in line and "'r-rome'" in line


def test_unwritable_results_directory(sweep_files, capsys, tiny_model_json):
    blocker = sweep_files / "blocker"
    blocker.write_text("a file where a directory should be")
    code, line = run_cli(capsys, *sweep_cmd(tiny_model_json, sweep_files, **{"--out": blocker / "layer_1.parquet"}))
    assert code != 0 and line.startswith("goldenlayers sweep: error:") and "blocker" in line


def test_proxy_fraction_leaving_an_empty_split(sweep_files, capsys):
    code, line = run_cli(capsys, "split", "--records", sweep_files / "records.json", "--proxy-fraction", "0.1",
                         "--out", sweep_files / "split2.json")
    assert code != 0 and "leaves an empty split" in line
    assert not (sweep_files / "split2.json").exists()


def test_corrupt_cached_gradients(tmp_path, capsys):
    bad = tmp_path / "proxy.parquet"
    bad.write_bytes(b"PAR1 this is not a parquet file")
    (tmp_path / "split.json").write_text(json.dumps({"proxy": ["0"], "test": ["1"]}))
    code, line = run_cli(capsys, "select", "--method", "lga", "--gradients", bad, "--split", tmp_path / "split.json",
                         "--out", tmp_path / "lga.json")
    assert code != 0 and line.startswith("goldenlayers select: error:")
    assert not (tmp_path / "lga.json").exists()


def test_corrupt_intermediate_json_names_the_file(sweep_files, capsys, tiny_model_json):
    (sweep_files / "split.json").write_text('{"proxy": [')
    code, line = run_cli(capsys, *sweep_cmd(tiny_model_json, sweep_files))
    assert code != 0 and "split.json: malformed JSON" in line


def test_disk_full_on_write_leaves_nothing(tmp_path, monkeypatch):
    def full_disk(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))

    monkeypatch.setattr(io.os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        io.write_json(tmp_path / "out.json", {"a": 1})
    assert list(tmp_path.iterdir()) == []  # neither the output nor its temp file


def test_hparams_with_unknown_keys(sweep_files, capsys, tiny_model_json):
    (sweep_files / "hp.yaml").write_text("v_num_grad_steps: 2\nv_lrr: 0.5\n")
    code, line = run_cli(capsys, *sweep_cmd(tiny_model_json, sweep_files))
    assert code != 0 and "unknown key(s) v_lrr" in line
    assert not (sweep_files / "sweep").exists()


def test_nan_or_corrupt_covariance_is_refused_and_recomputed(tmp_path, tiny_llama, tiny_tokenizer):
    import torch

    from goldenlayers.editing.covariance import KeyCovariance, load_or_compute_key_covariance

    bad = torch.eye(64)
    bad[3, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN or inf"):
        KeyCovariance(bad, corpus="test")
    corrupt = tmp_path / "layer_1.safetensors"
    corrupt.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}")
    with pytest.raises(ValueError, match="not a usable covariance file"):
        KeyCovariance.load(corrupt)
    # the cache loader warns and recomputes instead of failing
    stats = load_or_compute_key_covariance(tiny_llama, tiny_tokenizer, 1, corrupt, progress=False)
    assert torch.isfinite(stats.mom2).all() and stats.mom2.shape == (64, 64)
    assert KeyCovariance.load(corrupt).n_tokens == stats.n_tokens
