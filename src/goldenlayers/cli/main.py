"""`goldenlayers <subcommand>`: one subcommand per pipeline stage.

Snakemake rules call these; each also works on its own. Inputs and outputs are files; every output is written
atomically. Run `goldenlayers <subcommand> --help` for the arguments.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys

from goldenlayers.cli import analysis, appendix, data, measure, report, selection, sweep, user
from goldenlayers.cli.common import exit_now

# one module per workflow rules file (workflow/rules/<stage>.smk), in pipeline order, then the users' commands
MODULES = (data, measure, selection, sweep, analysis, report, appendix, user)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="goldenlayers", description=__doc__)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in MODULES:
        module.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand. Called as a program (argv None) it ends the process itself once done (`exit_now`)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if getattr(args, "loads_model", False):
        gc.disable()  # until common.startup_done(), after the model is loaded
    try:
        args.func(args)
        code = 0
    except (ValueError, OSError) as err:
        # bad input or an unwritable/full disk: one clear line, no traceback (outputs are atomic, none is left)
        detail = f"{err.strerror}: {err.filename}" if isinstance(err, OSError) and err.filename else err
        print(f"goldenlayers {args.command}: error: {detail}", file=sys.stderr)
        code = 2
    finally:
        gc.enable()
    if argv is None and getattr(args, "loads_model", False):
        exit_now(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
