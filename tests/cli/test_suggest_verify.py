"""`suggest --verify K`, `edit --layer auto` and the study evidence line, on a tiny random LLaMA.

References are computed here, apart from goldenlayers' own paths: LGA's ranking from plain autograd gradients
(`reference_lga` of test_suggest_edit.py), each shortlisted layer edited on a freshly loaded model (the editor's
update added to the weight by hand) and scored by teacher-forced argmax written out below (EasyEdit's token
accuracy; locality = the share of answer tokens whose argmax the edit left unchanged), and the evidence numbers
from docs/findings.md's tables.
"""

import json
import math
import re

import numpy as np
import pytest
import torch
import yaml

from helpers import REPO, STRONG_RROME, build_tiny_llama, build_tiny_tokenizer, write_user_project
from goldenlayers import cli

N_LAYERS = 6


def request(subject, new, truth, relation="capital", neighbour=("Spain", "Madrid")):
    # the subject ends the prompt, so an MLP edit at its last token reaches the predicting position of a random
    # model (tests/editing/test_editing.py); Counterfact's flat layout carries a rephrase and a locality prompt
    return {"prompt": f"The {relation} of {subject}", "subject": subject, "target_new": new, "ground_truth": truth,
            "rephrase_prompt": f"In short, the {relation} of {subject}",
            "locality_prompt": f"The {relation} of {neighbour[0]}", "locality_ground_truth": neighbour[1]}


REQUESTS = [
    request("France", "Rome", "Paris"),
    request("Germany", "Paris", "Berlin", neighbour=("Italy", "Rome")),
    request("Italy", "Berlin", "Rome", neighbour=("France", "Paris")),
    request("Spain", "Dutch", "Spanish", relation="language", neighbour=("France", "French")),
]
STRONG = STRONG_RROME


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return write_user_project(tmp_path_factory.mktemp("tiny_verify"), REQUESTS, N_LAYERS)


