"""Subcommands of workflow/rules/selection.smk: select (one selector of the registry), sweep-plan. The stage body
is `goldenlayers.selection.stage`."""

from __future__ import annotations

from goldenlayers.cli.common import log, names_args


def cmd_select(args):
    """One selector of the registry: read its evidence (restricted to the proxy split), choose, add its wall time."""
    from goldenlayers.io import read_json, write_json
    from goldenlayers.selection import registry
    from goldenlayers.selection.stage import select

    spec = registry.spec(args.method)
    paths = {need: getattr(args, need) for need in registry.EVIDENCE}
    params = {name: getattr(args, name) for name in spec.params if getattr(args, name) is not None}
    key = {k: v for k, v in (("model", args.model_name), ("dataset", args.dataset_name)) if v}
    record = select(args.method, paths, read_json(args.split) if args.split else None, args.layers, params,
                    benchmarks=args.benchmarks, timing=args.timing, key=key)
    write_json(args.out, record)
    chosen = record.get("chosen_layers") or record["chosen_layer"]
    log.info("%s chose layer%s %s", args.method, "s" if record.get("chosen_layers") else "", chosen)


def cmd_sweep_plan(args):
    from goldenlayers.io import read_json, write_json
    from goldenlayers.selection.plan import sweep_plan

    verify = None
    if args.verify_selections:
        params = {"cheap_selectors": args.cheap_selectors, "shortlist_k": args.shortlist_k}
        verify = {"selections": [read_json(path) for path in args.verify_selections], "params": params}
    plan = sweep_plan(args.grid, [read_json(path) for path in args.selections], verify)
    write_json(args.out, plan)
    log.info("sweep layers %s (grid %s, added for the selectors: %s; verify's shortlist %s)", plan["layers"],
             plan["grid"], plan["added"], plan.get("shortlist"))


def add_parsers(sub):
    from goldenlayers.selection.registry import EVIDENCE, SELECTORS
    from goldenlayers.selection.registry import PARAMS as SELECTOR_PARAMS

    p = sub.add_parser("select", help="choose a layer with one selector of the registry "
                                      "(goldenlayers.selection.registry)")
    p.add_argument("--method", required=True, choices=list(SELECTORS))
    names_args(p)
    for need, what in EVIDENCE.items():
        p.add_argument(f"--{need}", nargs="+" if need in ("sweep", "selections") else None, help=what)
    p.add_argument("--split", help="split.json: choose from the proxy samples (default: every sample)")
    p.add_argument("--layers", type=int, nargs="*", help="candidate layers (default: all in the evidence; "
                                                         "required by random)")
    for name, (kind, what) in SELECTOR_PARAMS.items():
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, help=what)
    p.add_argument("--benchmarks", nargs="*", help="Snakemake benchmark files of the jobs that measured the "
                                                   "evidence (wall time; bf: those of every sweep job, the same "
                                                   "number per sweep file, same order)")
    p.add_argument("--timing", help="the measuring job's --out-timing file (its evidence-only seconds are left "
                                    "out of the wall time)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_select)

    p = sub.add_parser("sweep-plan", help="layers to sweep: the grid plus every selector's chosen layer")
    p.add_argument("--selections", nargs="+", required=True, help="selector JSON files (lga.json, ...)")
    p.add_argument("--grid", type=int, nargs="+", required=True, help="the configured sweep layers")
    p.add_argument("--verify-selections", nargs="*", help="the cheap selectors' JSON files: add the layers verify "
                                                          "shortlists from them")
    p.add_argument("--cheap-selectors", help=SELECTOR_PARAMS["cheap_selectors"][1])
    p.add_argument("--shortlist-k", type=int, help=SELECTOR_PARAMS["shortlist_k"][1])
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_sweep_plan)
