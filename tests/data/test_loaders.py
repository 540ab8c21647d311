"""Dataset loaders: every distributed format (small fixtures written in each real format) -> one record type.

Fixtures live in tests/fixtures/<format>/ under the file names the datasets are distributed with; each has the
awkward cases of its format (alias lists, missing ground truths, several portability kinds, empty answers, WikiBio's
text/labels/concept, an empty MEND target).
"""

import json
from pathlib import Path

import pytest

from goldenlayers.cli import main as cli_main
from goldenlayers.data import (
    FORMATS,
    DatasetError,
    InvalidRecord,
    detect_format,
    fetch_hub_file,
    load_dataset,
    load_records,
    read_raw,
    resolve_dataset_file,
)
from helpers import FIXTURES

RECORD_KEYS = {"id", "relation", "subject", "prompt", "ground_truth", "ground_truth_aliases", "target_new",
               "rephrase_prompts", "locality", "portability"}

# (fixture, format, records kept with on_invalid="skip", metrics supported)
CASES = [
    ("knowedit/ZsRE-test-all.json", "knowedit", 3, {"rewrite", "rephrase", "locality", "portability"}),
    ("knowedit/test_cf.json", "knowedit", 2, {"rewrite", "rephrase", "locality", "portability"}),
    ("knowedit/recent_test.json", "knowedit", 2, {"rewrite", "locality", "portability"}),
    ("wikibio/wikibio-test-all.json", "wikibio", 2, {"rewrite", "locality"}),
    ("counterfact/counterfact-edit.json", "counterfact", 3, {"rewrite", "rephrase", "locality"}),
    ("rome_counterfact/counterfact.json", "rome_counterfact", 2, {"rewrite", "rephrase", "locality", "portability"}),
    ("zsre_mend/zsre_mend_eval.json", "zsre_mend", 2, {"rewrite", "rephrase", "locality", "portability"}),
]


def fixture(name: str) -> str:
    return str(FIXTURES / name)


def by_id(records):
    return {r["id"]: r for r in records}


def write(tmp_path, raw, name="data.json"):
    path = tmp_path / name
    path.write_text(json.dumps(raw))
    return str(path)


@pytest.mark.parametrize("name, fmt, n_kept, metrics", CASES, ids=[c[0] for c in CASES])
def test_every_fixture_loads_into_the_one_record_type(name, fmt, n_kept, metrics):
    loaded = load_dataset(fixture(name), on_invalid="skip")
    assert loaded.format == fmt
    assert detect_format(read_raw(Path(fixture(name))), name) == fmt
    assert len(loaded.records) == n_kept
    assert set(loaded.report()["supported_metrics"]) == metrics
    for rec in loaded.records:
        assert set(rec) == RECORD_KEYS
        assert rec["subject"] in rec["prompt"] and rec["target_new"] == rec["target_new"].strip()
        assert rec["ground_truth"] == (rec["ground_truth_aliases"][0] if rec["ground_truth_aliases"] else None)
        for item in rec["locality"] + rec["portability"]:
            assert item["prompt"] and item["answer"]
            assert item.get("aliases", [item["answer"]])[0] == item["answer"]
    # explicit format = detected format
    assert load_dataset(fixture(name), format=fmt, on_invalid="skip").records == loaded.records


