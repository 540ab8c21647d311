"""The workflow's archive path (config `archive: studies/<name>`): a study's tables and figures rebuilt from its
archive (docs/archive.md) without a model. One restore rule per (model, dataset) cell writes what the measuring
stages would have (sample set, split, every layer's sweep, gradient scalars, traces, SaLEM's stored saliency, the
measuring jobs' timings and benchmark seconds) and the study's selection records as measured; plan_sweep (the
checkpoint) and everything after it run as in a measured study, and resample_splits reads SaLEM's stored saliency
in place of the gradient factors.

The selection records are restored as measured, not re-scored: a record carries its selector's measured seconds
(the measuring job's plus its own scoring seconds), which the tables and Figure 3 report, and a re-scoring would
replace the scoring part with this machine's seconds, so the study's tables would not rebuild byte for byte. The
chosen layers equal a re-scoring's (tests/analysis/test_archive.py reruns the selectors on an unpacked archive).
"""

from __future__ import annotations

from pathlib import Path

from goldenlayers.analysis.archive import read_cell, restored_files
from goldenlayers.plan.study import editors, main_datasets, models

# where resample_splits finds SaLEM's inputs: the gradient factors of a measured study, the saliency per proxy set
# of an archived one (the file `goldenlayers unarchive` writes)
SALEM_INPUTS = {
    False: ("--factors", "results/{model}/{dataset}/gradients/new_factors.safetensors"),
    True: ("--salem-saliency", "results/{model}/{dataset}/gradients/salem_draws.parquet"),
}


def archive_dir(config: dict) -> str | None:
    """The archive this run rebuilds from (config `archive`), or None for a measured run."""
    return config.get("archive") or None


def cell_name(model: str, dataset: str) -> str:
    return f"{model}/{dataset}"


def archived_cells(config: dict, root: str | Path = ".") -> dict[str, dict]:
    """{"model/dataset": the archived cell's record (checked: format, files, sha256)} for every cell this run plans;
    refused, naming what is wrong, when a cell is not in the archive or was packed with other editors or another
    number of layers than the config's. {} for a measured run."""
    where = archive_dir(config)
    if where is None:
        return {}
    base = Path(root) / where
    if not (base / "study.json").exists():
        raise FileNotFoundError(f"config archive={where}: no {base / 'study.json'} (not a study archive; "
                                "goldenlayers archive writes one)")
    cells = {}
    for model in models(config):
        for dataset in main_datasets(config):
            name = cell_name(model, dataset)
            if not (base / name / "cell.json").exists():
                raise ValueError(f"config archive={where} has no cell {name}; restrict the run to the archived "
                                 "cells (only_models, datasets) or pack that cell (goldenlayers archive)")
            record = read_cell(base / name)
            if record["editors"] != editors(config):
                raise ValueError(f"{where}/{name} was packed with editors {record['editors']}, the config runs "
                                 f"{editors(config)}: use the study's config")
            if int(record["num_layers"]) != int(config["models"][model]["num_layers"]):
                raise ValueError(f"{where}/{name} has {record['num_layers']} layers, the config's {model} has "
                                 f"{config['models'][model]['num_layers']}")
            cells[name] = record
    return cells


def restore_rule(cell: str) -> str:
    """The restore rule of a cell ("model/dataset"): restore_<model>_<dataset>, as a Python name."""
    return "restore_" + "".join(ch if ch.isalnum() else "_" for ch in cell)


def restore_outputs(record: dict) -> list[str]:
    """The files a cell's restore rule writes (workflow-relative): everything the measuring stages and the selectors
    would, but the sweep plan, which plan_sweep (the checkpoint) writes from the restored selections."""
    return [f"results/{path}" for path in restored_files(record, with_selections=True, with_plan=False)]


def restore_opts() -> str:
    """`goldenlayers unarchive` flags of a restore rule (see restore_outputs)."""
    return "--with-selections --without-plan --force"


def salem_input(config: dict) -> str:
    """resample_splits' SaLEM input file (with wildcards): the factors, or an archive's stored saliency."""
    return SALEM_INPUTS[archive_dir(config) is not None][1]


def salem_flag(config: dict) -> str:
    """The `goldenlayers resample` flag that names salem_input."""
    return SALEM_INPUTS[archive_dir(config) is not None][0]
