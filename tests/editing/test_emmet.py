"""EMMET: the closed form, its constraints, its relation to ROME, exact restores, and its hyperparameter files."""

import pytest
import torch

from goldenlayers.editing import EDITORS, HparamsError, apply_edit, get_editor, load_hparams, restore_weight
from goldenlayers.editing.covariance import KeyCovariance
from goldenlayers.editing.emmet import EmmetHparams, emmet_update
from goldenlayers.models import edited_module, edited_weight
from goldenlayers.text import prompt_ids, subject_last_index

EMMET = get_editor("emmet")

from helpers import REPO, REQUEST, TEMPLATES, emmet_hparams, param_hash, random_spd

REQUESTS = [
    REQUEST,
    {"id": "1", "subject": "Toko Yasuda", "prompt": "Toko Yasuda", "target_new": "guitar"},
    {"id": "2", "subject": "Danielle Darrieux", "prompt": "The mother tongue of Danielle Darrieux",
     "target_new": "French"},
]


def emmet_keys(model, tok, layer, requests, templates):
    """½ bare + ½ mean over prefixed templates of the edited module's input, computed here with a plain hook."""
    captured = []
    handle = edited_module(model, layer).register_forward_hook(lambda m, i, o: captured.append(i[0][0].detach()))
    columns = []
    with torch.no_grad():
        for request in requests:
            keys = []
            for template in templates:
                text = template.replace("{}", request["prompt"])
                at = template.index("{}") + request["prompt"].index(request["subject"]) + len(request["subject"])
                model(input_ids=torch.tensor([prompt_ids(tok, text)]))
                keys.append(captured.pop()[subject_last_index(tok, text[:at], request["subject"])].double())
            columns.append(0.5 * keys[0] + 0.5 * torch.stack(keys[1:]).mean(0))
    handle.remove()
    return torch.stack(columns, 1)


@pytest.fixture
def covariance(tiny_llama):
    return KeyCovariance(random_spd(edited_module(tiny_llama, 1).weight.shape[1], seed=3).float())


def test_batch_satisfies_every_constraint_exactly_without_ridge(tiny_llama, tiny_tokenizer, covariance):
    model, tok = tiny_llama, tiny_tokenizer
    before = param_hash(model)
    edit = EMMET.edit(model, tok, REQUESTS, emmet_hparams(emmet_lambda=0.0, mom2_update_weight=50.0), 1,
                              TEMPLATES, covariance)
    assert param_hash(model) == before, "computing an edit leaves the model as it was"
    keys = emmet_keys(model, tok, 1, REQUESTS, TEMPLATES)
    residuals = edit.right.double()  # R: one column per request, z* − z on the residual stream
    assert residuals.shape == (edited_weight(model, 1).shape[0], 3) and (residuals.norm(dim=0) > 0).all()
    assert torch.allclose(edit.delta().double() @ keys, residuals, rtol=1e-4, atol=1e-6)
    assert torch.linalg.matrix_rank(edit.delta().double(), rtol=1e-6) == 3


def test_ridge_term_is_the_only_slack(tiny_llama, tiny_tokenizer, covariance):
    model, tok = tiny_llama, tiny_tokenizer
    w, lam = 50.0, 0.1
    edit = EMMET.edit(model, tok, REQUESTS, emmet_hparams(emmet_lambda=lam, mom2_update_weight=w), 1,
                              TEMPLATES, covariance)
    keys, residuals = emmet_keys(model, tok, 1, REQUESTS, TEMPLATES), edit.right.double()
    c = covariance.mom2.double() * w
    gram = keys.T @ torch.linalg.solve(c, keys) + lam * torch.eye(3, dtype=torch.float64)
    # ΔW K = R D⁻¹ (D − λI) = R − λ R D⁻¹
    expected = residuals - lam * residuals @ torch.linalg.inv(gram)
    assert torch.allclose(edit.delta().double() @ keys, expected, rtol=1e-4, atol=1e-6)
    assert not torch.allclose(edit.delta().double() @ keys, residuals, rtol=1e-4, atol=1e-6)


def test_single_edit_is_rank_one_along_the_rome_direction(tiny_llama, tiny_tokenizer, covariance):
    model, tok = tiny_llama, tiny_tokenizer
    edit = EMMET.edit(model, tok, [REQUEST], emmet_hparams(mom2_update_weight=1e4), 1, TEMPLATES,
                              covariance)
    key = emmet_keys(model, tok, 1, [REQUEST], TEMPLATES)[:, 0]
    direction = torch.linalg.solve(covariance.mom2.double(), key)
    left = edit.left.double()[0]
    assert torch.linalg.matrix_rank(edit.delta().double(), rtol=1e-6) == 1
    assert torch.nn.functional.cosine_similarity(left, direction, dim=0) > 1 - 1e-6


