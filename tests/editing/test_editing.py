import pytest
import torch

from goldenlayers.editing import apply_edit, get_editor, load_hparams, restore_weight
from goldenlayers.editing.templates import generate_context_templates
from goldenlayers.editing.evaluate import evaluate_record
from goldenlayers.models import blocks
from helpers import REQUEST, TEMPLATES, param_hash, strong_hparams

R_ROME = get_editor("r-rome")  # compute_rome_edit with the hparams as given


@pytest.mark.parametrize("family", ["tiny_llama", "tiny_gpt2"])
def test_r_rome_edit_makes_target_the_argmax_and_restores_bit_exactly(family, request, tiny_tokenizer):
    model, tok = request.getfixturevalue(family), tiny_tokenizer
    before = param_hash(model)
    edit = R_ROME.edit(model, tok, REQUEST, strong_hparams(), 1, TEMPLATES)
    assert torch.linalg.matrix_rank(edit.delta().double(), rtol=1e-5) == 1
    original = apply_edit(model, edit)
    assert evaluate_record(model, tok, {**REQUEST})["rewrite"] == 1.0
    restore_weight(model, 1, original)
    assert param_hash(model) == before


def test_rome_and_r_rome_agree_with_a_single_template(tiny_llama, tiny_tokenizer):
    # with the bare prompt only, the averaged key/value are the bare ones, so the two updates coincide
    # (agreement with EasyEdit's own formulas is tests/editing/test_vstar_reference.py's job)
    model, tok = tiny_llama, tiny_tokenizer
    rome = get_editor("rome").edit
    r_rome_single = R_ROME.edit(model, tok, REQUEST, strong_hparams(), 1, ["{}"])
    rome_single = rome(model, tok, REQUEST, strong_hparams(), 1, ["{}"])
    assert torch.allclose(r_rome_single.delta(), rome_single.delta(), atol=1e-6)


def test_hparams_read_easyedit_yaml(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("alg_name: R-ROME\nlayers: [5]\nv_lr: 5e-1\nv_weight_decay: 1e-3\nv_num_grad_steps: 25\n"
                    "context_template_length_params: [[5, 10], [10, 10]]\nmom2_adjustment: false\n")
    hp = load_hparams("r-rome", path)
    assert hp.v_lr == 0.5 and hp.v_weight_decay == 0.001 and hp.v_num_grad_steps == 25
    with pytest.raises(FileNotFoundError):
        load_hparams("r-rome", tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match="unknown editor"):
        load_hparams("memit-x", path)


def test_context_templates_are_seeded(tiny_llama, tiny_tokenizer):
    a = generate_context_templates(tiny_llama, tiny_tokenizer, [[5, 5], [10, 5]], seed=42)
    b = generate_context_templates(tiny_llama, tiny_tokenizer, [[5, 5], [10, 5]], seed=42)
    assert a == b and len(a) == 11 and a[0] == "{}"
    assert all(t.endswith(". {}") and t.count("{}") == 1 for t in a[1:])


@pytest.mark.parametrize("family", ["tiny_llama", "tiny_gpt2", "tiny_gemma3"])
def test_replaying_the_prefix_changes_speed_not_numbers(family, request, tiny_tokenizer):
    model, tok = request.getfixturevalue(family), tiny_tokenizer
    fast = R_ROME.edit(model, tok, REQUEST, strong_hparams(v_num_grad_steps=8), 2, TEMPLATES)
    plain = R_ROME.edit(model, tok, REQUEST, strong_hparams(v_num_grad_steps=8, replay_prefix=False), 2,
                              TEMPLATES)
    assert fast.info["steps"] == plain.info["steps"] == 8
    assert torch.allclose(fast.delta(), plain.delta(), rtol=1e-4, atol=1e-7)
    # the blocks' own forward is back in place afterwards
    assert all("forward" not in vars(block) for block in blocks(model))


@pytest.mark.parametrize("family", ["tiny_llama", "tiny_gpt2", "tiny_gemma3"])
@pytest.mark.parametrize("layer", [0, 2])
def test_fast_paths_match_the_reference_forward(family, layer, request, tiny_tokenizer):
    """Prefix states, replay and the LM head at target positions only change speed: same δ, same ΔW."""
    model, tok = request.getfixturevalue(family), tiny_tokenizer
    # templates of different lengths, so the prefix states are left-padded by different amounts
    templates = ["{}", "The day. {}", "Because I said so and so on. {}"]
    modes = {
        "reference": {"reference_forward": True},
        "replay": {"cache_prefix_states": False},
        "prefix states": {"replay_prefix": False},
        "both": {},
    }
    edits = {name: R_ROME.edit(model, tok, REQUEST, strong_hparams(v_num_grad_steps=8, **kw), layer, templates)
             for name, kw in modes.items()}
    reference = edits.pop("reference")
    for name, edit in edits.items():
        assert edit.info["steps"] == reference.info["steps"] == 8, name
        assert torch.allclose(edit.delta(), reference.delta(), rtol=1e-4, atol=1e-7), name
