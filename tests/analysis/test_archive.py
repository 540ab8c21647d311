"""The study archive (goldenlayers archive / unarchive): a finished all-layer study packed, unpacked into a fresh
folder without its model, and rerun there (selectors, aggregate, resample) gives the study's draws, verdicts,
proxy-size curve and bootstrap over facts exactly; unfinished or foreign input is refused with what is wrong."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from goldenlayers.analysis import archive
from goldenlayers.cli.main import main
from goldenlayers.io import read_json, write_json
from goldenlayers.plan.options import frontier_opts
from helpers import FIXTURES, REPO

STUDY = FIXTURES / "archive_study" / "results"
MODEL, DATASET, EDITOR = "tiny", "toy", "r-rome"
LAYERS = ["0", "1", "2"]
RESAMPLED = ("draws", "verdicts", "curve", "fact_draws")


def run(*argv) -> None:
    code = main([str(a) for a in argv])
    assert code == 0, argv


# config/config.yaml's resampling.frontier, as the workflow's resample_splits passes it
FRONTIER = tuple(frontier_opts(yaml.safe_load((REPO / "config/config.yaml").read_text())["resampling"]["frontier"])
                 .split())


def downstream(results: Path, salem: tuple[str, Path]) -> None:
    """What the workflow runs after the measuring stages, as its rules call it (tests/fixtures/archive_study's
    config): the selectors, the sweep plan, BF, aggregate and resample. `salem`: ("--factors", file) or
    ("--salem-saliency", file)."""
    cell = results / MODEL / DATASET
    key = ["--model-name", MODEL, "--dataset-name", DATASET]
    split = cell / "split.json"
    stage = {"gradients": ("extract_gradients", "gradients"), "effects": ("trace_causal_effects", "causal_trace")}
    grads = ("gradients", "gradients/samples.parquet")
    evidence = {"lga": grads, "lga_kprime": grads, "salem": ("saliency", "gradients/proxy_saliency.parquet"),
                "cma": ("effects", "causal_trace/samples.parquet")}
    for method, (need, path) in evidence.items():
        bench, folder = stage["effects" if need == "effects" else "gradients"]
        run("select", "--method", method, f"--{need}", cell / path, "--split", split, "--tukey-k", "1.0",
            "--benchmarks", results / "benchmarks" / bench / MODEL / f"{DATASET}.tsv",
            "--timing", cell / folder / "timing.json", *key, "--out", cell / "selection" / f"{method}.json")
    run("select", "--method", "random", "--layers", *LAYERS, "--n-layers", "3", "--seed", "42", *key,
        "--out", cell / "selection" / "random.json")
    cheap = [cell / "selection" / f"{m}.json" for m in ("lga", "cma", "salem")]  # verify's and consensus's
    run("select", "--method", "consensus", "--selections", *cheap, *key, "--out", cell / "selection/consensus.json")
    run("sweep-plan", "--selections", *(cell / "selection" / f"{m}.json" for m in evidence), "--grid", *LAYERS,
        "--verify-selections", *cheap, "--out", cell / "sweep_plan.json")
    sweeps = [cell / "sweep" / EDITOR / f"layer_{layer}.parquet" for layer in LAYERS]
    run("select", "--method", "bf", "--sweep", *sweeps, "--split", split, "--metric", "rewrite", "--num-layers", "3",
        "--benchmarks", *(results / f"benchmarks/sweep_layer/{MODEL}/{DATASET}/{EDITOR}/layer_{x}.tsv" for x in LAYERS),
        *key, "--out", cell / "selection" / "bf.json")
    run("select", "--method", "verify", "--selections", *cheap, "--sweep", *sweeps, "--split", split, *key,
        "--out", cell / "selection" / "verify.json")
    agg = cell / "aggregate" / EDITOR
    run("aggregate", "--sweeps", *sweeps, "--split", split,
        "--selection", *sorted((cell / "selection").glob("*.json")), "--metric", "rewrite", *key, "--editor", EDITOR,
        "--out-sweep", agg / "sweep.parquet", "--out-stats", agg / "layer_stats.parquet",
        "--out-summary", agg / "summary.json")
    run("resample", "--sweep", agg / "sweep.parquet", "--split", split,
        "--gradients", cell / "gradients/samples.parquet", *salem, "--effects", cell / "causal_trace/samples.parquet",
        "--plan", cell / "sweep_plan.json",
        "--aggregate", agg / "summary.json", "--metric", "rewrite", "--tukey-k", "1.0", "--num-layers", "3",
        "--draws", "10", "--curve-draws", "4", "--proxy-sizes", "1", "2", "--seed", "1", "--candidates", "grid",
        "--fact-bootstrap", "4", "2", *FRONTIER, "--selections", *(cell / "selection" / f"{m}.json" for m in evidence),
        *key, "--editor", EDITOR, "--out-dir", cell / "resampling" / EDITOR)


@pytest.fixture
def finished(tmp_path) -> Path:
    """The fixture's measured study, finished here by the current code (selectors, aggregate, resample)."""
    results = tmp_path / "study" / "results"
    shutil.copytree(STUDY, results)
    downstream(results, ("--factors", results / MODEL / DATASET / "gradients/new_factors.safetensors"))
    return results