def test_closed_form_matches_the_spec_form():
    """R (KᵀC⁻¹K + λI)⁻¹KᵀC⁻¹ with C = w·C₀ equals R (KᵀC₀⁻¹K + λ·w·I)⁻¹KᵀC₀⁻¹ (EasyEdit's emmet_main.py form)."""
    g = torch.Generator().manual_seed(0)
    c0 = random_spd(12, seed=4)
    keys = torch.randn(12, 4, generator=g, dtype=torch.float64)
    residuals = torch.randn(7, 4, generator=g, dtype=torch.float64)
    w, lam = 1e4, 0.1
    right, left = emmet_update(keys, residuals, KeyCovariance(c0), w, lam)
    c0_inv_k = torch.linalg.solve(c0, keys)
    spec = residuals @ torch.linalg.solve(keys.T @ c0_inv_k + lam * w * torch.eye(4, dtype=torch.float64),
                                          c0_inv_k.T)
    assert torch.allclose(right @ left, spec, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("family", ["tiny_gpt2", "tiny_llama", "tiny_gemma3"])
def test_applied_update_changes_the_module_by_delta_w_and_restores_bit_exactly(family, request, tiny_tokenizer):
    model, tok = request.getfixturevalue(family), tiny_tokenizer
    module = edited_module(model, 1)
    d_in = edited_weight(model, 1).shape[1]
    covariance = KeyCovariance(random_spd(d_in, seed=5).float())
    before = param_hash(model)
    edit = EMMET.edit(model, tok, REQUESTS[:2], emmet_hparams(), 1, TEMPLATES, covariance)
    probe = torch.randn(5, d_in)
    with torch.no_grad():
        out_before = module(probe)
        original = apply_edit(model, edit)
        assert param_hash(model) != before
        change = module(probe) - out_before
    assert torch.allclose(change, probe @ edit.delta().T, rtol=1e-4, atol=1e-5)
    restore_weight(model, 1, original)
    assert param_hash(model) == before


def test_needs_a_covariance(tiny_llama, tiny_tokenizer):
    with pytest.raises(ValueError, match="covariance"):
        EMMET.edit(tiny_llama, tiny_tokenizer, [REQUEST], emmet_hparams(), 1, TEMPLATES)


EASYEDIT_GPT2_XL = """layers: [17]
clamp_norm_factor: 0.75
layer_selection: "all"
fact_token: "subject_last"
v_num_grad_steps: 20
v_lr: 5e-1
v_loss_layer: 47
v_weight_decay: 0.5
kl_factor: 0.0625
mom2_adjustment: true
mom2_update_weight: 10000
rewrite_module_tmp: "transformer.h.{}.mlp.c_proj"
layer_module_tmp: "transformer.h.{}"
mlp_module_tmp: "transformer.h.{}.mlp"
attn_module_tmp: "transformer.h.{}.attn"
ln_f_module: "transformer.ln_f"
lm_head_module: "transformer.wte"
mom2_dataset: "wikipedia"
mom2_n_samples: 100000
mom2_dtype: "float32"
update_norm_lambda: 0
emmet_lambda: 0.1
model_parallel: false

stats_dir: "./data/stats"
device: 3
model_name: "./hugging_cache/gpt2-xl"
alg_name: "EMMET"
"""


def test_easyedit_emmet_yaml_loads_as_it_is(tmp_path, tiny_llama, tiny_tokenizer):
    path = tmp_path / "emmet.yaml"
    path.write_text(EASYEDIT_GPT2_XL)
    hp = load_hparams("emmet", path)
    assert isinstance(hp, EmmetHparams) and EDITORS["emmet"].hparams_class is EmmetHparams
    assert hp.v_lr == 0.5 and hp.mom2_update_weight == 10000.0 and hp.emmet_lambda == 0.1
    assert hp.clamp_norm_factor == 0.75 and hp.v_loss_layer == 47 and hp.update_norm_lambda == 0.0
    assert hp.context_template_length_params == [[10, 5]]
    # v_loss_layer 47 is GPT-2 XL's last layer, not the tiny model's: refused rather than silently ignored
    with pytest.raises(HparamsError, match="v_loss_layer"):
        EMMET.edit(tiny_llama, tiny_tokenizer, [REQUEST], hp, 1, TEMPLATES,
                           KeyCovariance(torch.eye(edited_weight(tiny_llama, 1).shape[1])))
    path.write_text(EASYEDIT_GPT2_XL + "emmet_lamda: 0.2\n")
    with pytest.raises(HparamsError, match="emmet_lamda"):
        load_hparams("emmet", path)
    path.write_text(EASYEDIT_GPT2_XL)
    with pytest.raises(HparamsError, match="alg_name"):
        load_hparams("r-rome", path)


def test_every_shipped_hparams_file_loads():
    root = REPO / "config" / "hparams"
    files = sorted(root.glob("*/*.yaml"))
    assert {p.parent.name for p in files} == {"rome", "r-rome", "emmet"}
    for path in files:
        hp = load_hparams(path.parent.name, path)
        assert hp.v_num_grad_steps > 0, path
    models = {p.stem for p in files}
    assert {"smollm2-135m", "gpt2-xl", "llama-2-7b", "gemma-3-12b"} <= models
