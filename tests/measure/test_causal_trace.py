"""Causal tracing on tiny random models: clean equality, corruption, windows, batching and determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import TINY_CORPUS, build_tiny_gemma3, build_tiny_gpt2, build_tiny_llama
from goldenlayers.measure.causal_trace import (
    EFFECT_COLUMNS,
    TraceSettings,
    restore_window,
    sample_noise,
    subject_embedding_std,
    subject_token_range,
    trace_records,
    trace_sample,
)
from goldenlayers.models import edited_module, num_layers
from goldenlayers.selection.baselines import run_cma
from goldenlayers.text import prompt_ids

FAMILIES = ["tiny_gpt2", "tiny_llama", "tiny_gemma3"]
# small and fast; the defaults (10 noise draws, 10-layer window) are exercised by the workflow test
SETTINGS = TraceSettings(noise_multiplier=3.0, n_noise=4, window=2, seed=7)


BUILDERS = {"tiny_gpt2": build_tiny_gpt2, "tiny_llama": build_tiny_llama, "tiny_gemma3": build_tiny_gemma3}


@pytest.fixture(scope="module", params=FAMILIES)
def knowing_model(request, tiny_tokenizer):
    """A tiny model trained on the tiny corpus until it knows its facts (~1 s per family).

    A random model's next-token distribution is almost flat, so corrupting the subject moves the answer's
    probability up or down by chance; a model that has learnt "The capital of France is Paris" depends on the
    subject, which is what causal tracing measures.
    """
    model = BUILDERS[request.param](tiny_tokenizer)
    model.train()
    model.requires_grad_(True)
    torch.manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    enc = tiny_tokenizer(TINY_CORPUS, return_tensors="pt", padding=True)
    labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
    for _ in range(120):
        loss = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    model.requires_grad_(False)
    return model


def test_window_is_centred_and_clipped_at_the_edges():
    assert restore_window(15, 30, 10) == list(range(10, 20))
    assert restore_window(0, 30, 10) == [0, 1, 2, 3, 4]
    assert restore_window(29, 30, 10) == list(range(24, 30))
    assert restore_window(1, 3, 10) == [0, 1, 2]  # a window wider than the model restores every layer
    assert restore_window(2, 6, 1) == [2]
    with pytest.raises(ValueError, match="out of range"):
        restore_window(3, 3, 10)


def test_trace_reports_clipped_windows(tiny_tokenizer, tiny_records):
    model = build_tiny_llama(tiny_tokenizer, layers=6)
    t = trace_sample(model, tiny_tokenizer, tiny_records[0], 0.1, settings=TraceSettings(n_noise=2, window=4))
    assert t["windows"] == [(0, 2), (0, 3), (0, 4), (1, 5), (2, 6), (3, 6)]


def test_subject_token_range(tiny_tokenizer, tiny_records):
    for record in tiny_records:
        first, last = subject_token_range(tiny_tokenizer, record["prompt"], record["subject"])
        ids = prompt_ids(tiny_tokenizer, record["prompt"])
        assert 0 <= first <= last < len(ids)
        assert record["subject"] in tiny_tokenizer.decode(ids[first : last + 1])
        assert record["subject"] not in tiny_tokenizer.decode(ids[first + 1 : last + 1])


@pytest.mark.parametrize("family", FAMILIES)
def test_without_noise_every_probability_is_the_clean_one(request, family, tiny_tokenizer, tiny_records):
    model = request.getfixturevalue(family)
    t = trace_sample(model, tiny_tokenizer, tiny_records[1], 0.0, settings=SETTINGS)
    assert t["corrupted_prob"] == pytest.approx(t["clean_prob"], rel=1e-5)
    np.testing.assert_allclose(t["restored_prob"], t["clean_prob"], rtol=1e-5)


def test_corruption_lowers_the_answer_probability(knowing_model, tiny_tokenizer, tiny_records):
    sigma = subject_embedding_std(knowing_model, tiny_tokenizer, tiny_records)
    for record in tiny_records[:2]:
        t = trace_sample(knowing_model, tiny_tokenizer, record, 3 * sigma, settings=SETTINGS)
        assert t["correct"] and t["answer_source"] == "ground_truth"
        assert t["clean_prob"] > 0.5
        assert t["corrupted_prob"] < t["clean_prob"]
    # without a ground truth the answer is the clean model's own greedy token, right by definition
    t = trace_sample(knowing_model, tiny_tokenizer, tiny_records[2], 3 * sigma, settings=SETTINGS)
    assert t["answer_source"] == "greedy" and t["correct"]


@pytest.mark.parametrize("which", [0, 1])  # record 0 has tokens before its subject (a cached prefix), 1 none
@pytest.mark.parametrize("family", FAMILIES)
def test_restoration_matches_a_plain_single_row_run(request, family, which, tiny_tokenizer, tiny_records):
    """The batched hooks give what one corrupted row with the window's MLP outputs patched by hand, run in full
    without a cache, gives."""
    model = request.getfixturevalue(family)
    record = tiny_records[which]
    noise_std = 0.5
    t = trace_sample(model, tiny_tokenizer, record, noise_std, settings=SETTINGS)
    ids = torch.tensor([prompt_ids(tiny_tokenizer, record["prompt"])])
    first, last = subject_token_range(tiny_tokenizer, record["prompt"], record["subject"])
    embed = model.get_input_embeddings()
    noise = sample_noise(SETTINGS.seed, record["id"], SETTINGS.n_noise, last - first + 1, embed.weight.shape[1],
                         noise_std)
    clean = {}
    handles = [edited_module(model, layer).register_forward_hook(
        lambda _m, _a, out, layer=layer: clean.__setitem__(layer, out[0, last].clone()))
        for layer in range(num_layers(model))]
    with torch.no_grad():
        model(input_ids=ids)
    for h in handles:
        h.remove()

    def run(window, j):
        def corrupt(_m, _a, out):
            out = out.clone()
            out[0, first : last + 1] += noise[j]
            return out

        def patch(layer):
            def hook(_m, _a, out):
                out = out.clone()
                out[0, last] = clean[layer]
                return out

            return hook

        hs = [embed.register_forward_hook(corrupt)]
        hs += [edited_module(model, layer).register_forward_hook(patch(layer)) for layer in window]
        with torch.no_grad():
            probs = torch.softmax(model(input_ids=ids).logits[0, -1].float(), dim=-1)
        for h in hs:
            h.remove()
        return float(probs[t["answer_token"]])

    corrupted = np.mean([run([], j) for j in range(SETTINGS.n_noise)])
    assert t["corrupted_prob"] == pytest.approx(corrupted, rel=1e-5)
    for layer, (lo, hi), restored in zip(t["layers"], t["windows"], t["restored_prob"]):
        expected = np.mean([run(range(lo, hi), j) for j in range(SETTINGS.n_noise)])
        assert restored == pytest.approx(expected, rel=1e-5), layer


def test_a_window_over_the_whole_model_restores_every_layer_alike(tiny_llama, tiny_tokenizer, tiny_records):
    t = trace_sample(tiny_llama, tiny_tokenizer, tiny_records[0], 0.5,
                     settings=TraceSettings(n_noise=3, window=10))
    assert t["windows"] == [(0, 3)] * 3
    np.testing.assert_allclose(t["restored_prob"], t["restored_prob"][0], rtol=1e-6)


def test_chunking_does_not_change_results(tiny_gpt2, tiny_tokenizer, tiny_records):
    one = trace_sample(tiny_gpt2, tiny_tokenizer, tiny_records[1], 0.3, settings=SETTINGS)
    chunked = trace_sample(tiny_gpt2, tiny_tokenizer, tiny_records[1], 0.3,
                           settings=TraceSettings(n_noise=4, window=2, seed=7, max_batch_rows=4))
    assert chunked["corrupted_prob"] == pytest.approx(one["corrupted_prob"], rel=1e-5)
    np.testing.assert_allclose(chunked["restored_prob"], one["restored_prob"], rtol=1e-5)


def test_deterministic_given_the_seed(tiny_gemma3, tiny_tokenizer, tiny_records):
    a = trace_records(tiny_gemma3, tiny_tokenizer, tiny_records, 0.3, settings=SETTINGS, progress=False)
    b = trace_records(tiny_gemma3, tiny_tokenizer, tiny_records[::-1], 0.3, settings=SETTINGS, progress=False)
    b = b.set_index(["sample_id", "layer"]).loc[a.set_index(["sample_id", "layer"]).index].reset_index()
    np.testing.assert_array_equal(a["restored_prob"], b["restored_prob"])  # order of records does not matter
    assert run_cma(a) == run_cma(b.assign())
    other = trace_records(tiny_gemma3, tiny_tokenizer, tiny_records,
                          0.3, settings=TraceSettings(n_noise=4, window=2, seed=8), progress=False)
    assert not np.allclose(other["corrupted_prob"], a["corrupted_prob"])


def test_trace_table(tiny_llama, tiny_tokenizer, tiny_records, tmp_path):
    import pandas as pd

    from goldenlayers.io import write_parquet

    frame = trace_records(tiny_llama, tiny_tokenizer, tiny_records, 0.2, layers=[2, 0], settings=SETTINGS,
                          progress=False)
    assert list(frame.columns) == EFFECT_COLUMNS
    assert list(frame["sample_id"]) == ["r0", "r0", "r1", "r1", "r2", "r2"]
    assert list(frame["layer"]) == [0, 2] * 3
    np.testing.assert_allclose(frame["indirect_effect"], frame["restored_prob"] - frame["corrupted_prob"])
    assert frame.attrs["trace"]["noise_std"] == 0.2 and frame.attrs["trace"]["n_noise"] == 4
    write_parquet(tmp_path / "t.parquet", frame)
    back = pd.read_parquet(tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(back, frame)
    assert back.attrs["trace"] == frame.attrs["trace"]

    from goldenlayers.report.plots import plot_causal_trace

    drawn = plot_causal_trace(frame, tmp_path / "trace", max_samples=2)
    assert drawn["samples"] == ["r0", "r1"] and list(drawn["mean_effect"].index) == [0, 2]
    assert (tmp_path / "trace.png").stat().st_size > 0


def test_subject_embedding_std(tiny_llama, tiny_tokenizer, tiny_records):
    values = []
    for r in tiny_records:
        first, last = subject_token_range(tiny_tokenizer, r["prompt"], r["subject"])
        ids = prompt_ids(tiny_tokenizer, r["prompt"])[first : last + 1]
        values.append(tiny_llama.get_input_embeddings().weight[ids].flatten())
    expected = float(torch.cat(values).std())
    assert subject_embedding_std(tiny_llama, tiny_tokenizer, tiny_records) == pytest.approx(expected, rel=1e-6)


def test_rejects_training_mode_and_bad_settings(tiny_llama, tiny_tokenizer, tiny_records):
    with pytest.raises(ValueError, match=">= 1"):
        TraceSettings(n_noise=0)
    tiny_llama.train()
    with pytest.raises(ValueError, match="eval mode"):
        trace_sample(tiny_llama, tiny_tokenizer, tiny_records[0], 0.1, settings=SETTINGS)


@pytest.mark.parametrize("family", FAMILIES)
def test_the_tokens_before_the_subject_run_once(request, family, tiny_tokenizer, tiny_records, monkeypatch):
    """The batched pass continues one row's key/value cache of the tokens before the subject (the speed-up whose
    results `test_restoration_matches_a_plain_single_row_run` checks against plain uncached runs)."""
    from goldenlayers.measure import causal_trace

    model = request.getfixturevalue(family)
    record = tiny_records[0]
    first, _ = subject_token_range(tiny_tokenizer, record["prompt"], record["subject"])
    made = []
    real = causal_trace._prefix_cache
    def recording(m, ids, n):
        made.append((n, real(m, ids, n)))
        return made[-1][1]

    monkeypatch.setattr(causal_trace, "_prefix_cache", recording)
    trace_sample(model, tiny_tokenizer, record, 0.5, settings=SETTINGS)
    assert first > 0 and [n for n, _ in made] == [first] and made[0][1] is not None


def test_the_cached_prefix_changes_no_probability(tiny_llama, tiny_tokenizer, tiny_records, monkeypatch):
    """With and without the cache of the tokens before the subject, the same trace (float rounding apart)."""
    from goldenlayers.measure import causal_trace

    cached = trace_sample(tiny_llama, tiny_tokenizer, tiny_records[0], 0.5, settings=SETTINGS)
    monkeypatch.setattr(causal_trace, "_prefix_cache", lambda m, ids, n: None)
    full = trace_sample(tiny_llama, tiny_tokenizer, tiny_records[0], 0.5, settings=SETTINGS)
    assert cached["corrupted_prob"] == pytest.approx(full["corrupted_prob"], rel=1e-5)
    np.testing.assert_allclose(cached["restored_prob"], full["restored_prob"], rtol=1e-5)
    assert cached["corrupted_prob"] != pytest.approx(cached["clean_prob"], rel=1e-3)  # the noise did something
