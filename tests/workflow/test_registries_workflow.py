"""A selector or a table added to its registry becomes part of the workflow (dry runs in child processes that
register it first)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from goldenlayers.report.write import provenance
from goldenlayers.selection import registry as selectors
from helpers import REPO, TOY_MODULE


# ----------------------------------------------------------------------------------------------------------
# (a) the workflow: a plugin module named in GOLDENLAYERS_SELECTOR_PLUGINS adds score_toy to the DAG
# ----------------------------------------------------------------------------------------------------------
def dry_run(root: Path, config: Path, plugins: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != selectors.PLUGINS_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(root), str(REPO / "src"), env.get("PYTHONPATH", "")])
    if plugins:
        env[selectors.PLUGINS_ENV] = plugins
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(root),
           "--configfile", str(config), "--cores", "1", "-n", "-p"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout + run.stderr


@pytest.mark.slow
def test_a_registered_selector_is_a_job_of_the_workflow(tmp_path):
    from helpers import write_tiny_project

    config = write_tiny_project(tmp_path)
    (tmp_path / "toy_selector.py").write_text(TOY_MODULE)
    without = dry_run(tmp_path, config, None)
    assert "score_toy" not in without
    plan = dry_run(tmp_path, config, "toy_selector")
    rules = set(re.findall(r"^(?:rule|checkpoint) (\w+):", plan, flags=re.M))
    assert "score_toy" in rules and {"score_lga", "score_cma"} <= rules
    # its inputs and command come from the registry's needs: the gradient stage, the proxy split
    assert "goldenlayers select --method toy --gradients results/tiny/toy/gradients/samples.parquet" in plan
    assert "results/tiny/toy/selection/toy.json" in plan
    # planned: an input of the sweep plan
    plan_job = plan[plan.index("checkpoint plan_sweep:"):]
    assert "selection/toy.json" in plan_job[:plan_job.index("\n\n")]


# Snakemake runs in a child process that registers the toy table first, as a project adding a table would
PATCHED_SNAKEMAKE = """
import sys
sys.path.insert(0, {tests!r})
import helpers as t
from goldenlayers.report.tables import PAPER_TABLES
PAPER_TABLES["toy"] = t.TOY
from snakemake.cli import main
sys.argv = ["snakemake", *sys.argv[1:]]
main()
"""


def snakemake(root: Path, config: Path, *args: str, patched: bool = False) -> subprocess.CompletedProcess:
    start = [sys.executable, "-c", PATCHED_SNAKEMAKE.format(tests=str(REPO / "tests"))] if patched else [
        sys.executable, "-m", "snakemake"]
    cmd = [*start, "--snakefile", str(REPO / "Snakefile"), "--directory", str(root), "--configfile", str(config),
           "--cores", "1", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def tiny_project(tmp_path_factory):
    from helpers import write_tiny_project

    root = tmp_path_factory.mktemp("tiny")
    return root, write_tiny_project(root)


@pytest.mark.slow
def test_a_registered_table_is_a_workflow_target(tiny_project):
    root, config = tiny_project
    plan = snakemake(root, config, "-n", patched=True)
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert "rule make_toy:" in plan.stdout and "results/report/tiny/toy.csv" in plan.stdout  # part of `all`
    named = snakemake(root, config, "-n", "toy", patched=True)
    assert named.returncode == 0, named.stderr[-3000:]
    assert "rule make_toy:" in named.stdout and "make_table1 " not in named.stdout
    # without the registration there is no such target
    unpatched = snakemake(root, config, "-n", "toy")
    assert unpatched.returncode != 0 and "No rule to produce toy" in unpatched.stdout + unpatched.stderr


@pytest.mark.slow
def test_provenance_hashes_the_resolved_config(tiny_project):
    root, config = tiny_project
    resolved = root / "results/report/tiny/config.resolved.yaml"
    first = snakemake(root, config, str(resolved.relative_to(root)))
    assert first.returncode == 0, first.stderr[-3000:]
    before = provenance(str(resolved), [])["config_hash"]
    assert yaml.safe_load(resolved.read_text())["split"]["seed"] == 42
    # a second --configfile overrides one key; the config *file* given first is the same, the resolved config is not
    override = root / "override.yaml"
    override.write_text(yaml.safe_dump({"split": {"proxy_fraction": 0.5, "seed": 7}}))
    second = snakemake(root, config, str(resolved.relative_to(root)), "--configfile", str(config), str(override))
    assert second.returncode == 0, second.stderr[-3000:]
    assert yaml.safe_load(resolved.read_text())["split"]["seed"] == 7
    assert provenance(str(resolved), [])["config_hash"] != before
