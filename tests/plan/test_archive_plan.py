"""The archive path's plan (goldenlayers.plan.archive): which cells a run restores and what each restore writes,
against the fixture's packed cell (tests/fixtures/archive_study/archive) and hand-listed paths."""

import shutil

import pytest
import yaml

from goldenlayers.io import read_json, write_json
from goldenlayers.plan import archive as plan
from helpers import FIXTURES

ARCHIVE = FIXTURES / "archive_study" / "archive"


def study_config(**over) -> dict:
    config = yaml.safe_load((FIXTURES / "archive_study/results/report/tiny/config.resolved.yaml").read_text())
    return {**config, "archive": str(ARCHIVE), **over}


def test_a_measured_run_restores_nothing_and_resamples_from_the_factors():
    config = study_config(archive=None)
    assert plan.archived_cells(config) == {}
    assert plan.salem_flag(config) == "--factors"
    assert plan.salem_input(config) == "results/{model}/{dataset}/gradients/new_factors.safetensors"


def test_an_archived_run_restores_every_cell_with_what_the_measuring_stages_write():
    config = study_config()
    cells = plan.archived_cells(config)
    assert list(cells) == ["tiny/toy"]
    assert plan.restore_rule("gemma3-270m/counterfact") == "restore_gemma3_270m_counterfact"
    outputs = plan.restore_outputs(cells["tiny/toy"])
    cell = "results/tiny/toy"
    expected = {f"{cell}/samples.json", f"{cell}/split.json",
                *(f"{cell}/sweep/r-rome/layer_{layer}.parquet" for layer in (0, 1, 2)),
                f"{cell}/gradients/samples.parquet", f"{cell}/gradients/proxy_saliency.parquet",
                f"{cell}/gradients/salem_draws.parquet", f"{cell}/causal_trace/samples.parquet",
                f"{cell}/gradients/timing.json", f"{cell}/causal_trace/timing.json",
                "results/benchmarks/extract_gradients/tiny/toy.tsv",
                "results/benchmarks/trace_causal_effects/tiny/toy.tsv",
                *(f"results/benchmarks/sweep_layer/tiny/toy/r-rome/layer_{layer}.tsv" for layer in (0, 1, 2)),
                *(f"{cell}/selection/{m}.json" for m in ("bf", "cma", "lga", "lga_kprime", "random", "salem"))}
    assert set(outputs) == expected and len(outputs) == len(expected)
    assert f"{cell}/sweep_plan.json" not in outputs  # plan_sweep, the checkpoint, writes it
    assert "--without-plan" in plan.restore_opts() and "--with-selections" in plan.restore_opts()
    assert plan.salem_flag(config) == "--salem-saliency"
    assert plan.salem_input(config) == "results/{model}/{dataset}/gradients/salem_draws.parquet"


def test_a_run_the_archive_does_not_match_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a study archive"):
        plan.archived_cells(study_config(archive=str(tmp_path)))
    config = study_config()
    config["datasets"] = {**config["datasets"], "other": dict(config["datasets"]["toy"])}
    with pytest.raises(ValueError, match="no cell tiny/other"):
        plan.archived_cells(config)
    with pytest.raises(ValueError, match="editors"):
        plan.archived_cells(study_config(editors=["r-rome", "memit"]))
    config = study_config()
    config["models"] = {"tiny": {**config["models"]["tiny"], "num_layers": 4}}
    with pytest.raises(ValueError, match="has 3 layers"):
        plan.archived_cells(config)
    # a changed archive file is refused before any rule runs
    copy = tmp_path / "copy"
    shutil.copytree(ARCHIVE, copy)
    cell = copy / "tiny/toy"
    record = read_json(cell / "cell.json")
    record["files"]["sweep.parquet"]["sha256"] = "0" * 64
    write_json(cell / "cell.json", record)
    with pytest.raises(ValueError, match="differs from the file packed"):
        plan.archived_cells(study_config(archive=str(copy)))


def test_rebuilt_tables_name_the_studys_config_and_commit():
    from goldenlayers.analysis.archive import read_cell, rebuild_provenance

    packed = read_cell(ARCHIVE / "tiny/toy")["provenance"]
    origin = rebuild_provenance(study_config())
    # the study's resolved config with `archive` set hashes as the config the cell was packed from
    assert origin["config_hash"] == packed["config_hash"]
    assert origin["git_commit"] == packed["study_commit"] is None  # the fixture's study wrote no Table 1
    assert rebuild_provenance(study_config(lga={"tukey_k": 2.0}))["config_hash"] != packed["config_hash"]
