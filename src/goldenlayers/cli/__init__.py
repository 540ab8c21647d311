"""`goldenlayers <subcommand>`: the parser is assembled in `main` from each module's `add_parsers` (one module per
workflow rules file); `common` holds the model arguments, model loading and start-up. `goldenlayers.cli:main` is the
console-script entry point."""

from goldenlayers.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
