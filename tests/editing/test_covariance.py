"""Key covariance statistics (mom2): the value, the cache, the corpora, the solves, and ROME's use of them."""

import json
from dataclasses import replace

import pandas as pd
import pytest
import torch

from goldenlayers.editing import get_editor
from goldenlayers.editing.covariance import (
    DEFAULT_CORPUS,
    KeyCovariance,
    collect_key_second_moment,
    load_corpus,
    load_or_compute_key_covariance,
)
from goldenlayers.editing.rome import RomeHparams
from goldenlayers.models import blocks, edited_module

R_ROME = get_editor("r-rome")  # compute_rome_edit with the hparams as given

from helpers import REQUEST, TEMPLATES, keys_and_values, random_spd, strong_hparams

TEXTS = ["The capital of France is Paris.", "Toko Yasuda plays the guitar.",
         "Michael Jordan plays basketball for the Chicago Bulls. The capital of Italy is Rome."]


def direct_second_moment(model, tok, layer, texts):
    """Σ k kᵀ / n over every token, one unpadded text at a time (independent of the batched collector)."""
    keys = []
    handle = edited_module(model, layer).register_forward_hook(lambda m, i, o: keys.append(i[0][0].double()))
    with torch.no_grad():
        for text in texts:
            model(input_ids=torch.tensor([tok(text)["input_ids"]]))
    handle.remove()
    k = torch.cat(keys)
    return k.T @ k / len(k), len(k)


@pytest.mark.parametrize("family", ["tiny_llama", "tiny_gpt2", "tiny_gemma3"])
def test_second_moment_equals_a_direct_computation(family, request, tiny_tokenizer):
    model, tok = request.getfixturevalue(family), tiny_tokenizer
    expected, n = direct_second_moment(model, tok, 1, TEXTS)
    # a small token budget forces several padded batches
    mom2, n_tokens = collect_key_second_moment(model, tok, 1, TEXTS, batch_tokens=24, progress=False)
    assert n_tokens == n
    assert mom2.dtype == torch.float32
    # (the keys are float32 model outputs, batched with padding here and one by one there)
    assert torch.allclose(mom2.double(), expected, rtol=1e-5, atol=1e-10)
    mom2_64, _ = collect_key_second_moment(model, tok, 1, TEXTS, dtype="float64", progress=False)
    assert mom2_64.dtype == torch.float64
    assert torch.allclose(mom2_64, expected, rtol=1e-5, atol=1e-10)


def test_key_covariance_is_cached_with_its_metadata(tiny_llama, tiny_tokenizer, tmp_path):
    model, tok = tiny_llama, tiny_tokenizer
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n\n".join(TEXTS))
    forwards = []
    handle = blocks(model)[0].register_forward_pre_hook(lambda m, i: forwards.append(1))
    path = tmp_path / "stats" / "layer_1.safetensors"
    first = load_or_compute_key_covariance(model, tok, 1, path, corpus=str(corpus), n_samples=10, progress=False)
    assert forwards and path.exists()
    assert first.metadata["n_texts"] == "3" and int(first.metadata["n_tokens"]) == first.n_tokens > 0
    assert first.corpus.startswith(str(corpus)) and "sha256:" in first.corpus
    forwards.clear()
    second = load_or_compute_key_covariance(model, tok, 1, path, corpus=str(corpus), n_samples=10, progress=False)
    assert not forwards, "the cached statistics must be reused without a forward pass"
    assert torch.equal(first.mom2, second.mom2)
    # other settings (fewer texts) mean other statistics: recomputed
    third = load_or_compute_key_covariance(model, tok, 1, path, corpus=str(corpus), n_samples=2, progress=False)
    assert forwards and third.metadata["n_texts"] == "2"
    handle.remove()
    assert not list(path.parent.glob("*.tmp")), "written atomically"
    # the hparams' EasyEdit names for these settings are compared with the file, not silently ignored
    from goldenlayers.editing.covariance import mom2_disagreements

    same = RomeHparams(mom2_dataset=str(corpus), mom2_n_samples=2, mom2_dtype="float32")
    assert mom2_disagreements(same, KeyCovariance.load(path)) == []
    (difference,) = mom2_disagreements(replace(same, mom2_n_samples=100000), KeyCovariance.load(path))
    assert difference.startswith("mom2_n_samples 100000") and "'2'" in difference
    assert len(mom2_disagreements(RomeHparams(mom2_dtype="float64"), KeyCovariance.load(path))) == 3


