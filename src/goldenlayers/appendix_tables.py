"""Tables 12 and 13: the appendix settings' test metrics at the layers LGA, SaLEM and CMA chose.

Input: one `appendix-eval` result per (model, dataset, selector). Output: `<out>.csv` (NaN where a metric was
skipped), `<out>.md` (caption, the table with "skipped" in such cells, and one note per skipped metric naming
what to provide) and the provenance sidecar every table has.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from goldenlayers.analysis import to_markdown
from goldenlayers.appendix import SETTINGS
from goldenlayers.io import read_json, write_json, write_text
from goldenlayers.selectors import SELECTORS

METHOD_ORDER = ("cma", "salem", "lga")  # the paper's row order
TABLES = {
    "table12": {
        "setting": "composite",
        "caption": "Table 12: compositional editing (PeakCF) at the layers chosen by CMA, SaLEM and LGA; R-ROME "
                   "edits each test sample, SRS (compositional success), SR-1 (single-edit success), GSR "
                   "(generalisation success), LSR (ROUGE-L of the greedy generation); Overall is their mean.",
    },
    "table13": {
        "setting": "unstructured",
        "caption": "Table 13: unstructured editing (UnKE) at the layers chosen by CMA, SaLEM and LGA; R-ROME edits "
                   "each test sample, greedy answers scored by BLEU, ROUGE-1/2/L and Para-ROUGE-L (recall), BERTScore "
                   "F1 and MMLU accuracy of the edited model; Overall is the mean of the metrics computed.",
    },
}


def appendix_table(result_files: list[str], table: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """The table's rows (Model, Dataset, Method, Layer, n_test, metrics..., Overall) and skipped-metric notes."""
    spec = TABLES[table]
    metrics = SETTINGS[spec["setting"]]
    rows, notes = [], {}
    for path in result_files:
        result = read_json(path)
        if result["setting"] != spec["setting"]:
            raise ValueError(f"{path}: a {result['setting']} result cannot go into {table} ({spec['setting']})")
        row = {"Model": result["model"], "Dataset": result["dataset"], "Method": result["method"],
               "Layer": result["layer"], "n_test": result["n_test"]}
        row.update({m: result["metrics"][m] for m in metrics})
        row["Overall"] = result["metrics"]["Overall"]
        rows.append(row)
        for metric, reason in result["skipped"].items():
            notes.setdefault(metric, reason)
    frame = pd.DataFrame(rows, columns=["Model", "Dataset", "Method", "Layer", "n_test", *metrics, "Overall"])
    order = {m: i for i, m in enumerate(METHOD_ORDER)}
    frame = frame.sort_values(["Model", "Dataset", "Method"], key=lambda c: c.map(order) if c.name == "Method"
                              else c, kind="stable").reset_index(drop=True)
    frame["Method"] = frame["Method"].map(lambda m: SELECTORS[m].label if m in SELECTORS else m)
    return frame, notes


def write_appendix_table(result_files: list[str], table: str, out_dir: str, provenance: dict) -> pd.DataFrame:
    frame, notes = appendix_table(result_files, table)
    prefix = Path(out_dir) / table
    write_text(f"{prefix}.csv", frame.to_csv(index=False))
    shown = frame.copy()
    for metric in notes:
        shown[metric] = shown[metric].map(lambda v: "skipped" if isinstance(v, float) and math.isnan(v) else v)
    lines = [TABLES[table]["caption"], "", to_markdown(shown).rstrip("\n"), ""]
    lines += [f"- {metric}: {reason}" for metric, reason in notes.items()]
    write_text(f"{prefix}.md", "\n".join(lines) + "\n")
    write_json(f"{prefix}.provenance.json", {**provenance, "skipped": notes})
    return frame
