import json

import pytest

from goldenlayers.data import DatasetError, filter_known, load_records, split_ids


def write(tmp_path, records, name="d.json"):
    path = tmp_path / name
    path.write_text(json.dumps(records))
    return str(path)


def test_split_is_deterministic_disjoint_and_complete():
    ids = [str(i) for i in range(50)]
    a = split_ids(ids, 0.2, seed=42)
    b = split_ids(ids, 0.2, seed=42)
    assert a == b
    assert len(a["proxy"]) == 10 and len(a["test"]) == 40
    assert not set(a["proxy"]) & set(a["test"])
    assert sorted(a["proxy"] + a["test"], key=int) == ids
    assert split_ids(ids, 0.2, seed=7)["proxy"] != a["proxy"]


def test_split_subsample_and_empty_split_error():
    ids = [str(i) for i in range(50)]
    sub = split_ids(ids, 0.5, seed=42, max_samples=10)
    assert len(sub["proxy"]) == 5 and len(sub["test"]) == 5
    with pytest.raises(ValueError, match="empty split"):
        split_ids(ids[:3], 0.1)


def test_load_knowedit_nested_aliases_and_missing_ground_truth(tmp_path):
    raw = [
        {
            "subject": "France",
            "prompt": "The capital of France is",
            "ground_truth": [["Paris", "Paree"], ["City of Light"]],
            "target_new": " Rome",
            "rephrase_prompt": "France's capital is",
            "locality": {"Relation_Specificity": [{"prompt": "The capital of Japan is", "ground_truth": ["Tokyo"]}]},
            "portability": {
                "Reasoning": [{"prompt": "France's capital is in", "ground_truth": "Italy"}],
                "Subject_Aliasing": [{"prompt": "The French capital is", "ground_truth": "Rome"}],
            },
        },
        {"case_id": 7, "subject": "Spain", "prompt": "Spain's capital is", "target_new": "Lisbon"},
    ]
    first, second = load_records(write(tmp_path, raw))
    assert first["id"] == "0" and second["id"] == "7"
    assert first["ground_truth"] == "Paris"
    assert first["ground_truth_aliases"] == ["Paris", "Paree", "City of Light"]
    assert first["target_new"] == "Rome"
    assert first["rephrase_prompts"] == ["France's capital is"]
    assert first["locality"] == [{"prompt": "The capital of Japan is", "answer": "Tokyo"}]
    assert [p["answer"] for p in first["portability"]] == ["Italy", "Rome"]
    assert second["ground_truth"] is None and second["locality"] == []


@pytest.mark.parametrize(
    "record, message",
    [
        ({"prompt": "The capital of France is", "target_new": "Rome"}, "record 0: field 'subject'"),
        ({"subject": "Spain", "prompt": "The capital of France is", "target_new": "Rome"}, "does not occur"),
        ({"subject": "France", "prompt": "The capital of France is", "target_new": "  "}, "'target_new'"),
    ],
)
def test_bad_records_name_file_record_and_field(tmp_path, record, message):
    with pytest.raises(DatasetError, match=message):
        load_records(write(tmp_path, [record]))


def test_malformed_and_empty_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[{")
    with pytest.raises(DatasetError, match="malformed JSON"):
        load_records(str(bad))
    with pytest.raises(DatasetError, match="non-empty JSON list"):
        load_records(write(tmp_path, []))


def test_embedded_dataset_is_valid_and_rich():
    records = load_records("embedded:default_edits")
    assert len(records) >= 150
    assert len({r["relation"] for r in records}) >= 8
    assert len({r["id"] for r in records}) == len(records)
    assert all(r["ground_truth"] and r["rephrase_prompts"] and r["locality"] for r in records)
    assert sum(bool(r["portability"]) for r in records) >= len(records) // 2
    assert all(r["target_new"] != r["ground_truth"] for r in records)


def test_filter_keeps_exactly_the_facts_the_model_predicts(tiny_llama, tiny_tokenizer):
    from goldenlayers.data import teacher_forced_argmax

    tok, model = tiny_tokenizer, tiny_llama
    prompt = "The capital of France is"
    # make a ground truth the random model does predict: decode its own greedy next token
    [pred] = teacher_forced_argmax(model, tok, [(prompt, "Paris")])
    greedy_word = tok.decode([pred[0]]).strip()
    records = [
        {"id": "a", "subject": "France", "prompt": prompt, "ground_truth": "Paris", "target_new": "Rome",
         "rephrase_prompts": [], "locality": [{"prompt": "The capital of Italy is", "answer": "Rome"}],
         "portability": []},
        {"id": "b", "subject": "France", "prompt": prompt, "ground_truth": greedy_word, "target_new": "Rome",
         "rephrase_prompts": [], "locality": [{"prompt": "The capital of Italy is", "answer": "Rome"}],
         "portability": []},
    ]
    known_a = teacher_forced_argmax(model, tok, [(prompt, "Paris")])[0] == tok(" Paris")["input_ids"]
    kept, report = filter_known(model, tok, records, progress=False)
    kept_ids = [r["id"] for r in kept]
    if tok(" " + greedy_word)["input_ids"] == [pred[0]]:  # the word round-trips to the predicted token
        assert "b" in kept_ids
    assert ("a" in kept_ids) == known_a
    assert all(row["reason"] for row in report if not row["kept"])
    # pre-edit locality predictions are attached to every kept record
    for rec in kept:
        assert len(rec["locality"][0]["pre_edit_ids"]) == len(tok(" Rome")["input_ids"])
    kept_all, _ = filter_known(model, tok, records, keep_unknown=True, progress=False)
    assert [r["id"] for r in kept_all] == ["a", "b"]


def test_filter_dataset_reports_counts_and_refuses_a_dataset_the_model_does_not_know(tiny_llama, tiny_tokenizer):
    from goldenlayers.data import filter_dataset

    # no record has a ground truth, so the model can know none of them
    records = [{"id": str(i), "subject": "France", "prompt": "The capital of France is", "ground_truth": None,
                "target_new": "Rome", "rephrase_prompts": [], "locality": [], "portability": []} for i in range(3)]
    with pytest.raises(DatasetError, match="knows none of the 3 facts in mine.json"):
        filter_dataset(tiny_llama, tiny_tokenizer, records, progress=False, path="mine.json")
    kept, report = filter_dataset(tiny_llama, tiny_tokenizer, records, keep_unknown=True, progress=False)
    assert [r["id"] for r in kept] == ["0", "1", "2"]
    assert (report["n_records"], report["n_known"], report["n_kept"]) == (3, 0, 3)
    assert [row["id"] for row in report["records"]] == ["0", "1", "2"]


def test_prepare_dataset_report_names_the_source_and_its_hash(tmp_path):
    import hashlib

    from goldenlayers.data import prepare_dataset

    raw = [{"subject": "France", "prompt": "The capital of France is", "ground_truth": "Paris", "target_new": "Rome"},
           {"subject": "Japan", "prompt": "The capital of Spain is", "ground_truth": "Madrid", "target_new": "Rome"}]
    path = write(tmp_path, raw)
    records, report = prepare_dataset(path, on_invalid="skip")
    assert [r["subject"] for r in records] == ["France"]
    assert report["source"] == path and report["hf_dataset"] is None
    assert report["sha256"] == hashlib.sha256((tmp_path / "d.json").read_bytes()).hexdigest()
    assert (report["n_raw"], report["n_records"], report["n_invalid"]) == (2, 1, 1)
    assert report["invalid"][0]["field"] == "subject"
    with pytest.raises(DatasetError, match="either a local `source` or `hf_dataset`"):
        prepare_dataset()
