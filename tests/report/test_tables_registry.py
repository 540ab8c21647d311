"""The paper-table registry: a table added to PAPER_TABLES is built by the CLI and becomes a target of the workflow;
provenance hashes the resolved config; summaries must say which model, dataset and editor they are."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from goldenlayers import stats as analysis
from goldenlayers.report import tables
from goldenlayers.cli import main
from goldenlayers.report.tables import PAPER_TABLES
from helpers import TOY


def write_summary(path: Path, layers=(0, 1, 2), **keys) -> str:
    rows = [dict(sample_id=f"s{i}", split="test" if i else "proxy", layer=layer, editor="r-rome",
                 rewrite=float((i + layer) % 2), status="ok", reason="")
            for i in range(3) for layer in layers]
    summary = {**keys, **analysis.summarise_sweep(pd.DataFrame(rows), metric="rewrite")}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary))
    return str(path)


def test_a_registered_table_is_built_by_the_cli(tmp_path, monkeypatch):
    monkeypatch.setitem(PAPER_TABLES, "toy", TOY)
    files = [write_summary(tmp_path / f"{d}.json", layers=range(n), model="m", dataset=d, editor="r-rome")
             for d, n in (("a", 2), ("b", 4))]
    assert main(["report", "--tables", "toy", "--inputs", *files, "--out-dir", str(tmp_path / "out")]) == 0
    frame = pd.read_csv(tmp_path / "out/toy.csv")
    assert frame.to_dict("records") == [{"Model": "m", "Dataset": "a", "Layers": 2},
                                        {"Model": "m", "Dataset": "b", "Layers": 4}]
    assert (tmp_path / "out/toy.md").read_text() == tables.to_markdown(frame) + "\n"
    assert json.loads((tmp_path / "out/toy.provenance.json").read_text())["inputs"] == files


def test_summaries_without_model_and_dataset_are_refused(tmp_path, capsys):
    old = write_summary(tmp_path / "aggregate/r-rome/summary.json")
    assert main(["report", "--tables", "table1", "--inputs", old, "--out-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "the file has no model, dataset, editor" in err and "--forcerun aggregate_sweep" in err
    assert not (tmp_path / "out/table1.csv").exists()


def test_selections_and_resampling_runs_are_keyed_by_what_they_recorded(tmp_path):
    from goldenlayers.report.tables import load_resampling_runs, load_selections

    # the folder names say otherwise: the recorded names win
    path = tmp_path / "results/wrong/place/selection/lga.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"method": "lga", "model": "m", "dataset": "d", "wall_seconds": 1.0}))
    assert load_selections([str(path)])[0][:2] == ("m", "d")
    path.write_text(json.dumps({"method": "lga", "wall_seconds": 1.0}))
    with pytest.raises(ValueError, match="no model, dataset.*goldenlayers select"):
        load_selections([str(path)])
    run = tmp_path / "results/m/d/resampling/r-rome/summary.json"
    run.parent.mkdir(parents=True)
    run.write_text(json.dumps({"model": "m", "dataset": "d"}))
    with pytest.raises(ValueError, match="no editor.*goldenlayers resample"):
        load_resampling_runs([str(run)])


def test_tables_of_different_inputs_are_not_mixed(tmp_path, capsys):
    summary = write_summary(tmp_path / "s.json", model="m", dataset="d", editor="e")
    assert main(["report", "--tables", "table1", "table2", "--inputs", summary, "--out-dir", str(tmp_path)]) == 2
    assert "different kinds of inputs" in capsys.readouterr().err


def test_figure3_is_drawn_with_its_table_by_report_figures(tmp_path):
    """Figure 3 is a FIGURES entry like the others; it writes its table (PAPER_TABLES' figure3) beside it, with the
    resolved config's hash in the sidecar."""
    from goldenlayers.io import config_hash

    files = []
    for method, seconds in (("bf", 1000.0), ("lga", 4.0), ("cma", 100.0)):
        path = tmp_path / f"sel/{method}.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps({"model": "m", "dataset": "d", "method": method, "wall_seconds": seconds}))
        files.append(str(path))
    config = tmp_path / "config.resolved.yaml"
    config.write_text("split: {seed: 1}\n")
    out = tmp_path / "out"
    assert main(["report", "--figures", "figure3", "--inputs", *files, "--config", str(config),
                 "--out-dir", str(out)]) == 0
    frame = pd.read_csv(out / "figure3.csv")
    # speed-up over BF: 1000 / 4 and 1000 / 100
    assert dict(zip(frame["method"], frame["speedup"])) == {"lga": 250.0, "cma": 10.0}
    assert (out / "figure3.png").stat().st_size > 0 and (out / "figure3.pdf").stat().st_size > 0
    assert (out / "figure3.md").read_text().strip()
    sidecar = json.loads((out / "figure3.provenance.json").read_text())
    assert sidecar["inputs"] == files and sidecar["config_hash"] == config_hash({"split": {"seed": 1}})
