"""Subcommands of workflow/rules/measure.smk: gradients, causal-trace, plot-causal-trace. The stage bodies are
`goldenlayers.measure.stage`."""

from __future__ import annotations

from goldenlayers.cli.common import load_model, model_args


def cmd_gradients(args):
    from goldenlayers.io import read_json
    from goldenlayers.measure.stage import measure_gradients

    dataset, split = read_json(args.records), read_json(args.split)
    model, tok = load_model(args)
    measure_gradients(model, tok, dataset, split, args.subset, args.out, out_saliency=args.out_saliency,
                      out_factors=args.out_factors, out_timing=args.out_timing, progress=not args.quiet,
                      provenance={"records": args.records, "split": args.split, "model": args.model,
                                  "dtype": args.dtype})


def cmd_causal_trace(args):
    from goldenlayers.io import read_json
    from goldenlayers.measure.causal_trace import TraceSettings
    from goldenlayers.measure.stage import measure_causal_trace, trace_parts

    usable, parts = trace_parts(read_json(args.records), read_json(args.split), args.subset)
    settings = TraceSettings(noise_multiplier=args.noise_multiplier, n_noise=args.n_noise, window=args.window,
                             seed=args.seed)
    model, tok = load_model(args)
    measure_causal_trace(model, tok, usable, parts, settings, args.subset, args.out, out_timing=args.out_timing,
                         progress=not args.quiet)


def cmd_plot_causal_trace(args):
    from goldenlayers.io import read_json, read_parquet
    from goldenlayers.report.plots import plot_causal_trace

    effects = read_parquet(args.effects, columns=("sample_id", "layer"))
    if args.split:  # the proxy rows: the plot's mean panel is the score CMA maximised
        proxy = set(map(str, read_json(args.split)["proxy"]))
        effects = effects[effects["sample_id"].astype(str).isin(proxy)]
    plot_causal_trace(effects, args.out_prefix)


def evidence_args(p, what: str):
    """A measuring stage (gradients, causal-trace): the model, which samples, and how long each part took."""
    model_args(p)
    p.add_argument("--records", required=True)
    p.add_argument("--split", required=True)
    p.add_argument("--subset", default="proxy", choices=["proxy", "test", "all"],
                   help=f"samples to {what}; all = proxy then test (the proxy part is timed on its own)")
    p.add_argument("--out-timing", help="JSON with each part's seconds (proxy vs the evidence-only rest)")


def add_parsers(sub):
    p = sub.add_parser("gradients", help="per-sample, per-layer gradient inner products and norms")
    evidence_args(p, "measure")
    p.add_argument("--out", required=True)
    p.add_argument("--out-saliency", help="also write SaLEM's per-layer saliency (summed new-knowledge gradient, "
                                          "over the proxy samples with --subset all)")
    p.add_argument("--out-factors", help="also write every sample's new-knowledge gradient factors (SaLEM on any "
                                         "subset; goldenlayers.measure.factors)")
    p.set_defaults(func=cmd_gradients)

    p = sub.add_parser("causal-trace", help="indirect effect of restoring each layer's MLP output (ROME's tracing)")
    evidence_args(p, "trace")
    p.add_argument("--noise-multiplier", type=float, default=3.0)
    p.add_argument("--n-noise", type=int, default=10)
    p.add_argument("--window", type=int, default=10)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_causal_trace)

    p = sub.add_parser("plot-causal-trace", help="plot a causal trace: a few samples and the mean indirect effect")
    p.add_argument("--effects", required=True)
    p.add_argument("--split", help="split.json: plot the proxy samples (the ones CMA chooses from)")
    p.add_argument("--out-prefix", required=True, help="prefix of the PNG and PDF")
    p.set_defaults(func=cmd_plot_causal_trace)