def pack(results: Path, out: Path) -> dict:
    return archive.pack(results, results / "report/tiny/config.resolved.yaml", out)


def test_archive_rebuilds_the_study_without_a_model(finished, tmp_path, monkeypatch):
    run("archive", "--results", finished, "--config", finished / "report/tiny/config.resolved.yaml",
        "--out", tmp_path / "studies/tiny")
    sizes = {c: entry["bytes"] for c, entry in read_json(tmp_path / "studies/tiny/study.json")["cells"].items()}
    assert list(sizes) == [f"{MODEL}/{DATASET}"] and 0 < sizes[f"{MODEL}/{DATASET}"] < 200_000
    stored = tmp_path / "studies/tiny" / MODEL / DATASET
    assert not (stored / "new_factors.safetensors").exists()

    # a fresh folder with the archive's files only; loading a model would fail (and its directory does not exist)
    import goldenlayers.models

    monkeypatch.setattr(goldenlayers.models, "load_model", lambda *a, **k: pytest.fail("a model was loaded"))
    fresh = tmp_path / "fresh" / "results"
    run("unarchive", "--archive", tmp_path / "studies/tiny", "--results", fresh)
    assert not (fresh / "models").exists()
    assert not Path(read_json(STUDY / "models/tiny/model.json")["path"]).exists()
    cell = fresh / MODEL / DATASET
    assert not (cell / "gradients/new_factors.safetensors").exists() and not (cell / "selection").exists()
    downstream(fresh, ("--salem-saliency", cell / archive.SALIENCY_RESULT))

    original = finished / MODEL / DATASET
    for name in RESAMPLED:
        a = pd.read_parquet(original / "resampling" / EDITOR / f"{name}.parquet")
        b = pd.read_parquet(cell / "resampling" / EDITOR / f"{name}.parquet")
        assert len(a) > 0, name
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    salem = pd.read_parquet(cell / "resampling" / EDITOR / "draws.parquet").query("selector == 'salem'")
    assert salem["layer"].nunique() > 1  # SaLEM's choice moves between draws: the stored values decide something
    summary = f"aggregate/{EDITOR}/summary.json"
    assert read_json(cell / summary) == read_json(original / summary)
    for method in ("lga", "lga_kprime", "salem", "cma", "random", "bf"):
        a, b = (read_json(root / "selection" / f"{method}.json") for root in (original, cell))
        live = ("scoring_seconds", "wall_seconds")  # measured again by this run's scoring step
        assert {k: v for k, v in a.items() if k not in live} == {k: v for k, v in b.items() if k not in live}, method
    # the archived records keep the seconds the study measured
    record = archive.read_cell(stored)
    assert record["selections"]["salem"] == read_json(original / "selection/salem.json")


def test_stored_saliency_is_keyed_by_the_draws_proxy_sets(finished, tmp_path):
    pack(finished, tmp_path / "studies/tiny")
    fresh = tmp_path / "fresh" / "results"
    archive.unpack(tmp_path / "studies/tiny", fresh)
    store = archive.load_saliency_store(fresh / MODEL / DATASET / archive.SALIENCY_RESULT)
    # 10 draws of 3, 4 curve draws each of 1 and 2, 4 x 2 bootstrap draws of 3: at most 26 distinct sets
    assert 0 < len(store["saliency"]) <= 26 and store["layers"] == [0, 1, 2]
    # other resampling settings need proxy sets the archive does not have: a clear refusal, no silent recompute
    from goldenlayers.analysis.resampling_report import run_resampling

    cell = fresh / MODEL / DATASET
    with pytest.raises(ValueError, match="packed for the resampling settings"):
        run_resampling(str(finished / MODEL / DATASET / f"aggregate/{EDITOR}/sweep.parquet"),
                       str(cell / "split.json"),
                       str(tmp_path / "other"), saliency_path=str(cell / archive.SALIENCY_RESULT), n_draws=3,
                       curve_draws=1, sizes=[1], seed=2, plan_path=str(cell / "sweep_plan.json"))


def test_an_unfinished_or_partial_layer_study_is_refused(finished, tmp_path):
    (finished / MODEL / DATASET / f"sweep/{EDITOR}/layer_1.parquet").unlink()
    (finished / MODEL / DATASET / f"resampling/{EDITOR}/summary.json").unlink()
    (finished / f"benchmarks/sweep_layer/{MODEL}/{DATASET}/{EDITOR}/layer_2.tsv").unlink()
    with pytest.raises(archive.StudyNotArchivable, match="unfinished: 3 files missing") as err:
        pack(finished, tmp_path / "studies/a")
    for missing in (f"sweep/{EDITOR}/layer_1.parquet", f"resampling/{EDITOR}/summary.json", f"{EDITOR}/layer_2.tsv"):
        assert missing in str(err.value), missing
    shutil.copy(STUDY / f"benchmarks/sweep_layer/{MODEL}/{DATASET}/{EDITOR}/layer_2.tsv",
                finished / f"benchmarks/sweep_layer/{MODEL}/{DATASET}/{EDITOR}/layer_2.tsv")

    layer_1 = f"{MODEL}/{DATASET}/sweep/{EDITOR}/layer_1.parquet"
    shutil.copy(STUDY / layer_1, finished / layer_1)
    cell = finished / MODEL / DATASET  # a summary without the resampling settings (an older version's)
    shutil.copy(cell / f"aggregate/{EDITOR}/summary.json", cell / f"resampling/{EDITOR}/summary.json")
    with pytest.raises(archive.StudyNotArchivable, match="older version"):
        pack(finished, tmp_path / "studies/c")

    plan = finished / MODEL / DATASET / "sweep_plan.json"
    write_json(plan, {**read_json(plan), "grid": [0, 2]})
    with pytest.raises(archive.StudyNotArchivable, match="not an all-layer study"):
        pack(finished, tmp_path / "studies/b")


