"""Appendix settings (Tables 12-13): UnKE / PeakCF loaders, generation metrics against hand arithmetic, the long-
target cap, the appendix evaluation on a tiny model and the table builder.

Fixtures in tests/fixtures/{unke,peakcf,mmlu}/ are written for this project in the distributed formats.
"""

import copy
import json
import math

import pytest
import torch

from goldenlayers.appendix.evaluate import composite_answers, evaluate_at_layer
from goldenlayers.appendix.tables import appendix_table
from goldenlayers.report.write import write_tables
from goldenlayers.cli import main as cli_main
from goldenlayers.data import InvalidRecord, detect_format, load_dataset, load_records, read_raw
from goldenlayers.editing import load_hparams
from goldenlayers.editing.long_targets import capped_target
from goldenlayers.appendix.metrics import (
    MetricSkipped,
    accuracy,
    bertscore_f1,
    bleu,
    load_mmlu,
    mmlu_accuracy,
    rouge,
)
from goldenlayers.text import vstar_target_ids
from helpers import FIXTURES

UNKE = FIXTURES / "unke/final_data_v3.json"
PEAKCF = FIXTURES / "peakcf/PEAK_counter.json"
MMLU = FIXTURES / "mmlu/mmlu_tiny.json"


# --- loaders ----------------------------------------------------------------------------------------------------


def test_unke_maps_question_answer_paraphrase_and_sub_questions():
    assert detect_format(read_raw(UNKE), UNKE) == "unke"
    loaded = load_dataset(UNKE, on_invalid="skip")
    assert loaded.format == "unke"
    assert [r["id"] for r in loaded.records] == ["0", "1", "2", "3"]
    assert loaded.invalid == [{"index": 4, "field": "answer", "problem": "is empty"}]
    assert loaded.dropped_items == 1  # record 1's empty sub-answer
    first = loaded.records[0]
    raw = json.loads(UNKE.read_text())[0]
    assert first["prompt"] == first["subject"] == raw["question"]
    assert first["target_new"] == raw["answer"]
    assert first["ground_truth"] is None
    assert first["rephrase_prompts"] == [raw["para_question"]]
    assert first["portability"] == [{"prompt": q, "answer": a} for q, a in zip(raw["sub_question"], raw["sub_answer"])]
    assert loaded.records[3]["rephrase_prompts"] == []  # no para_question
    with pytest.raises(InvalidRecord, match=r"record 4: field 'answer' is empty"):
        load_dataset(UNKE)


def test_unke_refuses_sub_answers_that_do_not_pair_with_sub_questions(tmp_path):
    raw = json.loads(UNKE.read_text())[:1]
    raw[0]["sub_answer"] = ["only one"]
    path = tmp_path / "final_data_v3.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(InvalidRecord, match=r"field 'sub_answer' has 1 answers for 2 sub_question"):
        load_dataset(path)


def test_peakcf_is_not_mistaken_for_rome_counterfact_and_keeps_the_answer_list():
    assert detect_format(read_raw(PEAKCF), PEAKCF) == "peakcf"
    loaded = load_dataset(PEAKCF, on_invalid="skip")
    assert [r["id"] for r in loaded.records] == ["0", "1", "2", "3", "4"]
    assert loaded.invalid[0]["index"] == 5 and loaded.invalid[0]["field"] == "requested_rewrite.prompt"
    assert loaded.dropped_items == 1  # case 1's neighbour with an empty answer
    france = loaded.records[0]
    assert france["prompt"] == "France shares border with"
    assert (france["subject"], france["target_new"], france["ground_truth"]) == ("France", "Portugal", "Belgium")
    assert france["rephrase_prompts"] == ["France is adjacent to", "France is a neighbour of"]
    assert france["locality"] == [{"prompt": "The capital of Germany is", "answer": "Berlin"},
                                  {"prompt": "Spain's official language is", "answer": "Spanish"}]
    assert france["answer_list"] == ["Belgium", "Germany", "Spain", "Italy"]  # duplicates dropped, order kept
    assert composite_answers(france) == ["Portugal", "Belgium", "Germany", "Spain", "Italy"]


def test_prepared_peakcf_records_keep_the_answer_list(tmp_path):
    out = tmp_path / "records.json"
    code = cli_main(["prepare-dataset", "--source", str(PEAKCF), "--on-invalid", "skip", "--out-records", str(out),
                     "--out-report", str(tmp_path / "report.json")])
    assert code == 0
    again = load_records(str(out), format="normalised")
    assert again[1]["answer_list"] == ["guitar", "bass"]


# --- metrics against hand arithmetic ---------------------------------------------------------------------------


