"""Every supported family (GPT-2, LLaMA, Gemma3 text and Gemma3 inside its multimodal wrapper) in bfloat16 and
float16 against the same weights in float32: gradients, the R-ROME edit, exact restore and metrics agree within a
tolerance set by the dtype's precision. Runs on CUDA too when a GPU is present (the same tests, device "cuda").
"""

import copy
import hashlib
import math

import pytest
import torch

from helpers import build_tiny_gemma3, build_tiny_gpt2, build_tiny_llama
from goldenlayers.data import filter_known
from goldenlayers.editing import get_editor
from goldenlayers.editing.rome import RomeHparams, apply_edit, restore_weight
from goldenlayers.editing.evaluate import evaluate_record
from goldenlayers.measure.gradients import extract_layer_gradients
from goldenlayers.models import arch_spec, edited_module_name, edited_weight, load_model, logits_at, num_layers

R_ROME = get_editor("r-rome")  # compute_rome_edit with the hparams as given

LOW_PRECISION = {"bfloat16": torch.bfloat16, "float16": torch.float16}
# Largest relative error (|x - x_fp32| / max|x_fp32|) accepted for gradient scalars and logits. bfloat16 keeps 8
# mantissa bits (~0.4 % per rounding), float16 11; a 3-layer forward + backward compounds a few roundings.
TOLERANCE = {"bfloat16": 0.1, "float16": 0.02}
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
LAYER = 1

# The subject ends each prompt so δ enters the residual stream at the predicting position: a random 3-layer model
# barely routes information between positions (see test_editing.py). The edited record's target " Paris" is one
# token of the tiny tokenizer.
RECORDS = [
    {"id": "0", "subject": "Germany", "prompt": "The capital of Germany", "ground_truth": "Berlin",
     "target_new": "Paris", "rephrase_prompts": ["The capital city of Germany"],
     "locality": [{"prompt": "The capital of Italy is", "answer": "Rome"}],
     "portability": [{"prompt": "The capital of Germany is in", "answer": "France"}]},
    {"id": "1", "subject": "France", "prompt": "The capital of France", "ground_truth": "Paris",
     "target_new": "Rome", "rephrase_prompts": [], "locality": [], "portability": []},
    {"id": "2", "subject": "Toko Yasuda", "prompt": "The guitar of Toko Yasuda", "ground_truth": None,
     "target_new": "Berlin", "rephrase_prompts": [], "locality": [], "portability": []},
]
TEMPLATES = ["{}", "The day. {}"]
# tiny random models need more steps and a looser clamp than a real LM (see test_editing.strong_hparams)
HPARAMS = RomeHparams(v_num_grad_steps=60, v_lr=0.5, v_weight_decay=0.0, clamp_norm_factor=1000.0)


def build_tiny_gemma3_multimodal(tok, seed: int = 0, layers: int = 3):
    """Gemma3ForConditionalGeneration (what gemma-3-12b loads as): the text model sits at model.language_model,
    beside a vision tower. Its text weights are those of `build_tiny_gemma3` with the same seed, so on text input
    it must compute exactly what the bare text model computes."""
    from transformers import AutoModelForCausalLM, Gemma3Config, SiglipVisionConfig

    text_model = build_tiny_gemma3(tok, seed=seed, layers=layers)
    vision = SiglipVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                image_size=28, patch_size=14)
    # image/boi/eoi token ids keep their defaults (beyond the tiny vocabulary), so no text token is read as an image
    config = Gemma3Config(text_config=text_model.config.to_dict(), vision_config=vision.to_dict(),
                          mm_tokens_per_image=4)
    model = AutoModelForCausalLM.from_config(config)
    model.model.language_model.load_state_dict(text_model.model.state_dict())
    model.lm_head.load_state_dict(text_model.lm_head.state_dict())
    model.to(torch.float32).eval()
    model.requires_grad_(False)
    return model


BUILDERS = {"gpt2": build_tiny_gpt2, "llama": build_tiny_llama, "gemma3_text": build_tiny_gemma3,
            "gemma3_multimodal": build_tiny_gemma3_multimodal}


def run_everything(model, tok):
    """Gradients for all layers, one R-ROME edit (metrics while applied, exact restore), metrics unedited."""
    records, _ = filter_known(model, tok, RECORDS, keep_unknown=True, progress=False)  # pre-edit locality ids
    grads = extract_layer_gradients(model, tok, records, progress=False)
    before = hashlib.sha256(edited_weight(model, LAYER).detach().float().cpu().numpy().tobytes()).hexdigest()
    edit = R_ROME.edit(model, tok, records[0], HPARAMS, LAYER, TEMPLATES)
    weight_before = edited_weight(model, LAYER).detach().clone()
    original = apply_edit(model, edit)
    realised = (edited_weight(model, LAYER).detach().double() - weight_before.double()).cpu()
    edited_metrics = evaluate_record(model, tok, records[0])
    restore_weight(model, LAYER, original)
    after = hashlib.sha256(edited_weight(model, LAYER).detach().float().cpu().numpy().tobytes()).hexdigest()
    metrics = [evaluate_record(model, tok, r) for r in records]
    return {"grads": grads, "edit": edit, "realised": realised, "edited_metrics": edited_metrics,
            "restored_exactly": before == after, "metrics": metrics}


