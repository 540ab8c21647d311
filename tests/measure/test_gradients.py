"""The fast per-layer gradient scalars equal those of plainly materialised autograd gradients."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from goldenlayers.measure.gradients import (
    COLUMNS,
    ScoredSequence,
    answer_loss,
    capture_keys_and_grads,
    extract_layer_gradients,
    greedy_continuation,
    old_and_new_sequences,
    pair_products,
)
from goldenlayers.models import edited_module, num_layers
from goldenlayers.text import encode_prompt_answer, pad_batch

RTOL = 1e-5


def reference_gradients(model, seq: ScoredSequence) -> list[torch.Tensor]:
    """d(answer loss)/dW for every layer's edited weight, by autograd on a copy with those weights unfrozen."""
    model = copy.deepcopy(model)
    weights = [edited_module(model, layer).weight for layer in range(num_layers(model))]
    for w in weights:
        w.requires_grad_(True)
    input_ids, mask = pad_batch([list(seq.input_ids)], 0)
    labels = torch.full_like(input_ids, -100)
    labels[0, seq.answer_start - 1 : -1] = input_ids[0, seq.answer_start :]
    logits = model(input_ids=input_ids, attention_mask=mask).logits
    loss = answer_loss(logits, labels).sum()
    return list(torch.autograd.grad(loss, weights))


def reference_frame(model, tok, records) -> pd.DataFrame:
    rows = []
    for r in records:
        old, new, _ = old_and_new_sequences(model, tok, r)
        g_old, g_new = reference_gradients(model, old), reference_gradients(model, new)
        for layer, (a, b) in enumerate(zip(g_old, g_new)):
            a, b = a.double(), b.double()
            rows.append((r["id"], layer, float((a * b).sum()), float((a * a).sum()), float((b * b).sum())))
    return pd.DataFrame(rows, columns=COLUMNS)


def assert_close_to_reference(got: pd.DataFrame, ref: pd.DataFrame):
    assert list(got.columns) == COLUMNS
    assert list(got["sample_id"]) == list(ref["sample_id"])
    assert list(got["layer"]) == list(ref["layer"])
    np.testing.assert_allclose(got["sq_norm_old"], ref["sq_norm_old"], rtol=RTOL)
    np.testing.assert_allclose(got["sq_norm_new"], ref["sq_norm_new"], rtol=RTOL)
    # A dot product can be near zero while the norms are not; measure its error against the Cauchy-Schwarz scale.
    scale = np.sqrt(ref["sq_norm_old"] * ref["sq_norm_new"])
    err = np.abs(got["dot_old_new"] - ref["dot_old_new"]) / scale
    assert err.max() <= RTOL, err.max()
    assert (ref["sq_norm_old"] > 0).all() and (ref["sq_norm_new"] > 0).all()


@pytest.mark.parametrize("family", ["tiny_gpt2", "tiny_llama", "tiny_gemma3"])
@pytest.mark.parametrize("method", ["identity", "materialise", "auto"])
def test_matches_autograd(request, family, method, tiny_tokenizer, tiny_records):
    model = request.getfixturevalue(family)
    ref = reference_frame(model, tiny_tokenizer, tiny_records)
    got = extract_layer_gradients(model, tiny_tokenizer, tiny_records, progress=False, method=method)
    assert_close_to_reference(got, ref)
    assert all(got[c].dtype == np.float64 for c in COLUMNS[2:])


@pytest.mark.parametrize("batch_size", [1, 3, 6])
def test_batching_does_not_change_results(tiny_llama, tiny_tokenizer, tiny_records, batch_size):
    # 1 = old and new in separate passes; 3 = a sample split across passes; 6 = all samples padded together.
    base = extract_layer_gradients(tiny_llama, tiny_tokenizer, tiny_records, progress=False, batch_size=2)
    got = extract_layer_gradients(tiny_llama, tiny_tokenizer, tiny_records, progress=False, batch_size=batch_size)
    assert list(got["sample_id"]) == list(base["sample_id"])
    for col in COLUMNS[2:]:
        np.testing.assert_allclose(got[col], base[col], rtol=1e-5, atol=1e-12)


def test_sequences_have_different_lengths(tiny_tokenizer, tiny_records, tiny_llama):
    lengths = set()
    for r in tiny_records:
        old, new, _ = old_and_new_sequences(tiny_llama, tiny_tokenizer, r)
        lengths |= {len(old.input_ids), len(new.input_ids)}
    assert len(lengths) >= 3  # the padding path is exercised


def test_old_answer_sources(tiny_llama, tiny_tokenizer, tiny_records):
    with_gt, without_gt = tiny_records[0], tiny_records[2]
    old, new, source = old_and_new_sequences(tiny_llama, tiny_tokenizer, with_gt)
    assert source == "ground_truth"
    ids, start = encode_prompt_answer(tiny_tokenizer, with_gt["prompt"], with_gt["ground_truth"])
    assert old == ScoredSequence(tuple(ids), start)
    ids, start = encode_prompt_answer(tiny_tokenizer, with_gt["prompt"], with_gt["target_new"])
    assert new == ScoredSequence(tuple(ids), start)

    old, new, source = old_and_new_sequences(tiny_llama, tiny_tokenizer, without_gt)
    assert source == "greedy"
    assert old.answer_start == new.answer_start
    assert old.n_answer == new.n_answer  # as many tokens as K' has
    prompt = list(old.input_ids[: old.answer_start])
    # each old-answer token is the model's argmax given everything before it
    for t in range(old.answer_start, len(old.input_ids)):
        with torch.no_grad():
            logits = tiny_llama(input_ids=torch.tensor([list(old.input_ids[:t])])).logits
        assert int(logits[0, -1].argmax()) == old.input_ids[t]
    assert greedy_continuation(tiny_llama, prompt, old.n_answer) == list(old.input_ids[old.answer_start :])

    df = extract_layer_gradients(tiny_llama, tiny_tokenizer, [without_gt], progress=False)
    assert df.attrs["old_answer_source"] == {without_gt["id"]: "greedy"}