def test_knowedit_zsre_alias_lists_missing_ground_truth_and_several_portability_kinds():
    recs = load_records(fixture("knowedit/ZsRE-test-all.json"))
    assert [r["id"] for r in recs] == ["0", "1", "2"]  # no case_id in KnowEdit: the index in the file
    ammonite, baikal, kokoschka = recs
    assert ammonite["ground_truth"] == "Cephalopoda" and ammonite["rephrase_prompts"] == [
        "What family is Ammonoidea a part of?"]
    assert ammonite["locality"] == [{"prompt": "The taxon rank of Ammonoidea is", "answer": "subclass"},
                                    {"prompt": "Ammonoidea taxon rank", "answer": "subclass"}]
    assert baikal["ground_truth_aliases"] == ["Russia", "Russian Federation"] and baikal["ground_truth"] == "Russia"
    # Reasoning, Subject_Aliasing and Logical_Generalization all count as portability, in file order
    assert [p["answer"] for p in baikal["portability"]] == ["Ulaanbaatar", "Mongolia", "yes"]
    assert baikal["portability"][2]["aliases"] == ["yes", "true"]
    assert kokoschka["ground_truth"] is None and kokoschka["ground_truth_aliases"] == []
    assert kokoschka["portability"] == []


def test_knowedit_wiki_counterfact_nested_alias_lists_rephrase_and_empty_answers():
    loaded = load_dataset(fixture("knowedit/test_cf.json"))
    lamarr, danube = loaded.records
    assert lamarr["ground_truth"] == "Austria" and lamarr["rephrase_prompts"] == ["Hedy Lamarr holds the citizenship of"]
    reasoning = lamarr["portability"][1]
    assert reasoning["answer"] == "euro" and reasoning["aliases"] == ["euro", "EUR", "€"]
    # Relation_Specificity then Forgetfulness, both locality
    assert [item["answer"] for item in lamarr["locality"]] == ["actress", "Austria"]
    # an alias list of several alternatives [["Iran"], ["Kazakhstan"]]: scored against the first
    assert danube["portability"] == [{"prompt": "The country bordering the mouth of the Danube's watercourse is",
                                      "answer": "Iran", "aliases": ["Iran", "Kazakhstan"]}]
    # a locality entry with an empty answer is dropped (as EasyEdit does) and counted
    assert danube["locality"] == [{"prompt": "The source of Danube is", "answer": "Black Forest"}]
    assert loaded.dropped_items == 1 and loaded.report()["dropped_empty_answer_items"] == 1


def test_knowedit_wiki_recent_has_no_ground_truth():
    bridge, okafor = load_records(fixture("knowedit/recent_test.json"))
    assert bridge["ground_truth"] is None and okafor["ground_truth"] is None
    assert [p["answer"] for p in bridge["portability"]] == ["no", "Dublin", "Ireland"]
    assert bridge["portability"][0]["aliases"] == ["no", "incorrect", "false"]
    assert okafor["locality"] == [] and [p["answer"] for p in okafor["portability"]] == ["Africa"]


def test_wikibio_text_labels_concept():
    first, second = load_records(fixture("wikibio/wikibio-test-all.json"))
    assert first["subject"] == "mirela teodorescu"
    assert first["prompt"].startswith("This is a Wikipedia passage about mirela teodorescu.")
    assert first["target_new"].startswith("She won a silver medal")
    assert first["ground_truth"] is None and first["rephrase_prompts"] == [] and first["portability"] == []
    assert [item["answer"] for item in first["locality"]] == ["rowing", "rowing"]
    assert second["locality"][0]["aliases"] == ["Denmark", "Kingdom of Denmark"]


def test_easyedit_flat_counterfact():
    recs = by_id(load_records(fixture("counterfact/counterfact-edit.json")))
    assert list(recs) == ["0", "1", "7"]  # case_id
    tonga = recs["7"]
    assert (tonga["subject"], tonga["target_new"], tonga["ground_truth"]) == ("Tonga", "Buddhism", "Christianity")
    assert tonga["rephrase_prompts"] == ["What a day it was. In Tonga, the official religion is"]
    assert tonga["locality"] == [{"prompt": "The official religion of Samoa is", "answer": "Christianity"}]


