"""Subcommands of workflow/rules/analysis.smk: aggregate (the split joined to the sweep), resample (Tables 16-17,
Table 1 per metric, Figures 5-7). The stage bodies are `goldenlayers.analysis.aggregate` and `.resampling_report`."""

from __future__ import annotations

from goldenlayers.cli.common import log, names_args, set_threads


def _key(args) -> dict:
    """The names a summary is keyed by (model, dataset, editor), as given."""
    return {k: v for k, v in (("model", args.model_name), ("dataset", args.dataset_name), ("editor", args.editor))
            if v}


def cmd_aggregate(args):
    from goldenlayers.analysis.aggregate import aggregate
    from goldenlayers.io import read_json

    aggregate(args.sweeps, read_json(args.split) if args.split else None, args.selection or [], args.metric,
              {"model": args.model_name, "dataset": args.dataset_name, "editor": args.editor},
              args.out_sweep, args.out_stats, args.out_summary)


# selector parameters the draws set themselves: Random draws one layer per draw from the resampling's own stream
DRAWN_PARAMS = ("n_layers", "seed")


def _selector_params(args) -> dict:
    """Every selector parameter given (--tukey-k, a plugin's --<name>, ...): each selector takes its own."""
    from goldenlayers.selection.registry import PARAMS

    given = {name: getattr(args, name, None) for name in PARAMS if name not in DRAWN_PARAMS}
    return {name: value for name, value in given.items() if value is not None}


def _frontier(args) -> dict:
    """--frontier-verify K:M ..., --frontier-bf-facts M ..., --frontier-metrics ... as the config's
    `resampling.frontier` mapping."""
    verify = []
    for item in args.frontier_verify or []:
        try:
            k, m = (int(x) for x in item.split(":"))
        except ValueError:
            raise SystemExit(f"--frontier-verify takes K:M pairs (e.g. 3:5), not {item!r}") from None
        verify.append({"k": k, "m": m})
    out = {"verify": verify, "bf_facts": list(args.frontier_bf_facts or [])}
    if args.frontier_metrics:
        out["metrics"] = list(args.frontier_metrics)
    return out


def cmd_resample(args):
    from goldenlayers.analysis.resampling_report import run_resampling

    set_threads(args.threads)
    summary = run_resampling(args.sweep, args.split, args.out_dir, gradients_path=args.gradients,
                             factors_path=args.factors, effects_path=args.effects, metric=args.metric,
                             params=_selector_params(args), n_draws=args.draws, curve_draws=args.curve_draws,
                             sizes=args.proxy_sizes, seed=args.seed, plan_path=args.plan, candidates=args.candidates,
                             aggregate_path=args.aggregate, fact_replicates=args.fact_bootstrap[0],
                             fact_draws=args.fact_bootstrap[1], key=_key(args), saliency_path=args.salem_saliency,
                             frontier=_frontier(args), selection_paths=args.selections or ())
    log.info("%d draws of %d proxy samples out of %d, curve sizes %s: %s", args.draws, summary["n_proxy"],
             summary["n_samples"], summary["curve_sizes"],
             ", ".join(f"{k} {v:.1f} s" for k, v in summary["seconds"].items()))


def cmd_archive(args):
    from goldenlayers.analysis.archive import pack

    sizes = pack(args.results, args.config, args.out, cells=args.cells, threads=args.threads)
    for cell, size in sizes.items():
        log.info("%s: %.1f KB", cell, size / 1024)
    log.info("%d cells packed into %s: %.1f KB", len(sizes), args.out, sum(sizes.values()) / 1024)


def cmd_unarchive(args):
    from goldenlayers.analysis.archive import unpack

    written = unpack(args.archive, args.results, cells=args.cells, with_selections=args.with_selections,
                     force=args.force, with_plan=not args.without_plan)
    for cell, files in written.items():
        log.info("%s: %d files written under %s", cell, len(files), args.results)


