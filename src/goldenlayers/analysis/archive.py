"""A finished all-layer study's evidence, packed small enough for the repository (`goldenlayers archive`), and read
back into a results folder (`goldenlayers unarchive`) from which aggregate, the selectors and the resampling rebuild
the study's tables and figures without a model. Format: docs/archive.md.

Per (model, dataset) cell, `studies/<name>/<model>/<dataset>/` holds `cell.json` (provenance, the split, the sample
set, the sweep plan, the resampling settings, the measured seconds, the pipeline's selection records) and zstd
parquet files of what the downstream stages read. SaLEM's gradient factors are too large to keep, so the archive
keeps SaLEM's saliency for every proxy set the resampling draws (`resampling.proxy_sets`), keyed by
`resampling.proxy_key`. Every parquet file names the cell provenance it was packed with; reading refuses a file of
another format version or another provenance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from goldenlayers.config import main_cells
from goldenlayers.data import METRICS
from goldenlayers.io import (atomic_path, config_hash, git_commit, read_json, read_parquet, read_yaml, sha256_file, write_json,
                             write_text)

FORMAT = "goldenlayers.study_archive.v1"
META_KEY = b"goldenlayers.archive"
# the sweep columns a downstream stage reads: the metrics (stats), the status (failed edits count 0), the edit and
# evaluation seconds (BF's wall time); a sweep file's other columns (fluency_raw, steps, reason) are left out
SWEEP_COLUMNS = ("sample_id", "layer", "editor", *METRICS, "fluency", "edit_seconds", "eval_seconds", "status")
RECORD_COLUMNS = ("id", "relation", "subject", "prompt", "ground_truth", "target_new")
# archive file -> the results file it comes from and goes back to (cell-relative)
TABLES = {
    "gradients.parquet": "gradients/samples.parquet",
    "proxy_saliency.parquet": "gradients/proxy_saliency.parquet",
    "effects.parquet": "causal_trace/samples.parquet",
}
SALIENCY_FILE = "salem_draws.parquet"
SALIENCY_RESULT = "gradients/salem_draws.parquet"  # where unarchive puts it: `resample --salem-saliency` reads it
TIMINGS = {"gradients": "gradients/timing.json", "causal_trace": "causal_trace/timing.json"}


class StudyNotArchivable(ValueError):
    """The study is unfinished, or not an all-layer study: the message names what is missing."""


# ----------------------------------------------------------------------------------------------------------
# parquet with the cell's provenance
# ----------------------------------------------------------------------------------------------------------
def write_table(path: Path, frame: pd.DataFrame, meta: dict) -> None:
    """`frame` as zstd parquet (float columns byte-stream split: it halves most of them) with `meta` attached."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), META_KEY: json.dumps(meta).encode()})
    floats = [f.name for f in table.schema if pa.types.is_floating(f.type)]
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", compression_level=19, use_byte_stream_split=floats or False)


