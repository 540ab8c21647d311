"""What the workflow plans from a config: refused configs, several models, the paper's config, declared inputs
(Snakemake dry runs in child processes)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from helpers import REPO, workflow_copy

DEFAULT = yaml.safe_load((REPO / "config/config.yaml").read_text())


@pytest.mark.slow
def test_config_that_violates_the_schema(tmp_path):
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["split"]["proxy_fraction"] = 1.5
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    run = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", str(tmp_path / "bad.yaml")],
                         cwd=workflow_copy(tmp_path / "wf"), capture_output=True, text=True, timeout=300)
    assert run.returncode != 0
    assert "1.5 is greater than or equal to the maximum of 1" in run.stdout + run.stderr


@pytest.mark.slow
def test_the_workflow_refuses_a_bad_config_before_planning(tmp_path):
    """One dry run: nested typos, a bad dataset name and metric: fluency without fluency all fail at once."""
    config = yaml.safe_load(yaml.safe_dump(DEFAULT))
    config["split"]["proxy_fracton"] = 0.5
    config["lga"] = {"tukey-k": 3}
    config["datasets"] = {"my.data": config["datasets"]["default"]}
    config["metric"] = "fluency"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    run = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", str(tmp_path / "bad.yaml")],
                         cwd=workflow_copy(tmp_path / "wf"), capture_output=True, text=True, timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode != 0
    for text in ("'split.proxy_fracton' (did you mean 'proxy_fraction'?)", "'lga.tukey-k' (did you mean 'tukey_k'?)",
                 "datasets name 'my.data'", "metric: fluency needs fluency: true"):
        assert text in out, text


@pytest.mark.slow
def test_two_model_config_plans_both_models(tmp_path):
    """config/two-models.yaml plans every stage for both models (a dry run in a scratch directory)."""
    import re
    import shutil
    import subprocess
    import sys

    repo = REPO
    shutil.copytree(repo / "config", tmp_path / "config")
    run = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "2", "--snakefile", str(repo / "Snakefile"),
                          "--directory", str(tmp_path), "--configfile", str(tmp_path / "config/two-models.yaml")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", run.stdout, flags=re.M))
    assert counts["prepare_model"] == "2" and counts["extract_gradients"] == "2"
    # the grids only (the layers the selectors choose join after the checkpoint): 5 of SmolLM2's 30, 5 of Gemma's 18
    assert counts["sweep_layer"] == str(5 + 5)
    assert "results/gemma3-270m/default/sweep/r-rome/layer_17.parquet" in run.stdout
    assert "results/report/two-models/table1.csv" in run.stdout


@pytest.mark.slow
def test_the_cpu_study_runs_one_model_at_a_time_with_only_models(tmp_path):
    """config/study-cpu.yaml plans both models at every layer; only_models keeps one (its own run_name), and a name
    that models does not define is refused."""
    import re
    import shutil

    shutil.copytree(REPO / "config", tmp_path / "config")

    def plan(*extra):
        return subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "2", "--snakefile",
                               str(REPO / "Snakefile"), "--directory", str(tmp_path), "--configfile",
                               str(tmp_path / "config/study-cpu.yaml"), *extra], capture_output=True, text=True,
                              timeout=300)

    both, gemma = plan(), plan("--config", "only_models=[gemma3-270m]", "run_name=study-cpu-gemma")
    assert both.returncode == 0 and gemma.returncode == 0, (both.stderr + gemma.stderr)[-3000:]
    assert dict(re.findall(r"^(\w+)\s+(\d+)$", both.stdout, flags=re.M))["sweep_layer"] == str(30 + 18)
    assert dict(re.findall(r"^(\w+)\s+(\d+)$", gemma.stdout, flags=re.M))["sweep_layer"] == "18"
    assert "results/smollm2-135m/" not in gemma.stdout
    assert "results/report/study-cpu-gemma/table17.csv" in gemma.stdout
    typo = plan("--config", "only_models=[gemma-270m]")
    assert typo.returncode != 0
    assert "only_models names ['gemma-270m'], which models does not define" in typo.stdout + typo.stderr


@pytest.mark.slow
def test_prepare_dataset_declares_the_local_file_it_reads(tmp_path):
    """Editing a local dataset file re-runs prepare_dataset (it is the rule's input); a file not copied yet is not
    declared, so a dry run still plans the run and prepare-dataset names the missing file when it runs."""
    import re
    import subprocess
    import sys

    import yaml
    from helpers import workflow_copy

    wf = workflow_copy(tmp_path / "wf")
    here = tmp_path / "here.json"
    here.write_text(json.dumps([{"subject": "France", "prompt": "The capital of France is", "target_new": "Rome"}]))
    config = yaml.safe_load((wf / "config/config.yaml").read_text())
    config["datasets"] = {"here": {"source": str(here)}, "later": {"source": str(tmp_path / "later.json")}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    run = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", str(tmp_path / "c.yaml"),
                          "--until", "prepare_dataset"], cwd=wf, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    jobs = re.findall(r"rule prepare_dataset:\n(.*?)\n\s*wildcards: dataset=(\w+)", run.stdout, re.DOTALL)
    inputs = {dataset: re.findall(r"input: (.*)", block) for block, dataset in jobs}
    assert inputs == {"here": [str(here)], "later": []}


@pytest.mark.slow
def test_paper_config_dry_runs_with_only_its_models_and_datasets():
    """config/paper.yaml replaces the default model and dataset (Snakemake would merge them) and needs neither
    models nor data on this machine: the hub files are fetched by prepare_dataset, inside the run."""
    import re
    import subprocess
    import sys

    repo = REPO
    run = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", "config/paper.yaml"], cwd=repo,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", run.stdout, re.MULTILINE))
    # the five sweep datasets; the appendix settings' PeakCF and UnKE are built only by `table12`/`table13`
    assert counts["prepare_model"] == "3" and counts["prepare_dataset"] == "5"
    assert counts["sweep_layer"] == str((48 + 32 + 48) * 5)
    assert "smollm2-135m" not in run.stdout and "/default/" not in run.stdout
