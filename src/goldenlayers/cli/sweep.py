"""Subcommands of workflow/rules/sweep.smk: templates, key-covariance, sweep, sequential, merge-chunks."""

from __future__ import annotations

import argparse

from goldenlayers.cli.common import load_model, log, model_args


def cmd_templates(args):
    from goldenlayers.editing import load_hparams
    from goldenlayers.editing.templates import generate_context_templates
    from goldenlayers.io import write_json

    hparams = load_hparams(args.editor, args.hparams)
    model, tok = load_model(args)
    templates = generate_context_templates(model, tok, hparams.context_template_length_params, seed=args.seed)
    write_json(args.out, {"seed": args.seed, "length_params": hparams.context_template_length_params,
                          "templates": templates})


def cmd_key_covariance(args):
    from goldenlayers.editing.covariance import load_or_compute_key_covariance
    from goldenlayers.models import check_layer

    model, tok = load_model(args)
    check_layer(model, args.layer)
    stats = load_or_compute_key_covariance(model, tok, args.layer, args.out, corpus=args.corpus,
                                           n_samples=args.n_samples, dtype=args.precision,
                                           max_length=args.max_length, progress=not args.quiet)
    log.info("layer %d: E[kk^T] over %d tokens of %s -> %s", args.layer, stats.n_tokens, stats.corpus, args.out)


def _sweep_inputs(args) -> tuple:
    """What both sweep drivers read: (model, tok, records, hparams, templates, covariance)."""
    from goldenlayers.editing import load_hparams
    from goldenlayers.editing.covariance import for_layer
    from goldenlayers.io import read_json
    from goldenlayers.models import check_layer

    hparams = load_hparams(args.editor, args.hparams)
    records = read_json(args.records)
    templates = read_json(args.templates)["templates"]
    model, tok = load_model(args)
    check_layer(model, args.layer)
    # the pipeline's covariance comes from its key_covariance rule (config key_covariance); never computed here
    covariance = for_layer(args.editor, hparams, args.layer, given=args.key_covariance, what="a sweep job")
    return model, tok, records, hparams, templates, covariance


def cmd_sweep(args):
    from goldenlayers.io import read_json
    from goldenlayers.sweep.single import run_sweep, sample_ids

    samples = sample_ids(read_json(args.samples), args.samples)
    model, tok, records, hparams, templates, covariance = _sweep_inputs(args)
    frame = run_sweep(model, tok, records, samples, args.editor, hparams, args.layer, templates, args.out,
                      fluency=args.fluency, progress=not args.quiet, covariance=covariance, chunk=args.chunk,
                      model_ref=read_json(args.model))
    log.info("layer %d: mean rewrite %.3f over %d samples", args.layer, frame["rewrite"].mean(), len(frame))


def cmd_sequential(args):
    from goldenlayers.io import read_json
    from goldenlayers.sweep.sequential import run_sequential_sweep

    split = read_json(args.split)
    model, tok, records, hparams, templates, covariance = _sweep_inputs(args)
    frame = run_sequential_sweep(model, tok, records, split, args.editor, hparams, args.layer, templates, args.out,
                                 n_edits=args.n_edits, seed=args.seed, subset=args.subset, covariance=covariance,
                                 fluency=args.fluency, progress=not args.quiet)
    log.info("layer %d: %d sequential edits, mean rewrite %.3f after the last", args.layer, len(frame),
             frame["rewrite"].mean())


def cmd_merge_chunks(args):
    import pandas as pd

    from goldenlayers.io import read_parquet, write_parquet
    from goldenlayers.stats import SWEEP_KEYS

    # each chunk job's time stays in its own Snakemake benchmark file; BF reads those (walltime.sweep_job_seconds)
    frames = [read_parquet(p, columns=SWEEP_KEYS) for p in args.chunks]
    write_parquet(args.out, pd.concat(frames, ignore_index=True))


def _chunk(text: str) -> tuple[int, int]:
    """'K/N' -> (K, N): the K-th (0-based) of N slices of the samples."""
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected K/N (e.g. 0/4), got {text!r}") from None
    if not 0 <= k < n:
        raise argparse.ArgumentTypeError(f"chunk {k}/{n}: need 0 <= K < N")
    return k, n


def _edit_args(p, editors):
    model_args(p)
    p.add_argument("--records", required=True)
    p.add_argument("--templates", required=True)
    p.add_argument("--editor", default="r-rome", choices=list(editors))
    p.add_argument("--hparams", required=True)
    p.add_argument("--layer", type=int, required=True)
    p.add_argument("--key-covariance", help="the layer's key covariance (key-covariance output), for editors that "
                                            "use it")


def add_parsers(sub):
    from goldenlayers.editing import EDITORS  # the registry imports no torch, so --help stays fast
    from goldenlayers.editing.hparams import DEFAULT_CORPUS

    p = sub.add_parser("templates", help="generate the context templates of a model (seeded, cached)")
    model_args(p)
    p.add_argument("--editor", default="r-rome", choices=list(EDITORS))
    p.add_argument("--hparams", required=True)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_templates)

    p = sub.add_parser("key-covariance", help="key covariance E[kk^T] of one layer's edited module (cached)")
    model_args(p)
    p.add_argument("--layer", type=int, required=True)
    p.add_argument("--corpus", default=DEFAULT_CORPUS,
                   help="embedded:mom2_corpus (offline default), a .txt/.jsonl/.json/.parquet file, or a HF dataset "
                        "id (wikipedia, wikitext, or id[:config]; needs network and `datasets`)")
    p.add_argument("--n-samples", type=int, default=100000, help="number of texts (EasyEdit's mom2_n_samples)")
    p.add_argument("--precision", default="float32", choices=["float32", "float64"], help="accumulation dtype")
    p.add_argument("--max-length", type=int, default=None, help="tokens per text (default: the model's context)")
    p.add_argument("--out", required=True, help="safetensors file")
    p.set_defaults(func=cmd_key_covariance)

    p = sub.add_parser("sweep", help="edit every sample at one layer and evaluate (resumable)")
    _edit_args(p, EDITORS)
    p.add_argument("--samples", "--split", dest="samples", required=True,
                   help="samples.json (the sample set; the split is joined later, so a new split reruns no sweep), or "
                        "a split.json (its proxy and test samples)")
    p.add_argument("--fluency", action="store_true", help="also measure fluency (a 100-token generation per edit)")
    p.add_argument("--chunk", type=_chunk, default=(0, 1), metavar="K/N",
                   help="edit only the K-th (0-based) of N contiguous slices of the samples")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("sequential", help="N edits one after another at one layer, then evaluate all N")
    _edit_args(p, EDITORS)
    p.add_argument("--split", required=True)
    p.add_argument("--subset", default="test", choices=["proxy", "test"], help="split the samples are drawn from")
    p.add_argument("--n-edits", type=int, default=10)
    p.add_argument("--seed", type=int, default=42, help="seed of the sample choice (same for every layer/editor)")
    p.add_argument("--fluency", action="store_true")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_sequential)

    p = sub.add_parser("merge-chunks", help="concatenate the chunk files of one sweep layer")
    p.add_argument("--chunks", nargs="+", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_merge_chunks)
