"""`goldenlayers <subcommand>`: one subcommand per pipeline stage.

Snakemake rules call these; each also works on its own. Inputs and outputs are files; every output is written
atomically. Run `goldenlayers <subcommand> --help` for the arguments.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

# OpenMP threads that spin while waiting make every op of a small model many times slower as soon as another
# process shares the cores (measured: 6x for a 135M-parameter forward on 2 busy cores). Passive waiting costs
# nothing measurable when the cores are free. Set before torch is first imported; a user's setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

log = logging.getLogger("goldenlayers")


def _set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(max(threads, 1))


def _load_model(args):
    from goldenlayers.models import load_prepared

    _set_threads(args.threads)
    return load_prepared(args.model, dtype=args.dtype, device=args.device)


def _records_in(records, ids):
    wanted = set(ids)
    return [r for r in records if r["id"] in wanted]


def cmd_prepare_model(args):
    from goldenlayers.models import prepare_model

    ref = prepare_model(args.source, args.out_dir)
    log.info("model ready at %s (%s)", ref["path"], ref["model_type"])


def cmd_prepare_dataset(args):
    from goldenlayers.data import file_sha256, load_dataset, resolve_dataset_file
    from goldenlayers.io import write_json

    path = resolve_dataset_file(args.source, args.hf_dataset, args.hf_file, args.hf_revision)
    loaded = load_dataset(path, format=args.format, on_invalid=args.on_invalid)
    report = {"source": args.source, "hf_dataset": args.hf_dataset, "hf_file": args.hf_file,
              "hf_revision": args.hf_revision, "sha256": file_sha256(path), **loaded.report()}
    for bad in loaded.invalid:
        log.warning("skipped invalid record %d: field %r %s", bad["index"], bad["field"], bad["problem"])
    write_json(args.out_report, report)
    write_json(args.out_records, loaded.records)
    log.info("%s (%s format): %d valid records, %d invalid skipped, %d empty-answer locality/portability items "
             "dropped; metrics supported: %s", path, loaded.format, len(loaded.records), len(loaded.invalid),
             loaded.dropped_items, report["supported_metrics"])


def cmd_filter_dataset(args):
    from goldenlayers.data import filter_known, load_records
    from goldenlayers.io import write_json

    records = load_records(args.dataset)
    model, tok = _load_model(args)
    kept, report = filter_known(model, tok, records, keep_unknown=args.keep_unknown, progress=not args.quiet)
    if not kept:
        raise SystemExit(f"error: the model knows none of the {len(records)} facts in {args.dataset}")
    write_json(args.out_report, {"n_records": len(records), "n_kept": len(kept), "records": report})
    write_json(args.out_records, kept)
    log.info("kept %d of %d records the model predicts", len(kept), len(records))


def cmd_split(args):
    from goldenlayers.data import split_ids
    from goldenlayers.io import read_json, write_json

    ids = [r["id"] for r in read_json(args.records)]
    split = split_ids(ids, args.proxy_fraction, seed=args.seed, max_samples=args.max_samples)
    write_json(args.out, split)
    log.info("split: %d proxy, %d test", len(split["proxy"]), len(split["test"]))


def cmd_templates(args):
    from goldenlayers.editing import load_hparams
    from goldenlayers.editing.templates import generate_context_templates
    from goldenlayers.io import write_json

    hparams = load_hparams(args.editor, args.hparams)
    model, tok = _load_model(args)
    templates = generate_context_templates(model, tok, hparams.context_template_length_params, seed=args.seed)
    write_json(args.out, {"seed": args.seed, "length_params": hparams.context_template_length_params,
                          "templates": templates})


def cmd_gradients(args):
    from goldenlayers.gradients import NewGradientSum, extract_layer_gradients
    from goldenlayers.io import read_json, write_parquet

    records = _records_in(read_json(args.records), read_json(args.split)[args.subset])
    model, tok = _load_model(args)
    # SaLEM's summed new-knowledge gradient rides on the same pass (it needs the same keys and output gradients)
    summed = NewGradientSum() if args.out_saliency else None
    frame = extract_layer_gradients(model, tok, records, progress=not args.quiet, new_gradient_sum=summed)
    write_parquet(args.out, frame)
    if summed is not None:
        write_parquet(args.out_saliency, summed.saliency_frame())


def _add_wall_time(result: dict, started: float, benchmark: str | None, stage: str) -> None:
    """wall time of a selector = its measuring stage's job (Snakemake benchmark file) + this scoring step."""
    from goldenlayers.selection import read_benchmark_seconds

    result["scoring_seconds"] = time.perf_counter() - started
    if benchmark:
        result[f"{stage}_seconds"] = read_benchmark_seconds(benchmark)
        result["wall_seconds"] = result[f"{stage}_seconds"] + result["scoring_seconds"]


