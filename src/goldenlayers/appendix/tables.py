"""Tables 12 and 13: the appendix settings' test metrics at the layers LGA, SaLEM and CMA chose.

Input: one `appendix-eval` result per (model, dataset, selector). `appendix_table` gives the rows (NaN where a
metric was skipped) and the skipped-metric notes; the registry entries of `goldenlayers.report.tables` turn them into the
CSV and a Markdown with the caption, "skipped" in such cells and one note per skipped metric naming what to provide.
"""

from __future__ import annotations

import pandas as pd

from goldenlayers.appendix.evaluate import SETTINGS
from goldenlayers.io import read_json
from goldenlayers.selection.registry import SELECTORS

METHOD_ORDER = ("cma", "salem", "lga")  # the paper's row order
# the appendix setting whose results each table shows (captions and file writing: goldenlayers.report.tables / report)
TABLE_SETTINGS = {"table12": "composite", "table13": "unstructured"}


def appendix_table(result_files: list[str], table: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """The table's rows (Model, Dataset, Method, Layer, n_test, metrics..., Overall) and skipped-metric notes."""
    setting = TABLE_SETTINGS[table]
    metrics = SETTINGS[setting]
    rows, notes = [], {}
    for path in result_files:
        result = read_json(path)
        if result["setting"] != setting:
            raise ValueError(f"{path}: a {result['setting']} result cannot go into {table} ({setting})")
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
