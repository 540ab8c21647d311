"""`goldenlayers suggest` / `goldenlayers edit` end to end on a tiny random LLaMA saved to a temp directory.

The LGA reference here is computed independently of goldenlayers.measure.gradients/selection.lga: plain autograd gradients of
each layer's MLP output weight, their inner products summed over the requests, numpy's Tukey fences and argmax.
"""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from helpers import STRONG_RROME, build_tiny_llama, build_tiny_tokenizer, write_user_project
from goldenlayers import cli

N_LAYERS = 6
REQUESTS = [
    {"prompt": "The capital of France is", "subject": "France", "target_new": "Rome", "ground_truth": "Paris"},
    {"prompt": "The capital of Germany is", "subject": "Germany", "target_new": "Paris", "ground_truth": "Berlin"},
    {"prompt": "The capital of Italy is", "subject": "Italy", "target_new": "Berlin", "ground_truth": "Rome"},
    {"prompt": "Danielle Darrieux's mother tongue is", "subject": "Danielle Darrieux", "target_new": "Dutch",
     "ground_truth": "French"},
    {"prompt": "The official language of Spain is", "subject": "Spain", "target_new": "French",
     "ground_truth": "Spanish"},
]
STRONG = STRONG_RROME


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return write_user_project(tmp_path_factory.mktemp("tiny"), REQUESTS, N_LAYERS)