def cmd_lga(args):
    import pandas as pd

    from goldenlayers.io import read_json, write_json
    from goldenlayers.selection import run_lga

    started = time.perf_counter()
    grads = pd.read_parquet(args.gradients)
    ids = read_json(args.split)["proxy"]
    result = run_lga(grads, ids, k=args.tukey_k, method=args.method, layers=args.layers)
    _add_wall_time(result, started, args.gradients_benchmark, "gradient")
    write_json(args.out, result)
    log.info("%s chose layer %s", args.method, result["chosen_layer"])


def cmd_salem(args):
    import pandas as pd

    from goldenlayers.io import write_json
    from goldenlayers.selection import run_salem

    started = time.perf_counter()
    result = run_salem(pd.read_parquet(args.saliency), layers=args.layers)
    # the gradient pass is shared with LGA; SaLEM alone would skip the old-knowledge sequences (see docs/methods.md)
    _add_wall_time(result, started, args.gradients_benchmark, "gradient")
    write_json(args.out, result)
    log.info("salem chose layer %s", result["chosen_layer"])


def cmd_causal_trace(args):
    from goldenlayers.causal_trace import TraceSettings, subject_embedding_std, trace_records
    from goldenlayers.io import read_json, write_parquet

    def traceable(records):
        return [r for r in records if r.get("subject") and r["subject"] in r["prompt"]]

    dataset = read_json(args.records)
    usable = traceable(dataset)
    if len(usable) < len(dataset):
        log.warning("%d of %d records have no subject inside their prompt; causal tracing skips them",
                    len(dataset) - len(usable), len(dataset))
    records = traceable(_records_in(dataset, read_json(args.split)[args.subset]))
    if not records:
        raise ValueError(f"no {args.subset} record has its subject inside its prompt: nothing to trace")
    settings = TraceSettings(noise_multiplier=args.noise_multiplier, n_noise=args.n_noise, window=args.window,
                             seed=args.seed)
    model, tok = _load_model(args)
    # ROME: noise = noise_multiplier x the std of the subject-token embeddings (over the whole dataset)
    sigma = subject_embedding_std(model, tok, usable)
    effects = trace_records(model, tok, records, settings.noise_multiplier * sigma, settings=settings,
                            progress=not args.quiet)
    effects.attrs["trace"]["embedding_std"] = sigma  # recorded so the noise scale can be checked
    write_parquet(args.out, effects)


def cmd_cma(args):
    import pandas as pd

    from goldenlayers.io import write_json
    from goldenlayers.plots import plot_causal_trace
    from goldenlayers.selection import run_cma

    started = time.perf_counter()
    effects = pd.read_parquet(args.effects)
    result = run_cma(effects, layers=args.layers)
    _add_wall_time(result, started, args.trace_benchmark, "trace")
    if args.out_plot:
        plot_causal_trace(effects, args.out_plot)
    write_json(args.out, result)
    log.info("cma chose layer %s", result["chosen_layer"])


def cmd_random_layers(args):
    from goldenlayers.io import write_json
    from goldenlayers.selection import run_random

    result = run_random(args.layers, n=args.n, seed=args.seed)
    write_json(args.out, result)
    log.info("random layers %s", result["chosen_layers"])


def cmd_bf(args):
    import pandas as pd

    from goldenlayers.io import write_json
    from goldenlayers.selection import read_benchmark_seconds, run_bf

    frames = [pd.read_parquet(p) for p in args.sweeps]
    job_seconds = None
    if args.benchmarks:
        if len(args.benchmarks) != len(frames):
            raise ValueError("bf: give one benchmark file per sweep file, in the same order")
        job_seconds = {}
        for frame, bench in zip(frames, args.benchmarks):
            for layer in frame["layer"].unique():
                job_seconds[int(layer)] = read_benchmark_seconds(bench)
    result = run_bf(pd.concat(frames, ignore_index=True), metric=args.metric, job_seconds=job_seconds)
    write_json(args.out, result)
    log.info("bf chose layer %s", result["chosen_layer"])