_reference_cache = {}


def reference(family, tok):
    """Float32 CPU results of a family (computed once per session; every test uses the same seeded weights)."""
    if family not in _reference_cache:
        model = BUILDERS[family](tok)
        _reference_cache[family] = (model, run_everything(copy.deepcopy(model), tok))
    return _reference_cache[family]


def relative_error(x: torch.Tensor, ref: torch.Tensor) -> float:
    x, ref = (torch.tensor(v.tolist() if hasattr(v, "tolist") else v, dtype=torch.float64) for v in (x, ref))
    return float((x - ref).abs().max() / ref.abs().max())


def gradient_cosines(frame) -> torch.Tensor:
    return torch.tensor((frame["dot_old_new"] / (frame["sq_norm_old"] * frame["sq_norm_new"]) ** 0.5).to_numpy().copy())


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a.double().cpu(), b.double().cpu(), dim=0))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", list(LOW_PRECISION))
@pytest.mark.parametrize("family", list(BUILDERS))
def test_low_precision_agrees_with_float32(family, dtype, device, tiny_tokenizer):
    tok = tiny_tokenizer
    base, ref = reference(family, tok)
    model = copy.deepcopy(base).to(device=device, dtype=LOW_PRECISION[dtype])
    got = run_everything(model, tok)
    tol = TOLERANCE[dtype]

    # gradient scalars: the same norms up to rounding, and the same angle between g_old and g_new (the inner
    # product itself can cancel to near zero, so it is compared through the cosine it implies)
    for column in ("sq_norm_old", "sq_norm_new"):
        assert relative_error(got["grads"][column].to_numpy(), ref["grads"][column].to_numpy()) < tol, column
    assert (gradient_cosines(got["grads"]) - gradient_cosines(ref["grads"])).abs().max() < tol

    # the edit: its math runs in float32/float64 whatever the weights, so u and r point the same way
    edit, ref_edit = got["edit"], ref["edit"]
    assert edit.left.dtype == torch.float32 and edit.right.dtype == torch.float32
    assert cosine(edit.left, ref_edit.left) > 0.99 and cosine(edit.right, ref_edit.right) > 0.95
    assert math.isclose(float(edit.right.norm()), float(ref_edit.right.norm()), rel_tol=5 * tol)
    # rounding ΔW into the low-precision weight keeps what it does to the edited key direction
    intended = ref_edit.delta().double() @ ref_edit.left.double()
    assert cosine(got["realised"] @ edit.left.double().cpu(), intended) > 0.99
    assert got["edited_metrics"]["rewrite"] == ref["edited_metrics"]["rewrite"] == 1.0
    assert got["restored_exactly"]

    # metrics of the unedited model: teacher-forced argmax tokens may flip only where two logits nearly tie
    for mine, theirs in zip(got["metrics"], ref["metrics"]):
        for metric, value in theirs.items():
            if math.isnan(value):
                assert math.isnan(mine[metric])
            else:
                assert abs(mine[metric] - value) <= 0.5, (metric, mine, theirs)
    mean_gap = [abs(m[k] - t[k]) for m, t in zip(got["metrics"], ref["metrics"]) for k in t if not math.isnan(t[k])]
    assert sum(mean_gap) / len(mean_gap) <= 0.1


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", list(LOW_PRECISION))
@pytest.mark.parametrize("family", list(BUILDERS))
def test_logits_at_answer_positions_agree(family, dtype, device, tiny_tokenizer):
    from goldenlayers.text import batch_prompt_answers

    tok = tiny_tokenizer
    base, _ = reference(family, tok)
    input_ids, mask, labels = batch_prompt_answers(tok, [(r["prompt"], r["target_new"]) for r in RECORDS])
    rows, cols = (labels != -100).nonzero(as_tuple=True)
    with torch.no_grad():
        expected = logits_at(base, input_ids, mask, rows, cols)
        full = base(input_ids=input_ids, attention_mask=mask).logits[rows, cols]
        model = copy.deepcopy(base).to(device=device, dtype=LOW_PRECISION[dtype])
        got = logits_at(model, input_ids.to(device), mask.to(device), rows.to(device), cols.to(device))
    assert torch.allclose(expected, full, atol=1e-5)  # LM head at the answer positions only = the full forward
    assert relative_error(got.float().cpu(), expected) < TOLERANCE[dtype]