def test_rouge_recall_by_hand():
    # reference "the cat sat on the mat": 6 unigrams, 5 bigrams. "the cat sat" finds 3 unigrams (3/6), 2 bigrams
    # ("the cat", "cat sat": 2/5) and a longest common subsequence of 3 (3/6).
    assert rouge("the cat sat", "the cat sat on the mat") == pytest.approx(
        {"rouge1": 3 / 6, "rouge2": 2 / 5, "rougeL": 3 / 6})
    # order matters for ROUGE-L only: "mat the on" -> unigrams 3/6 (the, on, mat), no bigram, LCS 2 ("the on")
    assert rouge("mat the on", "the cat sat on the mat") == pytest.approx(
        {"rouge1": 3 / 6, "rouge2": 0.0, "rougeL": 2 / 6})


def test_bleu_by_hand():
    assert bleu("the cat sat on the mat", "the cat sat on the mat") == pytest.approx(1.0)
    # 5-word candidate, 6-word reference: n-gram precisions 5/5, 3/4, 2/3, 1/2; brevity penalty exp(1 - 6/5)
    by_hand = math.exp(1 - 6 / 5) * (1 * 3 / 4 * 2 / 3 * 1 / 2) ** (1 / 4)
    assert bleu("the cat sat on mat", "the cat sat on the mat") == pytest.approx(by_hand, abs=1e-9)


def _tiny_bert(tmp_path, tok):
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                 intermediate_size=64, max_position_embeddings=128)).eval()
    path = tmp_path / "tiny-bert"
    model.save_pretrained(path)
    tok = copy.deepcopy(tok)
    tok.model_max_length = 128  # bert-score truncates to this; real BERTScore models say 512
    tok.save_pretrained(path)
    return path, model


def test_bertscore_matches_greedy_cosine_matching_by_hand(tmp_path, tiny_tokenizer):
    path, model = _tiny_bert(tmp_path, tiny_tokenizer)
    cand, ref = "The capital of France is Rome.", "The capital of Italy is Rome."
    same, other = bertscore_f1([ref, cand], [ref, ref], str(path), num_layers=1)
    assert same == pytest.approx(1.0, abs=1e-5)

    def embed(text):  # layer-1 hidden states, unit length: BERTScore's token embeddings
        ids = torch.tensor([tiny_tokenizer(text)["input_ids"]])
        with torch.no_grad():
            hidden = model(input_ids=ids, output_hidden_states=True).hidden_states[1][0]
        return torch.nn.functional.normalize(hidden, dim=-1)

    sim = embed(cand) @ embed(ref).T
    precision, recall = sim.max(1).values.mean(), sim.max(0).values.mean()
    assert other == pytest.approx(float(2 * precision * recall / (precision + recall)), abs=1e-4)
    assert other < 1.0


def test_bertscore_without_the_model_is_skipped_with_its_name(tmp_path):
    missing = str(tmp_path / "no-such-bertscore-model")
    with pytest.raises(MetricSkipped, match="no-such-bertscore-model") as err:
        bertscore_f1(["a b"], ["a b"], missing, num_layers=2)
    assert "skipped" in str(err.value)
    # a hub id that is not in the local cache: skipped without asking the hub (local_files_only)
    with pytest.raises(MetricSkipped, match="no-such-org/no-such-bertscore-model.*hf download"):
        bertscore_f1(["a b"], ["a b"], "no-such-org/no-such-bertscore-model", num_layers=2)


def test_mmlu_file_accuracy_and_missing_file():
    questions = load_mmlu(MMLU)
    assert [q["answer"] for q in questions] == [1, 0, 2, 3]  # "D" read as 3
    assert accuracy([1, 0, 2, 2], [1, 0, 2, 3]) == 0.75
    with pytest.raises(MetricSkipped, match="MMLU skipped: no appendix.mmlu_file"):
        load_mmlu(None)
    with pytest.raises(MetricSkipped, match="does not exist"):
        load_mmlu("nowhere/mmlu.json")


def test_mmlu_accuracy_reads_the_letter_logits(tiny_tokenizer):
    b_id = tiny_tokenizer(" B", add_special_tokens=False)["input_ids"][0]

    class AlwaysB(torch.nn.Module):  # a "model" whose next token is always " B"
        device = torch.device("cpu")

        def forward(self, input_ids):
            logits = torch.zeros(1, input_ids.shape[1], len(tiny_tokenizer))
            logits[..., b_id] = 1.0
            return type("Out", (), {"logits": logits})

    # gold answers 1, 0, 2, 3: only the first is B
    assert mmlu_accuracy(AlwaysB(), tiny_tokenizer, load_mmlu(MMLU)) == 0.25