def cmd_figure3(args):
    from goldenlayers.report import build_figure3

    build_figure3(args.selections, args.out_prefix, config_file=args.config)


def _chunk(text: str) -> tuple[int, int]:
    """'K/N' -> (K, N): the K-th (0-based) of N slices of the samples."""
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected K/N (e.g. 0/4), got {text!r}") from None
    if not 0 <= k < n:
        raise argparse.ArgumentTypeError(f"chunk {k}/{n}: need 0 <= K < N")
    return k, n


def cmd_merge_chunks(args):
    import pandas as pd

    from goldenlayers.io import write_parquet, write_text
    from goldenlayers.selection import read_benchmark_seconds

    write_parquet(args.out, pd.concat([pd.read_parquet(p) for p in args.chunks], ignore_index=True))
    if args.benchmarks:
        # one layer's cost = the sum of its chunk jobs (what BF pays for that layer)
        seconds = sum(read_benchmark_seconds(p) for p in args.benchmarks)
        write_text(args.out_benchmark, f"s\n{seconds:.4f}\n")


def cmd_sweep(args):
    from goldenlayers.editing import load_hparams
    from goldenlayers.io import read_json
    from goldenlayers.models import edited_module_name
    from goldenlayers.sweep import run_sweep

    hparams = load_hparams(args.editor, args.hparams)
    records = read_json(args.records)
    split = read_json(args.split)
    templates = read_json(args.templates)["templates"]
    model, tok = _load_model(args)
    edited_module_name(model, args.layer)  # a layer out of range fails here, before anything is written
    covariance = _layer_covariance(args, hparams)
    frame = run_sweep(model, tok, records, split, args.editor, hparams, args.layer, templates, args.out,
                      fluency=args.fluency, progress=not args.quiet, covariance=covariance, chunk=args.chunk)
    log.info("layer %d: mean rewrite %.3f over %d samples", args.layer, frame["rewrite"].mean(), len(frame))


def _layer_covariance(args, hparams):
    """The layer's key covariance from --layer-stats when the editor uses it (EMMET; ROME with mom2_adjustment)."""
    from goldenlayers.editing import KeyCovariance, needs_covariance

    if not needs_covariance(args.editor, hparams):
        return None
    if not args.layer_stats:
        raise ValueError(f"{args.editor} with {args.hparams} needs the layer's key covariance: pass --layer-stats "
                         "(a file written by `goldenlayers layer-stats`)")
    stats = KeyCovariance.load(args.layer_stats)
    if stats.metadata.get("layer", str(args.layer)) != str(args.layer):
        raise ValueError(f"{args.layer_stats} holds layer {stats.metadata['layer']}, not layer {args.layer}")
    log.info("key covariance of layer %d: %d tokens of %s", args.layer, stats.n_tokens, stats.corpus)
    return stats


def cmd_layer_stats(args):
    from goldenlayers.editing.covariance import load_or_compute_layer_stats
    from goldenlayers.models import edited_module_name

    model, tok = _load_model(args)
    edited_module_name(model, args.layer)  # a layer out of range fails here, before anything is computed
    stats = load_or_compute_layer_stats(model, tok, args.layer, args.out, corpus=args.corpus,
                                        n_samples=args.n_samples, dtype=args.precision, max_length=args.max_length,
                                        progress=not args.quiet)
    log.info("layer %d: E[kk^T] over %d tokens of %s -> %s", args.layer, stats.n_tokens, stats.corpus, args.out)


def cmd_sequential(args):
    from goldenlayers.editing import load_hparams
    from goldenlayers.editing.sequential import run_sequential_sweep
    from goldenlayers.io import read_json
    from goldenlayers.models import edited_module_name

    hparams = load_hparams(args.editor, args.hparams)
    records = read_json(args.records)
    split = read_json(args.split)
    templates = read_json(args.templates)["templates"]
    model, tok = _load_model(args)
    edited_module_name(model, args.layer)
    covariance = _layer_covariance(args, hparams)
    frame = run_sequential_sweep(model, tok, records, split, args.editor, hparams, args.layer, templates, args.out,
                                 n_edits=args.n_edits, seed=args.seed, subset=args.subset, covariance=covariance,
                                 fluency=args.fluency, progress=not args.quiet)
    log.info("layer %d: %d sequential edits, mean rewrite %.3f after the last", args.layer, len(frame),
             frame["rewrite"].mean())


