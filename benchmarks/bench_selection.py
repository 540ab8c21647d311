"""Benchmark the layer selectors against brute force (BF) on the real default model and one proxy set.

Measured on the same proxy set (default: 10 capital-city edit records, the default config's proxy size) and the
same candidate layers (all 30 of SmolLM2-135M), with the model already loaded (loading is the same for every
method and is left out):

  LGA      `extract_layer_gradients` (one forward+backward per batch of sequences, all layers) + `run_lga`;
           minimum over `--rounds` runs.
  SaLEM    the same pass with the summed new-knowledge gradient accumulated, + `run_salem` (one run).
  CMA      `trace_records` (ROME's causal tracing, 10 noise draws, 10-layer window) + `run_cma` (one run).
  BF       *estimated*: an R-ROME edit + evaluation + restore (`sweep.edit_and_evaluate`, exactly what a sweep job
           does per sample) is timed for `--bf-samples` samples at each of `--bf-layers` (spread over the model);
           BF = mean seconds per edit x n_layers x n_samples. Editing all 300 would take tens of minutes here.
           Context templates are generated once beforehand and not counted (BF shares them with every edit).

Target (issue 4): LGA end to end >= 100x faster than BF.

Usage: python benchmarks/bench_selection.py [--model-json PATH] [--out benchmarks/results/selection.json]
       [--samples 10] [--rounds 3] [--bf-samples 2] [--bf-layers 0 7 14 21 29] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from bench_gradients import CAPITALS
from goldenlayers.measure.causal_trace import TraceSettings, subject_embedding_std, trace_records
from goldenlayers.editing import load_hparams
from goldenlayers.editing.templates import generate_context_templates
from goldenlayers.measure.gradients import NewGradientSum, extract_layer_gradients
from goldenlayers.io import write_json
from goldenlayers.models import logits_at, num_layers, load_prepared
from goldenlayers.selection.baselines import run_cma, run_salem
from goldenlayers.selection.lga import run_lga
from goldenlayers.sweep.single import edit_and_evaluate
from goldenlayers.text import batch_prompt_answers

HPARAMS = Path(__file__).resolve().parents[1] / "config/hparams/r-rome/smollm2-135m.yaml"


def make_records(n: int) -> list[dict]:
    """Capital-city edits with a rephrase, a locality and a portability prompt each, like the default data."""
    records = []
    for i, (country, capital) in enumerate(CAPITALS[:n]):
        other_country, other_capital = CAPITALS[(i + 2) % len(CAPITALS)]
        records.append({
            "id": f"cap{i:02d}",
            "relation": "capital",
            "subject": country,
            "prompt": f"The capital of {country} is",
            "ground_truth": capital,
            "target_new": CAPITALS[(i + 1) % len(CAPITALS)][1],
            "rephrase_prompts": [f"{country}'s capital city is"],
            "locality": [{"prompt": f"The capital of {other_country} is", "answer": other_capital}],
            "portability": [{"prompt": f"The capital of {country} is located in the country of", "answer": country}],
        })
    return records


@torch.no_grad()
def attach_pre_edit_predictions(model, tok, records: list[dict]) -> None:
    """Locality is measured against the unedited model's argmax tokens (as `filter_dataset` stores them)."""
    for record in records:
        for item in record["locality"]:
            input_ids, mask, labels = batch_prompt_answers(tok, [(item["prompt"], item["answer"])])
            rows, cols = (labels != -100).nonzero(as_tuple=True)
            item["pre_edit_ids"] = logits_at(model, input_ids, mask, rows, cols).argmax(-1).tolist()


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-json", default="/tmp/gl/models/smollm2-135m/model.json")
    parser.add_argument("--out", default="benchmarks/results/selection.json")
    parser.add_argument("--samples", type=int, default=10, help="proxy samples (default config: 10)")
    parser.add_argument("--rounds", type=int, default=3, help="LGA runs; the minimum is reported")
    parser.add_argument("--bf-samples", type=int, default=2, help="samples edited per timed BF layer")
    parser.add_argument("--bf-layers", type=int, nargs="+", default=[0, 7, 14, 21, 29])
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: the shared 2-core machine; see bench_gradients.py)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    model, tok = load_prepared(args.model_json, device="cpu")
    records = make_records(args.samples)
    attach_pre_edit_predictions(model, tok, records)
    ids = [r["id"] for r in records]
    n_layers = num_layers(model)
    load_before = os.getloadavg()

    # LGA: gradients for every layer + scoring; warm-up first (allocator, lazy init)
    extract_layer_gradients(model, tok, records[:2], progress=False)
    lga_times = []
    for _ in range(args.rounds):
        seconds, grads = timed(lambda: extract_layer_gradients(model, tok, records, progress=False))
        scoring, lga = timed(lambda: run_lga(grads, ids, k=1.0))
        lga_times.append(seconds + scoring)
    lga_seconds = min(lga_times)

    # SaLEM: the same pass, also summing the new-knowledge gradient
    summed = NewGradientSum()
    salem_seconds, _ = timed(lambda: extract_layer_gradients(model, tok, records, progress=False,
                                                             new_gradient_sum=summed))
    scoring, salem = timed(lambda: run_salem(summed.saliency_frame()))
    salem_seconds += scoring

    # CMA: causal tracing with ROME's settings (sigma over the same records)
    settings = TraceSettings()
    cma_seconds, effects = timed(lambda: trace_records(
        model, tok, records, settings.noise_multiplier * subject_embedding_std(model, tok, records),
        settings=settings, progress=False))
    scoring, cma = timed(lambda: run_cma(effects))
    cma_seconds += scoring

    # BF estimate: timed R-ROME edits + evaluation at a spread of layers
    hparams = load_hparams("r-rome", HPARAMS)
    templates = generate_context_templates(model, tok, hparams.context_template_length_params, seed=42)
    edit_times: dict[int, list[float]] = {}
    for layer in args.bf_layers:
        for record in records[: args.bf_samples]:
            seconds, row = timed(lambda: edit_and_evaluate(model, tok, record, "r-rome", hparams, layer, templates))
            edit_times.setdefault(layer, []).append(seconds)
    per_edit = float(np.mean([t for ts in edit_times.values() for t in ts]))
    bf_seconds = per_edit * n_layers * len(records)

    report = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(),
            "torch": torch.__version__,
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
        },
        "model": args.model_json,
        "n_samples": len(records),
        "n_layers": n_layers,
        "seconds": {"lga": lga_seconds, "salem": salem_seconds, "cma": cma_seconds, "bf_estimate": bf_seconds},
        "lga_seconds_all": lga_times,
        "chosen_layers": {"lga": lga["chosen_layer"], "salem": salem["chosen_layer"], "cma": cma["chosen_layer"]},
        "bf_estimate": {
            "rule": "mean seconds per R-ROME edit+evaluation x n_layers x n_samples",
            "seconds_per_edit": per_edit,
            "edit_seconds_by_layer": {str(k): v for k, v in edit_times.items()},
            "templates": len(templates),
        },
        "speedup_vs_bf": {
            "lga": bf_seconds / lga_seconds,
            "salem": bf_seconds / salem_seconds,
            "cma": bf_seconds / cma_seconds,
        },
    }
    print(f"SmolLM2-135M, {len(records)} proxy samples x {n_layers} layers, {os.cpu_count()} CPUs, "
          f"{torch.get_num_threads()} torch threads, load {load_before[0]:.1f}")
    for name, seconds in report["seconds"].items():
        speedup = report["speedup_vs_bf"].get(name)
        print(f"{name:12s} {seconds:9.2f} s" + (f"   {speedup:7.0f}x faster than BF" if speedup else ""))
    print(f"BF: {per_edit:.2f} s per edit+evaluation (mean over layers {args.bf_layers}, {args.bf_samples} samples "
          f"each) x {n_layers} layers x {len(records)} samples; LGA target >= 100x")
    write_json(args.out, report)
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
