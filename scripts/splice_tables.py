"""Copy generated report tables into a Markdown document, so the numbers in docs are the pipeline's, never retyped.

A block in the document names one generated table (a path from the repository root) and, optionally, one model
whose rows it keeps:

    <!-- table: results/report/study-cpu/table16.md model=smollm2-135m -->
    (replaced by the rows of that file whose Model cell is smollm2-135m, the notes of that model, and a line
    naming the file, its config hash and the commit it was built at)
    <!-- /table -->

    python scripts/splice_tables.py docs/findings.md
    python scripts/splice_tables.py docs/findings.md --check   # change nothing; exit 1 if stale

A block whose table is missing, or whose model matches no row, is an error: the document must not keep old
numbers beside new ones without saying so.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

BLOCK = re.compile(r"(<!-- table: (?P<path>[\w./-]+\.md)(?: model=(?P<model>[\w.-]+))? -->\n)(?P<body>.*?)(?P<end><!-- /table -->)",
                   re.DOTALL)
START = re.compile(r"<!-- table: (?P<path>[\w./-]+\.md)(?: model=(?P<model>[\w.-]+))? -->\n")
END = "<!-- /table -->"
NOTE = re.compile(r"^- ([\w.-]+)/")
SEPARATOR = re.compile(r"^\|(\s*:?-+:?\s*\|)+\s*$")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def keep_model_rows(markdown: str, model: str) -> tuple[str, int]:
    """The markdown with, in every pipe table that has a `model` column, only the rows of `model`; and how many
    rows were kept. Notes that name another model ("- <model>/...") go too; other lines are kept."""
    lines, out, kept, column = markdown.splitlines(), [], 0, None
    for i, line in enumerate(lines):
        is_row = line.startswith("|")
        if is_row and i + 1 < len(lines) and SEPARATOR.match(lines[i + 1]):  # a header: the next line is |---|
            headers = [h.lower() for h in _cells(line)]  # the paper tables write "Model", some frames "model"
            column = headers.index("model") if "model" in headers else None
            out.append(line)
        elif is_row and column is not None and not SEPARATOR.match(line):
            if _cells(line)[column] == model:
                out.append(line)
                kept += 1
        elif NOTE.match(line) and NOTE.match(line).group(1) != model:
            continue  # a note of another model ("- <model>/<dataset>...: ...", as the paper tables write them)
        else:
            if not is_row:
                column = None
            out.append(line)
    return "\n".join(out) + "\n", kept


def render(root: Path, path: str, model: str | None) -> str:
    source = root / path
    if not source.exists():
        raise SystemExit(f"error: {source} does not exist: run the workflow that writes it first")
    markdown = source.read_text()
    if model is not None:
        markdown, kept = keep_model_rows(markdown, model)
        if kept == 0:
            raise SystemExit(f"error: no row of {source} has model {model!r}")
    sidecar = source.with_suffix(".provenance.json")
    origin = json.loads(sidecar.read_text()) if sidecar.exists() else {}
    commit = (origin.get("git_commit") or "unknown")[:7]
    config = (origin.get("config_hash") or "unknown")[:12]
    return f"{markdown.rstrip()}\n\n*Generated: `{path}` (config {config}, commit {commit}).*\n"


def run_of(path: str) -> str | None:
    """The run whose report folder holds a block's table (results/report/<run>/...), else None."""
    parts = Path(path).parts
    return parts[2] if parts[:2] == ("results", "report") and len(parts) > 3 else None


def splice(document: str, root: Path, runs: list[str] | None = None) -> str:
    """`document` with every block's table re-rendered from `root`; with `runs`, only the blocks of those runs' report
    folders (a study whose runs are archived one at a time is checked run by run; other blocks stay as they are)."""
    def one(match: re.Match) -> str:
        if runs is not None and run_of(match.group("path")) not in runs:
            return match.group(0)
        return match.group(1) + render(root, match.group("path"), match.group("model")) + match.group("end")

    return BLOCK.sub(one, document)


def check_markers(document: str, name) -> None:
    """Every start marker has its own end marker before the next block starts; else one error naming the line."""
    starts = list(START.finditer(document))
    if not starts:
        raise SystemExit(f"error: {name} has no <!-- table: ... --> block")
    closed = {m.start() for m in BLOCK.finditer(document) if not START.search(m.group("body"))}
    for start in starts:
        if start.start() not in closed:
            line = document.count("\n", 0, start.start()) + 1
            raise SystemExit(f"error: {name}: the block of {start.group('path')} at line {line} has no end marker "
                             f"{END} (add it after the table)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("document", type=Path)
    parser.add_argument("--root", type=Path, default=Path("."), help="where the blocks' paths start (default: .)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when the document is stale")
    parser.add_argument("--run", action="append", dest="runs", metavar="RUN_NAME",
                        help="only the blocks of this run's tables (results/report/RUN_NAME/; repeat; default: all)")
    args = parser.parse_args(argv)
    before = args.document.read_text()
    check_markers(before, args.document)
    if args.runs and not any(run_of(m.group("path")) in args.runs for m in START.finditer(before)):
        raise SystemExit(f"error: {args.document} has no block of run(s) {args.runs}")
    after = splice(before, args.root, args.runs)
    if args.check:
        stale = after != before
        print(f"{args.document}: {'stale' if stale else 'up to date'}")
        return int(stale)
    args.document.write_text(after)
    print(f"{args.document}: {len(BLOCK.findall(after))} generated tables spliced in")
    return 0


if __name__ == "__main__":
    sys.exit(main())
