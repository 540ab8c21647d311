"""CPU seconds per R-ROME edit on two versions of the same records (old vs new default data), interleaved.

The sweep's `edit_seconds` is wall time, which on a shared machine depends on who else is running; this measures
process CPU time (one torch thread, so CPU time ~ single-core wall time on a quiet machine) of the sweep's own
`edit_and_evaluate`, alternating old and new record of the same fact so that load hits both alike.

Usage: python benchmarks/bench_data_edit_time.py --model-json M --templates T --hparams H \
           --old OLD_RECORDS.json --new NEW_RECORDS.json --ids 29 42 ... --layers 0 28 [--out JSON]
(records: `goldenlayers filter-dataset` outputs, which carry the pre-edit locality predictions.)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from goldenlayers.editing import load_hparams
from goldenlayers.models import load_prepared
from goldenlayers.sweep.single import edit_and_evaluate


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("--model-json", "--templates", "--hparams", "--old", "--new"):
        p.add_argument(name, required=True)
    p.add_argument("--ids", nargs="+", required=True)
    p.add_argument("--layers", nargs="+", type=int, default=[0, 28])
    p.add_argument("--out")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    model, tok = load_prepared(args.model_json, device="cpu")
    hparams = load_hparams("r-rome", args.hparams)
    templates = json.loads(Path(args.templates).read_text())["templates"]
    data = {side: {r["id"]: r for r in json.loads(Path(getattr(args, side)).read_text())} for side in ("old", "new")}
    rows = []
    for layer in args.layers:
        for rid in args.ids:
            for side in ("old", "new"):
                started = time.process_time()
                row = edit_and_evaluate(model, tok, data[side][rid], "r-rome", hparams, layer, templates)
                rows.append({"side": side, "id": rid, "layer": layer, "cpu_s": time.process_time() - started,
                             "steps": row["steps"], "rewrite": row["rewrite"]})
    summary = {}
    for side in ("old", "new"):
        for layer in args.layers:
            sel = [r for r in rows if r["side"] == side and r["layer"] == layer]
            summary[f"{side} layer {layer}"] = {
                "cpu_s_per_edit": round(sum(r["cpu_s"] for r in sel) / len(sel), 3),
                "steps": round(sum(r["steps"] for r in sel) / len(sel), 2)}
    for key, value in summary.items():
        print(key, value)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"summary": summary, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
