"""Sequential editing: N edits on the same weights, all recorded, all evaluated, failures kept as data."""

import math

import pandas as pd
import pytest
import torch

from goldenlayers.editing import EDITORS, LowRankEdit
from goldenlayers.editing.covariance import KeyCovariance
from goldenlayers.models import edited_weight
from goldenlayers.editing.apply import edit_sequentially
from goldenlayers.sweep.sequential import SEQUENTIAL_COLUMNS, choose_sequence, run_sequential_sweep

from helpers import TEMPLATES, emmet_hparams, param_hash, records, strong_hparams as _strong_hparams


def strong_hparams(**kw):
    # the tiny models' loose clamp gives updates far above the default norm bound (10 x ‖W‖): no bound here
    return _strong_hparams(**{"max_update_norm_ratio": None, **kw})


@pytest.mark.parametrize("editor", ["r-rome", "emmet"])
def test_ten_edits_are_recorded_and_add_up(editor, tiny_llama, tiny_tokenizer):
    model, tok = tiny_llama, tiny_tokenizer
    before = param_hash(model)
    w0 = edited_weight(model, 1).detach().clone().double()
    if editor == "emmet":
        hp, cov = emmet_hparams(v_num_grad_steps=4), KeyCovariance(torch.eye(edited_weight(model, 1).shape[1]))
    else:
        hp, cov = strong_hparams(v_num_grad_steps=4), None
    result = edit_sequentially(model, tok, records(), editor, hp, 1, TEMPLATES, covariance=cov, restore=False)
    assert [r["edit_index"] for r in result.rows] == list(range(10))
    assert [r["sample_id"] for r in result.rows] == [f"s{i}" for i in range(10)]
    assert all(r["status"] == "ok" and not math.isnan(r["rewrite"]) for r in result.rows)
    assert len(result.edits) == 10 and all(isinstance(e, LowRankEdit) for e in result.edits)
    total = sum(e.delta().double() for e in result.edits)
    assert torch.allclose(edited_weight(model, 1).detach().double() - w0, total, rtol=1e-4, atol=1e-6)
    # each edit was computed on the weights the previous ones left: not ten copies of the first edit
    assert not torch.allclose(result.edits[0].delta(), result.edits[1].delta())
    edited = param_hash(model)
    assert edited != before  # restore=False keeps the edits
    result_restored = edit_sequentially(model, tok, records(2), editor, hp, 1, TEMPLATES, covariance=cov)
    assert len(result_restored.rows) == 2
    assert param_hash(model) == edited  # restore=True (the default) puts back the weights it found


def test_restores_bit_exactly(tiny_gpt2, tiny_tokenizer):
    before = param_hash(tiny_gpt2)
    edit_sequentially(tiny_gpt2, tiny_tokenizer, records(3), "rome", strong_hparams(v_num_grad_steps=3), 2,
                      TEMPLATES)
    assert param_hash(tiny_gpt2) == before


def test_emmet_batches_write_several_requests_per_update(tiny_llama, tiny_tokenizer):
    model, tok = tiny_llama, tiny_tokenizer
    cov = KeyCovariance(torch.eye(edited_weight(model, 1).shape[1]))
    result = edit_sequentially(model, tok, records(5), "emmet", emmet_hparams(v_num_grad_steps=3, batch_size=2), 1,
                               TEMPLATES, covariance=cov)
    assert [e.right.shape[1] for e in result.edits] == [2, 2, 1]
    assert [r["edit_index"] for r in result.rows] == list(range(5))


def test_sequence_choice_is_seeded_and_order_free():
    ids = [f"x{i}" for i in range(30)]
    chosen = choose_sequence(ids, 10, seed=42)
    assert len(chosen) == 10 == len(set(chosen)) and set(chosen) <= set(ids)
    assert choose_sequence(list(reversed(ids)), 10, seed=42) == chosen
    assert choose_sequence(ids, 10, seed=43) != chosen
    assert sorted(choose_sequence(ids[:4], 10)) == ids[:4]
    with pytest.raises(ValueError):
        choose_sequence(ids, 0)


