"""Issue #22 ("Nothing silently wrong, round 2"): one test per fault the second probe found. The Snakemake ones
(items 1-3 on the tiny workflow) are marked slow and use as few runs as they can."""

import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

from helpers import build_tiny_llama
from helpers import REPO, TINY_RECORDS, write_tiny_project

from goldenlayers import cli


def snakemake(root: Path, config: Path, *args: str) -> subprocess.CompletedProcess:
    """test_workflow.snakemake with more time: a whole tiny run took over 10 minutes on 2 cores shared by 5 users."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(root),
           "--configfile", str(config), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=3600)


# --- item 1: replaced weights ----------------------------------------------------------------------------------
def _save(model, tok, path):
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_replaced_weights_change_the_prepared_model_and_the_sweep_fingerprint(tmp_path, tiny_tokenizer):
    from goldenlayers.models import prepare_model
    from goldenlayers.sweep.single import sweep_fingerprint

    model = build_tiny_llama(tiny_tokenizer, seed=0)
    source = _save(model, tiny_tokenizer, tmp_path / "model")
    first = prepare_model(str(source), tmp_path / "prepared")
    assert set(first["files_sha256"]) >= {"model.safetensors", "config.json", "tokenizer.json"}

    # other weights under the same path and config.json: what the probe did
    other = _save(build_tiny_llama(tiny_tokenizer, seed=1), tiny_tokenizer, tmp_path / "other")
    shutil.copy(other / "model.safetensors", source / "model.safetensors")
    second = prepare_model(str(source), tmp_path / "prepared")
    assert second["files_sha256"]["model.safetensors"] != first["files_sha256"]["model.safetensors"]
    assert second["files_sha256"]["config.json"] == first["files_sha256"]["config.json"]
    assert json.loads((tmp_path / "prepared/model.json").read_text()) == second

    def fingerprint(ref):
        return sweep_fingerprint(model, [], "r-rome", SimpleNamespace(v=1), 0, ["{}"], False,
                                 model_ref=ref)

    changed = [part for part in fingerprint(first) if fingerprint(first)[part] != fingerprint(second)[part]]
    assert changed == ["model"]  # partial rows made with the old weights are discarded, naming the model


def test_a_hub_model_records_its_commit(tmp_path, tiny_tokenizer, monkeypatch):
    from goldenlayers import models

    snapshot = tmp_path / "hub/models--org--tiny/snapshots/0123abcd"
    _save(build_tiny_llama(tiny_tokenizer), tiny_tokenizer, snapshot)
    monkeypatch.setattr(models, "download_hub_model", lambda repo_id: snapshot)  # no network in tests
    ref = models.prepare_model("org/tiny", tmp_path / "prepared")
    assert ref["revision"] == "0123abcd" and "files_sha256" not in ref


# --- item 4: check-config against the schema ---------------------------------------------------------------------
@pytest.mark.parametrize("config, expected", [
    ({"split": {"proxy_fraction": 1.5}}, ["split.proxy_fraction", "1.5", "exclusiveMaximum"]),
    ({"split": {"seed": "x"}}, ["split.seed", "'x'", "integer"]),
    ({"layers": [-1]}, ["layers.0", "-1", "minimum"]),
    ({"models": {"m": {"num_layers": 3}}}, ["models.m", "'source' is a required property"]),
])
def test_check_config_refuses_what_the_workflow_refuses(tmp_path, capsys, config, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    assert cli.main(["check-config", str(path)]) == 2
    line = capsys.readouterr().err.strip()
    assert len(line.splitlines()) == 1 and str(path) in line
    for text in expected:
        assert text in line, text


def test_check_config_still_accepts_partial_and_shipped_configs(tmp_path):
    partial = tmp_path / "partial.yaml"
    partial.write_text(yaml.safe_dump({"split": {"seed": 3}, "layers": "all"}))  # merged over config/config.yaml
    shipped = sorted(str(p) for p in (REPO / "config").glob("*.yaml"))
    assert cli.main(["check-config", str(partial), *shipped]) == 0


# --- item 5: the Gemma extra missing in a pipeline run --------------------------------------------------------------
def test_missing_gemma_extra_is_one_line_with_the_install_command(tmp_path, capsys, monkeypatch):
    import importlib.util

    from goldenlayers.models import EMBEDDED_MODELS

    package = EMBEDDED_MODELS["embedded:gemma3-270m"].package
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == package else real(name, *a))
    code = cli.main(["prepare-model", "--source", "embedded:gemma3-270m", "--out-dir", str(tmp_path / "m")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "pip install" in err and package in err


# --- item 6: decode errors name the file ----------------------------------------------------------------------------
def test_non_utf8_files_are_named_with_the_offset(tmp_path, capsys):
    data = tmp_path / "data.json"
    text = json.dumps(TINY_RECORDS[:2])
    data.write_bytes(text.replace("France", "Fr\u00fcnce").encode("latin-1"))
    offset = text.index("France") + 2  # the first non-UTF-8 byte (everything before it is ASCII)
    code = cli.main(["prepare-dataset", "--source", str(data), "--out-records", str(tmp_path / "r.json"),
                     "--out-report", str(tmp_path / "v.json")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and f"{data}: not UTF-8 text: byte 0xfc at offset {offset}" in err and "iconv" in err
    config = tmp_path / "config.yaml"
    config.write_bytes("run_name: M\u00fcnchen\n".encode("latin-1"))
    assert cli.main(["check-config", str(config)]) == 2
    assert f"{config}: not UTF-8 text: byte 0xfc at offset 11" in capsys.readouterr().err


# --- item 7: file-size limit / disk full names the file -------------------------------------------------------------
def _under_file_size_limit(limit: int, code: str) -> subprocess.CompletedProcess:
    """Run python `code` with files capped at `limit` bytes (`ulimit -f`); Python ignores SIGXFSZ, so a write
    past the limit fails with EFBIG instead of killing the process."""
    import resource

    def cap():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-c", code], preexec_fn=cap, capture_output=True, text=True,
                          timeout=300, env=env, cwd=Path(__file__).parents[1])


def test_a_pipeline_write_past_the_file_size_limit_names_the_file(tmp_path):
    data = tmp_path / "data.json"
    data.write_text(json.dumps(TINY_RECORDS))
    out = tmp_path / "records.json"
    run = _under_file_size_limit(3000, (
        "import sys; from goldenlayers import cli; sys.exit(cli.main(['prepare-dataset', '--source', "
        f"{str(data)!r}, '--out-records', {str(out)!r}, '--out-report', {str(tmp_path / 'v.json')!r}]))"))
    assert run.returncode == 2, run.stderr[-2000:]
    assert f"File too large: {out}" in run.stderr.strip().splitlines()[-1]
    assert not out.exists() and not list(tmp_path.glob(".records.json.*"))


def test_a_safetensors_write_past_the_file_size_limit_names_the_file(tmp_path):
    out = tmp_path / "results/tiny/key_covariance/layer_0.safetensors"
    run = _under_file_size_limit(20000, f"""
