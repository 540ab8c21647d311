"""Rebuild a study's tables from its archive alone (no model) and check that a document spliced from them is up to
date: the check CI runs on docs/findings.md (docs/archive.md, "Rebuilding a study").

    python scripts/rebuild_study.py cpu                  # a study of STUDIES, into rebuild/<name>/
    python scripts/rebuild_study.py --archive studies/x --doc docs/x.md --run config/x.yaml run_name=x --out DIR

Into a fresh folder (a copy of the workflow: Snakefile, workflow/, config/, datasets/), each run of the study runs
`snakemake --configfile <file> --config archive=<archive> <its overrides>` with the tables the document's
`<!-- table: ... -->` blocks name as targets (those of that run's report folder), then `scripts/splice_tables.py
<doc> --root <folder> --check --run <run>...` (the blocks of those runs). Exit 1 when the document no longer follows
from the data.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# An archived study whose document CI checks: its archive, the document whose table blocks it rebuilds, and its
# runs (a config file and its --config overrides; the CPU study runs one (model, dataset) cell at a time). Only the
# blocks of these runs are checked: a block of a run not archived yet stays as the document has it (findings.md says
# which). Adding a study, or an archived run, is one entry; tests/workflow/test_archive_rebuild.py checks every entry
# whose archive is in the repository.
STUDIES = {
    "cpu": {
        "archive": "studies/cpu",
        "doc": "docs/findings.md",
        "runs": [["config/study-cpu.yaml", "only_models=[smollm2-135m]", "only_datasets=[counterfact]",
                  "run_name=study-cpu-smollm2-cf"],
                 ["config/study-cpu.yaml", "only_models=[gemma3-270m]", "only_datasets=[counterfact]",
                  "run_name=study-cpu-gemma-cf"],
                 ["config/study-cpu.yaml", "only_models=[gemma3-270m]", "only_datasets=[default]",
                  "run_name=study-cpu-gemma"],
                 ["config/study-cpu.yaml", "only_models=[smollm2-135m]", "only_datasets=[default]",
                  "run_name=study-cpu-smollm2"]],
    },
}
TABLE = re.compile(r"<!-- table: (results/report/(?P<run>[\w-]+)/[\w./-]+\.md)")
COPIED = ("Snakefile", "environment.yml", "workflow", "config", "datasets")


def run_name(run: list[str], where: Path = REPO) -> str:
    """A run's report folder name as the workflow names it: its run_name override, else its config file's
    run_name, else the config file's name."""
    import yaml

    for item in run[1:]:
        if item.startswith("run_name="):
            return item.split("=", 1)[1]
    return (yaml.safe_load((where / run[0]).read_text()) or {}).get("run_name") or Path(run[0]).stem


def targets(doc: str, run: list[str], where: Path = REPO) -> list[str]:
    """The tables of `doc`'s blocks that this run writes (its report folder)."""
    return sorted({m.group(1) for m in TABLE.finditer(doc) if m.group("run") == run_name(run, where)})


def rebuild(archive: Path, doc: Path, runs: list[list[str]], out: Path, cores: int = 2) -> int:
    """Rebuild the tables `doc` names from `archive` in `out`, then check `doc` against them; the check's exit code."""
    archive, doc = archive.resolve(), doc.resolve()
    text = doc.read_text()
    out.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, out / name, dirs_exist_ok=True)
        elif source.exists():
            shutil.copy(source, out / name)
    for run in runs:
        wanted = targets(text, run, out)
        if not wanted:
            raise SystemExit(f"error: {doc} has no table block of run {run_name(run, out)!r}")
        cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(out / "Snakefile"), "--directory", str(out),
               "--cores", str(cores), "--configfile", run[0], "--config", f"archive={archive}", *run[1:],
               "--", *wanted]
        print("+", " ".join(cmd), flush=True)
        done = subprocess.run(cmd, cwd=out)
        if done.returncode != 0:
            raise SystemExit(f"error: the rebuild of run {run_name(run, out)!r} failed (exit {done.returncode}); its "
                             f"logs are under {out / 'results/logs'}")
    only = [flag for run in runs for flag in ("--run", run_name(run, out))]
    return subprocess.run([sys.executable, str(REPO / "scripts/splice_tables.py"), str(doc), "--root", str(out),
                           "--check", *only]).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", nargs="?", choices=sorted(STUDIES), help="a study of STUDIES")
    parser.add_argument("--archive", type=Path, help="the archive (without a study name)")
    parser.add_argument("--doc", type=Path, help="the document to check (without a study name)")
    parser.add_argument("--run", nargs="+", action="append", metavar="CONFIGFILE [KEY=VALUE]",
                        help="one run: its config file and --config overrides (repeat per run)")
    parser.add_argument("--out", type=Path, help="the folder to rebuild in (default rebuild/<study>)")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args(argv)
    if args.study:
        entry = STUDIES[args.study]
        archive, doc, runs = REPO / entry["archive"], REPO / entry["doc"], entry["runs"]
        out = args.out or REPO / "rebuild" / args.study
    elif args.archive and args.doc and args.run and args.out:
        archive, doc, runs, out = args.archive, args.doc, args.run, args.out
    else:
        parser.error("name a study, or give --archive, --doc, --run and --out")
    return rebuild(archive, doc, runs, out, args.cores)


if __name__ == "__main__":
    sys.exit(main())
