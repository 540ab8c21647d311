"""What a config runs: models, datasets, layers, run name (the configs of config/ as the workflow merges them)."""

from __future__ import annotations

import pytest

from conftest import load_config
from goldenlayers.plan import files, study


def test_the_default_config_runs_one_model_on_its_grid():
    config = load_config()
    assert study.models(config) == ["smollm2-135m"] and study.main_datasets(config) == ["default"]
    assert files.grid_sweeps(config) == [
        f"results/smollm2-135m/default/sweep/r-rome/layer_{layer}.parquet" for layer in (0, 7, 14, 21, 28)]


def test_two_models_plans_both_models_on_their_grids():
    config = load_config("two-models")
    assert study.models(config) == ["smollm2-135m", "gemma3-270m"]
    grid = files.grid_sweeps(config)
    # 5 of SmolLM2's 30 layers, 5 of Gemma's 18 (its last one, 17, among them)
    assert len(grid) == 5 + 5
    assert "results/gemma3-270m/default/sweep/r-rome/layer_17.parquet" in grid
    assert study.run_name(config, [str(p) for p in ["config/two-models.yaml"]]) == "two-models"


def test_the_cpu_study_sweeps_every_layer_and_only_models_keeps_one():
    config = load_config("study-cpu")
    assert {p.split("/")[1] for p in files.grid_sweeps(config)} == {"smollm2-135m", "gemma3-270m"}
    assert len(files.grid_sweeps(config)) == (30 + 18) * len(study.main_datasets(config))
    gemma = load_config("study-cpu", only_models=["gemma3-270m"], run_name="study-cpu-gemma")
    assert study.models(gemma) == ["gemma3-270m"]
    assert not [p for p in files.final_outputs(gemma, "study-cpu-gemma") if "smollm2-135m" in p]
    assert "results/report/study-cpu-gemma/table17.csv" in files.final_outputs(gemma, "study-cpu-gemma")
    typo = load_config("study-cpu", only_models=["gemma-270m"])
    with pytest.raises(ValueError, match=r"only_models names \['gemma-270m'\], which models does not define"):
        study.models(typo)


def test_only_datasets_with_only_models_plans_one_cell_of_the_study():
    cell = load_config("study-cpu", only_models=["smollm2-135m"], only_datasets=["counterfact"],
                       run_name="study-cpu-smollm2-cf")
    assert study.main_datasets(cell) == ["counterfact"]
    planned = files.final_outputs(cell, "study-cpu-smollm2-cf")
    assert {p.split("/")[2] for p in planned if p.startswith("results/smollm2-135m/")} == {"counterfact"}
    assert not [p for p in planned if "/default/" in p or "gemma3-270m" in p]
    assert len(files.grid_sweeps(cell)) == 30
    with pytest.raises(ValueError, match=r"only_datasets names \['cf'\], which datasets does not define"):
        study.datasets(load_config("study-cpu", only_datasets=["cf"]))


def test_the_paper_config_replaces_the_default_model_and_dataset():
    config = load_config("paper")
    assert len(study.models(config)) == 3 and "smollm2-135m" not in study.models(config)
    # five sweep datasets; the appendix settings (PeakCF, UnKE) feed Tables 12-13 only
    assert len(study.main_datasets(config)) == 5 and "default" not in study.datasets(config)
    assert len(study.datasets(config)) == 7
    assert len(files.grid_sweeps(config)) == (48 + 32 + 48) * 5
    assert not [p for p in files.final_outputs(config, "paper") if "/default/" in p]


def test_run_name_from_the_config_the_last_config_file_or_default(tmp_path):
    assert study.run_name({"run_name": "mine"}, ["config/paper.yaml"]) == "mine"
    assert study.run_name({}, ["config/paper.yaml", "my.study v2.yaml"]) == "my-study-v2"
    assert study.run_name({}, []) == "default"
    assert study.run_name({}, ["config/config.yaml"]) == "default"


def test_layers_out_of_range_are_refused():
    config = load_config(models={"smollm2-135m": {"layers": [3, 30]}})
    with pytest.raises(ValueError, match=r"layers \[30\] out of range for smollm2-135m, which has layers 0..29"):
        study.model_layers(config, "smollm2-135m")
    assert study.model_layers(load_config(layers="all"), "smollm2-135m") == list(range(30))
    assert study.model_layers(load_config(layers=[9, 2]), "smollm2-135m") == [2, 9]


def test_the_appendix_editor_and_setting():
    config = load_config("paper")
    assert study.appendix_editor(config) == "r-rome"
    assert study.appendix_editor({"editors": {"emmet": {}, "rome": {}}}) == "emmet"
    with pytest.raises(ValueError, match="has no `setting:`"):
        study.dataset_setting(config, "counterfact")
