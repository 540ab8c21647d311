"""A study's tables rebuilt by the workflow from its archive alone (config `archive`, scripts/rebuild_study.py): the
measuring stages never run (no model exists), the tables equal the measured study's byte for byte, and a document spliced from the tables is checked up to date — and
found stale once one of its numbers changes. Every archived study of scripts/rebuild_study.STUDIES whose archive is
in the repository is checked against its document the same way (what CI runs on docs/findings.md)."""

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path
import sys

import pytest
import yaml

from helpers import FIXTURES, REPO

ARCHIVE = FIXTURES / "archive_study" / "archive"
TABLES = ("table1", "table16", "table17", "table1_by_metric")
# the rules that measure (or need the model): none of them may run on the archive path
MEASURING = ("prepare_model", "prepare_dataset", "filter_dataset", "sample_set", "split_dataset", "extract_gradients",
             "trace_causal_effects", "generate_templates", "sweep_layer", "select_bf", "select_random_layers",
             "score_lga", "score_lga_kprime", "score_salem", "score_cma")


def load_rebuild():
    spec = importlib.util.spec_from_file_location("rebuild_study", REPO / "scripts/rebuild_study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measured_tables(tmp_path) -> Path:
    """Tables 1, 16, 17 and 1 by metric of the fixture's study finished on its measured files (SaLEM from the
    gradient factors), as tests/analysis/test_archive.py finishes it: what the archive path must give byte for byte."""
    from goldenlayers.cli.main import main
    from goldenlayers.report.tables import PAPER_TABLES

    spec = importlib.util.spec_from_file_location("archive_downstream", REPO / "tests/analysis/test_archive.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = tmp_path / "measured" / "results"
    shutil.copytree(module.STUDY, results)
    module.downstream(results, ("--factors", results / "tiny/toy/gradients/new_factors.safetensors"))
    summary = {"aggregates": "aggregate", "resampling": "resampling"}
    for table in TABLES:
        inputs = results / "tiny/toy" / summary[PAPER_TABLES[table].reads] / "r-rome/summary.json"
        assert main(["report", "--tables", table, "--inputs", str(inputs), "--out-dir", str(results / "report")]) == 0
    return results / "report"


def rebuild(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "scripts/rebuild_study.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=900)


def splice(doc, root, *flags) -> int:
    return subprocess.run([sys.executable, str(REPO / "scripts/splice_tables.py"), str(doc), "--root", str(root),
                           *flags], capture_output=True, text=True).returncode


@pytest.mark.slow
def test_the_workflow_rebuilds_a_study_from_its_archive_without_a_model(tmp_path):
    # the study's config (tests/fixtures/archive_study): its model and dataset paths do not exist
    config = yaml.safe_load((FIXTURES / "archive_study/results/report/tiny/config.resolved.yaml").read_text())
    config.pop("appendix")
    assert "nonexistent" in config["models"]["tiny"]["source"]
    (tmp_path / "hparams/r-rome").mkdir(parents=True)  # the config check wants each editor's file
    (tmp_path / "hparams/r-rome/tiny.yaml").write_text("alg_name: R-ROME\nlayers: [0]\n")
    config["hparams_dir"] = str(tmp_path / "hparams")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    doc = tmp_path / "doc.md"
    doc.write_text("# Findings\n" + "".join(f"<!-- table: results/report/tiny/{t}.md -->\nOLD NUMBERS\n<!-- /table -->\n"
                                            for t in TABLES))
    out = tmp_path / "out"

    done = rebuild("--archive", ARCHIVE, "--doc", doc, "--run", tmp_path / "config.yaml", "--out", out)
    assert done.returncode == 1 and "doc.md: stale" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    ran = set(re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):", done.stdout + done.stderr, re.MULTILINE))
    assert {"restore_tiny_toy", "plan_sweep", "aggregate_sweep", "resample_splits", "make_table16"} <= ran, ran
    assert not ran & set(MEASURING), ran & set(MEASURING)
    results = out / "results"
    assert not (results / "models").exists() and not (results / "datasets").exists()
    # resample read SaLEM's stored saliency: the factors were never there
    assert not (results / "tiny/toy/gradients/new_factors.safetensors").exists()
    assert (results / "tiny/toy/resampling/r-rome/draws.parquet").exists()
    # the rebuilt tables are the measured study's, byte for byte
    measured = measured_tables(tmp_path)
    for table in TABLES:
        rebuilt = (results / f"report/tiny/{table}.md").read_text()
        assert rebuilt == (measured / f"{table}.md").read_text(), table

    assert splice(doc, out) == 0  # splice the rebuilt tables into the document
    text = doc.read_text()
    assert "OLD NUMBERS" not in text and "| LGA" in text
    again = rebuild("--archive", ARCHIVE, "--doc", doc, "--run", tmp_path / "config.yaml", "--out", out)
    assert again.returncode == 0 and "doc.md: up to date" in again.stdout, again.stdout[-3000:]

    # one number of the document changed: the check fails
    first = re.search(r"^\|.*?\b(\d+\.\d+)", text, re.MULTILINE)  # the first number in a table row
    value = first.group(1)
    changed = text[:first.start(1)] + value[:-1] + str((int(value[-1]) + 1) % 10) + text[first.end(1):]
    doc.write_text(changed)
    assert splice(doc, out, "--check") == 1


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(load_rebuild().STUDIES))
def test_an_archived_study_still_gives_its_documents_numbers(name, tmp_path):
    entry = load_rebuild().STUDIES[name]
    if not (REPO / entry["archive"] / "study.json").exists():
        pytest.skip(f"{entry['archive']} is not in the repository yet")
    done = rebuild(name, "--out", tmp_path / "out")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