import torch
from goldenlayers.editing import KeyCovariance
try:
    KeyCovariance(torch.eye(100, dtype=torch.float64), n_tokens=1, corpus="x").save({str(out)!r})
except ValueError as err:
    print("ValueError:", err)
""")
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"ValueError: cannot write {out}:" in run.stdout and "file-size limit" in run.stdout
    assert not out.exists() and not list(out.parent.glob(".layer_0.safetensors.*"))


def test_edit_saving_past_the_file_size_limit_is_one_line_naming_the_directory(tmp_path):
    out = tmp_path / "edited"
    run = _under_file_size_limit(20000, f"""
from helpers import build_tiny_llama, build_tiny_tokenizer
from goldenlayers.apply_edits import EditReport, save_edited
tok = build_tiny_tokenizer()
report = EditReport(editor="r-rome", layer=0, layer_source="given", rows=[], hparams={{}}, n_templates=1)
try:
    save_edited(build_tiny_llama(tok), tok, report, {str(out)!r})
except ValueError as err:
    print("ValueError:", err)
""")
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"ValueError: cannot write the edited model to {out}" in run.stdout and "file-size limit" in run.stdout
    assert not out.exists() and not list(tmp_path.glob(".edited.tmp*"))


# --- item 8 ---------------------------------------------------------------------------------------------------------
def test_a_corrupt_file_read_by_the_resampling_stage_gives_the_rebuild_command(tmp_path):
    from goldenlayers.analysis.resampling_report import run_resampling

    sweep = tmp_path / "results/tiny/toy/aggregate/r-rome/sweep.parquet"
    sweep.parent.mkdir(parents=True)
    sweep.write_bytes(b"PAR1 torn")
    (tmp_path / "split.json").write_text(json.dumps({"proxy": ["0"], "test": ["1"]}))
    with pytest.raises(ValueError) as err:
        run_resampling(str(sweep), str(tmp_path / "split.json"), str(tmp_path / "out"))
    assert f"snakemake --cores N --forcerun {sweep}" in str(err.value)


def test_a_corrupt_file_read_by_the_table_stage_gives_the_rebuild_command(tmp_path):
    from goldenlayers.report.tables import load_resampling_runs

    summary = tmp_path / "results/tiny/toy/resampling/r-rome/summary.json"
    summary.parent.mkdir(parents=True)
    summary.write_text(json.dumps({"model": "tiny", "dataset": "toy", "editor": "r-rome", "fact_bootstrap": {}}))
    (summary.parent / "draws.parquet").write_bytes(b"PAR1 torn")
    with pytest.raises(ValueError) as err:
        load_resampling_runs([str(summary)])
    assert f"--forcerun {summary.parent / 'draws.parquet'}" in str(err.value)


def test_edit_checks_an_unwritable_out_before_loading_anything(tmp_path):
    from goldenlayers.apply_edits import check_out_dir

    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file where the output's parent should be")
    with pytest.raises(ValueError, match="--out: cannot write .*notes.txt is a file, not a folder"):
        check_out_dir(blocker / "edited")
    if os.geteuid() != 0:  # root writes anywhere: only the case above shows under root
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        with pytest.raises(ValueError, match="--out: cannot write"):
            check_out_dir(locked / "edited")


def test_edit_force_replaces_only_an_earlier_edit(tmp_path):
    from goldenlayers.apply_edits import EditReport, check_out_dir

    users = tmp_path / "mine"
    users.mkdir()
    (users / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="did not write"):
        check_out_dir(users, force=True)
    assert (users / "notes.txt").read_text() == "keep me"
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    report = EditReport(editor="r-rome", layer=0, layer_source="given", rows=[], hparams={}, n_templates=1)
    (earlier / "report.json").write_text(json.dumps(report.to_dict()))
    assert check_out_dir(earlier, force=True) == earlier


def test_edit_checks_hparams_against_the_model_before_choosing_a_layer(tiny_llama, tiny_tokenizer, monkeypatch):
    from goldenlayers import suggest
    from goldenlayers.apply_edits import edit
    from goldenlayers.editing.hparams import HparamsError

    def must_not_run(*args, **kwargs):
        raise AssertionError("LGA ran before the hparams were checked")

    monkeypatch.setattr(suggest, "suggest_layer", must_not_run)
    requests = [{"prompt": "The capital of France is", "subject": "France", "target_new": "Rome"}]
    with pytest.raises(HparamsError, match="v_loss_layer 47"):
        edit(tiny_llama, tiny_tokenizer, requests, layer="auto", hparams={"v_loss_layer": 47})


def test_the_workflow_checks_hparams_against_the_model_before_planning(tmp_path):
    config = write_tiny_project(tmp_path)
    hparams = tmp_path / "hparams/r-rome/tiny.yaml"
    hparams.write_text(hparams.read_text() + "v_loss_layer: 47\n")  # written for GPT-2 XL; the tiny model has 3
    plan = snakemake(tmp_path, config, "-n")
    out = plan.stdout + plan.stderr
    assert plan.returncode != 0
    assert f"{hparams}: v_loss_layer 47 is not the last layer (2)" in out and "tiny has 3 layers" in out


def test_a_prompt_longer_than_the_context_is_named(tiny_llama, tiny_tokenizer, caplog):
    from goldenlayers.data import filter_known, parse_records

    records = parse_records(TINY_RECORDS[:2], "records").records
    records[1] = {**records[1], "prompt": records[1]["prompt"] + " and so on" * 60}  # > 128 positions
    with caplog.at_level(logging.WARNING):
        filter_known(tiny_llama, tiny_tokenizer, records, keep_unknown=True, progress=False)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "longer than the model's context of 128 tokens" in warnings[0]
    assert repr(records[1]["id"]) in warnings[0] and repr(records[0]["id"]) not in warnings[0]


# --- items 1 and 2 on the tiny workflow ---------------------------------------------------------------------------
@pytest.mark.slow
def test_the_rebuild_hint_rebuilds_and_replaced_weights_rerun_prepare_model(tmp_path, tiny_tokenizer, monkeypatch):
    from goldenlayers.io import read_json

    config = write_tiny_project(tmp_path)
    split = "results/tiny/toy/split.json"
    built = snakemake(tmp_path, config, split)
    assert built.returncode == 0, built.stderr[-3000:]

    # item 2: a truncated intermediate, read by a later stage, says how to rebuild it; doing so rebuilds it (its
    # reader split.json is up to date, so deleting it would rebuild nothing). The target keeps the run small.
    records = tmp_path / "results/tiny/toy/records.json"
    good = records.read_text()
    records.write_text(good[:40])
    monkeypatch.chdir(tmp_path)  # the pipeline's jobs name files relative to the working directory
    with pytest.raises(ValueError) as err:
        read_json("results/tiny/toy/records.json")
    hint = re.search(r"`snakemake --cores N (.*?)`", str(err.value))
    assert hint and "delete" not in str(err.value), str(err.value)
    rebuilt = snakemake(tmp_path, config, *hint.group(1).split(), split)
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    assert json.loads(records.read_text()) == json.loads(good)

    # item 1: other weights under the same path and config.json, moved in with an older mtime
    model_json = tmp_path / "results/models/tiny/model.json"
    before = json.loads(model_json.read_text())["files_sha256"]
    other = _save(build_tiny_llama(tiny_tokenizer, seed=1), tiny_tokenizer, tmp_path / "other")
    weights = tmp_path / "tiny-model/model.safetensors"
    old = weights.stat().st_mtime - 3600
    shutil.copy(other / "model.safetensors", weights)
    os.utime(weights, (old, old))
    plan = snakemake(tmp_path, config, "-n", split)
    assert re.search(r"^prepare_model\s+1$", plan.stdout, flags=re.M), plan.stdout[-3000:]
    rerun = snakemake(tmp_path, config, split)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    after = json.loads(model_json.read_text())["files_sha256"]
    assert after["model.safetensors"] != before["model.safetensors"]
    assert "Nothing to be done" in snakemake(tmp_path, config, "-n", split).stdout


# --- item 3: an interrupted forced rerun ---------------------------------------------------------------------------
@pytest.mark.slow
def test_an_interrupted_forced_rerun_is_named_and_finished_by_the_default_target(tmp_path):
    config = write_tiny_project(tmp_path)
    cfg = yaml.safe_load(config.read_text())
    # grid [2]: the seeded tiny run's selectors add layer 0 outside it (test_workflow.py)
    cfg.update({"layers": [2], "fluency": False, "sequential": {"enabled": False, "n_edits": 2, "seed": 42},
                "resampling": {"draws": 10, "curve_draws": 3, "proxy_sizes": [1, 2], "seed": 1},
                # verify checks LGA's pick alone, so its shortlist adds no third sweep layer
                "selector_params": {"shortlist_k": 1}})
    config.write_text(yaml.safe_dump(cfg))
    hparams = tmp_path / "hparams/r-rome/tiny.yaml"
    hparams.write_text(yaml.safe_dump({**yaml.safe_load(hparams.read_text()), "v_num_grad_steps": 30}))
    first = snakemake(tmp_path, config)
    assert first.returncode == 0, first.stderr[-4000:]
    sweeps = tmp_path / "results/tiny/toy/sweep/r-rome"
    assert json.loads((tmp_path / "results/tiny/toy/sweep_plan.json").read_text())["layers"] == [0, 2]
    expected = {layer: pd.read_parquet(sweeps / f"layer_{layer}.parquet") for layer in (0, 2)}
    table1 = tmp_path / "results/report/tiny/table1.csv"
    table_before = table1.read_bytes()

    # `snakemake --forcerun sweep_layer table1`, interrupted by a SIGINT (Ctrl-C) in the sweep jobs after their 2nd
    # saved row: a named fault point (goldenlayers.faults), not a signal raced against a poll loop
    interrupted = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
         "--configfile", str(config), "--cores", "2", "--forcerun", "sweep_layer", "--", "table1"],
        env={**os.environ, "GOLDENLAYERS_FAULT": "sweep_row@2:sigint"}, capture_output=True, text=True,
        timeout=3600)
    partial = sweeps / "layer_2.parquet.partial.jsonl"
    assert interrupted.returncode != 0, interrupted.stderr[-3000:]
    assert partial.exists() and not (sweeps / "layer_2.parquet").exists()
    assert len(partial.read_text().splitlines()) == 1 + 2  # the header and 2 rows
    # layer 0 (added by a selector, outside the grid) as a kill before its first row would leave it: gone, no rows
    (sweeps / "layer_0.parquet").unlink(missing_ok=True)
    (sweeps / "layer_0.parquet.partial.jsonl").unlink(missing_ok=True)

    named = snakemake(tmp_path, config, "table1")
    assert named.returncode == 0, named.stderr[-3000:]
    line = [x for x in named.stderr.splitlines() if "unfinished" in x]
    assert len(line) == 1 and "results/tiny/toy/sweep/r-rome/layer_2.parquet" in line[0], named.stderr[-3000:]
    assert "`snakemake --cores N`" in line[0]

    finished = snakemake(tmp_path, config)
    assert finished.returncode == 0, finished.stderr[-4000:]
    assert not partial.exists()
    log = (tmp_path / "results/logs/sweep_layer/tiny/toy/r-rome/layer_2.log").read_text()
    assert "resuming from" in log and "2 of 6 samples already done" in log
    timing = ["edit_seconds", "eval_seconds"]
    for layer, frame in expected.items():
        again = pd.read_parquet(sweeps / f"layer_{layer}.parquet")
        pd.testing.assert_frame_equal(again.drop(columns=timing), frame.drop(columns=timing), check_exact=True)
    assert table1.stat().st_mtime > (sweeps / "layer_2.parquet").stat().st_mtime  # the tables were redone
    assert table1.read_bytes() == table_before

    # a selector-added layer missing on its own (no partial file: deleted, or killed before its first row): the
    # default target redoes it too, though the tables that read it are up to date (Snakemake alone would not)
    (sweeps / "layer_0.parquet").unlink()
    plan = snakemake(tmp_path, config, "-n")
    assert "unfinished" not in plan.stderr
    assert re.search(r"^sweep_layer\s+1$", plan.stdout, flags=re.M), plan.stdout[-3000:]
    assert "sweep/r-rome/layer_0.parquet" in plan.stdout