def test_reading_refuses_another_version_provenance_or_a_changed_file(finished, tmp_path):
    out = tmp_path / "studies/tiny"
    pack(finished, out)
    stored = out / MODEL / DATASET
    cell_json = stored / "cell.json"
    record = read_json(cell_json)

    # a file of another study: same name, another provenance key (its sha256 updated, so only the key differs)
    frame, meta = archive.read_table(stored / "gradients.parquet")
    archive.write_table(stored / "gradients.parquet", frame, {**meta, "provenance_key": "another"})
    write_json(cell_json, {**record, "files": {**record["files"], "gradients.parquet": {
        "sha256": archive.sha256_file(stored / "gradients.parquet"), "bytes": 0}}})
    with pytest.raises(ValueError, match="packed from another study"):
        archive.unpack(out, tmp_path / "r1")

    write_json(cell_json, record)  # back to the packed record: the file now differs from what was packed
    with pytest.raises(ValueError, match="differs from the file packed"):
        archive.unpack(out, tmp_path / "r2")

    write_json(cell_json, {**record, "format": "goldenlayers.study_archive.v0"})
    with pytest.raises(ValueError, match="this version reads"):
        archive.unpack(out, tmp_path / "r3")


def test_unpack_does_not_overwrite_a_results_folder(finished, tmp_path):
    pack(finished, tmp_path / "studies/tiny")
    with pytest.raises(FileExistsError, match="--force"):
        archive.unpack(tmp_path / "studies/tiny", finished)
    # with the selection records: the study's own, seconds as measured
    written = archive.unpack(tmp_path / "studies/tiny", tmp_path / "fresh", with_selections=True)
    assert f"{MODEL}/{DATASET}/selection/salem.json" in written[f"{MODEL}/{DATASET}"]
    for method in ("salem", "bf", "random"):
        path = f"{MODEL}/{DATASET}/selection/{method}.json"
        assert read_json(tmp_path / "fresh" / path) == read_json(finished / path), method
    assert all((tmp_path / "fresh" / f).exists() for f in written[f"{MODEL}/{DATASET}"])
    assert json.loads((tmp_path / "studies/tiny/study.json").read_text())["cells"][f"{MODEL}/{DATASET}"]["bytes"] > 0


def test_proxy_sets_are_the_sets_the_draws_score(monkeypatch):
    """`resampling.proxy_sets` (what an archive stores SaLEM's saliency for) lists, in order, every proxy set the
    draws, the proxy-size curve and the bootstrap over facts hand to SaLEM: recorded here from those runs."""
    import numpy as np
    import torch

    from goldenlayers.analysis import resampling

    ids = [f"f{i}" for i in range(7)]
    g = torch.Generator().manual_seed(0)
    factors = {"sample_ids": ids, "layers": [0, 1], "offsets": np.arange(0, 8 * 2, 2), "provenance": {},
               "x": {layer: torch.randn(14, 3, generator=g) for layer in (0, 1)},
               "d": {layer: torch.randn(14, 2, generator=g) for layer in (0, 1)}}
    sweep = pd.DataFrame({"sample_id": np.repeat(ids, 2), "layer": np.tile([0, 1], 7),
                          "rewrite": np.linspace(0, 1, 14), "status": "ok"})
    ev = resampling.build_evidence(sweep, factors=factors)
    seen = []
    score = resampling.evidence.salem_saliency

    def recording(f, sample_ids, layers=None):
        seen.append(list(sample_ids))
        return score(f, sample_ids, layers)

    monkeypatch.setattr(resampling.evidence, "salem_saliency", recording)
    resampling.resample(ev, 3, 5, seed=4)
    resampling.proxy_size_curve(ev, [2, 4], 3, seed=4)
    resampling.fact_bootstrap(ev, 3, replicates=3, draws=2, seed=4)
    monkeypatch.undo()
    listed = list(resampling.proxy_sets(ev, 3, 5, [2, 4], 3, 3, 2, seed=4))
    assert [sids for _, sids, _ in listed] == seen and len(seen) == 5 + 2 * 3 + 3 * 2
    # a bootstrap copy "<id>#<k>" keys by its original id
    assert all(o == s.split("#")[0] for _, sids, origin in listed for s, o in zip(sids, origin))
    assert any("#" in s for _, sids, _ in listed for s in sids)
