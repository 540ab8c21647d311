"""What the workflow plans from a config, end to end: refused configs and the paper's config (Snakemake dry runs in
child processes). What each config plans (models, layers, only_models, declared inputs) is checked without
Snakemake in tests/plan/."""

from __future__ import annotations

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
    # its tables go to its own report folder, named after the config file
    assert "results/report/paper/table1.csv" in run.stdout
