"""Subcommand of workflow/rules/report.smk: report (paper tables and figures)."""

from __future__ import annotations

from goldenlayers.cli.common import log


def cmd_report(args):
    from goldenlayers.report.write import write_report

    frames = write_report(args.tables, args.figures, args.inputs, args.out_dir, metric=args.metric,
                          config_file=args.config)
    for name, frame in frames.items():
        log.info("%s: %d rows", name, len(frame))


def add_parsers(sub):
    from goldenlayers.report.tables import INPUTS, PAPER_TABLES
    from goldenlayers.report.write import FIGURES

    kinds = "; ".join(f"{kind}: {spec.files}" for kind, spec in INPUTS.items())
    p = sub.add_parser("report", help="paper tables (CSV, Markdown, provenance sidecar) and figures from result files")
    p.add_argument("--tables", nargs="+", default=[], choices=list(PAPER_TABLES), metavar="TABLE",
                   help=f"paper tables to build ({', '.join(PAPER_TABLES)})")
    p.add_argument("--figures", nargs="+", default=[], choices=list(FIGURES), metavar="FIGURE",
                   help=f"figures to draw ({', '.join(FIGURES)})")
    p.add_argument("--inputs", nargs="+", required=True,
                   help=f"the files the tables and figures read, all of one kind ({kinds})")
    p.add_argument("--metric", default="rewrite", help="the config's metric (selected_layers, Figure 2)")
    p.add_argument("--config", help="the resolved config (YAML), hashed into the provenance sidecar")
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_report)