def test_rome_counterfact_nested_format():
    ravel, panda = load_records(fixture("rome_counterfact/counterfact.json"))
    assert ravel["id"] == "0" and panda["id"] == "12"
    assert ravel["prompt"] == "The mother tongue of Lucien Ravel is" and ravel["relation"] == "P103"
    assert (ravel["target_new"], ravel["ground_truth"]) == ("Swedish", "French")
    assert len(ravel["rephrase_prompts"]) == 2
    # neighbourhood prompts share the true object, so they are answered by target_true
    assert ravel["locality"] == [{"prompt": "The mother tongue of Jacques Tati is", "answer": "French"},
                                 {"prompt": "Jean Gabin is a native speaker of", "answer": "French"}]
    assert panda["prompt"] == "Fiat Panda, that was created in"
    assert panda["portability"] == [{"prompt": "In which country's capital was the maker of Fiat Panda founded?",
                                     "answer": "Tokyo"}]


def test_zsre_mend_format_and_empty_target():
    path = fixture("zsre_mend/zsre_mend_eval.json")
    with pytest.raises(InvalidRecord, match=r"zsre_mend_eval.json: record 1: field 'alt' is empty") as err:
        load_records(path)
    assert (err.value.index, err.value.field) == (1, "alt")
    loaded = load_dataset(path, on_invalid="skip")
    watts, erebus = loaded.records
    assert [r["id"] for r in loaded.records] == ["0", "2"]  # ids stay the file indices when records are skipped
    assert loaded.invalid == [{"index": 1, "field": "alt", "problem": "is empty"}]
    assert (watts["prompt"], watts["target_new"], watts["ground_truth"]) == (
        "What university did Watts Humphrey attend?", "University of Michigan", "Illinois Institute of Technology")
    assert watts["rephrase_prompts"] == ["What university did Watts Humphrey take part in?"]
    assert watts["locality"] == [{"prompt": "nq question: who played desmond doss father in hacksaw ridge",
                                  "answer": "Hugo Weaving"}]
    assert erebus["ground_truth_aliases"] == ["Antarctica", "Antarctic"]
    assert erebus["portability"][0]["answer"] == "Australia"


def _zsre():
    return json.loads((FIXTURES / "knowedit/ZsRE-test-all.json").read_text())


def _edit(index, change):
    raw = _zsre()
    change(raw[index])
    return raw


@pytest.mark.parametrize(
    "raw, message",
    [
        (_edit(1, lambda r: r.pop("subject")), "record 1: field 'subject' is missing"),
        (_edit(2, lambda r: r.update(subject="Egon Schiele")), "record 2: field 'subject' 'Egon Schiele' does not occur"),
        (_edit(0, lambda r: r.update(target_new="  ")), "record 0: field 'target_new' is empty"),
        (_edit(0, lambda r: r.update(prompt=["Which family?"])), "record 0: field 'prompt' must be a string, not list"),
        (_edit(1, lambda r: r.update(ground_truth=7)), "record 1: field 'ground_truth' must be a string, a list"),
        (_edit(1, lambda r: r.update(rephrase_prompt={"a": 1})), "record 1: field 'rephrase_prompt' must be"),
        (_edit(1, lambda r: r["portability"]["Reasoning"][0].update(prompt=None)),
         r"record 1: field 'portability.Reasoning\[0\].prompt' is missing"),
        (_edit(0, lambda r: r["locality"]["Relation_Specificity"][1].pop("ground_truth")),
         r"record 0: field 'locality.Relation_Specificity\[1\].ground_truth' is missing"),
        (_edit(0, lambda r: r["locality"].update(Relation_Specificity=["The taxon rank"])),
         r"record 0: field 'locality.Relation_Specificity\[0\]' must be an object"),
        (_zsre()[:2] + ["not a record"], "record 2: field '\\(record\\)' must be a JSON object"),
    ],
    ids=["missing-field", "subject-not-in-prompt", "empty-target", "wrong-type", "ground-truth-type",
         "rephrase-type", "nested-prompt-missing", "nested-answer-missing", "nested-not-object", "not-an-object"],
)
def test_invalid_records_name_file_record_and_field(tmp_path, raw, message):
    path = write(tmp_path, raw, "ZsRE-test-all.json")
    with pytest.raises(InvalidRecord, match=message) as err:
        load_records(path, format="knowedit")
    assert str(err.value).startswith(f"{path}: record ")
    # the same file loads with skip, leaving out exactly that record
    loaded = load_dataset(path, format="knowedit", on_invalid="skip")
    assert len(loaded.invalid) == 1 and len(loaded.records) == len(raw) - 1
    assert loaded.invalid[0]["index"] == err.value.index