def add_parsers(sub):
    from goldenlayers.selection.registry import PARAMS

    p = sub.add_parser("aggregate", help="per-layer statistics, golden layers and t-tests of one sweep")
    p.add_argument("--sweeps", nargs="+", required=True, help="per-layer sweep parquet files")
    p.add_argument("--split", help="split.json: labels the swept samples proxy/test (not needed for the sequential "
                                   "sweep, whose rows carry their subset)")
    p.add_argument("--selection", nargs="*", help="selector JSON files (lga.json, ...)")
    p.add_argument("--metric", default="rewrite")
    p.add_argument("--model-name", required=True, help="the model's name in the config (recorded in the summary)")
    p.add_argument("--dataset-name", required=True, help="the dataset's name in the config (recorded)")
    p.add_argument("--editor", required=True, help="the editor (recorded in the summary)")
    p.add_argument("--out-sweep", required=True)
    p.add_argument("--out-stats", required=True)
    p.add_argument("--out-summary", required=True)
    p.set_defaults(func=cmd_aggregate)

    p = sub.add_parser("resample", help="R seeded proxy/test re-splits: every selector's choice from cached "
                                        "per-sample evidence, regret and hit rate (and the proxy-size curve)")
    p.add_argument("--sweep", required=True, help="aggregated sweep (aggregate/<editor>/sweep.parquet)")
    names_args(p, editor=True)
    p.add_argument("--split", required=True, help="split.json (its proxy size is the draws' proxy size)")
    p.add_argument("--gradients", help="per-sample gradient scalars of every swept sample (LGA, LGA(K'))")
    salem = p.add_mutually_exclusive_group()
    salem.add_argument("--factors", help="new-knowledge gradient factors of every swept sample (SaLEM)")
    salem.add_argument("--salem-saliency", help="an archived study's SaLEM saliency per proxy set "
                                                "(gradients/salem_draws.parquet from goldenlayers unarchive)")
    p.add_argument("--effects", help="per-sample causal-trace effects of every swept sample (CMA)")
    p.add_argument("--metric", default="rewrite", help="BF's metric")
    for name, (kind, what) in PARAMS.items():  # the selectors' parameters, as `select` takes them
        if name not in DRAWN_PARAMS and name != "metric":
            p.add_argument(f"--{name.replace('_', '-')}", type=kind, help=what)
    p.add_argument("--draws", type=int, default=200)
    p.add_argument("--curve-draws", type=int, default=50, help="draws per proxy size of the proxy-size curve")
    p.add_argument("--proxy-sizes", type=int, nargs="+", default=[3, 5, 10, 20, 50])
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--plan", help="sweep_plan.json (its grid: the draws' candidates with --candidates grid)")
    p.add_argument("--aggregate", help="aggregate summary.json (the pipeline's chosen layers: Table 17)")
    p.add_argument("--candidates", choices=["grid", "swept"], default="grid", help="layers the draws choose among")
    p.add_argument("--fact-bootstrap", type=int, nargs=2, default=[0, 1], metavar=("REPLICATES", "DRAWS"))
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch (SaLEM's re-scoring)")
    p.add_argument("--frontier-verify", nargs="*", metavar="K:M",
                   help="the frontier's verify settings: shortlist K layers, edit M proxy facts at each")
    p.add_argument("--frontier-bf-facts", type=int, nargs="*", metavar="M", help="the frontier's BF on M proxy facts")
    p.add_argument("--frontier-metrics", nargs="*", help="the metrics the frontier's verify settings check")
    p.add_argument("--selections", nargs="*", help="the pipeline's selection/<name>.json files (the zero-edit "
                                                    "selectors' measured seconds on the frontier)")
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_resample)

    p = sub.add_parser("archive", help="pack a finished all-layer study's evidence into a compact archive "
                                       "(studies/<name>; docs/archive.md)")
    p.add_argument("--results", default="results", help="the study's results folder")
    p.add_argument("--config", required=True, help="the run's resolved config (results/report/<run>/"
                                                   "config.resolved.yaml): its cells, editors, config hash")
    p.add_argument("--out", required=True, help="the archive folder, e.g. studies/<name> (cells are added to it)")
    p.add_argument("--cells", nargs="+", metavar="MODEL/DATASET", help="default: every cell of the config")
    p.add_argument("--threads", type=int, default=1, help="torch threads for SaLEM's saliency: the resample "
                                                          "stage's (1), so the stored values are the ones it drew")
    p.set_defaults(func=cmd_archive)

    p = sub.add_parser("unarchive", help="write an archived study's per-cell files into a results folder, for "
                                         "aggregate, the selectors and resample (no model needed)")
    p.add_argument("--archive", required=True, help="the archive folder (studies/<name>)")
    p.add_argument("--results", default="results", help="the results folder to write into")
    p.add_argument("--cells", nargs="+", metavar="MODEL/DATASET", help="default: every archived cell")
    p.add_argument("--with-selections", action="store_true",
                   help="also write the pipeline's selection records (their seconds as measured)")
    p.add_argument("--without-plan", action="store_true",
                   help="no sweep_plan.json (the workflow's plan_sweep checkpoint writes it from the selections)")
    p.add_argument("--force", action="store_true", help="overwrite files that exist")
    p.set_defaults(func=cmd_unarchive)