def read_table(path: Path, provenance_key: str | None = None) -> tuple[pd.DataFrame, dict]:
    """(frame, its archive metadata), refused when it is of another format or another cell's provenance."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    raw = (table.schema.metadata or {}).get(META_KEY)
    meta = json.loads(raw) if raw else {}
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: archive format {meta.get('format')!r}, this version reads {FORMAT!r}; pack the "
                         "study again with this version (goldenlayers archive)")
    if provenance_key is not None and meta.get("provenance_key") != provenance_key:
        raise ValueError(f"{path} was packed from another study (provenance {meta.get('provenance_key')}, its "
                         f"cell.json says {provenance_key}): pack the cell again")
    return table.to_pandas(), meta


def load_saliency_store(path) -> dict:
    """The stored SaLEM saliency of an archived cell: {samples, layers, n_entries, settings, saliency: {key: [L]}}
    (`resampling.stored_saliency` reads it)."""
    frame, meta = read_table(Path(path))
    layers = [int(x) for x in meta["layers"]]
    values = frame[[f"layer_{layer}" for layer in layers]].to_numpy(dtype=np.float64)
    return {"samples": list(meta["samples"]), "layers": layers, "settings": meta["settings"],
            "n_entries": {int(k): int(v) for k, v in meta["n_entries"].items()},
            "saliency": dict(zip(frame["key"].astype(str), values))}


# ----------------------------------------------------------------------------------------------------------
# pack
# ----------------------------------------------------------------------------------------------------------
def _check_finished(results: Path, model: str, dataset: str, editors: Sequence[str]) -> tuple[dict, int]:
    """(the model's model.json, its number of layers); refuses an unfinished or not all-layer cell, naming every
    missing file."""
    cell = results / model / dataset
    model_json = results / "models" / model / "model.json"
    if not model_json.exists():
        raise StudyNotArchivable(f"{model}/{dataset}: no {model_json} (prepare_model has not run)")
    ref = read_json(model_json)
    n = int(ref["num_layers"])
    wanted = ["samples.json", "split.json", "sweep_plan.json", "records.json", *TABLES.values(), *TIMINGS.values(),
              "gradients/new_factors.safetensors"]
    wanted += [f"{part}/{e}/{name}" for e in editors for part, name in (("aggregate", "sweep.parquet"),
                                                                        ("aggregate", "summary.json"),
                                                                        ("resampling", "summary.json"))]
    wanted += [f"sweep/{e}/layer_{layer}.parquet" for e in editors for layer in range(n)]
    missing = [w for w in wanted if not (cell / w).exists()]
    missing += [str(b) for b in _stage_benchmarks(results, model, dataset) if not b.exists()]
    # BF's wall time: each layer's sweep job (or its chunk jobs) of the first editor
    sweeps = results / "benchmarks" / "sweep_layer" / model / dataset / editors[0]
    missing += [str(sweeps / f"layer_{layer}.tsv") for layer in range(n)
                if not (sweeps / f"layer_{layer}.tsv").exists() and not list(sweeps.glob(f"layer_{layer}_chunk_*.tsv"))]
    if (cell / "sweep_plan.json").exists():
        plan = read_json(cell / "sweep_plan.json")
        if [int(x) for x in plan["grid"]] != list(range(n)):
            raise StudyNotArchivable(f"{model}/{dataset} is not an all-layer study: its grid is {plan['grid']} of "
                                     f"{n} layers; the archive keeps every layer (config `layers: all`)")
    if missing:
        raise StudyNotArchivable(f"{model}/{dataset} is unfinished: {len(missing)} files missing under {cell}: "
                                 f"{', '.join(missing[:12])}{' ...' if len(missing) > 12 else ''}; finish the run "
                                 "(snakemake --cores N with its config) before archiving")
    return ref, n


def _stage_benchmarks(results: Path, model: str, dataset: str) -> list[Path]:
    return [results / "benchmarks" / stage / model / f"{dataset}.tsv"
            for stage in ("extract_gradients", "trace_causal_effects")]


def _benchmark_seconds(results: Path, model: str, dataset: str, editors: Sequence[str]) -> dict[str, list[float]]:
    """{results-relative benchmark path: its `s` values}: the measuring jobs' and every sweep job's (chunks too),
    the seconds the selectors' and BF's wall times are computed from."""
    import csv

    paths = list(_stage_benchmarks(results, model, dataset))
    for editor in editors:
        paths += sorted((results / "benchmarks" / "sweep_layer" / model / dataset / editor).glob("layer_*.tsv"))
    out = {}
    for path in paths:
        with open(path) as f:
            out[str(path.relative_to(results))] = [float(row["s"]) for row in csv.DictReader(f, delimiter="\t")]
    return out


def _resampling_settings(cell: Path, editors: Sequence[str], n: int) -> dict:
    """The resampling run's settings, from its summary (the same for every editor: one SaLEM store serves all)."""
    keys = ("n_proxy", "n_draws", "curve_sizes", "curve_draws", "fact_bootstrap", "seed", "candidate_layers",
            "metric", "selector_params", "n_samples")
    settings = [{k: read_json(cell / "resampling" / e / "summary.json").get(k) for k in keys} for e in editors]
    absent = sorted({k for s in settings for k in keys if s[k] is None})
    if absent:
        raise StudyNotArchivable(f"{cell}: the resampling summary has no {', '.join(absent)} (written by an older "
                                 "version): rerun `goldenlayers resample` (snakemake --forcerun resample_splits)")
    if any(s != settings[0] for s in settings):
        raise StudyNotArchivable(f"{cell}: the editors' resampling runs used different settings: {settings}")
    if settings[0]["candidate_layers"] != list(range(n)):
        raise StudyNotArchivable(f"{cell}: the draws chose among {settings[0]['candidate_layers']}, not every layer "
                                 "(resampling.candidates: grid with layers: all)")
    return settings[0]


def saliency_store(cell: Path, editor: str, settings: dict, threads: int = 1) -> tuple[pd.DataFrame, dict]:
    """SaLEM's saliency for every proxy set the resampling draws with `settings`, from the cell's factors, as the
    resample stage computes it (same calls; `threads` torch threads, the stage's). (frame, metadata)."""
    import torch

    from goldenlayers.analysis import resampling
    from goldenlayers.measure.factors import load_factors, salem_saliency

    torch.set_num_threads(int(threads))
    ev = resampling.build_evidence(read_parquet(cell / "aggregate" / editor / "sweep.parquet"),
                                   factors=load_factors(cell / "gradients" / "new_factors.safetensors"),
                                   candidates=settings["candidate_layers"], metric=settings["metric"])
    boot = settings["fact_bootstrap"]
    rows, n_entries = {}, {}
    for e, ids, origin in resampling.proxy_sets(ev, settings["n_proxy"], settings["n_draws"],
                                                settings["curve_sizes"], settings["curve_draws"],
                                                boot["replicates"], boot["draws"], settings["seed"]):
        key = resampling.proxy_key(origin)
        if key not in rows:
            table = salem_saliency(e["factors"], ids, e["layers"])
            rows[key] = [key, len(ids), *table["saliency"].to_list()]
            n_entries = {str(int(r.layer)): int(r.n_entries) for r in table.itertuples()}
    frame = pd.DataFrame(list(rows.values()), columns=["key", "n_samples", *(f"layer_{x}" for x in ev["layers"])])
    return frame, {"samples": ev["samples"], "layers": ev["layers"], "n_entries": n_entries, "settings": settings,
                   "threads": int(threads)}


def _records_table(cell: Path) -> pd.DataFrame:
    """The kept records, one row each: what each sample id is, and how many prompts it has per metric."""
    records = read_json(cell / "records.json")
    rows = []
    for r in records:
        row = {k: (None if r.get(k) is None else str(r.get(k))) for k in RECORD_COLUMNS}
        row.update({f"n_{m}": len(r.get(m) or []) for m in ("rephrase_prompts", "locality", "portability")})
        rows.append(row)
    return pd.DataFrame(rows)


def pack_cell(results: Path, config: dict, config_path: Path, model: str, dataset: str, out: Path,
              threads: int = 1) -> dict:
    """Pack one finished all-layer cell into `out` (studies/<name>/<model>/<dataset>); its cell.json."""
    editors = list(config["editors"])
    model_ref, n = _check_finished(results, model, dataset, editors)
    cell = results / model / dataset
    settings = _resampling_settings(cell, editors, n)
    validation = results / "datasets" / dataset / "validation.json"
    dataset_ref = read_json(validation) if validation.exists() else {}
    report = results / "report" / str(config.get("run_name", "")) / "table1.provenance.json"
    provenance = {
        "format": FORMAT, "model": model, "dataset": dataset, "config_hash": config_hash(read_yaml(config_path)),
        "study_commit": read_json(report).get("git_commit") if report.exists() else None,
        "packed_commit": git_commit(Path(__file__).parent),
        "model_fingerprint": {k: v for k, v in model_ref.items() if k != "path"},
        "dataset_file": {k: dataset_ref.get(k)
                         for k in ("source", "sha256", "format", "n_records", "supported_metrics")},
        "factors_sha256": sha256_file(cell / "gradients" / "new_factors.safetensors"),
    }
    key = config_hash(provenance)
    out.mkdir(parents=True, exist_ok=True)

    def meta(source: str) -> dict:
        return {"format": FORMAT, "provenance_key": key, "model": model, "dataset": dataset, "source": source}

    sweeps = [read_parquet(cell / "sweep" / e / f"layer_{layer}.parquet") for e in editors for layer in range(n)]
    sweep = pd.concat(sweeps, ignore_index=True)
    write_table(out / "sweep.parquet", sweep[[c for c in SWEEP_COLUMNS if c in sweep.columns]],
                meta("sweep/<editor>/layer_<L>.parquet"))
    for name, source in TABLES.items():
        write_table(out / name, read_parquet(cell / source), {**meta(source), "sha256": sha256_file(cell / source)})
    write_table(out / "records.parquet", _records_table(cell), meta("records.json"))
    frame, store_meta = saliency_store(cell, editors[0], settings, threads)
    write_table(out / SALIENCY_FILE, frame, {**meta("gradients/new_factors.safetensors"), **store_meta})
    files = {p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size} for p in sorted(out.glob("*.parquet"))}
    filter_report = read_json(cell / "filter_report.json") if (cell / "filter_report.json").exists() else {}
    record = {
        "format": FORMAT, "provenance": provenance, "provenance_key": key, "editors": editors, "num_layers": n,
        "samples": read_json(cell / "samples.json"), "split": read_json(cell / "split.json"),
        "sweep_plan": read_json(cell / "sweep_plan.json"), "resampling": settings,
        "filter": {k: filter_report.get(k) for k in ("n_records", "n_known", "n_kept")},
        "timings": {name: read_json(cell / path) for name, path in TIMINGS.items()},
        "benchmarks": _benchmark_seconds(results, model, dataset, editors),
        "selections": {p.stem: read_json(p) for p in sorted((cell / "selection").glob("*.json"))},
        "files": files,
    }
    write_json(out / "cell.json", record)
    record["size_bytes"] = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    return record