def test_corpora_from_files_and_the_offline_default(tmp_path):
    (tmp_path / "a.txt").write_text("First text.\n\nSecond text.\n\n\n")
    (tmp_path / "a.jsonl").write_text('{"text": "First text."}\n"Second text."\n')
    (tmp_path / "a.json").write_text(json.dumps({"texts": ["First text.", {"text": "Second text."}]}))
    pd.DataFrame({"text": ["First text.", "Second text."]}).to_parquet(tmp_path / "a.parquet")
    for ext in ("txt", "jsonl", "json", "parquet"):
        texts, corpus_id = load_corpus(str(tmp_path / f"a.{ext}"))
        assert texts == ["First text.", "Second text."], ext
    assert load_corpus(str(tmp_path / "a.txt"), n_samples=1)[0] == ["First text."]
    # the id follows the content, so a changed file invalidates cached statistics
    assert load_corpus(str(tmp_path / "a.txt"), 1)[1] != load_corpus(str(tmp_path / "a.txt"), 2)[1]
    texts, corpus_id = load_corpus(DEFAULT_CORPUS)
    assert len(texts) > 50 and corpus_id.startswith(DEFAULT_CORPUS)
    with pytest.raises(ValueError, match="unsupported corpus file"):
        (tmp_path / "a.csv").write_text("x")
        load_corpus(str(tmp_path / "a.csv"))


def test_solve_uses_one_factorisation_and_matches_a_dense_solve():
    c = random_spd(16)
    cov = KeyCovariance(c.float())
    rhs = torch.randn(16, 3, dtype=torch.float64)
    assert torch.allclose(cov.solve(rhs), torch.linalg.solve(c.float().double(), rhs), rtol=1e-8)
    assert torch.allclose(cov.solve(rhs[:, 0], ridge=0.5),
                          torch.linalg.solve(c.float().double() + 0.5 * torch.eye(16, dtype=torch.float64), rhs[:, 0]))
    cov.solve(rhs)
    assert sorted(cov._factors) == [0.0, 0.5] and cov._factors[0.0][0] == "cholesky"
    # indefinite (not a covariance, but not singular): falls back to LU and still solves
    sym = torch.diag(torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64))
    assert torch.allclose(KeyCovariance(sym).solve(torch.ones(3, dtype=torch.float64)),
                          torch.tensor([1.0, -0.5, 1 / 3], dtype=torch.float64))


def test_rome_with_identity_covariance_equals_no_adjustment(tiny_llama, tiny_tokenizer):
    model, tok = tiny_llama, tiny_tokenizer
    d_in = edited_module(model, 1).weight.shape[1]
    off = R_ROME.edit(model, tok, REQUEST, strong_hparams(v_num_grad_steps=10), 1, TEMPLATES)
    with pytest.raises(ValueError, match="covariance"):
        R_ROME.edit(model, tok, REQUEST, strong_hparams(mom2_adjustment=True), 1, TEMPLATES)
    on = R_ROME.edit(model, tok, REQUEST, strong_hparams(v_num_grad_steps=10, mom2_adjustment=True), 1,
                           TEMPLATES, covariance=KeyCovariance(torch.eye(d_in)))
    assert torch.allclose(on.delta(), off.delta(), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("editor", ["r-rome", "rome"])
def test_rome_with_a_covariance_equals_the_closed_form(editor, tiny_llama, tiny_tokenizer):
    model, tok = tiny_llama, tiny_tokenizer
    compute = get_editor(editor).edit
    hp = strong_hparams(v_num_grad_steps=10)
    keys, values = keys_and_values(model, tok, 1, TEMPLATES)
    keys, values = keys.double(), values.double()
    k_mean, v_mean = keys.mean(0), values.mean(0)
    c = random_spd(keys.shape[1], seed=1)
    # v* does not depend on u: read it off the unadjusted update, which maps its key exactly to v*
    off = compute(model, tok, [REQUEST], hp, 1, TEMPLATES)
    k_used, v_used = (k_mean, v_mean) if editor == "r-rome" else (keys[0], values[0])
    v_star = v_used + off.right.double() * (off.left.double() @ k_used)
    on = compute(model, tok, [REQUEST], replace(hp, mom2_adjustment=True), 1, TEMPLATES,
                 covariance=KeyCovariance(c.float()))
    c_inv_k = torch.linalg.solve(c.float().double(), k_mean)  # u ∝ C⁻¹k̄ for both ROME and R-ROME
    expected = torch.outer(v_star - v_used, c_inv_k) / (k_used @ c_inv_k)
    assert torch.allclose(on.delta().double(), expected, rtol=1e-4, atol=1e-6)
    assert torch.linalg.matrix_rank(on.delta().double(), rtol=1e-5) == 1


def test_rome_hparams_yaml_with_mom2_fields(tmp_path):
    path = tmp_path / "rome.yaml"
    path.write_text("alg_name: ROME\nmom2_adjustment: true\nmom2_dataset: wikipedia\nmom2_n_samples: 1e5\n"
                    "mom2_dtype: float64\n")
    from goldenlayers.editing import load_hparams, needs_covariance

    hp = load_hparams("rome", path)
    assert isinstance(hp, RomeHparams) and hp.mom2_n_samples == 100000 and hp.mom2_dtype == "float64"
    assert needs_covariance("rome", hp) and not needs_covariance("r-rome", RomeHparams())
