"""Start-up cost of the model-loading CLI commands: the pipeline's gradient job and `goldenlayers suggest`.

Every number is a whole process, as Snakemake's benchmark files see it (interpreter start, imports, model load,
work, exit). Measured per round, old and new code interleaved so they see the same machine load:

  python -c pass / import torch / import torch + transformers' LLaMA modelling     the floor nobody can remove
  gradients job (`goldenlayers -q gradients`, 10 proxy samples x 30 layers, --threads 2), old vs new code
  suggest (`goldenlayers -q suggest`, embedded model, 10 requests, --threads 2), new code only
plus, in one process each, the phases of the gradient job (imports, model load, gradient pass, writing, exit)
with the interpreter's default behaviour (old) and the CLI's start-up settings (new: cyclic GC off until the model
is loaded, no interpreter teardown). CPU seconds (user + sys of the child) are reported beside wall seconds: on a
shared machine they move much less with the load than wall time does.

Usage: python benchmarks/bench_startup.py --model-json results/models/smollm2-135m/model.json \
           --old-src /path/to/old/src [--rounds 3] [--out benchmarks/results/startup.json]
(--old-src: the `src` folder of the commit to compare with, e.g. `git archive e94d7bf src | tar -x -C /tmp/old`.)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NEW_SRC = Path(__file__).resolve().parents[1] / "src"

PHASES = r'''
import os, sys, time
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
marks = [("start", time.time(), time.process_time())]
def mark(name):
    marks.append((name, time.time(), time.process_time()))
new = sys.argv[1] == "new"
import gc
if new:
    gc.disable()
import torch
import transformers.models.llama.modeling_llama
mark("imports")
from goldenlayers.measure.gradients import NewGradientSum, extract_layer_gradients
from goldenlayers.io import read_json, write_parquet
from goldenlayers.models import load_prepared
torch.set_num_threads(2)
model, tok = load_prepared(sys.argv[2], device="cpu")
if new:
    gc.freeze(); gc.enable()
mark("model load")
records = read_json(sys.argv[3])
summed = NewGradientSum()
frame = extract_layer_gradients(model, tok, records, progress=False, new_gradient_sum=summed)
mark("gradient pass")
write_parquet(sys.argv[4] + "/g.parquet", frame)
write_parquet(sys.argv[4] + "/s.parquet", summed.saliency_frame())
mark("write")
with open(sys.argv[4] + "/marks.json", "w") as f:
    json_marks = [[n, w, c] for n, w, c in marks]
    import json; json.dump(json_marks, f)
if new:
    sys.stdout.flush(); os._exit(0)
'''


def run(cmd: list[str], env: dict) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started_wall = time.time()
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "started": started_wall, "ended": started_wall + wall}


def env_for(src: Path, **extra) -> dict:
    return {**os.environ, "PYTHONPATH": str(src), "OMP_WAIT_POLICY": "PASSIVE", **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-json", required=True)
    parser.add_argument("--old-src", required=True, type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/startup.json")
    args = parser.parse_args()
    sys.path.insert(0, str(NEW_SRC))
    from goldenlayers.data import load_records
    from goldenlayers.io import write_json

    work = Path(tempfile.mkdtemp(prefix="bench_startup."))
    records = [r for r in load_records("embedded:default_edits") if r["ground_truth"]][:10]
    write_json(work / "records.json", records)
    write_json(work / "split.json", {"seed": 0, "proxy_fraction": 0.5, "proxy": [r["id"] for r in records],
                                     "test": []})
    write_json(work / "requests.json", [{k: r[k] for k in ("prompt", "subject", "target_new", "ground_truth")}
                                        for r in records])
    cache = work / "cache"
    from goldenlayers.models import prepared_path

    model_dir = prepared_path(args.model_json)  # model.json may record its folder relative to itself
    # the embedded model's cache for `suggest`: the already-prepared directory, as `suggest` would leave it
    from goldenlayers.suggest import _embedded_fingerprint

    (cache / "models" / "smollm2-135m").mkdir(parents=True)
    os.symlink(model_dir, cache / "models" / "smollm2-135m" / "hf")
    write_json(cache / "models" / "smollm2-135m" / "prepared_from.json", _embedded_fingerprint("embedded:smollm2-135m"))

    py = sys.executable

    def gradients_cmd(out):
        return [py, "-m", "goldenlayers.cli", "-q", "gradients", "--model", args.model_json, "--threads", "2",
                "--records", str(work / "records.json"), "--split", str(work / "split.json"), "--subset", "proxy",
                "--out", str(out / "g.parquet"), "--out-saliency", str(out / "s.parquet")]

    suggest_cmd = [py, "-m", "goldenlayers.cli", "-q", "suggest", "--requests", str(work / "requests.json"),
                   "--threads", "2", "--json", str(work / "suggestion.json")]
    floors = {
        "python -c pass": [py, "-c", "pass"],
        "import torch": [py, "-c", "import torch"],
        "import torch + transformers LLaMA": [py, "-c", "import torch, transformers.models.llama.modeling_llama"],
        "goldenlayers --help": [py, "-m", "goldenlayers.cli", "--help"],
    }
    rows = []
    for round_ in range(args.rounds):
        for name, cmd in floors.items():
            rows.append({"round": round_, "what": name, **run(cmd, env_for(NEW_SRC)), "load": os.getloadavg()[0]})
        for variant, src in (("old", args.old_src), ("new", NEW_SRC)):
            out = work / f"{variant}{round_}"
            out.mkdir()
            rows.append({"round": round_, "what": f"gradients job ({variant})", **run(gradients_cmd(out), env_for(src)),
                         "load": os.getloadavg()[0]})
            phases = work / f"phases_{variant}{round_}"
            phases.mkdir()
            timing = run([py, "-c", PHASES, variant, args.model_json, str(work / "records.json"), str(phases)],
                         env_for(src))
            marks = json.loads((phases / "marks.json").read_text())
            phase = {name: {"wall": w - marks[i][1], "cpu": c - marks[i][2]}
                     for i, (name, w, c) in enumerate(marks[1:])}
            phase["interpreter start"] = {"wall": marks[0][1] - timing["started"], "cpu": None}
            phase["exit"] = {"wall": timing["ended"] - marks[-1][1], "cpu": None}
            rows.append({"round": round_, "what": f"gradient job phases ({variant})", **timing, "phases": phase,
                         "load": os.getloadavg()[0]})
        rows.append({"round": round_, "what": "suggest (new)", **run(suggest_cmd, env_for(NEW_SRC, GOLDENLAYERS_CACHE=str(cache))),
                     "load": os.getloadavg()[0],
                     "suggest_seconds": json.loads((work / "suggestion.json").read_text())["seconds"]})
        print(f"round {round_}: " + "; ".join(f"{r['what']} {r['wall']:.2f} s wall / {r['cpu']:.2f} s cpu"
                                              for r in rows if r["round"] == round_), flush=True)
    summary = {}
    for what in dict.fromkeys(r["what"] for r in rows):
        mine = [r for r in rows if r["what"] == what]
        summary[what] = {"min_wall": min(r["wall"] for r in mine), "min_cpu": min(r["cpu"] for r in mine),
                         "median_wall": sorted(r["wall"] for r in mine)[len(mine) // 2]}
    write_json(args.out, {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": platform.platform(),
                          "cpus": os.cpu_count(), "rounds": rows, "summary": summary})
    for what, s in summary.items():
        print(f"{what:45s} min wall {s['min_wall']:6.2f} s  median wall {s['median_wall']:6.2f} s  "
              f"min cpu {s['min_cpu']:6.2f} s")


if __name__ == "__main__":
    main()