def load(path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(path)


def answer_loss(model, tok, prompt, answer):
    p = tok(prompt)["input_ids"]
    a = tok(" " + answer, add_special_tokens=False)["input_ids"]
    logits = model(input_ids=torch.tensor([p + a])).logits[0]
    return F.cross_entropy(logits[len(p) - 1 : len(p) + len(a) - 1], torch.tensor(a))


def reference_lga(model, tok, requests, k=1.0):
    """Per layer sum of <dl_old/dW, dl_new/dW> for W = mlp.down_proj, Tukey fences, fenced argmax."""
    weights = [layer.mlp.down_proj.weight for layer in model.model.layers]
    for w in weights:
        w.requires_grad_(True)
    scores = np.zeros(len(weights))
    for r in requests:
        g_old = torch.autograd.grad(answer_loss(model, tok, r["prompt"], r["ground_truth"]), weights)
        g_new = torch.autograd.grad(answer_loss(model, tok, r["prompt"], r["target_new"]), weights)
        scores += [float((a.double() * b.double()).sum()) for a, b in zip(g_old, g_new)]
    q1, q3 = np.percentile(scores, [25, 75])
    inside = (scores >= q1 - k * (q3 - q1)) & (scores <= q3 + k * (q3 - q1))
    return int(np.argmax(np.where(inside, scores, -np.inf))), scores


def test_suggest_prints_a_table_and_writes_the_lga_layer(tiny_dir, tmp_path, capsys):
    out = tmp_path / "suggestion.json"
    code = cli.main(["-q", "suggest", "--model", str(tiny_dir / "model"), "--requests", str(tiny_dir / "requests.json"),
                     "--selectors", "lga,salem", "--threads", "1", "--json", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "LGA score" in printed and "Recommended layer:" in printed and "SaLEM" in printed
    result = json.loads(out.read_text())
    model, tok = load(tiny_dir / "model")
    layer, scores = reference_lga(model, tok, REQUESTS)
    assert result["layer"] == layer
    assert result["layers"] == list(range(N_LAYERS))
    np.testing.assert_allclose(result["scores"], scores, rtol=1e-4, atol=1e-9)
    assert f"{layer} <- LGA" in printed
    assert result["n_requests"] == len(REQUESTS)
    assert any("only 5 requests" in c for c in result["caveats"])


def test_suggest_layer_api_matches_reference_and_subsamples(tiny_dir):
    from goldenlayers import suggest_layer

    model, tok = load(tiny_dir / "model")
    suggestion = suggest_layer(model, tok, REQUESTS, progress=False)
    assert suggestion.layer == reference_lga(model, tok, REQUESTS)[0]
    sub = suggest_layer(model, tok, REQUESTS, proxy=3, seed=1, progress=False)
    assert sub.n_requests == 3 and len(set(sub.request_ids)) == 3
    used = [REQUESTS[int(i)] for i in sub.request_ids]
    assert sub.layer == reference_lga(model, tok, used)[0]
    assert any("subsample of 3 of the 5" in c for c in sub.caveats)
    # only the last layer as candidate: its MLP edit cannot reach the answer position when the subject is mid-prompt
    last = suggest_layer(model, tok, REQUESTS, layers=[N_LAYERS - 1], progress=False)
    assert last.layer == N_LAYERS - 1 and any("last layer" in c for c in last.caveats)
    assert not any("last layer" in c for c in suggestion.caveats) or suggestion.layer == N_LAYERS - 1


@pytest.mark.parametrize("editor", ["r-rome", "emmet"])
def test_write_hparams_round_trips_through_the_hparams_loader(tiny_dir, tmp_path, editor):
    from goldenlayers.editing import load_hparams
    from goldenlayers.models import edited_module
    from goldenlayers.suggest import write_hparams

    model, tok = load(tiny_dir / "model")
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump({"alg_name": "EMMET" if editor == "emmet" else "R-ROME", "v_num_grad_steps": 7,
                                    "v_lr": 0.25, "kl_factor": 0.5, "context_template_length_params": [[4, 3]],
                                    **({"mom2_update_weight": 123.0} if editor == "emmet" else {})}))
    path = tmp_path / "out.yaml"
    write_hparams(path, model, editor, 4, model_name="tiny", base=str(base))
    written = yaml.safe_load(path.read_text())
    assert written["layers"] == [4] and written["v_loss_layer"] == N_LAYERS - 1
    # EasyEdit's module template names the module this project edits
    assert model.get_submodule(written["rewrite_module_tmp"].format(4)) is edited_module(model, 4)
    model.get_submodule(written["attn_module_tmp"].format(4)), model.get_submodule(written["ln_f_module"])
    again, original = load_hparams(editor, path), load_hparams(editor, base)
    assert again.v_num_grad_steps == 7 and again.v_lr == 0.25 and again.kl_factor == 0.5
    assert again.context_template_length_params == [[4, 3]]
    assert {k: v for k, v in vars(again).items() if k != "v_loss_layer"} == \
           {k: v for k, v in vars(original).items() if k != "v_loss_layer"}
    # EasyEdit's R-ROME reads our two key-averaging flags as its own switches; the other editors have none
    switches = {"enable_random_prefix_keys", "original_implementation"}
    if editor == "r-rome":
        assert written["enable_random_prefix_keys"] == original.averaged_keys_in_update
        assert written["original_implementation"] == (original.averaged_key_direction
                                                      and not original.averaged_keys_in_update)
    else:
        assert not switches & set(written)


def test_suggest_cli_write_hparams(tiny_dir, tmp_path, capsys):
    from goldenlayers.editing import load_hparams

    path = tmp_path / "hp.yaml"
    assert cli.main(["-q", "suggest", "--model", str(tiny_dir / "model"), "--requests",
                     str(tiny_dir / "requests.json"), "--threads", "1", "--write-hparams", str(path),
                     "--editor", "rome"]) == 0
    model, tok = load(tiny_dir / "model")
    assert yaml.safe_load(path.read_text())["layers"] == [reference_lga(model, tok, REQUESTS)[0]]
    assert load_hparams("rome", path).v_num_grad_steps == 20  # the editor's defaults when no --hparams


def test_edit_saves_a_loadable_model_that_predicts_the_new_target(tiny_dir, tmp_path, capsys):
    from goldenlayers.text import answer_span_ids, prompt_ids

    layer, out = 2, tmp_path / "edited"
    # the subject ends the prompt, so δ reaches the predicting position of a random model (tests/editing/test_editing.py)
    request = [{"prompt": "The capital of France", "subject": "France", "target_new": "Paris"}]
    (tmp_path / "one.json").write_text(json.dumps(request))
    code = cli.main(["-q", "edit", "--model", str(tiny_dir / "model"), "--requests", str(tmp_path / "one.json"),
                     "--layer", str(layer), "--hparams", str(tiny_dir / "strong.yaml"), "--threads", "1",
                     "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    edited, tok = load(out)
    original, _ = load(tiny_dir / "model")
    # the edited prompt now predicts the new target (greedy next token)
    ids = torch.tensor([prompt_ids(tok, request[0]["prompt"])])
    target = answer_span_ids(tok, request[0]["prompt"], request[0]["target_new"])
    with torch.no_grad():
        assert int(edited(input_ids=ids).logits[0, -1].argmax()) == target[0]
        assert int(original(input_ids=ids).logits[0, -1].argmax()) != target[0]
    # every parameter but the edited weight is bit-identical; the edited weight changed
    edited_name = f"model.layers.{layer}.mlp.down_proj.weight"
    new, old = edited.state_dict(), original.state_dict()
    assert new.keys() == old.keys()
    for name in old:
        same = torch.equal(new[name], old[name])
        assert same != (name == edited_name), name
    report = json.loads((out / "report.json").read_text())
    assert report["layer"] == layer and report["rows"][0]["status"] == "ok"
    assert report["rows"][0]["after"]["rewrite"] == 1.0 and report["rows"][0]["before"]["rewrite"] < 1.0
    assert "| rewrite |" in (out / "report.md").read_text()
    assert (out / "model.safetensors").exists() and (out / "tokenizer.json").exists()


def test_edit_refuses_a_non_empty_out_without_force(tiny_dir, tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    argv = ["-q", "edit", "--model", str(tiny_dir / "model"), "--requests", str(tiny_dir / "requests.json"),
            "--layer", "1", "--out", str(out)]
    assert cli.main(argv) == 2
    assert "not empty" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("argv, message", [
    (["suggest", "--selectors", "lga,bogus"], "unknown selector"),
    (["suggest", "--proxy", "0"], "--proxy must be at least 1"),
    (["edit", "--layer", "99", "--out", "OUT"], "layer 99 out of range"),
    (["edit", "--layer", "two", "--out", "OUT"], "--layer must be auto or a layer number"),
    (["edit", "--editor", "emmet", "--hparams", "HP", "--layer", "1", "--out", "OUT"], "alg_name"),
])
def test_bad_inputs_give_one_clear_error(tiny_dir, tmp_path, capsys, argv, message):
    argv = [str(tmp_path / "out") if a == "OUT" else str(tiny_dir / "strong.yaml") if a == "HP" else a
            for a in argv]
    base = ["--model", str(tiny_dir / "model"), "--requests", str(tiny_dir / "requests.json"), "--threads", "1"]
    try:
        code = cli.main(["-q", argv[0], *base, *argv[1:]])
    except SystemExit as exit:  # argparse rejects a bad --selectors itself
        code = exit.code
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_embedded_model_cache_is_rebuilt_when_its_source_changed(tmp_path, monkeypatch):
    from goldenlayers import models, suggest

    monkeypatch.setenv("GOLDENLAYERS_CACHE", str(tmp_path))
    fingerprint = {"source": "embedded:smollm2-135m", "version": "1"}
    monkeypatch.setattr(suggest, "_embedded_fingerprint", lambda source: dict(fingerprint))
    prepared = []

    def fake_prepare(source, out_dir):  # stands in for the GGUF conversion (a minute on the real model)
        prepared.append(source)
        (out_dir / "hf").mkdir(parents=True, exist_ok=True)
        (out_dir / "hf" / "config.json").write_text("{}")

    monkeypatch.setattr(models, "prepare_model", fake_prepare)
    first = suggest.model_path("embedded:smollm2-135m")
    assert first == tmp_path / "models" / "smollm2-135m" / "hf" and prepared == ["embedded:smollm2-135m"]
    assert suggest.model_path("embedded:smollm2-135m") == first and len(prepared) == 1  # cached
    fingerprint["version"] = "2"  # another wheel: the cached directory is not what it would be now
    suggest.model_path("embedded:smollm2-135m")
    assert len(prepared) == 2


def test_suggest_equals_the_pipeline_score_lga_on_the_same_requests(tiny_dir, tmp_path, capsys):
    from goldenlayers.suggest import read_requests

    records = read_requests(tiny_dir / "requests.json")
    (tmp_path / "records.json").write_text(json.dumps(records))
    (tmp_path / "split.json").write_text(json.dumps({"proxy": [r["id"] for r in records], "test": []}))
    (tmp_path / "model.json").write_text(json.dumps({"source": "test", "path": str(tiny_dir / "model")}))
    assert cli.main(["-q", "gradients", "--model", str(tmp_path / "model.json"), "--records",
                     str(tmp_path / "records.json"), "--split", str(tmp_path / "split.json"),
                     "--out", str(tmp_path / "g.parquet")]) == 0
    assert cli.main(["-q", "select", "--method", "lga", "--gradients", str(tmp_path / "g.parquet"), "--split",
                     str(tmp_path / "split.json"), "--out", str(tmp_path / "lga.json")]) == 0
    assert cli.main(["-q", "suggest", "--model", str(tmp_path / "model.json"), "--requests",
                     str(tiny_dir / "requests.json"), "--threads", "1", "--json", str(tmp_path / "s.json")]) == 0
    pipeline, suggested = (json.loads((tmp_path / name).read_text()) for name in ("lga.json", "s.json"))
    assert suggested["layer"] == pipeline["chosen_layer"] and suggested["scores"] == pipeline["scores"]
