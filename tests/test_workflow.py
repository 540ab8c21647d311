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

from conftest import build_tiny_llama, build_tiny_tokenizer

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"

TINY_RECORDS = [
    {"case_id": i, "relation": rel, "subject": subj, "prompt": prompt, "ground_truth": gt, "target_new": new,
     "rephrase_prompt": rephrase, "locality": {"Relation_Specificity": [{"prompt": loc, "ground_truth": loc_gt}]},
     "portability": {"Reasoning": [{"prompt": port, "ground_truth": port_gt}]}}
    for i, (rel, subj, prompt, gt, new, rephrase, loc, loc_gt, port, port_gt) in enumerate([
        ("capital", "France", "The capital of France is", "Paris", "Rome", "France's capital is",
         "The capital of Germany is", "Berlin", "The capital of France is in", "Italy"),
        ("capital", "Germany", "The capital of Germany is", "Berlin", "Paris", "Germany's capital is",
         "The capital of Italy is", "Rome", "The capital of Germany is in", "France"),
        ("capital", "Italy", "The capital of Italy is", "Rome", "Berlin", "Italy's capital is",
         "The capital of France is", "Paris", "The capital of Italy is in", "Germany"),
        ("language", "Spain", "The official language of Spain is", "Spanish", "French",
         "Spain's official language is", "The capital of France is", "Paris", "People in Spain speak", "French"),
        ("sport", "Michael Jordan", "Michael Jordan plays", "basketball", "guitar", "Michael Jordan's sport is",
         "Toko Yasuda plays the", "guitar", "Michael Jordan is famous for his", "guitar"),
        ("instrument", "Toko Yasuda", "Toko Yasuda plays the", "guitar", "basketball",
         "The instrument of Toko Yasuda is the", "Michael Jordan plays", "basketball",
         "Toko Yasuda is famous for", "basketball"),
    ])
]


