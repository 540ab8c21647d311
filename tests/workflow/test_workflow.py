"""The whole Snakemake workflow on a tiny random model, in a temporary directory (no network, no real model)."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from helpers import REPO, TINY_RECORDS, snakemake, workflow_copy, write_tiny_project


@pytest.mark.slow
def test_workflow_end_to_end_on_a_tiny_model(tmp_path):
    config = write_tiny_project(tmp_path)
    run = snakemake(tmp_path, config)
    assert run.returncode == 0, run.stderr[-4000:]
    results = tmp_path / "results"

    sweep = pd.read_parquet(results / "tiny/toy/aggregate/r-rome/sweep.parquet")
    assert sorted(sweep["layer"].unique()) == [0, 1, 2]
    assert len(sweep) == 3 * len(TINY_RECORDS)
    assert set(sweep["split"]) == {"proxy", "test"}
    for metric in ("rewrite", "rephrase", "locality", "portability", "fluency"):
        assert sweep[metric].between(0, 1).all(), metric

    lga = json.loads((results / "tiny/toy/selection/lga.json").read_text())
    assert lga["chosen_layer"] in (0, 1, 2) and len(lga["scores"]) == 3
    summary = json.loads((results / "tiny/toy/aggregate/r-rome/summary.json").read_text())
    assert summary["selected"]["lga"]["layer"] == lga["chosen_layer"]

    for name in ("table1.csv", "table1.md", "tables3_8.csv", "tables3_8.md", "table2.csv", "table14.md",
                 "table15.csv", "figure4.png", "figure1.png", "figure1.pdf", "figure2.png", "figure2.pdf"):
        assert (results / "report" / "tiny" / name).stat().st_size > 0, name
    table = pd.read_csv(results / "report/tiny/table1.csv")
    assert "toy" in table.columns
    table11 = pd.read_csv(results / "report/tiny/table11.csv")
    assert list(table11["Selector"]) == ["LGA", "SaLEM", "CMA"]
    seq = json.loads((results / "tiny/toy/aggregate_sequential/r-rome/summary.json").read_text())
    assert table11.loc[0, "rewrite"] == seq["selected"]["lga"]["test"]["rewrite"]
    table2 = pd.read_csv(results / "report/tiny/table2.csv")
    assert list(table2["Selector"]) == ["LGA", "SaLEM", "CMA"]
    assert table2.loc[0, "Layer"] == lga["chosen_layer"]
    assert table2.loc[0, "rewrite"] == summary["selected"]["lga"]["test"]["rewrite"]

    # Tables 12-13 from the appendix fixtures: selection on the proxy split, R-ROME at each selector's layer
    appendix = snakemake(tmp_path, config, "table12", "table13")
    assert appendix.returncode == 0, appendix.stderr[-4000:]
    assert not (results / "tiny/peak/sweep").exists()  # no per-layer sweep for an appendix dataset
    table12 = pd.read_csv(results / "report/tiny/table12.csv")
    assert list(table12["Method"]) == ["CMA", "SaLEM", "LGA"]
    peak_lga = json.loads((results / "tiny/peak/selection/lga.json").read_text())
    assert table12.loc[2, "Layer"] == peak_lga["chosen_layer"] and peak_lga["params"]["tukey_k"] == 0.5
    assert table12[["SRS", "SR-1", "GSR", "LSR"]].apply(lambda c: c.between(0, 1)).all().all()
    assert (table12["n_test"] == 3).all()  # 5 valid PeakCF records, 2 in the proxy split
    table13 = pd.read_csv(results / "report/tiny/table13.csv")
    assert list(table13["Method"]) == ["CMA", "SaLEM", "LGA"]
    assert table13["BERTScore"].isna().all() and table13["MMLU"].between(0, 1).all()
    assert table13[["BLEU", "ROUGE-1", "ROUGE-2", "ROUGE-L"]].apply(lambda c: c.between(0, 1)).all().all()
    md13 = (results / "report/tiny/table13.md").read_text()
    assert "skipped" in md13 and "absent-bertscore-model" in md13

    again = snakemake(tmp_path, config, "-n")
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr

    # a changed Tukey k reruns LGA and what reads it, not the gradients or the sweeps
    changed = yaml.safe_load(config.read_text())
    changed["lga"]["tukey_k"] = 0.5
    config_k = tmp_path / "config_k.yaml"
    config_k.write_text(yaml.safe_dump(changed))
    plan = snakemake(tmp_path, config_k, "-n", "--rerun-triggers", "params")
    rules = set(re.findall(r"^rule (\w+):", plan.stdout, flags=re.M))
    assert "score_lga" in rules and "aggregate_sweep" in rules
    assert not rules & {"prepare_model", "filter_dataset", "extract_gradients", "sweep_layer"}, rules

    report = snakemake(tmp_path, config, "--report", str(tmp_path / "report.html"))
    assert report.returncode == 0, report.stderr[-3000:]
    html = (tmp_path / "report.html").read_text(errors="replace")
    assert "table1.csv" in html and "figure2.png" in html
    assert "ERROR" not in report.stdout + report.stderr

    # determinism: a second run from scratch gives byte-identical tables (times live in benchmark files only)
    second = tmp_path / "second"
    second.mkdir()
    shutil.copy(config, second / "config.yaml")
    rerun = snakemake(second, second / "config.yaml")
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    for name in ("table1.csv", "tables3_8.csv", "table2.csv", "table11.csv", "table14.csv", "table15.csv"):
        first_run, second_run = results / "report/tiny" / name, second / "results/report/tiny" / name
        assert first_run.read_bytes() == second_run.read_bytes(), name


@pytest.mark.slow
def test_chosen_layers_outside_the_grid_are_swept_too(tmp_path):
    config = write_tiny_project(tmp_path)
    cfg = yaml.safe_load(config.read_text())
    cfg.update({"layers": [2], "fluency": False, "sequential": {"enabled": False, "n_edits": 2, "seed": 42},
                "resampling": {"draws": 20, "curve_draws": 5, "proxy_sizes": [1, 2, 3], "seed": 1},
                # verify shortlists 2 of the tiny model's 3 layers (and edits its first 5 proxy facts at each)
                "selector_params": {"shortlist_k": 2}})
    config.write_text(yaml.safe_dump(cfg))
    # (that only the grid is known before the plan is checked without Snakemake: tests/plan/test_files.py)
    run = snakemake(tmp_path, config)
    assert run.returncode == 0, run.stderr[-4000:]
    results = tmp_path / "results/tiny/toy"

    chosen = {m: json.loads((results / f"selection/{m}.json").read_text()) for m in ("lga", "lga_kprime", "salem",
                                                                                        "cma")}
    for record in chosen.values():
        assert len(record["scores"]) == 3  # every selector scores all of the model's layers
    plan = json.loads((results / "sweep_plan.json").read_text())
    layers = {record["chosen_layer"] for record in chosen.values()}
    # verify's shortlist joins the plan like the chosen layers, and nothing else does
    verify = json.loads((results / "selection/verify.json").read_text())
    assert plan["shortlist"] == verify["shortlist"] and len(verify["shortlist"]) == 2
    assert plan["layers"] == sorted({2} | layers | set(verify["shortlist"]))
    assert plan["added"], "the seeded tiny run chooses layer 0, outside the grid [2]"
    split = json.loads((results / "split.json").read_text())
    assert verify["facts"] == split["proxy"][:5] and verify["edits"] == 2 * len(verify["facts"])
    assert verify["chosen_layer"] in verify["shortlist"]
    consensus = json.loads((results / "selection/consensus.json").read_text())
    assert consensus["rankings_from"] == ["lga", "cma", "salem"]
    sweep = pd.read_parquet(results / "aggregate/r-rome/sweep.parquet")
    assert sorted(sweep["layer"].unique()) == plan["layers"]
    summary = json.loads((results / "aggregate/r-rome/summary.json").read_text())
    for method, record in {**chosen, "verify": verify, "consensus": consensus}.items():
        assert summary["selected"][method]["layer"] == record["chosen_layer"]
        assert summary["selected"][method]["test"]["rewrite"] is not None  # every choice has test metrics

    resampled = json.loads((results / "resampling/r-rome/summary.json").read_text())
    assert resampled["swept_layers"] == plan["layers"] and resampled["curve_sizes"] == [1, 2, 3]
    table16 = pd.read_csv(tmp_path / "results/report/tiny/table16.csv")
    assert {"LGA", "SaLEM", "CMA", "BF", "Verify", "Consensus"} <= set(table16["Selector"])
    # the config's frontier reached the draws (verify at k=2, m=3 is one of config/config.yaml's settings)
    assert resampled["frontier"]["verify"][0] == {"k": 2, "m": 3}
    assert f"swept layers {plan['layers']}" in (tmp_path / "results/report/tiny/table16.md").read_text()
    # the draws choose among the grid alone: the added layers would favour the selectors that chose them
    assert resampled["candidate_layers"] == plan["grid"] and resampled["fact_bootstrap"]["replicates"] > 0
    table17 = pd.read_csv(tmp_path / "results/report/tiny/table17.csv")
    assert {"LGA", "Random"} == set(table17["Versus"]) and table17["t-test p"].notna().any()
    for name in ("figure5.png", "figure6.png", "table1_by_metric.csv", "figure3.png", "table17.md", "figure7.png"):
        assert (tmp_path / "results/report/tiny" / name).stat().st_size > 0, name
    gradients = pd.read_parquet(results / "gradients/samples.parquet")
    assert set(gradients["sample_id"]) == set(sweep["sample_id"])  # evidence for every swept sample


@pytest.mark.slow
def test_default_config_dry_runs(tmp_path):
    root = workflow_copy(tmp_path)
    # finished outputs of an earlier run in the repository must not change what a fresh copy plans
    run = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-p", "--cores", "2"], cwd=root, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "sweep_layer" in run.stdout
    assert "--num-layers 30" in run.stdout  # the config's num_layers is checked where the model is prepared
    assert "results/report/default/table1.csv" in run.stdout
    # a second config's own report folder (run_name): tests/plan/test_study.py and the paper config's dry run
    chunked = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "2", "--config", "sweep_chunks=3"],
                             cwd=root, capture_output=True, text=True, timeout=300)
    assert chunked.returncode == 0, chunked.stderr[-3000:]
    counts = dict(re.findall(r"^(sweep_layer|merge_layer_chunks)\s+(\d+)$", chunked.stdout, flags=re.M))
    n_layers = len(yaml.safe_load((REPO / "config/config.yaml").read_text())["layers"])
    assert counts == {"sweep_layer": str(3 * n_layers), "merge_layer_chunks": str(n_layers)}


@pytest.mark.slow
def test_workflow_lints_and_is_formatted(tmp_path):
    lint = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=workflow_copy(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert lint.returncode == 0 and "good condition" in lint.stdout + lint.stderr, lint.stdout[-3000:]
    fmt = subprocess.run(["snakefmt", "--check", "Snakefile", "workflow"], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert fmt.returncode == 0, fmt.stderr[-3000:]


def report_tables(report: Path) -> dict[str, bytes]:
    """Every table of a run's report folder (CSV and Markdown), but the wall times: Figure 3's tables, and the
    frontier's measured seconds of the zero-edit selectors (its CSV is kept without that column)."""
    tables = {p.name: p.read_bytes() for p in sorted(report.glob("*")) if p.suffix in (".csv", ".md")
              and not p.name.startswith(("figure3", "frontier"))}
    if (report / "frontier.csv").exists():
        frontier = pd.read_csv(report / "frontier.csv")
        tables["frontier.csv"] = frontier.drop(columns=["Seconds (zero-edit)"]).to_csv(index=False).encode()
    return tables


