"""The scripts that carry a run's numbers into docs/ and data: scripts/splice_tables.py (generated tables into
findings.md, rows of one model), scripts/write_evidence.py (the study evidence file `suggest` prints from) and
benchmarks/stage_cost.py (per-stage wall and CPU seconds)."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load(relative: str):
    spec = importlib.util.spec_from_file_location(Path(relative).stem, ROOT / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


splice_tables = load("scripts/splice_tables.py")
stage_cost = load("benchmarks/stage_cost.py")
write_evidence = load("scripts/write_evidence.py")

TABLE = """| Model | selector | regret |
| --- | --- | ---: |
| a-1 | LGA | 0.1000 |
| b-2 | LGA | 0.2000 |
| a-1 | CMA | 0.3000 |

Notes: CI over draws.
- a-1/default: a note of a-1
- b-2/default: a note of b-2
"""


@pytest.fixture
def root(tmp_path):
    report = tmp_path / "results/report/run"
    report.mkdir(parents=True)
    (report / "table16.md").write_text(TABLE)
    (report / "table16.provenance.json").write_text(json.dumps({"git_commit": "abcdef123456",
                                                                "config_hash": "0123456789abcdef"}))
    return tmp_path


def test_keep_model_rows_keeps_header_notes_and_only_that_model():
    out, kept = splice_tables.keep_model_rows(TABLE, "a-1")
    assert kept == 2
    assert "b-2" not in out and "0.1000" in out and "0.3000" in out
    assert out.startswith("| Model | selector | regret |\n| --- | --- | ---: |\n")
    assert "Notes: CI over draws." in out and "a note of a-1" in out and "a note of b-2" not in out


def test_splice_replaces_only_the_block_and_names_its_source(root):
    doc = root / "findings.md"
    doc.write_text("# F\nprose\n<!-- table: results/report/run/table16.md model=b-2 -->\nOLD NUMBERS\n"
                   "<!-- /table -->\nafter\n")
    assert splice_tables.main([str(doc), "--root", str(root), "--check"]) == 1  # stale before
    assert splice_tables.main([str(doc), "--root", str(root)]) == 0
    text = doc.read_text()
    assert "OLD NUMBERS" not in text and "0.2000" in text and "0.1000" not in text
    assert text.startswith("# F\nprose\n") and text.endswith("<!-- /table -->\nafter\n")
    assert "`results/report/run/table16.md` (config 0123456789ab, commit abcdef1)" in text
    assert splice_tables.main([str(doc), "--root", str(root), "--check"]) == 0  # idempotent


def test_splice_with_run_checks_only_that_runs_blocks(root):
    doc = root / "findings.md"
    # the second block's run was not rebuilt (its table is missing under root): --run run leaves it as it is
    doc.write_text("<!-- table: results/report/run/table16.md model=a-1 -->\nOLD\n<!-- /table -->\n"
                   "<!-- table: results/report/other/table16.md -->\nKEPT\n<!-- /table -->\n")
    assert splice_tables.main([str(doc), "--root", str(root), "--run", "run", "--check"]) == 1
    assert splice_tables.main([str(doc), "--root", str(root), "--run", "run"]) == 0
    text = doc.read_text()
    assert "OLD" not in text and "0.1000" in text and "KEPT" in text
    assert splice_tables.main([str(doc), "--root", str(root), "--run", "run", "--check"]) == 0
    with pytest.raises(SystemExit, match="other/table16.md does not exist"):
        splice_tables.main([str(doc), "--root", str(root), "--check"])
    with pytest.raises(SystemExit, match=r"has no block of run\(s\) \['nope'\]"):
        splice_tables.main([str(doc), "--root", str(root), "--run", "nope", "--check"])


def test_splice_refuses_a_missing_table_or_an_unknown_model(root):
    doc = root / "findings.md"
    doc.write_text("<!-- table: results/report/run/table99.md -->\n<!-- /table -->\n")
    with pytest.raises(SystemExit, match="table99.md does not exist"):
        splice_tables.main([str(doc), "--root", str(root)])
    doc.write_text("<!-- table: results/report/run/table16.md model=zzz -->\n<!-- /table -->\n")
    with pytest.raises(SystemExit, match="no row .* model 'zzz'"):
        splice_tables.main([str(doc), "--root", str(root)])


def write_tsv(path: Path, wall: float, cpu: float, rss: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
                    f"{wall}\t0:00:00\t{rss}\t1\t1\t1\t0\t0\t50\t{cpu}\n")


def test_stage_cost_sums_jobs_per_rule_and_model(tmp_path):
    write_tsv(tmp_path / "sweep_layer/m1/default/r-rome/layer_0.tsv", 100.0, 90.0, 800)
    write_tsv(tmp_path / "sweep_layer/m1/default/r-rome/layer_1.tsv", 50.5, 40.25, 900)
    write_tsv(tmp_path / "sweep_layer/m2/default/r-rome/layer_0.tsv", 7.0, 6.0, 500)
    write_tsv(tmp_path / "prepare_model/m1.tsv", 3.0, 2.0, 100)
    write_tsv(tmp_path / "plot_figure3.tsv", 1.0, 1.0, 50)
    rows = {(r["stage"], r["model"]): r for r in stage_cost.stage_costs(tmp_path, ["m1", "m2"])}
    assert rows[("sweep_layer", "m1")] == {"stage": "sweep_layer", "model": "m1", "jobs": 2, "wall_s": 150.5,
                                           "cpu_s": 130.25, "peak_rss_mb": 900}
    assert rows[("sweep_layer", "m2")]["jobs"] == 1 and rows[("prepare_model", "m1")]["cpu_s"] == 2.0
    assert rows[("plot_figure3", "-")]["wall_s"] == 1.0
    markdown = stage_cost.to_markdown(list(rows.values()))
    assert "| **total** | m1 | 3 | 154 | 132 | |" in markdown


@pytest.mark.parametrize("second_end", [True, False])
def test_splice_names_a_block_whose_end_marker_is_missing(root, second_end):
    doc = root / "findings.md"
    # the first block lost its end marker: without the check, the second block's end closed it
    doc.write_text("# F\n<!-- table: results/report/run/table16.md model=a-1 -->\nOLD\n\n"
                   "<!-- table: results/report/run/table16.md model=b-2 -->\nOLD\n"
                   + ("<!-- /table -->\n" if second_end else ""))
    with pytest.raises(SystemExit, match="table16.md at line 2 has no end marker <!-- /table -->"):
        splice_tables.main([str(doc), "--root", str(root)])


def evidence_run():
    """A resampling run of one cell by hand: 4 draws, LGA's regret .1 .2 .3 .4, verify(k=2,m=3,overall) 0 0 0 .2,
    BF on 5 facts .05 each draw; in the bootstrap over facts LGA's replicates differ (.1, .3), so its CI is wide."""
    import pandas as pd

    from goldenlayers.analysis import resampling

    settings = resampling.frontier_settings({"verify": [{"k": 2, "m": 3}], "bf_facts": [5], "metrics": ["overall"]})
    regrets = {"lga": [.1, .2, .3, .4], "random": [.5, .5, .5, .5], "verify(k=2,m=3,overall)": [0, 0, 0, .2],
               "bf(m=5)": [.05] * 4}

    def row(draw, name, regret, replicate=None):
        r = {"draw": draw, "n_proxy": 10, "selector": name, "layer": 1, "metric": "overall", "value": .5,
             "golden_layer": 1, "golden_value": .5, "regret": regret, "hit": regret == 0, "p": 1.0}
        return r if replicate is None else {**r, "replicate": replicate}

    draws = pd.DataFrame([row(d, n, v[d]) for n, v in regrets.items() for d in range(4)])
    facts = pd.DataFrame([row(d, n, v[d] if n != "lga" else (.1 if rep == 0 else .3), rep)
                          for rep in range(2) for n, v in regrets.items() for d in range(2)])
    summary = {"n_samples": 40, "n_proxy": 10, "candidate_layers": list(range(12)), "seed": 0,
               "settings": {"lga": {"selector": "lga", "params": {"tukey_k": 1.0}},
                            "random": {"selector": "random", "params": {}}, **settings}}
    return {("m-1", "cf", "r-rome"): {"summary": summary, "draws": draws, "fact_draws": facts}}