def pack(results, config_path, out_dir, cells: Iterable[str] | None = None, threads: int = 1) -> dict:
    """Pack the (model, dataset) `cells` ("model/dataset"; default every cell of the run's config) of a finished
    study in `results` into `out_dir` (studies/<name>), adding to what is there; {cell: size in bytes}."""
    results, out_dir, config_path = Path(results), Path(out_dir), Path(config_path)
    config = read_yaml(config_path)
    known = {f"{m}/{d}": (m, d) for m, d in main_cells(config)}
    wanted = list(cells) if cells else list(known)
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise ValueError(f"cells {unknown} are not in the run's config {config_path} (its cells: {sorted(known)})")
    sizes = {}
    for name in wanted:
        model, dataset = known[name]
        sizes[name] = pack_cell(results, config, config_path, model, dataset, out_dir / model / dataset,
                                threads)["size_bytes"]
    index = out_dir / "study.json"
    study = read_json(index) if index.exists() else {"format": FORMAT, "cells": {}}
    if study.get("format") != FORMAT:
        raise ValueError(f"{index}: archive format {study.get('format')!r}, this version writes {FORMAT!r}")
    study["cells"].update({name: {"bytes": size} for name, size in sizes.items()})
    write_json(index, study)
    return sizes


# ----------------------------------------------------------------------------------------------------------
# unpack
# ----------------------------------------------------------------------------------------------------------
def read_cell(cell_dir) -> dict:
    """An archived cell's cell.json, checked: this format version, and every file there with its recorded sha256."""
    cell_dir = Path(cell_dir)
    path = cell_dir / "cell.json"
    if not path.exists():
        raise FileNotFoundError(f"{cell_dir}: no cell.json (not an archived cell; pack it with goldenlayers archive)")
    record = read_json(path)
    if record.get("format") != FORMAT:
        raise ValueError(f"{path}: archive format {record.get('format')!r}, this version reads {FORMAT!r}; pack the "
                         "study again with this version")
    for name, entry in record["files"].items():
        if not (cell_dir / name).exists():
            raise ValueError(f"{cell_dir}: {name} is missing (cell.json lists it)")
        if sha256_file(cell_dir / name) != entry["sha256"]:
            raise ValueError(f"{cell_dir / name} differs from the file packed (sha256); restore it or pack again")
    return record


