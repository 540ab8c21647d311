import math

import torch

from goldenlayers.editing.evaluate import evaluate_record, score_predictions


def test_scores_on_hand_made_predictions():
    # prompt 0: rewrite, 3 answer tokens, 2 right; prompt 1: rephrase, 1 of 1; prompt 2: rephrase 0 of 2;
    # prompt 3: locality, pre-edit ids [5, 6], post-edit argmax [5, 9] -> 0.5 (gold tokens are irrelevant)
    kinds = [("rewrite", None), ("rephrase", None), ("rephrase", None), ("locality", [5, 6])]
    rows = torch.tensor([0, 0, 0, 1, 2, 2, 3, 3])
    gold = torch.tensor([1, 2, 3, 4, 7, 8, 0, 0])
    argmax = torch.tensor([1, 2, 0, 4, 0, 0, 5, 9])
    scores = score_predictions(kinds, rows, argmax, gold)
    assert math.isclose(scores["rewrite"], 2 / 3, rel_tol=1e-6)
    assert math.isclose(scores["rephrase"], (1.0 + 0.0) / 2)
    assert scores["locality"] == 0.5
    assert math.isnan(scores["portability"])


def test_evaluate_record_matches_teacher_forced_argmax(tiny_llama, tiny_tokenizer):
    from goldenlayers.data import teacher_forced_argmax

    tok, model = tiny_tokenizer, tiny_llama
    record = {"prompt": "The capital of France is", "target_new": "Rome",
              "rephrase_prompts": ["France's capital is"], "portability": [],
              "locality": [{"prompt": "The capital of Italy is", "answer": "Rome"}]}
    [rewrite_pred, rephrase_pred, loc_pred] = teacher_forced_argmax(
        model, tok, [(record["prompt"], "Rome"), (record["rephrase_prompts"][0], "Rome"),
                     (record["locality"][0]["prompt"], "Rome")])
    gold = tok(" Rome")["input_ids"]
    record["locality"][0]["pre_edit_ids"] = loc_pred
    scores = evaluate_record(model, tok, record)
    expected = sum(p == g for p, g in zip(rewrite_pred, gold)) / len(gold)
    assert math.isclose(scores["rewrite"], expected)
    assert math.isclose(scores["rephrase"], sum(p == g for p, g in zip(rephrase_pred, gold)) / len(gold))
    assert scores["locality"] == 1.0  # unedited model: nothing changed


def test_fluency_entropy_on_hand_made_texts():
    from goldenlayers.editing.evaluate import fluency_entropy, ngram_entropy, words

    assert words("Paris is nice, isn't it?") == ["Paris", "is", "nice", ",", "isn", "'", "t", "it", "?"]
    # "a b a b a": bigrams ab, ba, ab, ba -> H2 = 1 bit; trigrams aba, bab, aba -> H3 = h(1/3, 2/3)
    h3 = -(1 / 3) * math.log2(1 / 3) - (2 / 3) * math.log2(2 / 3)
    assert math.isclose(ngram_entropy(words("a b a b a"), 2), 1.0)
    assert math.isclose(ngram_entropy(words("a b a b a"), 3), h3)
    raw, norm = fluency_entropy("a b a b a")
    assert math.isclose(raw, 1 / 3 + 2 * h3 / 3)
    assert math.isclose(norm, raw / (math.log2(4) / 3 + 2 * math.log2(3) / 3))
    # all distinct -> normalised 1; a loop -> low
    assert math.isclose(fluency_entropy("one two three four five six")[1], 1.0)
    assert fluency_entropy("the the the the the the the the")[1] == 0.0
    assert fluency_entropy("")[1] == 0.0