def test_write_evidence_keys_each_frontier_setting_as_suggest_passes_it(tmp_path):
    from goldenlayers.suggest import evidence_line, study_evidence

    cells = {(c["selector"], json.dumps(c["settings"])): c
             for c in write_evidence.cells_of(evidence_run(), "overall", "a table")}
    lga = cells[("lga", "{}")]
    assert lga["mean_regret"] == 0.25 and lga["facts"] == 40 and lga["proxy"] == 10 and lga["draws"] == 4
    low, high = lga["ci_over_facts"]
    assert low < 0.25 < high and [low, high] == [round(low, 4), round(high, 4)]  # spread by the replicates
    verify = cells[("verify", json.dumps({"k": 2, "m": 3, "metric": "overall"}))]
    assert verify["mean_regret"] == 0.05 and verify["edits"] == 6
    assert cells[("bf", json.dumps({"m": 5}))]["edits"] == 5 * 12

    doc = {"schema": 1, "default_selector": "lga", "metric": "overall", "models": {"m-1": "M 1", "m-2": "M 2"},
           "datasets": {"own": "own data", "cf": "real Counterfact"}, "reference_selector": "random",
           "cells": [{"model": "m-2", "dataset": "own", "editor": "r-rome", "selector": "lga", "settings": {},
                      "metric": "overall", "mean_regret": 0.5, "ci_over_facts": [0.4, 0.6]},
                     {"model": "m-1", "dataset": "cf", "editor": "r-rome", "selector": "lga", "settings": {},
                      "metric": "overall", "mean_regret": None, "ci_over_facts": None}]}
    merged = write_evidence.merge(doc, list(cells.values()))
    assert merged["cells"][0] == doc["cells"][0] and merged["cells"][1] is lga  # kept; replaced in place
    assert len(merged["cells"]) == 1 + len(cells)
    path = tmp_path / "evidence.json"
    write_evidence.write(merged, path)
    line = evidence_line("verify", {"k": 2, "m": 3, "metric": "overall"}, evidence=study_evidence(path))
    assert "own data: not yet measured; real Counterfact: M 1 0.050 [" in line and "(random layer 0.500)" in line
    assert line.endswith("(random layer 0.500), M 2 not yet measured")  # a model the study has not run is named
