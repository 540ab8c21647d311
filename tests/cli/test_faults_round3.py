"""Issue #31 ("Nothing silently wrong, round 3"): one test per fault the third probe found (items 1-6). The
Snakemake ones are marked slow and use as few runs as they can."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from helpers import build_tiny_llama, param_hash, write_tiny_project

from goldenlayers import cli


def _save(model, tok, path):
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


# --- item 1: a copied project reads its own model ---------------------------------------------------------------
def test_a_relative_model_source_is_recorded_relative_to_model_json(tmp_path, tiny_tokenizer, monkeypatch):
    from goldenlayers.models import prepare_model, prepared_path

    project = tmp_path / "proj"
    _save(build_tiny_llama(tiny_tokenizer, seed=0), tiny_tokenizer, project / "tiny-model")
    monkeypatch.chdir(project)  # Snakemake runs jobs in the project directory
    prepare_model("tiny-model", "results/models/tiny")
    copy = tmp_path / "copy"
    shutil.copytree(project, copy)
    shutil.rmtree(project / "tiny-model")  # the original's model is gone: the copy must not need it
    assert prepared_path(copy / "results/models/tiny/model.json").resolve() == (copy / "tiny-model").resolve()


def test_an_absolute_model_source_stays_absolute(tmp_path, tiny_tokenizer):
    from goldenlayers.models import prepare_model

    source = _save(build_tiny_llama(tiny_tokenizer), tiny_tokenizer, tmp_path / "shared-model")
    ref = prepare_model(str(source), tmp_path / "proj/results/models/tiny")
    assert ref["path"] == str(source.resolve())  # a copy shares a model the config names absolutely, on purpose


def test_an_old_embedded_model_json_copied_with_its_project_is_refused(tmp_path):
    from goldenlayers.models import prepared_path

    original, copy = tmp_path / "proj/results/models/m", tmp_path / "copy/results/models/m"
    for folder in (original, copy):
        (folder / "hf").mkdir(parents=True)
    # what an older version wrote (an absolute path), as the copy holds it
    (copy / "model.json").write_text(json.dumps({"source": "embedded:smollm2-135m", "path": str(original / "hf")}))
    with pytest.raises(ValueError, match="copied or moved project.*--forcerun prepare_model"):
        prepared_path(copy / "model.json")


def _snakemake(root: Path, *args: str) -> subprocess.CompletedProcess:
    from helpers import snakemake

    return snakemake(root, root / "config.yaml", *args, timeout=3600)


@pytest.mark.slow
def test_a_copied_project_keeps_its_own_model_when_the_original_changes(tmp_path, tiny_tokenizer):
    project = tmp_path / "proj"
    project.mkdir()
    write_tiny_project(project)
    config = yaml.safe_load((project / "config.yaml").read_text())
    # paths inside the project, as a user writes them: relative to the project directory
    config["models"]["tiny"]["source"] = "tiny-model"
    config["datasets"] = {"toy": {"source": "tiny.json", "keep_unknown": True}}
    config["hparams_dir"] = "hparams"
    (project / "config.yaml").write_text(yaml.safe_dump(config))
    records = "results/tiny/toy/records.json"  # filter_dataset loads the prepared model
    run = _snakemake(project, records)
    assert run.returncode == 0, run.stderr[-3000:]
    before = (project / records).read_bytes()

    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(project), str(copy)], check=True)
    other = _save(build_tiny_llama(tiny_tokenizer, seed=1), tiny_tokenizer, tmp_path / "other")
    shutil.copy(other / "model.safetensors", project / "tiny-model/model.safetensors")

    from goldenlayers.models import load_prepared

    model, _ = load_prepared(copy / "results/models/tiny/model.json")
    assert param_hash(model) == param_hash(build_tiny_llama(tiny_tokenizer, seed=0))  # the copy's own weights
    run = _snakemake(copy, records, "--forcerun", "filter_dataset")
    assert run.returncode == 0, run.stderr[-3000:]
    assert (copy / records).read_bytes() == before  # made with the copy's model, as before the original changed


# --- item 3: a kill during an output's final write ----------------------------------------------------------------
def test_a_temp_file_left_by_a_kill_before_the_rename_is_removed_by_the_next_write(tmp_path):
    import os
    import signal
    import sys

    from goldenlayers.io import write_json

    out = tmp_path / "layer_0.json"
    other = tmp_path / ".layer_1.json.abcdefgh.tmp"  # another output's leftover: not ours to remove
    other.write_text("{}")
    writer = "import sys; from goldenlayers.io import write_json; write_json(sys.argv[1], {'rows': 1})"
    killed = subprocess.run([sys.executable, "-c", writer, str(out)], timeout=300,
                            env={**os.environ, "GOLDENLAYERS_FAULT": "atomic_rename:sigkill"})
    assert killed.returncode == -signal.SIGKILL
    leftovers = list(tmp_path.glob(".layer_0.json.*.tmp"))
    assert len(leftovers) == 1 and json.loads(leftovers[0].read_text()) == {"rows": 1} and not out.exists()

    write_json(out, {"rows": 2})  # the rerun of the job
    assert json.loads(out.read_text()) == {"rows": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name, out.name]


def test_a_temp_file_of_a_live_writer_is_left_alone(tmp_path):
    import os
    import platform

    from goldenlayers.io import remove_dead_temp_files, write_json

    out = tmp_path / "cov.safetensors"
    live = tmp_path / f".cov.safetensors.{platform.node()}-{os.getppid()}.abcdefgh.tmp"  # pytest's parent: alive
    live.write_text("being written")
    write_json(out, {})
    assert live.exists() and remove_dead_temp_files(out) == []


# --- item 4: check-config refuses what the workflow refuses -------------------------------------------------------
@pytest.mark.parametrize("config, expected", [
    ({"models": {"m": {"source": "x", "num_layers": 3}}, "layers": [0, 5]},
     ["layers [5] out of range for model 'm'", "0..2"]),
    ({"models": {"m": {"source": "x", "num_layers": 3, "layers": [3]}}}, ["layers [3]", "'m'", "0..2"]),
    ({"layers": []}, ["layers: value []", "minItems"]),
    ({"models": {"m": {"source": "x", "layers": []}}}, ["models.m.layers: value []", "minItems"]),
    ({"layers": "al"}, ["layers: value 'al'", "enum"]),
])
def test_check_config_refuses_layers_the_workflow_refuses(tmp_path, capsys, config, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    assert cli.main(["check-config", str(path)]) == 2
    line = capsys.readouterr().err.strip()
    assert len(line.splitlines()) == 1 and str(path) in line and "is not of type" not in line, line
    for text in expected:
        assert text in line, text


def test_check_config_accepts_layers_within_the_model(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump({"models": {"m": {"source": "x", "num_layers": 3}}, "layers": [0, 2]}))
    assert cli.main(["check-config", str(path)]) == 0


# --- item 5: messages that came late or unnamed ---------------------------------------------------------------------
def test_suggest_checks_its_json_output_before_the_work(tmp_path, capsys, monkeypatch):
    from goldenlayers.cli import user

    requests = tmp_path / "requests.json"
    requests.write_text(json.dumps([{"prompt": "The capital of France is", "subject": "France",
                                     "target_new": "Rome"}]))
    (tmp_path / "afile").write_text("")  # a file where the folder should be: unwritable, also for root

    def loads_the_model(args):
        raise AssertionError("suggest loaded the model before checking where it writes")

    monkeypatch.setattr(user, "_open_user_model", loads_the_model)
    target = tmp_path / "afile/out/s.json"
    code = cli.main(["suggest", "--requests", str(requests), "--json", str(target)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and str(target) in err, err


def test_an_output_that_cannot_be_created_is_named_not_its_temp_file(tmp_path):
    from goldenlayers.io import write_json

    (tmp_path / "afile").write_text("")
    target = tmp_path / "afile/s.json"
    with pytest.raises(OSError) as err:
        write_json(target, {})
    assert err.value.filename == str(target)


def test_a_corrupt_factors_file_gives_the_rebuild_command(tmp_path):
    from goldenlayers.measure.factors import load_factors

    path = tmp_path / "results/tiny/toy/gradients/new_factors.safetensors"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken")
    with pytest.raises(ValueError, match=r"new_factors.safetensors.*--forcerun .*new_factors.safetensors"):
        load_factors(path)


def test_a_value_of_the_wrong_type_in_an_hparams_file_names_the_file(tmp_path):
    from goldenlayers.editing import HparamsError, load_hparams

    path = tmp_path / "tiny.yaml"
    path.write_text("v_num_grad_steps: many\n")
    with pytest.raises(HparamsError, match=rf"^{tmp_path}/tiny.yaml: v_num_grad_steps: expected a number, got 'many'"):
        load_hparams("r-rome", path)


# --- item 6: noise ----------------------------------------------------------------------------------------------------
def test_the_max_mem_warning_is_printed_once_per_rule_and_size(capsys, monkeypatch):
    from goldenlayers import resources

    monkeypatch.setattr(resources, "_warned", set())
    for attempt in (1, 2, 3):  # every job of a rule, its memory and its runtime: one line
        for _ in range(5):
            resources.for_attempt(40000, 30, attempt, {"max_mem_mb": 16000}, "sweep_layer")
    resources.for_attempt(50000, 30, 1, {"max_mem_mb": 16000}, "sweep_layer")  # another model: its own line
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and "40000 MB" in lines[0] and "50000 MB" in lines[1], lines


def test_proxy_sizes_larger_than_the_data_are_named(tmp_path, caplog):
    import logging

    import pandas as pd

    from goldenlayers.analysis.resampling_report import run_resampling

    ids = [f"s{i}" for i in range(6)]
    rows = [{"sample_id": s, "layer": layer, "editor": "r-rome", "rewrite": float(layer == 1) + 0.1 * i,
             "status": "ok", "split": "proxy" if i < 2 else "test"} for i, s in enumerate(ids) for layer in (0, 1, 2)]
    pd.DataFrame(rows).to_parquet(tmp_path / "sweep.parquet")
    (tmp_path / "split.json").write_text(json.dumps({"proxy": ids[:2], "test": ids[2:]}))
    with caplog.at_level(logging.WARNING):
        summary = run_resampling(str(tmp_path / "sweep.parquet"), str(tmp_path / "split.json"), str(tmp_path / "o"),
                                 n_draws=4, curve_draws=2, sizes=(2, 5, 50), candidates="swept")
    assert summary["curve_sizes"] == [2]
    named = [r.getMessage() for r in caplog.records if "proxy_sizes" in r.getMessage()]
    assert len(named) == 1 and "[5, 50]" in named[0] and "6 samples" in named[0], named


def test_requests_with_two_targets_for_one_prompt_are_named(tmp_path, caplog):
    import logging

    from goldenlayers.suggest import read_requests

    path = tmp_path / "requests.json"
    path.write_text(json.dumps([
        {"prompt": "The capital of France is", "subject": "France", "target_new": "Rome"},
        {"prompt": "The capital of Spain is", "subject": "Spain", "target_new": "Rome"},
        {"prompt": "The capital of France is", "subject": "France", "target_new": "Berlin"},
        {"prompt": "The capital of Spain is", "subject": "Spain", "target_new": "Rome"},  # the same edit twice
    ]))
    with caplog.at_level(logging.WARNING):
        records = read_requests(path)
    named = [r.getMessage() for r in caplog.records if "different targets" in r.getMessage()]
    ids = [r["id"] for r in records]
    assert len(named) == 1 and f"{ids[0]}, {ids[2]}" in named[0] and "France" in named[0], named