def test_subject_check_names_the_files_own_field(tmp_path):
    raw = json.loads((FIXTURES / "wikibio/wikibio-test-all.json").read_text())
    raw[1]["concept"] = "henrik sauer-jensen"
    with pytest.raises(InvalidRecord, match="record 1: field 'concept' 'henrik sauer-jensen' does not occur in text"):
        load_records(write(tmp_path, raw))
    raw = json.loads((FIXTURES / "rome_counterfact/counterfact.json").read_text())
    raw[0]["requested_rewrite"]["prompt"] = "The mother tongue of Lucien is"
    with pytest.raises(InvalidRecord, match=r"record 0: field 'requested_rewrite.prompt' must contain '\{\}'"):
        load_records(write(tmp_path, raw))


def test_duplicate_ids_and_all_invalid(tmp_path):
    raw = json.loads((FIXTURES / "counterfact/counterfact-edit.json").read_text())
    raw[2]["case_id"] = 1
    with pytest.raises(InvalidRecord, match="record 2: field 'id' '1' repeats the id of record 1"):
        load_records(write(tmp_path, raw))
    with pytest.raises(DatasetError, match="none of the 1 records is valid"):
        load_dataset(write(tmp_path, [{"subject": "x", "prompt": "y", "target_new": "z"}]), on_invalid="skip")


def test_format_detection_and_override_errors(tmp_path):
    with pytest.raises(DatasetError, match="cannot tell the dataset format.*set `format:`.*zsre_mend"):
        load_records(write(tmp_path, [{"query": "q", "reply": "a"}]))
    with pytest.raises(DatasetError, match="unknown dataset format 'csv'; known formats: "):
        load_records(fixture("counterfact/counterfact-edit.json"), format="csv")
    # a file read as the wrong format fails on its first record, naming the field it lacks
    with pytest.raises(InvalidRecord, match="record 0: field 'concept' is missing"):
        load_records(fixture("counterfact/counterfact-edit.json"), format="wikibio")
    with pytest.raises(ValueError, match="on_invalid"):
        load_records(fixture("counterfact/counterfact-edit.json"), on_invalid="ignore")
    assert set(FORMATS) == {"knowedit", "wikibio", "counterfact", "rome_counterfact", "zsre_mend", "peakcf", "unke",
                            "normalised"}


@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_normalised_records_read_back_unchanged(tmp_path, name):
    records = load_records(fixture(name), on_invalid="skip")
    again = load_dataset(write(tmp_path, records))
    assert again.format == "normalised" and again.records == records
    # extra keys written by later stages (pre-edit predictions) survive
    records[0]["locality"] = [dict(item, pre_edit_ids=[1, 2]) for item in records[0]["locality"]]
    assert load_records(write(tmp_path, records))[0]["locality"] == records[0]["locality"]


# --- hub files ------------------------------------------------------------------------------------------------


def test_hub_file_placed_by_hand_wins(tmp_path, monkeypatch):
    import huggingface_hub

    def no_network(*args, **kwargs):
        raise AssertionError("must not download a file that was placed by hand")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_network)
    placed = tmp_path / "zjunlp/KnowEdit/benchmark/ZsRE/ZsRE-test-all.json"
    placed.parent.mkdir(parents=True)
    placed.write_text((FIXTURES / "knowedit/ZsRE-test-all.json").read_text())
    got = fetch_hub_file("zjunlp/KnowEdit", "benchmark/ZsRE/ZsRE-test-all.json", placement_root=tmp_path)
    assert got == placed