def restored_files(record: dict, with_selections: bool = False, with_plan: bool = True) -> list[str]:
    """The results-relative files `unpack_cell` writes for an archived cell (a workflow rule's outputs)."""
    model, dataset = record["provenance"]["model"], record["provenance"]["dataset"]
    cell = f"{model}/{dataset}"
    files = [f"{cell}/{name}" for name in ("samples.json", "split.json", *(["sweep_plan.json"] * with_plan))]
    files += [f"{cell}/sweep/{e}/layer_{layer}.parquet" for e in record["editors"]
              for layer in range(record["num_layers"])]
    files += [f"{cell}/{p}" for p in (*TABLES.values(), SALIENCY_RESULT, *TIMINGS.values())]
    files += list(record["benchmarks"])
    if with_selections:
        files += [f"{cell}/selection/{name}.json" for name in record["selections"]]
    return files


def unpack_cell(cell_dir, results, with_selections: bool = False, with_plan: bool = True) -> list[str]:
    """Write an archived cell's files into `results` (the layout the downstream rules read): the sample set, split
    and plan, every sweep file, the gradient scalars, SaLEM's proxy saliency and stored draws saliency, the causal
    traces, the measuring jobs' timings and benchmark seconds; with `with_selections` the pipeline's selection
    records too (their measured seconds as the study recorded them); without `with_plan` no sweep_plan.json (the
    workflow's plan_sweep checkpoint writes it from the selections). Returns the files written."""
    cell_dir, results = Path(cell_dir), Path(results)
    record = read_cell(cell_dir)
    key = record["provenance_key"]
    model, dataset = record["provenance"]["model"], record["provenance"]["dataset"]
    cell = results / model / dataset
    for name in ("samples", "split", *(["sweep_plan"] * with_plan)):
        write_json(cell / f"{name}.json", record[name])
    sweep, _ = read_table(cell_dir / "sweep.parquet", key)
    for (editor, layer), rows in sweep.groupby(["editor", "layer"], sort=True):
        with atomic_path(cell / "sweep" / str(editor) / f"layer_{int(layer)}.parquet") as tmp:
            rows.reset_index(drop=True).to_parquet(tmp, index=False)
    for name, target in TABLES.items():
        frame, _ = read_table(cell_dir / name, key)
        with atomic_path(cell / target) as tmp:
            frame.to_parquet(tmp, index=False)
    read_table(cell_dir / SALIENCY_FILE, key)
    with atomic_path(cell / SALIENCY_RESULT) as tmp:
        tmp.write_bytes((cell_dir / SALIENCY_FILE).read_bytes())
    for name, target in TIMINGS.items():
        write_json(cell / target, record["timings"][name])
    for path, seconds in record["benchmarks"].items():
        write_text(results / path, "s\n" + "".join(f"{s!r}\n" for s in seconds))
    if with_selections:
        for name, selection in record["selections"].items():
            write_json(cell / "selection" / f"{name}.json", selection)
    return restored_files(record, with_selections, with_plan)