# --- long targets ------------------------------------------------------------------------------------------------


def test_long_targets_are_cut_to_their_first_tokens(tiny_tokenizer):
    answer = "The Eiffel Tower is located in the city of Paris and was built for a fair."
    ids = vstar_target_ids(tiny_tokenizer, answer)
    cut = capped_target(tiny_tokenizer, answer, 5)
    assert vstar_target_ids(tiny_tokenizer, cut) == ids[:5]
    assert capped_target(tiny_tokenizer, answer, len(ids)) == answer
    assert capped_target(tiny_tokenizer, answer, None) == answer


# --- the evaluation on a tiny model ----------------------------------------------------------------------------


def test_exact_success_needs_every_answer_token(tiny_llama, tiny_tokenizer):
    from goldenlayers.appendix.evaluate import exact_success

    words = ["capital", "Paris", "France", "Berlin", "Rome", "the", "of", "is"]
    single = [w for w in words if len(vstar_target_ids(tiny_tokenizer, w)) == 1]
    word, other = single[0], single[1]
    token = vstar_target_ids(tiny_tokenizer, word)[0]
    head = torch.nn.Linear(tiny_llama.config.hidden_size, len(tiny_tokenizer))
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    head.bias.data[token] = 1.0  # this model predicts `word`'s token after anything
    tiny_llama.set_output_embeddings(head)
    prompt = "The capital of France is"
    two_tokens = f"{word} {other}"  # first token right, second wrong
    assert len(vstar_target_ids(tiny_tokenizer, two_tokens)) >= 2
    assert exact_success(tiny_llama, tiny_tokenizer, [(prompt, word), (prompt, other), (prompt, two_tokens)]) == [
        1.0, 0.0, 0.0]


def _hparams(tmp_path, **extra):
    values = {"alg_name": "R-ROME", "v_num_grad_steps": 3, "v_lr": 0.5, "v_weight_decay": 0.0,
              "clamp_norm_factor": 4, "kl_factor": 0.0625, "mom2_adjustment": False,
              "context_template_length_params": [[3, 1]], **extra}
    path = tmp_path / "hparams.yaml"
    path.write_text(json.dumps(values))
    return load_hparams("r-rome", path)


def test_composite_evaluation_on_a_tiny_model(tmp_path, tiny_llama, tiny_tokenizer):
    records = load_records(str(PEAKCF), on_invalid="skip")
    split = {"proxy": ["0"], "test": ["1", "2"]}
    before = {k: v.clone() for k, v in tiny_llama.state_dict().items()}
    result = evaluate_at_layer(tiny_llama, tiny_tokenizer, records, split, "composite", "r-rome",
                               _hparams(tmp_path), 1, ["{}"], settings={"max_new_tokens": 4}, progress=False)
    assert all(torch.equal(before[k], v) for k, v in tiny_llama.state_dict().items())  # restored exactly
    assert result["n_test"] == 2 and result["skipped"] == {}
    for row in result["samples"]:
        n_answers = len(composite_answers(next(r for r in records if r["id"] == row["sample_id"])))
        assert row["SR-1"] in (0.0, 1.0)
        assert round(row["SRS"] * n_answers) == pytest.approx(row["SRS"] * n_answers)  # k of n answers
        assert 0 <= row["LSR"] <= 1 and 0 <= row["GSR"] <= 1
    means = result["metrics"]
    assert means["SR-1"] == pytest.approx(sum(r["SR-1"] for r in result["samples"]) / 2)
    assert means["Overall"] == pytest.approx(sum(means[m] for m in ("SRS", "SR-1", "GSR", "LSR")) / 4)


def test_unstructured_evaluation_skips_bertscore_and_scores_mmlu(tmp_path, tiny_llama, tiny_tokenizer):
    records = load_records(str(UNKE), on_invalid="skip")
    split = {"proxy": ["0", "1"], "test": ["2", "3"]}
    result = evaluate_at_layer(tiny_llama, tiny_tokenizer, records, split, "unstructured", "r-rome",
                               _hparams(tmp_path, max_target_tokens=6), 2, ["{}"],
                               settings={"max_new_tokens": 6, "bertscore_model": str(tmp_path / "absent-model"),
                                         "bertscore_layers": 2, "mmlu_file": str(MMLU)}, progress=False)
    assert set(result["skipped"]) == {"BERTScore"} and "absent-model" in result["skipped"]["BERTScore"]
    assert math.isnan(result["metrics"]["BERTScore"])
    assert result["metrics"]["MMLU"] in (0.0, 0.25, 0.5, 0.75, 1.0)
    for row in result["samples"]:
        reference = next(r for r in records if r["id"] == row["sample_id"])["target_new"]
        assert row["ROUGE-L"] == pytest.approx(rouge(row["generation"], reference)["rougeL"])
        assert row["BLEU"] == pytest.approx(bleu(row["generation"], reference))
    assert math.isnan(result["samples"][1]["Para-ROUGE-L"])  # record 3 has no para_question
    computed = [v for m, v in result["metrics"].items() if m not in ("Overall", "BERTScore") and not math.isnan(v)]
    assert result["metrics"]["Overall"] == pytest.approx(sum(computed) / len(computed))