def test_pair_products_branches_agree_on_random_inputs():
    gen = torch.Generator().manual_seed(0)
    xa, da = torch.randn(4, 5, 12, generator=gen), torch.randn(4, 5, 7, generator=gen)
    xb, db = torch.randn(4, 9, 12, generator=gen), torch.randn(4, 9, 7, generator=gen)
    ident = pair_products(xa, da, xb, db, method="identity")
    mat = pair_products(xa, da, xb, db, method="materialise")
    for a, b in zip(ident, mat):
        assert a.dtype == torch.float64
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="unknown method"):
        pair_products(xa, da, xb, db, method="fast")


def test_gpt2_conv1d_transpose(tiny_gpt2, tiny_tokenizer, tiny_records):
    # Conv1D stores W as [d_in, d_out]; its autograd gradient is X^T D, the transpose of D^T X.
    old, _, _ = old_and_new_sequences(tiny_gpt2, tiny_tokenizer, tiny_records[0])
    (cap,) = capture_keys_and_grads(tiny_gpt2, [old], tiny_tokenizer.pad_token_id, [1])
    x, d = cap[1]
    ref = reference_gradients(tiny_gpt2, old)[1]
    assert ref.shape == (x.shape[1], d.shape[1])
    torch.testing.assert_close(x.T @ d, ref, rtol=1e-5, atol=1e-7)


def test_layer_subset_order_and_frozen_params(tiny_gemma3, tiny_tokenizer, tiny_records):
    df = extract_layer_gradients(tiny_gemma3, tiny_tokenizer, tiny_records[::-1], layers=[2, 0], progress=False)
    assert list(df["sample_id"]) == ["r2", "r2", "r1", "r1", "r0", "r0"]
    assert list(df["layer"]) == [0, 2] * 3
    assert all(p.grad is None and not p.requires_grad for p in tiny_gemma3.parameters())
    with pytest.raises(ValueError, match="out of range"):
        extract_layer_gradients(tiny_gemma3, tiny_tokenizer, tiny_records, layers=[3], progress=False)


def test_deterministic(tiny_llama, tiny_tokenizer, tiny_records):
    a = extract_layer_gradients(tiny_llama, tiny_tokenizer, tiny_records, progress=False)
    b = extract_layer_gradients(tiny_llama, tiny_tokenizer, tiny_records, progress=False)
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_rejects_duplicate_ids_and_training_mode(tiny_llama, tiny_tokenizer, tiny_records):
    with pytest.raises(ValueError, match="unique"):
        extract_layer_gradients(tiny_llama, tiny_tokenizer, [tiny_records[0]] * 2, progress=False)
    tiny_llama.train()
    with pytest.raises(ValueError, match="eval mode"):
        extract_layer_gradients(tiny_llama, tiny_tokenizer, tiny_records, progress=False)


def test_parquet_roundtrip_and_empty(tmp_path, tiny_llama, tiny_tokenizer, tiny_records):
    from goldenlayers.io import write_parquet

    df = extract_layer_gradients(tiny_llama, tiny_tokenizer, tiny_records, progress=False)
    write_parquet(tmp_path / "g.parquet", df)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "g.parquet"), df)
    empty = extract_layer_gradients(tiny_llama, tiny_tokenizer, [], progress=False)
    assert list(empty.columns) == COLUMNS and len(empty) == 0


@pytest.mark.parametrize("family", ["tiny_gpt2", "tiny_llama", "tiny_gemma3"])
@pytest.mark.parametrize("fold_tokens", [None, 0, 9])  # buffered to the end / folded every sequence / mixed
def test_salem_saliency_matches_autograd(request, family, fold_tokens, tiny_tokenizer, tiny_records):
    from goldenlayers.measure.gradients import SALIENCY_COLUMNS, NewGradientSum

    model = request.getfixturevalue(family)
    summed = [None] * num_layers(model)
    for r in tiny_records:
        _, new, _ = old_and_new_sequences(model, tiny_tokenizer, r)
        for layer, g in enumerate(reference_gradients(model, new)):
            g = g.double()
            summed[layer] = g if summed[layer] is None else summed[layer] + g
    expected = [float(g.abs().mean()) for g in summed]

    acc = NewGradientSum(fold_tokens=fold_tokens)
    frame = extract_layer_gradients(model, tiny_tokenizer, tiny_records, progress=False, new_gradient_sum=acc,
                                    batch_size=3)
    saliency = acc.saliency_frame()
    assert list(saliency.columns) == SALIENCY_COLUMNS
    assert list(saliency["layer"]) == list(range(num_layers(model)))
    assert (saliency["n_samples"] == len(tiny_records)).all()
    np.testing.assert_allclose(saliency["saliency"], expected, rtol=RTOL)
    # the scalar table is the same with or without the accumulator
    plain = extract_layer_gradients(model, tiny_tokenizer, tiny_records, progress=False, batch_size=3)
    pd.testing.assert_frame_equal(frame, plain)
