"""v* against an independent, slow transcription of EasyEdit's compute_v (ROME, R-ROME) and compute_z (EMMET).

The reference below shares no code with goldenlayers.editing or goldenlayers.text: it follows EasyEdit's loss as
written there (string prompts tokenised as one right-padded batch, the full model on every token, full-vocabulary
log-softmax at every position, `rewriting_targets` gathered and masked, one NLL per rewriting prompt averaged,
KL at the KL prompt's lookup index, Adam, clamp, early stop) and its update formulas. The pipeline's fast path
(blocks before the layer replayed, prefix states cached, logits only where needed) must give the same δ at every
step and the same ΔW to 1e-5 relative.
"""

from __future__ import annotations

import pytest
import torch

from helpers import build_tiny_gemma3, build_tiny_gpt2, build_tiny_llama
from goldenlayers.editing import get_editor
from goldenlayers.editing.covariance import KeyCovariance
from goldenlayers.editing.emmet import EmmetHparams
from goldenlayers.editing.rome import RomeHparams
from goldenlayers.editing.vstar import optimise_vstar

R_ROME = get_editor("r-rome")  # compute_rome_edit with the hparams as given
EMMET = get_editor("emmet")

BUILDERS = {"gpt2": build_tiny_gpt2, "llama": build_tiny_llama, "gemma3": build_tiny_gemma3}


def build(family, tok):
    # float64 weights: Adam divides each gradient component by its own size, so on a random model whose tiny
    # gradients sit near float32 round-off (Gemma3's block output) two equal float32 computations can part ways;
    # in float64 the comparison tests the loss, not the rounding (test_dtypes covers the model dtypes)
    return BUILDERS[family](tok).double()
# subject in the middle, several tokens long, followed by more prompt; a target of several tokens
REQUESTS = [
    {"subject": "Danielle Darrieux", "prompt": "The mother tongue of Danielle Darrieux is",
     "target_new": "the Dutch language"},
    {"subject": "Eiffel Tower", "prompt": "The Eiffel Tower is in", "target_new": "Rome"},
]
TEMPLATES = ["{}", "The day. {}", "Because I said so. {}", "You can see it. {}"]
LAYER = 1
REL = 1e-5
# numbers that let the tiny random models move (‖v_init‖ is ~1e-2 at the MLP output, so EasyEdit's ‖δ‖/‖v_init‖²
# decay is kept small); the clamp is set per model and site by `with_clamp` so that it bites after a few steps
HP = {"v_num_grad_steps": 8, "v_lr": 0.5, "v_weight_decay": 1e-5, "kl_factor": 0.0625}


# --- the reference: EasyEdit's compute_v / compute_z, transcribed -------------------------------------------------

def _mlp_out(model, layer):
    return model.transformer.h[layer].mlp.c_proj if hasattr(model, "transformer") else model.model.layers[layer].mlp.down_proj


def _block(model, layer):
    return model.transformer.h[layer] if hasattr(model, "transformer") else model.model.layers[layer]


def _final_norm(model):
    return model.transformer.ln_f if hasattr(model, "transformer") else model.model.norm


def _hidden_of(output):
    return output[0] if isinstance(output, tuple) else output


def lookup_index(tok, template: str, subject: str) -> int:
    """find_fact_lookup_idx with fact_token subject_last: get_words_idxs_in_templates' prefix + word length − 1."""
    assert template.count("{}") == 1
    prefix, _suffix = template.split("{}")
    prefix_len = len(tok.encode(prefix))
    word_len = len(tok.encode(prefix + subject)) - prefix_len
    return prefix_len + word_len - 1