# --- tables -------------------------------------------------------------------------------------------------------


def _result(method, layer, value, skipped=None):
    metrics = {m: value for m in ("BLEU", "ROUGE-1", "ROUGE-2", "ROUGE-L", "Para-ROUGE-L", "MMLU")}
    metrics["BERTScore"] = math.nan
    metrics["Overall"] = value
    return {"model": "tiny", "dataset": "unke", "method": method, "setting": "unstructured", "layer": layer,
            "n_test": 2, "metrics": metrics, "skipped": skipped or {}}


def test_table13_orders_methods_and_marks_skipped_metrics(tmp_path):
    files = []
    for method, layer, value in (("lga", 1, 0.3), ("cma", 2, 0.1), ("salem", 0, 0.2)):
        path = tmp_path / f"{method}.json"
        path.write_text(json.dumps(_result(method, layer, value, {"BERTScore": "BERTScore skipped: model x"})))
        files.append(str(path))
    frame, notes = appendix_table(files, "table13")
    assert list(frame["Method"]) == ["CMA", "SaLEM", "LGA"]
    assert list(frame["Layer"]) == [2, 0, 1]
    assert notes == {"BERTScore": "BERTScore skipped: model x"}
    write_tables(["table13"], files, tmp_path)
    md = (tmp_path / "table13.md").read_text()
    assert md.startswith("Table 13") and "skipped" in md and "- BERTScore: BERTScore skipped: model x" in md
    with pytest.raises(ValueError, match="cannot go into table12"):
        appendix_table(files, "table12")


def test_composite_metrics_pinned_by_hand(tmp_path, tiny_llama, tiny_tokenizer, monkeypatch):
    """Issue #31 item 8: the composite metrics as numbers worked out by hand, with the two model probes stubbed
    (exact_success and greedy_text are tested on a real model above): which answers hit is set per answer."""
    from goldenlayers.appendix import evaluate

    hits_on = {"Portugal", "violin", "Apple"}  # the answers the "edited model" reproduces
    asked = []

    def exact_success(model, tok, pairs):
        asked.append(pairs)
        return [1.0 if answer in hits_on else 0.0 for _, answer in pairs]

    monkeypatch.setattr(evaluate, "exact_success", exact_success)
    monkeypatch.setattr(evaluate, "greedy_text", lambda model, tok, prompt, n: "Guitar, Portugal and Spain")
    records = load_records(str(PEAKCF), on_invalid="skip")
    row = evaluate.composite_metrics(tiny_llama, tiny_tokenizer, records[0], 4)
    # record 0: answers Portugal (target_new), Belgium, Germany, Spain, Italy (the second Germany dropped); two
    # rephrase prompts asking for Portugal
    assert [a for _, a in asked[0]] == ["Portugal", "Belgium", "Germany", "Spain", "Italy", "Portugal", "Portugal"]
    assert row["SRS"] == pytest.approx(1 / 5) and row["SR-1"] == 1.0 and row["GSR"] == 1.0
    # ROUGE-L recall of "guitar portugal and spain" against "portugal belgium germany spain italy": the longest
    # common subsequence is portugal, spain: 2 of the reference's 5 words
    assert row["LSR"] == pytest.approx(2 / 5)

    split = {"proxy": ["0"], "test": ["1", "2"]}
    result = evaluate_at_layer(tiny_llama, tiny_tokenizer, records, split, "composite", "r-rome",
                               _hparams(tmp_path), 1, ["{}"], settings={"max_new_tokens": 4}, progress=False)
    means = result["metrics"]
    # record 1: violin (hit), guitar, bass; rephrase -> violin (hit); LSR: "guitar" is 1 of 3 reference words
    # record 2: Samsung, Apple (hit); rephrase -> Samsung; LSR: no word in common
    assert means["SRS"] == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert means["SR-1"] == pytest.approx(0.5) and means["GSR"] == pytest.approx(0.5)
    assert means["LSR"] == pytest.approx((1 / 3 + 0) / 2)
    assert means["Overall"] == pytest.approx((5 / 12 + 0.5 + 0.5 + 1 / 6) / 4)
