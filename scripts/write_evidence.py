"""Write the study's measured cells into the study evidence file that `suggest` prints from
(src/goldenlayers/data/study_evidence.json; format in docs/architecture.md, "The study evidence file").

    python scripts/write_evidence.py results/smollm2-135m/counterfact/resampling/r-rome/summary.json ... \
        --source "docs/findings.md, the frontier table (results/report/study-cpu-smollm2-cf/frontier.md)"

Each resampling run (summary.json beside its draws and its bootstrap over facts) gives one cell per selector
setting of its frontier rows (`analysis.frontier.frontier_rows`: the same numbers the frontier table and Table 16
print) for the evidence file's metric: the zero-edit selectors and full BF with settings {}, verify with the k, m
and metric `suggest --verify` passes, BF on m proxy facts with {"m"}. A cell of the same (model, dataset, editor,
selector, settings, metric) is replaced; every other cell is kept, so the runs of a study can be written one at a
time. The numbers are never typed by hand.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EVIDENCE = REPO / "src/goldenlayers/data/study_evidence.json"


def cell_settings(setting: dict) -> dict:
    """A frontier row's setting ({selector, params}) as the evidence file keys it: what `suggest` passes."""
    params = setting.get("params") or {}
    if setting["selector"] == "verify":
        from goldenlayers.selection import registry

        return {"k": int(params.get("shortlist_k") or registry.SHORTLIST_K),
                "m": int(params.get("proxy_facts") or registry.VERIFY_FACTS),
                "metric": params.get("verify_metric") or registry.VERIFY_METRIC}
    if setting["selector"] == "bf" and params.get("proxy_facts"):
        return {"m": int(params["proxy_facts"])}
    return {}


def _round(value) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), 4)


def cells_of(runs: dict, metric: str, source: str) -> list[dict]:
    """One evidence cell per frontier row of `metric` of every run ({(model, dataset, editor): run} as
    `report.tables.load_resampling_runs` reads them)."""
    from goldenlayers.analysis import frontier

    out = []
    for (model, dataset, editor), run in runs.items():
        summary = run["summary"]
        rows = frontier.frontier_rows(run, [metric])
        for row in rows.to_dict("records"):
            setting = (summary.get("settings") or {}).get(row["selector"]) or {"selector": row["selector"]}
            low, high = _round(row["facts_low"]), _round(row["facts_high"])
            out.append({"model": model, "dataset": dataset, "editor": editor, "selector": setting["selector"],
                        "settings": cell_settings(setting), "metric": metric,
                        "mean_regret": _round(row["mean_regret"]),
                        "ci_over_facts": None if low is None or high is None else [low, high],
                        "facts": int(summary["n_samples"]), "proxy": int(summary["n_proxy"]),
                        "draws": int(row["n_draws"]), "edits": int(row["edits"]), "source": source})
    return out


def merge(doc: dict, cells: list[dict]) -> dict:
    """`doc` with `cells` in place of the cells of the same key (order kept; new ones at the end)."""
    def key(c):
        return (c["model"], c["dataset"], c["editor"], c["selector"], json.dumps(c["settings"], sort_keys=True),
                c["metric"])

    new = {key(c): c for c in cells}
    kept = [new.pop(key(c), c) for c in doc["cells"]]
    return {**doc, "cells": kept + list(new.values())}


def write(doc: dict, path: Path) -> None:
    """One cell a line, as the file is read in review."""
    head = {k: v for k, v in doc.items() if k != "cells"}
    lines = ["{"] + [f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in head.items()]
    lines.append(' "cells": [')
    lines += [f"  {json.dumps(c, ensure_ascii=False)}" + ("," if i < len(doc["cells"]) - 1 else "")
              for i, c in enumerate(doc["cells"])]
    lines += [" ]", "}"]
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("summaries", nargs="+", help="resampling summary.json files (draws beside them)")
    parser.add_argument("--source", required=True, help="where a reader finds these numbers (a doc and its table)")
    parser.add_argument("--evidence", type=Path, default=EVIDENCE, help="the evidence file (default: the package's)")
    args = parser.parse_args(argv)
    from goldenlayers.report.tables import load_resampling_runs
    from goldenlayers.suggest import study_evidence

    doc = json.loads(args.evidence.read_text())
    cells = cells_of(load_resampling_runs(args.summaries), doc["metric"], args.source)
    merged = merge(doc, cells)
    write(merged, args.evidence)
    study_evidence(args.evidence)  # the file still has the format suggest reads (raises otherwise)
    print(f"{args.evidence}: {len(cells)} cells written from {len(args.summaries)} run(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