def write_tiny_project(root: Path) -> Path:
    tok = build_tiny_tokenizer()
    model = build_tiny_llama(tok, layers=3)
    model.save_pretrained(root / "tiny-model")
    tok.save_pretrained(root / "tiny-model")
    (root / "tiny.json").write_text(json.dumps(TINY_RECORDS))
    hparams = {"alg_name": "R-ROME", "layers": [0], "v_num_grad_steps": 4, "v_lr": "5e-1", "v_weight_decay": 0.0,
               "clamp_norm_factor": 4, "kl_factor": 0.0625, "mom2_adjustment": False,
               "context_template_length_params": [[3, 1]], "max_target_tokens": 12}
    (root / "hparams" / "r-rome").mkdir(parents=True)
    (root / "hparams" / "r-rome" / "tiny.yaml").write_text(yaml.safe_dump(hparams))
    config = {
        "models": {"tiny": {"source": str(root / "tiny-model"), "num_layers": 3, "dtype": "float32",
                            "device": "cpu"}},
        "datasets": {
            "toy": {"source": str(root / "tiny.json"), "keep_unknown": True},
            # the appendix settings (Tables 12-13), on fixtures written in PeakCF's and UnKE's formats
            "peak": {"source": str(FIXTURES / "peakcf/PEAK_counter.json"), "on_invalid": "skip",
                     "keep_unknown": True, "setting": "composite", "tukey_k": 0.5},
            "unke": {"source": str(FIXTURES / "unke/final_data_v3.json"), "on_invalid": "skip",
                     "keep_unknown": True, "setting": "unstructured", "tukey_k": 0.5},
        },
        "appendix": {"max_new_tokens": 6, "bertscore_model": str(root / "absent-bertscore-model"),
                     "bertscore_layers": 2, "mmlu_file": str(FIXTURES / "mmlu/mmlu_tiny.json"), "mmlu_questions": 4},
        "editors": ["r-rome"],
        "hparams_dir": str(root / "hparams"),
        "layers": "all",
        "split": {"proxy_fraction": 0.5, "seed": 42},
        "lga": {"tukey_k": 1.0},
        "fluency": True,
        "sequential": {"enabled": True, "n_edits": 2, "seed": 42},
        "metric": "rewrite",
        "run_name": "tiny",
    }
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def snakemake(root: Path, config: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(root),
           "--configfile", str(config), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


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


def workflow_copy(root: Path) -> Path:
    """The repository's Snakefile, rules and config in `root`, without its results/: a dry run there plans the
    default run from scratch whatever the repository's own results/ holds (issue #11, item 0)."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "environment.yml"):
        shutil.copy(REPO / name, root / name)
    for name in ("workflow", "config"):
        shutil.copytree(REPO / name, root / name)
    return root


@pytest.mark.slow
def test_chosen_layers_outside_the_grid_are_swept_too(tmp_path):
    config = write_tiny_project(tmp_path)
    cfg = yaml.safe_load(config.read_text())
    cfg.update({"layers": [2], "fluency": False, "sequential": {"enabled": False, "n_edits": 2, "seed": 42},
                "resampling": {"draws": 20, "curve_draws": 5, "proxy_sizes": [1, 2, 3], "seed": 1}})
    config.write_text(yaml.safe_dump(cfg))
    plan_only = snakemake(tmp_path, config, "-n")
    assert plan_only.returncode == 0, plan_only.stderr[-3000:]
    assert re.search(r"^sweep_layer\s+1$", plan_only.stdout, flags=re.M)  # only the grid is known before the plan
    run = snakemake(tmp_path, config)
    assert run.returncode == 0, run.stderr[-4000:]
    results = tmp_path / "results/tiny/toy"

    chosen = {m: json.loads((results / f"selection/{m}.json").read_text()) for m in ("lga", "lga_kprime", "salem",
                                                                                        "cma")}
    for record in chosen.values():
        assert len(record["scores"]) == 3  # every selector scores all of the model's layers
    plan = json.loads((results / "sweep_plan.json").read_text())
    layers = {record["chosen_layer"] for record in chosen.values()}
    assert plan["layers"] == sorted({2} | layers)
    assert plan["added"], "the seeded tiny run chooses layer 0, outside the grid [2]"
    sweep = pd.read_parquet(results / "aggregate/r-rome/sweep.parquet")
    assert sorted(sweep["layer"].unique()) == plan["layers"]
    summary = json.loads((results / "aggregate/r-rome/summary.json").read_text())
    for method, record in chosen.items():
        assert summary["selected"][method]["layer"] == record["chosen_layer"]
        assert summary["selected"][method]["test"]["rewrite"] is not None  # every choice has test metrics

    resampled = json.loads((results / "resampling/r-rome/summary.json").read_text())
    assert resampled["swept_layers"] == plan["layers"] and resampled["curve_sizes"] == [1, 2, 3]
    table16 = pd.read_csv(tmp_path / "results/report/tiny/table16.csv")
    assert {"LGA", "SaLEM", "CMA", "BF"} <= set(table16["Selector"])
    assert f"swept layers {plan['layers']}" in (tmp_path / "results/report/tiny/table16.md").read_text()
    # the draws choose among the grid alone: the added layers would favour the selectors that chose them
    assert resampled["candidate_layers"] == plan["grid"] and resampled["fact_bootstrap"]["replicates"] > 0
    table17 = pd.read_csv(tmp_path / "results/report/tiny/table17.csv")
    assert {"LGA", "Random"} == set(table17["Versus"]) and table17["t-test p"].notna().any()
    for name in ("figure5.png", "figure6.png", "table1_by_metric.csv", "figure3.png", "table17.md", "figure7.png"):
        assert (tmp_path / "results/report/tiny" / name).stat().st_size > 0, name
    gradients = pd.read_parquet(results / "gradients/samples.parquet")
    assert set(gradients["sample_id"]) == set(sweep["sample_id"])  # evidence for every swept sample


def test_default_config_dry_runs(tmp_path):
    root = workflow_copy(tmp_path)
    # finished outputs of an earlier run in the repository must not change what a fresh copy plans
    run = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-p", "--cores", "2"], cwd=root, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "sweep_layer" in run.stdout
    assert "--num-layers 30" in run.stdout  # the config's num_layers is checked where the model is prepared
    assert "results/report/default/table1.csv" in run.stdout
    # a second config (a held-out dataset) gets its own report folder instead of overwriting the default run's
    heldout = yaml.safe_load((REPO / "config/config.yaml").read_text())
    heldout["datasets"] = {"heldout": heldout["datasets"]["default"]}
    (root / "config" / "heldout.yaml").write_text(yaml.safe_dump(heldout))
    other = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "2", "--configfile",
                            "config/heldout.yaml"], cwd=root, capture_output=True, text=True, timeout=300)
    assert other.returncode == 0, other.stderr[-3000:]
    assert "results/report/heldout/table1.csv" in other.stdout and "results/report/default" not in other.stdout
    chunked = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "2", "--config", "sweep_chunks=3"],
                             cwd=root, capture_output=True, text=True, timeout=300)
    assert chunked.returncode == 0, chunked.stderr[-3000:]
    counts = dict(re.findall(r"^(sweep_layer|merge_layer_chunks)\s+(\d+)$", chunked.stdout, flags=re.M))
    n_layers = len(yaml.safe_load((REPO / "config/config.yaml").read_text())["layers"])
    assert counts == {"sweep_layer": str(3 * n_layers), "merge_layer_chunks": str(n_layers)}


def test_workflow_lints_and_is_formatted(tmp_path):
    lint = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=workflow_copy(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert lint.returncode == 0 and "good condition" in lint.stdout + lint.stderr, lint.stdout[-3000:]
    fmt = subprocess.run(["snakefmt", "--check", "Snakefile", "workflow"], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert fmt.returncode == 0, fmt.stderr[-3000:]