def test_hub_file_is_downloaded_into_the_cache(tmp_path, monkeypatch):
    import huggingface_hub

    calls = []

    def fake_download(repo_id, filename, repo_type=None, revision=None):
        calls.append((repo_id, filename, repo_type, revision))
        return fixture("knowedit/recent_test.json")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    monkeypatch.chdir(tmp_path)  # nothing placed under ./data/hub
    path = resolve_dataset_file(hf_dataset="zjunlp/KnowEdit", hf_file="benchmark/wiki_recent/recent_test.json",
                                hf_revision="v1")
    assert calls == [("zjunlp/KnowEdit", "benchmark/wiki_recent/recent_test.json", "dataset", "v1")]
    assert len(load_records(str(path))) == 2


def test_offline_hub_file_error_names_the_file_and_where_to_put_it(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetError) as err:
        fetch_hub_file("zjunlp/KnowEdit", "benchmark/WikiBio/wikibio-test-all.json")
    message = str(err.value)
    assert "benchmark/WikiBio/wikibio-test-all.json of the Hugging Face dataset zjunlp/KnowEdit" in message
    assert "not cached" in message and "data/hub/zjunlp/KnowEdit/benchmark/WikiBio/wikibio-test-all.json" in message


def test_source_and_hub_are_exclusive():
    with pytest.raises(DatasetError, match="either a local `source` or `hf_dataset`"):
        resolve_dataset_file(source="a.json", hf_dataset="zjunlp/KnowEdit", hf_file="b.json")
    with pytest.raises(DatasetError, match="needs `hf_file`"):
        resolve_dataset_file(hf_dataset="zjunlp/KnowEdit")


# --- the prepare-dataset stage --------------------------------------------------------------------------------


def test_prepare_dataset_cli_writes_records_and_report(tmp_path, caplog):
    out = tmp_path / "records.json"
    report = tmp_path / "validation.json"
    argv = ["prepare-dataset", "--source", fixture("zsre_mend/zsre_mend_eval.json"), "--out-records", str(out),
            "--out-report", str(report)]
    assert cli_main(argv) == 2 and not out.exists() and not report.exists()  # invalid record 1 stops it
    assert cli_main(argv + ["--on-invalid", "skip"]) == 0
    rep = json.loads(report.read_text())
    assert rep["format"] == "zsre_mend" and rep["n_raw"] == 3 and rep["n_records"] == 2
    assert rep["n_invalid"] == 1 and rep["invalid"] == [{"index": 1, "field": "alt", "problem": "is empty"}]
    assert len(rep["sha256"]) == 64 and rep["supported_metrics"]["portability"] == 1
    assert "skipped invalid record 1: field 'alt' is empty" in caplog.text
    assert [r["id"] for r in json.loads(out.read_text())] == ["0", "2"]


def test_a_declared_format_that_drops_fields_warns(caplog):
    """Issue #11 item 6: forcing `format: counterfact` on a KnowEdit file silently lost its locality prompts."""
    import logging

    path = FIXTURES / "knowedit" / "test_cf.json"
    raw = json.loads(path.read_text())
    n_locality = sum(bool(r.get("locality")) for r in raw)  # the reference: what the file itself holds
    assert n_locality > 0
    with caplog.at_level(logging.WARNING, logger="goldenlayers.data"):
        forced = load_dataset(path, format="counterfact")
    assert "declared format 'counterfact' drops" in caplog.text and "'knowedit'" in caplog.text
    assert f"locality ({n_locality} records)" in caplog.text
    assert forced.report()["dropped_by_declared_format"]["metrics"]["locality"] == n_locality
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="goldenlayers.data"):
        declared_right = load_dataset(path, format="knowedit")
    assert caplog.text == "" and declared_right.dropped_fields == {}