@pytest.fixture(autouse=True)
def one_thread():
    # a tiny model on a busy machine: one thread avoids minutes of thread hand-offs per edit
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def load(path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(path)


def reference_lga_ranking(model, tok, requests, k=1.0) -> list[int]:
    """LGA's layers best first: inside the fences by score (highest first), then the fenced-out ones."""
    from test_suggest_edit import reference_lga

    _, scores = reference_lga(model, tok, requests, k)
    q1, q3 = np.percentile(scores, [25, 75])
    inside = (scores >= q1 - k * (q3 - q1)) & (scores <= q3 + k * (q3 - q1))
    return sorted(range(len(scores)), key=lambda i: (not inside[i], -scores[i], i))


@torch.no_grad()
def answer_argmax(model, tok, prompt, answer) -> tuple[list[int], list[int]]:
    """(argmax, gold) at the answer's positions of `prompt + " " + answer` tokenised as one string."""
    n_prompt = len(tok(prompt)["input_ids"])
    ids = tok(prompt + " " + answer)["input_ids"]
    logits = model(input_ids=torch.tensor([ids])).logits[0]
    return logits[n_prompt - 1 : len(ids) - 1].argmax(-1).tolist(), ids[n_prompt:]


def accuracy(predicted, gold) -> float:
    return sum(p == g for p, g in zip(predicted, gold)) / len(gold)


def reference_metrics(model_dir, tok, raw, layer, templates) -> dict:
    """Edit one request at `layer` of a freshly loaded model (ΔW added by hand) and score it."""
    from goldenlayers.editing import get_editor

    model, _ = load(model_dir)
    model.requires_grad_(False)  # as goldenlayers.models.load_model leaves a model: v* differentiates δ only
    before, _ = answer_argmax(model, tok, raw["locality_prompt"], raw["locality_ground_truth"])
    spec = get_editor("r-rome")
    update = spec.edit(model, tok, [raw], spec.hparams_class.from_dict(STRONG), layer, templates)
    with torch.no_grad():
        model.model.layers[layer].mlp.down_proj.weight += update.delta()
    out = {"rewrite": accuracy(*answer_argmax(model, tok, raw["prompt"], raw["target_new"])),
           "rephrase": accuracy(*answer_argmax(model, tok, raw["rephrase_prompt"], raw["target_new"])),
           "locality": accuracy(answer_argmax(model, tok, raw["locality_prompt"], raw["locality_ground_truth"])[0],
                                before)}
    out["overall"] = sum(out.values()) / 3
    return out


def test_verify_recommends_the_measured_best_of_lgas_shortlist(tiny_dir, tmp_path, capsys):
    out = tmp_path / "s.json"
    hp = tmp_path / "hp.yaml"
    code = cli.main(["-q", "suggest", "--model", str(tiny_dir / "model"), "--requests", str(tiny_dir / "requests.json"),
                     "--threads", "1", "--selectors", "lga", "--verify", "3", "--verify-requests", "3",
                     "--hparams", str(tiny_dir / "strong.yaml"), "--json", str(out), "--write-hparams", str(hp)])
    assert code == 0
    printed = capsys.readouterr().out
    result = json.loads(out.read_text())
    model, tok = load(tiny_dir / "model")
    shortlist = reference_lga_ranking(model, tok, REQUESTS)[:3]
    assert result["verify"]["shortlist"] == shortlist
    used = result["verify"]["request_ids"]
    assert len(used) == 3 and len(set(used)) == 3
    # the CLI generated its templates from the model: edit the same way here, with those
    from goldenlayers.editing.templates import generate_context_templates

    templates = generate_context_templates(model, tok, STRONG["context_template_length_params"], seed=42)
    assert result["verify"]["n_templates"] == len(templates)
    expected = {}
    for layer in shortlist:
        per_request = [reference_metrics(tiny_dir / "model", tok, REQUESTS[int(i)], layer, templates) for i in used]
        expected[layer] = {m: sum(r[m] for r in per_request) / len(per_request)
                           for m in ("rewrite", "rephrase", "locality", "overall")}
        for metric, value in expected[layer].items():
            assert result["verify"]["measured"][str(layer)][metric] == pytest.approx(value, abs=1e-9), (layer, metric)
    best_value = max(v["overall"] for v in expected.values())
    best = next(layer for layer in shortlist if math.isclose(expected[layer]["overall"], best_value))
    assert result["layer"] == best and result["method"] == "verify"
    assert f"Recommended layer: {best} (the best overall measured over 3 edited requests" in printed
    assert f"{best} <- best" in printed and "Verified 3 shortlisted layers on 3 of the 4 requests" in printed
    assert yaml.safe_load(hp.read_text())["layers"] == [best]
    assert "(verify)" in hp.read_text().splitlines()[0]



def state(model) -> dict:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def assert_bit_identical(model, before: dict):
    after = model.state_dict()
    assert after.keys() == before.keys()
    changed = [name for name in before if not torch.equal(after[name], before[name])]
    assert changed == []


def test_verify_leaves_every_weight_bit_identical(tiny_dir):
    from goldenlayers import suggest_layer

    model, tok = load(tiny_dir / "model")
    model.requires_grad_(False)
    before = state(model)
    found = suggest_layer(model, tok, REQUESTS, selectors=["lga", "salem"], verify=3, verify_requests=2,
                          hparams=STRONG, templates=["{}", "So. {}"], progress=False)
    assert found.method == "verify" and len(found.verify["rows"]) == 3 * 2
    assert all(row["status"] == "ok" for row in found.verify["rows"])  # every edit was applied, then undone
    assert_bit_identical(model, before)


def test_an_edit_interrupted_while_in_the_weights_is_undone(tiny_dir, monkeypatch):
    from goldenlayers import faults, suggest_layer

    model, tok = load(tiny_dir / "model")
    model.requires_grad_(False)
    before = state(model)
    monkeypatch.setattr(faults, "_reached", {})
    # the 3rd edit raises after it was added to the weights, before its evaluation and restore
    monkeypatch.setenv(faults.FAULT_ENV, "suggest_verify_edit@3:raise")
    with pytest.raises(faults.FaultInjected):
        suggest_layer(model, tok, REQUESTS, selectors=["lga"], verify=2, verify_requests=2, hparams=STRONG,
                      templates=["{}", "So. {}"], progress=False)
    assert faults._reached["suggest_verify_edit"] == 3
    assert_bit_identical(model, before)


@pytest.mark.parametrize("choice, method", [
    ([], "verify"),  # the study's default: verify (docs/findings.md, "Across models and datasets")
    (["--selectors", "lga,salem", "--verify", "3", "--verify-requests", "3"], "verify"),
    (["--verify", "0"], "salem"),  # no edits: the evidence file's zero-edit default selector
], ids=["default", "verify", "no-edits"])
def test_edit_layer_auto_makes_suggests_choice(tiny_dir, tmp_path, capsys, choice, method):
    base = ["--model", str(tiny_dir / "model"), "--requests", str(tiny_dir / "requests.json"), "--threads", "1",
            "--hparams", str(tiny_dir / "strong.yaml"), *choice]
    assert cli.main(["-q", "suggest", *base, "--json", str(tmp_path / "s.json")]) == 0
    suggested = json.loads((tmp_path / "s.json").read_text())
    assert cli.main(["-q", "edit", *base, "--layer", "auto", "--out", str(tmp_path / "edited")]) == 0
    printed = capsys.readouterr().out
    report = json.loads((tmp_path / "edited" / "report.json").read_text())
    assert report["layer"] == suggested["layer"]
    assert report["layer_source"] == suggested["method"] == method
    if "--verify-requests" in choice:  # the measured best is not LGA's own pick here: following LGA would fail
        assert suggested["layer"] != suggested["picks"]["lga"]
        assert report["suggestion"]["verify"]["measured"] == suggested["verify"]["measured"]
    assert f"Recommended layer: {suggested['layer']} (" in printed and "Study evidence for" in printed
    model, _ = load(tiny_dir / "model")
    edited, _ = load(tmp_path / "edited")
    name = f"model.layers.{suggested['layer']}.mlp.down_proj.weight"
    assert not torch.equal(edited.state_dict()[name], model.state_dict()[name])


# ---------------------------------------------------------------------------------------------------------------
# the study evidence file and its line
# ---------------------------------------------------------------------------------------------------------------
def findings_rows(kind: str) -> dict:
    """The overall rows of every Table 16 (kind "table16": {(model, dataset, selector label): (mean regret, CI over
    facts low, high)}) or frontier table ("frontier": the same, keyed by the setting's label) in docs/findings.md."""
    rows = {}
    for line in (REPO / "docs" / "findings.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if kind == "table16" and len(cells) == 16 and cells[4] == "overall" and re.fullmatch(r"[0-9.]+", cells[5]):
            rows[(cells[0], cells[1], cells[3])] = (float(cells[5]), float(cells[8]), float(cells[9]))
        if kind == "frontier" and len(cells) == 14 and cells[3] == "overall" and re.fullmatch(r"[0-9.]+", cells[8]):
            rows[(cells[0], cells[1], cells[4])] = (float(cells[8]), float(cells[9]), float(cells[10]))
    return rows


LABELS = {"lga": "LGA", "lga_kprime": "LGA(K')", "cma": "CMA", "salem": "SaLEM", "bf": "BF",
          "random": "Random (1 layer)", "consensus": "Consensus"}


def frontier_label(cell: dict) -> str:
    """The frontier table's label of an evidence cell's setting, written out independently of
    analysis.frontier.setting_label: the pipeline's verify (k=3, m=5, overall) is "Verify (...)", the extra
    settings of the draws are "verify(...)", BF on m proxy facts "bf(m=...)"."""
    s = cell["settings"]
    if cell["selector"] == "verify":
        name = "Verify " if (s["k"], s["m"], s["metric"]) == (3, 5, "overall") else "verify"
        return f"{name}(k={s['k']},m={s['m']},{s['metric']})"
    if cell["selector"] == "bf" and s:
        return f"bf(m={s['m']})"
    return LABELS[cell["selector"]]


def test_the_evidence_file_holds_findings_numbers_and_no_others():
    """A (model, dataset) whose run has a frontier table in findings.md: every overall row of it, and nothing else;
    a cell that ran before the frontier existed (an own-data run not redone yet): Table 16's five selectors."""
    from goldenlayers.suggest import study_evidence

    doc = study_evidence()
    table, frontier = findings_rows("table16"), findings_rows("frontier")
    keys = {(c["model"], c["dataset"]) for c in doc["cells"]}
    assert keys == {(m, d) for m in ("smollm2-135m", "gemma3-270m") for d in ("default", "counterfact")}
    with_frontier = {(m, d) for m, d, _ in frontier}
    assert {("smollm2-135m", "counterfact"), ("gemma3-270m", "counterfact")} <= with_frontier
    for model, dataset in sorted(keys):
        cells = [c for c in doc["cells"] if (c["model"], c["dataset"]) == (model, dataset)]
        held = {(model, dataset, frontier_label(c)): (c["mean_regret"], *c["ci_over_facts"]) for c in cells}
        if (model, dataset) in with_frontier:
            expected = {k: v for k, v in frontier.items() if k[:2] == (model, dataset)}
            assert len(expected) == 20 and held == expected, (model, dataset)
        else:
            assert len(cells) == 5 and held == {k: table[k] for k in held}, (model, dataset)


def test_findings_side_by_side_table_quotes_the_evidence_file():
    """The one table in docs/findings.md that is typed, not spliced (the four cells side by side), against the
    evidence file's numbers, rounded half up to three decimals as the doc prints them."""
    from goldenlayers.suggest import _three, study_evidence

    doc = study_evidence()
    text = (REPO / "docs" / "findings.md").read_text()
    part = text[text.index("## Across models and datasets"):]
    columns = [("smollm2-135m", "default"), ("gemma3-270m", "default"), ("smollm2-135m", "counterfact"),
               ("gemma3-270m", "counterfact")]
    rows = {"LGA": ("lga", {}), "CMA": ("cma", {}), "SaLEM": ("salem", {}), "Random (1 layer)": ("random", {}),
            "BF (full proxy)": ("bf", {}), "verify (k=3, m=5, by overall)": ("verify", doc["default_verify"])}
    checked = 0
    for line in part.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 6 or cells[0] not in rows:
            continue
        selector, settings = rows[cells[0]]
        for (model, dataset), shown in zip(columns, cells[2:]):
            cell = [c for c in doc["cells"] if (c["model"], c["dataset"], c["selector"], c["metric"]) ==
                    (model, dataset, selector, doc["metric"]) and c["settings"] == settings]
            if shown == "not run":
                assert not cell or cell[0]["mean_regret"] is None, (cells[0], model, dataset)
                continue
            low, high = cell[0]["ci_over_facts"]
            assert shown == f"{_three(cell[0]['mean_regret'])} [{_three(low)}, {_three(high)}]", (cells[0], model,
                                                                                              dataset)
            checked += 1
    measured_verify = {(c["model"], c["dataset"]) for c in doc["cells"] if c["selector"] == "verify"
                       and c["settings"] == doc["default_verify"] and c["metric"] == doc["metric"]}
    assert checked == 5 * 4 + len(measured_verify)  # a measured cell is never shown as "not run"


def test_the_defaults_follow_the_frontier_across_datasets():
    """The evidence file's defaults are what its cells support, recomputed here from the cells: the default verify
    setting is within the best setting's CI over facts (its upper end) in every (model, dataset) where it was
    measured, at <= 20 % of BF's edits, and measured on both datasets; no zero-edit selector is; the zero-edit
    default is the zero-edit selector with the smallest largest regret over every cell."""
    from goldenlayers.suggest import study_evidence

    doc = study_evidence()
    cells = [c for c in doc["cells"] if c["mean_regret"] is not None and c["metric"] == doc["metric"]]
    groups = {}
    for c in cells:
        groups.setdefault((c["model"], c["dataset"]), []).append(c)

    def within_everywhere(selector, settings):
        seen = []
        for key, group in groups.items():
            best = min(group, key=lambda c: c["mean_regret"])
            mine = [c for c in group if c["selector"] == selector and c["settings"] == settings]
            if mine:
                seen.append(key[1])
                bf = max(c.get("edits", 0) for c in group if c["selector"] == "bf")
                if mine[0]["mean_regret"] > best["ci_over_facts"][1] + 1e-9 or mine[0].get("edits", 0) > 0.2 * bf:
                    return False
        return set(seen) >= {"counterfact"}

    dv = doc["default_verify"]
    assert within_everywhere("verify", dv)
    zero_edit = ["lga", "cma", "salem"]
    assert not any(within_everywhere(s, {}) for s in zero_edit)
    worst = {s: max(c["mean_regret"] for c in cells if c["selector"] == s and c["settings"] == {})
             for s in zero_edit}
    assert doc["default_selector"] == min(worst, key=worst.get)


def test_every_recommendation_prints_the_studys_line(tiny_dir, capsys):
    assert cli.main(["-q", "suggest", "--model", str(tiny_dir / "model"), "--requests",
                     str(tiny_dir / "requests.json"), "--threads", "1"]) == 0
    printed = capsys.readouterr().out.splitlines()
    # written out from docs/findings.md: the frontier rows of the default verify setting and Random's
    assert ("Study evidence for Verify (k = 3, m = 5, metric = overall), mean overall regret with its 95 % CI over "
            "facts: own edit data: SmolLM2-135M 0.031 [0.005, 0.067] (random layer 0.126), Gemma-3-270M 0.023 "
            "[0.000, 0.083] (random layer 0.248); real Counterfact: SmolLM2-135M 0.037 [0.003, 0.080] (random layer "
            "0.089), Gemma-3-270M 0.054 [0.010, 0.125] (random layer 0.155)") in printed


def test_the_defaults_are_one_data_edit(tiny_dir, tmp_path, monkeypatch):
    from goldenlayers import suggest
    from goldenlayers.suggest import evidence_path, suggest_layer

    model, tok = load(tiny_dir / "model")
    # no edits asked for: the shipped file's zero-edit default, SaLEM, with its line
    found = suggest_layer(model, tok, REQUESTS, verify=0, progress=False)
    assert found.method == "salem" and found.layer == found.picks["salem"] != found.picks["lga"]
    assert found.summary().startswith(f"Recommended layer: {found.picks['salem']} (SaLEM over 4 requests, the "
                                      "default selector")
    assert found.evidence.startswith("Study evidence for SaLEM, ")
    assert "Gemma-3-270M 0.028 [0.000, 0.114]" in found.evidence

    doc = json.loads(evidence_path().read_text())
    moved = tmp_path / "evidence.json"
    monkeypatch.setattr(suggest, "evidence_path", lambda: moved)
    # a file without a default verify setting makes the zero-edit pick the default; its selector is one field
    moved.write_text(json.dumps({**doc, "default_verify": None, "default_selector": "lga"}))
    found = suggest_layer(model, tok, REQUESTS, progress=False)
    assert found.method == "lga" and found.verify is None and found.layer == found.picks["lga"]
    # the default verify setting is one field too
    moved.write_text(json.dumps({**doc, "default_verify": {"k": 2, "m": 2, "metric": "rewrite"}}))
    found = suggest_layer(model, tok, REQUESTS, selectors=["lga", "salem"], hparams=STRONG, progress=False)
    assert found.method == "verify" and len(found.verify["shortlist"]) == 2
    assert len(found.verify["request_ids"]) == 2 and found.verify["metric"] == "rewrite"
    # a file that names no selector suggest can run, or a verify setting it cannot use, is refused, never
    # replaced by a silent default
    moved.write_text(json.dumps({**doc, "default_selector": "bogus"}))
    with pytest.raises(ValueError, match=f"{moved}: not a study evidence file: default_selector 'bogus'"):
        suggest_layer(model, tok, REQUESTS, progress=False)
    moved.write_text(json.dumps({**doc, "default_verify": {"k": 0, "m": 5, "metric": "overall"}}))
    with pytest.raises(ValueError, match="default_verify must be null or"):
        suggest_layer(model, tok, REQUESTS, progress=False)


@pytest.mark.parametrize("argv, message", [
    (["suggest", "--verify", "-1"], "--verify must be 0 (no edits) or a number of layers"),
    (["suggest", "--verify", "0", "--verify-requests", "2"], "do not go with --verify 0"),
    (["suggest", "--verify-requests", "0"], "--verify-requests must be at least 1"),  # the default K
    (["suggest", "--verify", "2", "--verify-requests", "0"], "--verify-requests must be at least 1"),
    (["suggest", "--verify", "2", "--verify-metric", "portability"], "none of the requests has a portability"),
    (["edit", "--layer", "2", "--verify", "3", "--out", "OUT"], "--verify choose the layer: only with --layer auto"),
])
def test_bad_verify_inputs_fail_before_the_model_loads(tiny_dir, tmp_path, capsys, monkeypatch, argv, message):
    from goldenlayers import suggest

    def must_not_load(*args, **kwargs):
        raise AssertionError("the model loaded before the flags were checked")

    monkeypatch.setattr(suggest, "open_model", must_not_load)
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in argv]
    base = ["--model", str(tiny_dir / "model"), "--requests", str(tiny_dir / "requests.json"), "--threads", "1"]
    assert cli.main(["-q", argv[0], *base, *argv[1:]]) == 2
    assert message in capsys.readouterr().err


def test_a_broken_evidence_file_stops_suggest_but_no_pipeline_stage(tmp_path, monkeypatch, capsys):
    from goldenlayers import suggest

    broken = tmp_path / "evidence.json"
    broken.write_text("{not json")
    monkeypatch.setattr(suggest, "evidence_path", lambda: broken)
    with pytest.raises(SystemExit) as done:  # the parsers (suggest's help included) still build
        cli.main(["check-config", "--help"])
    assert done.value.code == 0
    with pytest.raises(ValueError, match="cannot read the study evidence file"):
        suggest.study_evidence()