def reference_vstar(model, tok, request, hp, layer, templates, emmet: bool):
    """Returns (per-step [(loss, δ)], target_init, δ) exactly as EasyEdit computes them."""
    subject = request["subject"]
    target = " " + request["target_new"]
    if emmet:
        target_ids = torch.tensor(tok.encode(target, add_special_tokens=False))
    else:
        target_ids = tok(target, return_tensors="pt")["input_ids"][0]
    if target_ids[0] == tok.bos_token_id or target_ids[0] == tok.unk_token_id:
        target_ids = target_ids[1:]
    prompt = request["prompt"].replace(subject, "{}", 1)
    rewriting = [t.format(prompt) + tok.decode(target_ids[:-1]) for t in templates]
    all_prompts = rewriting + ["{} is a"]
    batch = tok([p.format(subject) for p in all_prompts], return_tensors="pt", padding=True)
    assert tok.padding_side == "right"
    targets = torch.full((len(rewriting), batch["input_ids"].shape[1]), -100)
    for i in range(len(rewriting)):
        ex_len = int(batch["attention_mask"][i].sum())
        targets[i, ex_len - len(target_ids): ex_len] = target_ids
    lookup = [lookup_index(tok, p, subject) for p in all_prompts]

    delta = torch.zeros(model.config.get_text_config().hidden_size, requires_grad=True)  # float32, as EasyEdit
    state = {"target_init": None, "loss_layer_out": None}
    site = _block(model, layer) if emmet else _mlp_out(model, layer)

    def edit_output(module, inputs, output):
        hidden = _hidden_of(output).clone()
        if state["target_init"] is None:
            state["target_init"] = hidden[0, lookup[0]].detach().clone()
        for i, idx in enumerate(lookup):
            hidden[i, idx, :] += delta
        return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

    def keep_loss_layer(module, inputs, output):
        state["loss_layer_out"] = _hidden_of(output)

    n_layers = model.config.get_text_config().num_hidden_layers
    handles = [site.register_forward_hook(edit_output),
               _block(model, n_layers - 1).register_forward_hook(keep_loss_layer)]
    opt = torch.optim.Adam([delta], lr=hp["v_lr"])
    kl_init, steps = None, []
    try:
        for it in range(hp["v_num_grad_steps"]):
            opt.zero_grad()
            logits = model(**batch).logits
            kl_log_probs = torch.log_softmax(logits[-1:, lookup[-1], :], dim=1)
            if kl_init is None:
                kl_init = kl_log_probs.detach().clone()
            if emmet:  # compute_z: the loss layer's output through ln_f and the LM head (no bias here)
                full = _final_norm(model)(state["loss_layer_out"][: len(rewriting)])
                log_probs = torch.log_softmax(full @ model.get_output_embeddings().weight.T, dim=2)
            else:
                log_probs = torch.log_softmax(logits, dim=2)
            gathered = torch.gather(log_probs, 2, torch.where(targets != -100, targets, 0).unsqueeze(2)).squeeze(2)
            mask = (targets != -100).float()
            nll = (-(gathered * mask).sum(1) / target_ids.size(0)).mean()
            kl = hp["kl_factor"] * torch.nn.functional.kl_div(kl_init, kl_log_probs, log_target=True,
                                                              reduction="batchmean")
            decay = hp["v_weight_decay"] * (torch.norm(delta) / torch.norm(state["target_init"]) ** 2)
            loss = nll + kl + decay
            steps.append((loss.item(), delta.detach().clone()))
            if loss < 5e-2 or it == hp["v_num_grad_steps"] - 1:
                break
            loss.backward()
            opt.step()
            max_norm = hp["clamp_norm_factor"] * state["target_init"].norm()
            if delta.norm() > max_norm:
                with torch.no_grad():
                    delta[...] = delta * max_norm / delta.norm()
    finally:
        for h in handles:
            h.remove()
    return steps, state["target_init"], delta.detach()


@torch.no_grad()
def reference_key_value(model, tok, request, layer, template):
    """get_module_input_output_at_word: the edited module's input and output at the subject's last token."""
    prompt = request["prompt"].replace(request["subject"], "{}", 1)
    context = template.format(prompt)
    idx = lookup_index(tok, context, request["subject"])
    seen = {}
    handle = _mlp_out(model, layer).register_forward_hook(
        lambda m, i, o: seen.update(k=i[0][0, idx].clone(), v=o[0, idx].clone()))
    model(**tok(context.format(request["subject"]), return_tensors="pt"))
    handle.remove()
    return seen["k"], seen["v"]


def reference_rome_update(model, tok, request, hp, layer, templates, random_prefix_keys: bool):
    """EasyEdit's compute_u (no mom2 adjustment, key averaged over templates) and compute_v's right vector."""
    _steps, target_init, delta = reference_vstar(model, tok, request, hp, layer, templates, emmet=False)
    pairs = [reference_key_value(model, tok, request, layer, t) for t in templates]
    keys, values = torch.stack([k for k, _ in pairs]), torch.stack([v for _, v in pairs])
    left = keys.mean(0) / keys.mean(0).norm()
    if random_prefix_keys:  # R-ROME
        right = (target_init + delta - values.mean(0)) / torch.dot(keys.mean(0), left)
    else:  # original ROME: target = cur_output + δ on the bare prompt
        right = delta / torch.dot(keys[0], left)
    return torch.outer(right, left).double()  # [d_out, d_in]


def with_clamp(model, tok, request, emmet: bool) -> dict:
    """HP with clamp_norm_factor such that ‖δ‖ is clamped on the first step (Adam moves each
    component by about v_lr per step, so ‖δ‖ grows by about v_lr·√d)."""
    _, target_init, _ = reference_vstar(model, tok, request, {**HP, "v_num_grad_steps": 1, "clamp_norm_factor": 1.0},
                                        LAYER, TEMPLATES, emmet)
    d = target_init.numel()
    return {**HP, "clamp_norm_factor": 0.8 * HP["v_lr"] * d ** 0.5 / float(target_init.norm())}


def relative_error(ours: torch.Tensor, reference: torch.Tensor) -> float:
    return float((ours.double() - reference.double()).norm() / reference.double().norm())


# --- the comparisons ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tok():
    from helpers import build_tiny_tokenizer

    return build_tiny_tokenizer()