def cmd_aggregate(args):
    import pandas as pd

    from goldenlayers.analysis import layer_stats, summarise_sweep
    from goldenlayers.io import read_json, write_json, write_parquet

    sweep = pd.concat([pd.read_parquet(p) for p in args.sweeps], ignore_index=True)
    sweep = sweep.sort_values(["layer", "split", "sample_id"], kind="stable").reset_index(drop=True)
    from goldenlayers.selection import mean_of_selected

    selected, multi = {}, {}
    for path in args.selection or []:
        choice = read_json(path)
        if choice.get("chosen_layers") is not None:  # Random: several layers, reported as the mean of their metrics
            keys = [f"{choice['method']}#{i}" for i in range(len(choice["chosen_layers"]))]
            selected.update(zip(keys, choice["chosen_layers"]))
            multi[choice["method"]] = keys
        else:
            selected[choice["method"]] = choice["chosen_layer"]
    summary = summarise_sweep(sweep, metric=args.metric, selected_layers=selected)
    for name, keys in multi.items():
        summary["selected"] = mean_of_selected(summary["selected"], name, keys)
    write_parquet(args.out_sweep, sweep)
    write_parquet(args.out_stats, layer_stats(sweep))
    write_json(args.out_summary, summary)


def cmd_report(args):
    from goldenlayers.report import build_report

    build_report(args.aggregates, args.out_dir, metric=args.metric, config_file=args.config)