def test_gemma3_multimodal_wrapper_computes_what_the_text_model_computes(tiny_tokenizer):
    _, text = reference("gemma3_text", tiny_tokenizer)
    _, wrapped = reference("gemma3_multimodal", tiny_tokenizer)
    assert wrapped["grads"].equals(text["grads"])
    assert torch.equal(wrapped["edit"].left, text["edit"].left) and torch.equal(wrapped["edit"].right, text["edit"].right)
    assert wrapped["edited_metrics"] == text["edited_metrics"] and wrapped["metrics"] == text["metrics"]


def test_gemma3_multimodal_wrapper_spec(tiny_tokenizer):
    model = build_tiny_gemma3_multimodal(tiny_tokenizer)
    assert type(model).__name__ == "Gemma3ForConditionalGeneration" and model.config.model_type == "gemma3"
    spec = arch_spec(model)
    assert spec.layers == "model.language_model.layers" and not spec.conv1d
    assert num_layers(model) == model.config.text_config.num_hidden_layers == 3
    assert edited_module_name(model, 2) == "model.language_model.layers.2.mlp.down_proj"
    # the edited weight is the text model's, not the vision tower's
    text_model = model.model.language_model
    assert edited_weight(model, 2) is text_model.layers[2].mlp.down_proj.weight
    assert edited_weight(model, 2).shape == (32, 64)


@pytest.mark.parametrize("family", list(BUILDERS))
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_load_model_dtype_and_device(family, dtype, tiny_tokenizer, tmp_path):
    model = BUILDERS[family](tiny_tokenizer)
    model.save_pretrained(tmp_path)
    tiny_tokenizer.save_pretrained(tmp_path)
    loaded, tok = load_model(tmp_path, dtype=dtype, device="cpu")
    assert {p.dtype for p in loaded.parameters()} == {getattr(torch, dtype)}
    assert loaded.device.type == "cpu" and not loaded.training
    assert not any(p.requires_grad for p in loaded.parameters())
    assert tok.pad_token_id == tok.eos_token_id and tok.padding_side == "right"
    assert type(loaded).__name__ == type(model).__name__
    for name, p in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name].float(), p.to(getattr(torch, dtype)).float()), name


def test_unknown_dtype_and_family_errors(tiny_tokenizer, tmp_path):
    from transformers import AutoModelForCausalLM, OPTConfig

    with pytest.raises(ValueError, match="unknown dtype 'float8'"):
        load_model(tmp_path, dtype="float8")
    opt = AutoModelForCausalLM.from_config(OPTConfig(hidden_size=16, ffn_dim=32, num_hidden_layers=1,
                                                     num_attention_heads=2, vocab_size=len(tiny_tokenizer)))
    with pytest.raises(ValueError, match=r"unsupported model family 'opt'; supported: gemma3, .*gpt2.*llama.*ArchSpec"):
        arch_spec(opt)


# --- models from the hub ----------------------------------------------------------------------------------------


def test_hub_model_download_skips_duplicate_weight_formats(tmp_path, monkeypatch):
    import huggingface_hub

    from goldenlayers.models import OTHER_WEIGHT_FORMATS, download_hub_model

    calls = []
    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()

    def fake_snapshot_download(repo_id, ignore_patterns=None):
        calls.append(ignore_patterns)
        if ignore_patterns is None:  # second try: everything, including pytorch_model.bin
            (snapshot / "pytorch_model.bin").write_bytes(b"")
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    (snapshot / "model.safetensors").write_bytes(b"")
    assert download_hub_model("openai-community/gpt2-xl") == snapshot and calls == [OTHER_WEIGHT_FORMATS]
    (snapshot / "model.safetensors").unlink()  # a repo with .bin weights only: fetch those
    calls.clear()
    download_hub_model("some/old-model")
    assert calls == [OTHER_WEIGHT_FORMATS, None]


def test_hub_model_errors_say_what_to_do(tmp_path, monkeypatch):
    import huggingface_hub
    from huggingface_hub import constants
    from huggingface_hub.errors import GatedRepoError

    from goldenlayers.models import download_hub_model

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ValueError, match="google/gemma-3-12b-pt is not in the Hugging Face cache .* --until prepare_model"):
        download_hub_model("google/gemma-3-12b-pt")

    def gated(repo_id, ignore_patterns=None):
        err = GatedRepoError.__new__(GatedRepoError)  # its constructor wants an HTTP response
        Exception.__init__(err, "401 gated repo")
        raise err

    monkeypatch.setattr(huggingface_hub, "snapshot_download", gated)
    with pytest.raises(ValueError, match="meta-llama/Llama-2-7b-hf is gated: accept its licence"):
        download_hub_model("meta-llama/Llama-2-7b-hf")