def test_sweep_writes_the_table_and_keeps_failures_as_data(tiny_llama, tiny_tokenizer, tmp_path, monkeypatch):
    model, tok = tiny_llama, tiny_tokenizer
    recs = records()
    split = {"proxy": ["s0", "s1"], "test": [f"s{i}" for i in range(2, 10)]}
    before = param_hash(model)
    out = tmp_path / "layer_1.parquet"
    frame = run_sequential_sweep(model, tok, recs, split, "r-rome", strong_hparams(v_num_grad_steps=3), 1, TEMPLATES,
                                 out, n_edits=5, seed=7, progress=False)
    assert list(frame.columns) == SEQUENTIAL_COLUMNS and "edit_index" in frame.columns
    assert frame.equals(pd.read_parquet(out))
    assert list(frame["sample_id"]) == choose_sequence(split["test"], 5, seed=7)
    assert set(frame["split"]) == {"test"} and (frame["status"] == "ok").all()
    assert param_hash(model) == before

    # a norm bound no update can meet: every edit is recorded as failed, nothing is applied
    frame = run_sequential_sweep(model, tok, recs, split, "r-rome",
                                 strong_hparams(v_num_grad_steps=3, max_update_norm_ratio=1e-12), 1, TEMPLATES,
                                 out, n_edits=3, progress=False)
    assert (frame["status"] == "failed").all() and frame["reason"].str.contains("exceeds").all()
    assert frame["rewrite"].isna().all() and param_hash(model) == before

    # a diverging editor (NaN update) is data too, and the sequence goes on after it
    from goldenlayers.editing import rome

    compute = EDITORS["r-rome"].compute
    calls = []

    def sometimes_nan(model, tok, requests, hparams, layer, templates, covariance=None, *, site):
        edit = compute(model, tok, requests, hparams, layer, templates, covariance, site=site)
        calls.append(1)
        if len(calls) == 2:
            edit.right = torch.full_like(edit.right, float("nan"))
        return edit

    monkeypatch.setattr(rome, EDITORS["r-rome"].compute_name, sometimes_nan)  # the entry names its function
    frame = run_sequential_sweep(model, tok, recs, split, "r-rome", strong_hparams(v_num_grad_steps=3), 1, TEMPLATES,
                                 out, n_edits=3, progress=False)
    assert list(frame["status"]) == ["ok", "failed", "ok"]
    assert frame.loc[1, "reason"] == "non-finite update"
    assert param_hash(model) == before


def test_cli_key_covariance_sweep_and_sequential_with_emmet(tmp_path, tiny_tokenizer):
    """The CLI wiring of the rules: key-covariance -> sweep --key-covariance and sequential, on a saved tiny model."""
    import yaml

    from helpers import build_tiny_llama
    from goldenlayers.cli import main
    from goldenlayers.io import write_json

    build_tiny_llama(tiny_tokenizer).save_pretrained(tmp_path / "m")
    tiny_tokenizer.save_pretrained(tmp_path / "m")
    write_json(tmp_path / "model.json", {"source": "test", "path": str(tmp_path / "m"), "model_type": "llama"})
    write_json(tmp_path / "records.json", records(4))
    write_json(tmp_path / "split.json", {"proxy": ["s0"], "test": ["s1", "s2", "s3"]})
    write_json(tmp_path / "templates.json", {"templates": TEMPLATES})
    (tmp_path / "corpus.txt").write_text("The capital of France is Paris.\n\nToko Yasuda plays the guitar.")
    (tmp_path / "emmet.yaml").write_text(yaml.safe_dump({
        "alg_name": "EMMET", "v_num_grad_steps": 3, "v_weight_decay": 0.0, "clamp_norm_factor": 4,
        "mom2_update_weight": "1e2", "emmet_lambda": 0.1, "max_update_norm_ratio": None}))
    model = ["--model", str(tmp_path / "model.json"), "--device", "cpu"]
    common = [*model, "--records", str(tmp_path / "records.json"), "--split", str(tmp_path / "split.json"),
              "--templates", str(tmp_path / "templates.json"), "--editor", "emmet",
              "--hparams", str(tmp_path / "emmet.yaml"), "--layer", "1"]
    stats = tmp_path / "layer_1.safetensors"
    assert main(["-q", "key-covariance", *model, "--layer", "1", "--corpus", str(tmp_path / "corpus.txt"),
                 "--out", str(stats)]) == 0
    # EMMET without the covariance: a clear input error, nothing written
    assert main(["-q", "sweep", *common, "--out", str(tmp_path / "sweep.parquet")]) == 2
    assert not (tmp_path / "sweep.parquet").exists()
    assert main(["-q", "sweep", *common, "--key-covariance", str(stats), "--out", str(tmp_path / "sweep.parquet")]) == 0
    sweep = pd.read_parquet(tmp_path / "sweep.parquet")
    assert len(sweep) == 4 and set(sweep["editor"]) == {"emmet"} and (sweep["status"] == "ok").all()
    assert main(["-q", "sequential", *common, "--key-covariance", str(stats), "--n-edits", "2",
                 "--out", str(tmp_path / "seq.parquet")]) == 0
    seq = pd.read_parquet(tmp_path / "seq.parquet")
    assert list(seq["edit_index"]) == [0, 1] and set(seq["sample_id"]) <= {"s1", "s2", "s3"}