def cmd_compare_selectors(args):
    from goldenlayers.report import build_selector_tables

    build_selector_tables(args.summaries, args.out_dir, metric=args.metric, config_file=args.config,
                          names=tuple(args.tables))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="goldenlayers", description=__doc__)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)

    def model_args(p):
        p.add_argument("--model", required=True, help="model.json written by prepare-model")
        p.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
        p.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:1, ...")
        p.add_argument("--threads", type=int, default=1, help="CPU threads for torch")

    p = sub.add_parser("prepare-model", help="make a model loadable offline; writes <out-dir>/model.json")
    p.add_argument("--source", required=True, help="embedded:smollm2-135m, a local model directory or a HF id")
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_prepare_model)

    p = sub.add_parser("prepare-dataset", help="fetch a dataset file, validate it, write normalised records")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--source", help="embedded:default_edits or a local JSON file")
    where.add_argument("--hf-dataset", help="Hugging Face dataset repo id, e.g. zjunlp/KnowEdit")
    p.add_argument("--hf-file", help="file inside the hub repo, e.g. benchmark/ZsRE/ZsRE-test-all.json")
    p.add_argument("--hf-revision", help="branch, tag or commit of the hub repo (default: main)")
    p.add_argument("--format", help="dataset format (default: detected from the first record); see goldenlayers.data")
    p.add_argument("--on-invalid", default="error", choices=["error", "skip"],
                   help="stop at the first invalid record (default) or skip invalid records and list them")
    p.add_argument("--out-records", required=True)
    p.add_argument("--out-report", required=True)
    p.set_defaults(func=cmd_prepare_dataset)

    p = sub.add_parser("filter-dataset", help="keep the records whose ground truth the model predicts")
    model_args(p)
    p.add_argument("--dataset", required=True, help="embedded:default_edits or a KnowEdit-style JSON file")
    p.add_argument("--out-records", required=True)
    p.add_argument("--out-report", required=True)
    p.add_argument("--keep-unknown", action="store_true", help="keep facts the model does not predict, too")
    p.set_defaults(func=cmd_filter_dataset)

    p = sub.add_parser("split", help="seeded proxy/test split of the kept records")
    p.add_argument("--records", required=True)
    p.add_argument("--proxy-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--max-samples", type=int, default=None)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_split)

    p = sub.add_parser("templates", help="generate the context templates of a model (seeded, cached)")
    model_args(p)
    p.add_argument("--editor", default="r-rome")
    p.add_argument("--hparams", required=True)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_templates)

    p = sub.add_parser("gradients", help="per-sample, per-layer gradient inner products and norms")
    model_args(p)
    p.add_argument("--records", required=True)
    p.add_argument("--split", required=True)
    p.add_argument("--subset", default="proxy", choices=["proxy", "test"])
    p.add_argument("--out", required=True)
    p.add_argument("--out-saliency", help="also write SaLEM's per-layer saliency (summed new-knowledge gradient)")
    p.set_defaults(func=cmd_gradients)

    p = sub.add_parser("lga", help="choose a layer by layer gradient analysis (Tukey-fenced argmax)")
    p.add_argument("--gradients", required=True)
    p.add_argument("--split", required=True)
    p.add_argument("--method", default="lga", choices=["lga", "lga_kprime"])
    p.add_argument("--tukey-k", type=float, default=1.0)
    p.add_argument("--layers", type=int, nargs="*", help="candidate layers (default: all in the table)")
    p.add_argument("--gradients-benchmark", help="Snakemake benchmark file of the gradient stage (for wall time)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_lga)

    p = sub.add_parser("salem", help="choose the layer of greatest saliency (SaLEM)")
    p.add_argument("--saliency", required=True, help="per-layer saliency parquet (gradients --out-saliency)")
    p.add_argument("--layers", type=int, nargs="*", help="candidate layers (default: all in the table)")
    p.add_argument("--gradients-benchmark", help="Snakemake benchmark file of the gradient stage (for wall time)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_salem)

    p = sub.add_parser("causal-trace", help="indirect effect of restoring each layer's MLP output (ROME's tracing)")
    model_args(p)
    p.add_argument("--records", required=True)
    p.add_argument("--split", required=True)
    p.add_argument("--subset", default="proxy", choices=["proxy", "test"])
    p.add_argument("--noise-multiplier", type=float, default=3.0)
    p.add_argument("--n-noise", type=int, default=10)
    p.add_argument("--window", type=int, default=10)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_causal_trace)

    p = sub.add_parser("cma", help="choose the layer of largest mean indirect effect (causal mediation)")
    p.add_argument("--effects", required=True)
    p.add_argument("--layers", type=int, nargs="*", help="candidate layers (default: all traced)")
    p.add_argument("--trace-benchmark", help="Snakemake benchmark file of the tracing stage (for wall time)")
    p.add_argument("--out", required=True)
    p.add_argument("--out-plot", help="prefix of the trace plot (PNG and PDF)")
    p.set_defaults(func=cmd_cma)

    p = sub.add_parser("random-layers", help="seeded random candidate layers (reported as the mean of their metrics)")
    p.add_argument("--layers", type=int, nargs="+", required=True)
    p.add_argument("--n", type=int, default=3)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_random_layers)

    p = sub.add_parser("bf", help="brute force: the proxy golden layer of a sweep, with its wall time")
    p.add_argument("--sweeps", nargs="+", required=True)
    p.add_argument("--benchmarks", nargs="*", help="Snakemake benchmark files of the sweep jobs, same order")
    p.add_argument("--metric", default="rewrite")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_bf)

    p = sub.add_parser("figure3", help="Figure 3: wall time and speed-up of each selector over BF")
    p.add_argument("--selections", nargs="+", required=True)
    p.add_argument("--config", help="the config file, hashed into the provenance sidecar")
    p.add_argument("--out-prefix", required=True)
    p.set_defaults(func=cmd_figure3)

    p = sub.add_parser("sweep", help="edit every sample at one layer and evaluate (resumable)")
    model_args(p)
    p.add_argument("--records", required=True)
    p.add_argument("--split", required=True)
    p.add_argument("--templates", required=True)
    p.add_argument("--editor", default="r-rome")
    p.add_argument("--hparams", required=True)
    p.add_argument("--layer", type=int, required=True)
    p.add_argument("--fluency", action="store_true", help="also measure fluency (a 100-token generation per edit)")
    p.add_argument("--chunk", type=_chunk, default=(0, 1), metavar="K/N",
                   help="edit only the K-th (0-based) of N contiguous slices of the samples")
    p.add_argument("--layer-stats", help="the layer's key covariance (layer-stats output), for editors that use it")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("layer-stats", help="key covariance E[kk^T] of one layer's edited module (cached)")
    model_args(p)
    p.add_argument("--layer", type=int, required=True)
    p.add_argument("--corpus", default="embedded:mom2_corpus",
                   help="embedded:mom2_corpus (offline default), a .txt/.jsonl/.json/.parquet file, or a HF dataset "
                        "id (wikipedia, wikitext, or id[:config]; needs network and `datasets`)")
    p.add_argument("--n-samples", type=int, default=100000, help="number of texts (EasyEdit's mom2_n_samples)")
    p.add_argument("--precision", default="float32", choices=["float32", "float64"], help="accumulation dtype")
    p.add_argument("--max-length", type=int, default=None, help="tokens per text (default: the model's context)")
    p.add_argument("--out", required=True, help="safetensors file")
    p.set_defaults(func=cmd_layer_stats)

    p = sub.add_parser("sequential", help="N edits one after another at one layer, then evaluate all N")
    model_args(p)
    p.add_argument("--records", required=True)
    p.add_argument("--split", required=True)
    p.add_argument("--subset", default="test", choices=["proxy", "test"], help="split the samples are drawn from")
    p.add_argument("--templates", required=True)
    p.add_argument("--editor", default="r-rome")
    p.add_argument("--hparams", required=True)
    p.add_argument("--layer", type=int, required=True)
    p.add_argument("--n-edits", type=int, default=10)
    p.add_argument("--seed", type=int, default=42, help="seed of the sample choice (same for every layer/editor)")
    p.add_argument("--fluency", action="store_true")
    p.add_argument("--layer-stats", help="the layer's key covariance, for editors that use it")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_sequential)

    p = sub.add_parser("merge-chunks", help="concatenate the chunk files of one sweep layer")
    p.add_argument("--chunks", nargs="+", required=True)
    p.add_argument("--benchmarks", nargs="*", help="the chunk jobs' Snakemake benchmark files")
    p.add_argument("--out", required=True)
    p.add_argument("--out-benchmark", help="where to write the summed seconds (read by the BF selector)")
    p.set_defaults(func=cmd_merge_chunks)

    p = sub.add_parser("aggregate", help="per-layer statistics, golden layers and t-tests of one sweep")
    p.add_argument("--sweeps", nargs="+", required=True, help="per-layer sweep parquet files")
    p.add_argument("--selection", nargs="*", help="selector JSON files (lga.json, ...)")
    p.add_argument("--metric", default="rewrite")
    p.add_argument("--out-sweep", required=True)
    p.add_argument("--out-stats", required=True)
    p.add_argument("--out-summary", required=True)
    p.set_defaults(func=cmd_aggregate)

    p = sub.add_parser("report", help="Table 1, Figure 1 and Figure 2 from aggregated sweeps")
    p.add_argument("--aggregates", nargs="+", required=True,
                   help="aggregate directories results/<model>/<dataset>/aggregate/<editor>")
    p.add_argument("--metric", default="rewrite")
    p.add_argument("--config", help="the config file, hashed into the provenance sidecar")
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("compare-selectors", help="Tables 2, 14, 15 and Figure 4 from every editor's aggregate")
    p.add_argument("--summaries", nargs="+", required=True,
                   help="results/<model>/<dataset>/aggregate/<editor>/summary.json files")
    p.add_argument("--metric", default="overall", help="metric of Figure 4")
    p.add_argument("--tables", nargs="+", default=["table2", "table14", "table15"],
                   choices=["table2", "table11", "table14", "table15"],
                   help="which tables (Figure 4 comes with table2; table11 takes sequential summaries)")
    p.add_argument("--config", help="the config file, hashed into the provenance sidecar")
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_compare_selectors)

    from goldenlayers.appendix_cli import add_appendix_parsers

    add_appendix_parsers(sub, model_args)  # Tables 12-13 (appendix settings)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        args.func(args)
    except (ValueError, OSError) as err:
        # bad input or an unwritable/full disk: one clear line, no traceback (outputs are atomic, none is left)
        detail = f"{err.strerror}: {err.filename}" if isinstance(err, OSError) and err.filename else err
        print(f"goldenlayers {args.command}: error: {detail}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