def unpack(archive_dir, results, cells: Iterable[str] | None = None, with_selections: bool = False,
           force: bool = False, with_plan: bool = True) -> dict[str, list[str]]:
    """Unpack the archived `cells` ("model/dataset"; default all in study.json) into `results`; refuses to overwrite
    an existing file unless `force`. {cell: files written}."""
    archive_dir, results = Path(archive_dir), Path(results)
    index = archive_dir / "study.json"
    if not index.exists():
        raise FileNotFoundError(f"{archive_dir}: no study.json (not a study archive; goldenlayers archive writes one)")
    study = read_json(index)
    wanted = list(cells) if cells else list(study["cells"])
    unknown = [c for c in wanted if c not in study["cells"]]
    if unknown:
        raise ValueError(f"cells {unknown} are not in {index} (it has {sorted(study['cells'])})")
    if not force:
        clash = [f for c in wanted for f in restored_files(read_cell(archive_dir / c), with_selections, with_plan)
                 if (results / f).exists()]
        if clash:
            raise FileExistsError(f"{len(clash)} files exist already under {results}, e.g. {clash[:3]}: unpack into "
                                  "a fresh folder, or pass --force to overwrite them")
    return {c: unpack_cell(archive_dir / c, results, with_selections, with_plan) for c in wanted}


def rebuild_provenance(config: dict) -> dict:
    """What a table rebuilt from an archive (config `archive`) says it comes from: the study's config hash (the
    resolved config without `archive`: equal to the study's own when rebuilt with its config) and the commit the
    study ran at (one commit, or the cells' commits joined with "+"), the archive and the rebuilding commit beside;
    so a document spliced from the study's tables stays up to date when they are rebuilt."""
    where = Path(config["archive"])
    cells = [f"{m}/{d}" for m, d in main_cells(config)]
    commits = sorted({str(read_json(where / c / "cell.json")["provenance"].get("study_commit")) for c in cells})
    return {"config_hash": config_hash({k: v for k, v in config.items() if k != "archive"}),
            "git_commit": "+".join(commits) if commits != ["None"] else None,
            "rebuilt_from": str(where), "rebuilt_commit": git_commit(Path(__file__).parent)}