@pytest.mark.slow
def test_a_new_split_reruns_no_sweep_and_equals_a_run_from_scratch(tmp_path):
    # the sweeps are keyed by the sample set; the split is joined where it is used (BF, the aggregates)
    first = tmp_path / "first"
    first.mkdir()
    config = write_tiny_project(first)
    cfg = yaml.safe_load(config.read_text())
    cfg.update({"fluency": False, "sequential": {"enabled": False, "n_edits": 2, "seed": 42},
                "resampling": {"draws": 10, "curve_draws": 4, "proxy_sizes": [1, 2], "seed": 1}})
    config.write_text(yaml.safe_dump(cfg))
    run = snakemake(first, config)
    assert run.returncode == 0, run.stderr[-4000:]
    sweeps = {p: p.stat().st_mtime_ns for p in (first / "results/tiny/toy/sweep/r-rome").glob("*.parquet")}
    assert len(sweeps) == 3

    cfg["split"]["proxy_fraction"] = 0.34  # 2 of the 6 samples in the proxy split instead of 3
    config.write_text(yaml.safe_dump(cfg))
    plan = snakemake(first, config, "-n")
    assert plan.returncode == 0, plan.stderr[-3000:]
    rules = set(re.findall(r"^(?:rule|checkpoint) (\w+):", plan.stdout, flags=re.M))
    assert "split_dataset" in rules and "aggregate_sweep" in rules and "sweep_layer" not in rules, rules
    rerun = snakemake(first, config)
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    assert {p: p.stat().st_mtime_ns for p in sweeps} == sweeps  # not one sweep file rewritten
    split = json.loads((first / "results/tiny/toy/split.json").read_text())
    assert len(split["proxy"]) == 2

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    config_scratch = write_tiny_project(scratch)
    config_scratch.write_text(yaml.safe_dump({**cfg, **{k: v for k, v in yaml.safe_load(
        config_scratch.read_text()).items() if k in ("models", "datasets", "hparams_dir", "appendix")}}))
    fresh = snakemake(scratch, config_scratch)
    assert fresh.returncode == 0, fresh.stderr[-4000:]
    after, from_scratch = (report_tables(root / "results/report/tiny") for root in (first, scratch))
    assert {"table1.csv", "table2.md", "table16.csv"} <= set(after)
    assert after == from_scratch