PATHS = {"fast": {}, "replay only": {"cache_prefix_states": False}, "reference path": {"reference_forward": True}}


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("family", list(BUILDERS))
@pytest.mark.parametrize("emmet", [False, True], ids=["compute_v", "compute_z"])
def test_every_step_matches_easyedit(family, path, emmet, tok):
    model = build(family, tok)
    cls = EmmetHparams if emmet else RomeHparams
    site = "block_output" if emmet else "mlp_output"
    clamped = False
    for request in REQUESTS:
        hp = with_clamp(model, tok, request, emmet)
        hparams = cls(**hp, **PATHS[path])
        expected, target_init, _ = reference_vstar(model, tok, request, hp, LAYER, TEMPLATES, emmet)
        trace = []
        result = optimise_vstar(model, tok, request, hparams, LAYER, TEMPLATES, site=site, trace=trace)
        assert len(trace) == len(expected) == result.steps
        assert relative_error(result.v_init, target_init) < REL
        for step, ((loss, delta), (ref_loss, ref_delta)) in enumerate(zip(trace, expected)):
            assert loss == pytest.approx(ref_loss, rel=REL), f"step {step}: loss"
            if step:
                assert relative_error(delta, ref_delta) < REL, f"step {step}: δ"
        assert relative_error(result.v_star, target_init.double() + expected[-1][1].double()) < REL
        max_norm = hp["clamp_norm_factor"] * float(target_init.norm())
        clamped |= any(abs(float(d.norm()) - max_norm) < 1e-4 * max_norm for _, d in expected)
    assert clamped, "the clamp never acted: the test would not see a wrong clamp"


@pytest.mark.parametrize("family", list(BUILDERS))
@pytest.mark.parametrize("variant", ["R-ROME", "ROME"])
def test_rome_update_matches_easyedit(family, variant, tok):
    model = build(family, tok)
    r_rome = variant == "R-ROME"
    for request in REQUESTS:
        hp = with_clamp(model, tok, request, emmet=False)
        hparams = RomeHparams(**hp, averaged_keys_in_update=r_rome, averaged_key_direction=True)
        expected = reference_rome_update(model, tok, request, hp, LAYER, TEMPLATES, random_prefix_keys=r_rome)
        edit = R_ROME.edit(model, tok, request, hparams, LAYER, TEMPLATES)
        assert relative_error(edit.delta(), expected) < REL


@pytest.mark.parametrize("family", list(BUILDERS))
def test_emmet_update_matches_easyedit(family, tok):
    """EMMET's ΔW = R (KᵀC⁻¹K + λI)⁻¹ KᵀC⁻¹ with z from compute_z and EasyEdit's ½ bare + ½ prefixed key."""
    model = build(family, tok)
    hp = {**HP, "clamp_norm_factor": 4.0}  # one clamp for the batch, as EasyEdit's hparams file has
    d_in = _mlp_out(model, LAYER).weight.shape[0 if family == "gpt2" else 1]
    gen = torch.Generator().manual_seed(5)
    a = torch.randn(d_in, 3 * d_in, generator=gen, dtype=torch.float64)
    c0 = a @ a.T / (3 * d_in) + 0.1 * torch.eye(d_in, dtype=torch.float64)
    hparams = EmmetHparams(**hp, emmet_lambda=0.1, mom2_update_weight=2.0)
    keys, residuals = [], []
    for request in REQUESTS:
        _steps, _z_init, delta = reference_vstar(model, tok, request, hp, LAYER, TEMPLATES, emmet=True)
        ks = torch.stack([reference_key_value(model, tok, request, LAYER, t)[0] for t in TEMPLATES]).double()
        keys.append(0.5 * ks[0] + 0.5 * ks[1:].mean(0))
        residuals.append(delta.double())  # z* − z on the bare prompt
    k, r = torch.stack(keys, 1), torch.stack(residuals, 1)
    c_inv_k = torch.linalg.solve(2.0 * c0, k)
    expected = r @ torch.linalg.solve(k.T @ c_inv_k + 0.1 * torch.eye(2, dtype=torch.float64), c_inv_k.T)
    edit = EMMET.edit(model, tok, REQUESTS, hparams, LAYER, TEMPLATES, KeyCovariance(c0))
    assert relative_error(edit.delta(), expected) < REL


@pytest.mark.parametrize("path", list(PATHS))
def test_weights_that_require_grad_give_the_same_vstar_and_keep_their_flag(path, tok):
    """A model fresh from `from_pretrained` has every weight requiring grad (the test builders freeze theirs, as
    goldenlayers.models.load_model does): v* must not differentiate into the weights — on the replayed prefix the
    second step's backward would reach the first step's freed graph — and the flags are given back afterwards."""
    model = build("llama", tok)
    request = REQUESTS[0]
    hparams = RomeHparams(**with_clamp(model, tok, request, emmet=False), **PATHS[path])
    frozen = optimise_vstar(model, tok, request, hparams, LAYER, TEMPLATES)
    model.requires_grad_(True)
    thawed = optimise_vstar(model, tok, request, hparams, LAYER, TEMPLATES)
    assert thawed.steps == frozen.steps > 1
    assert torch.equal(thawed.v_star, frozen.v_star)
    assert all(w.requires_grad for w in model.parameters()) and all(w.grad is None for w in model.parameters())
