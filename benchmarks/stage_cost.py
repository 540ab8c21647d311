"""Wall time and CPU seconds per stage of a finished run, from Snakemake's benchmark files.

Every rule writes `results/benchmarks/<rule>/<model>/...tsv` (or `<rule>/<name>.tsv` for rules without a model);
each file holds one job's wall seconds (`s`), CPU seconds (`cpu_time`, user + sys of the job's processes) and peak
RSS. This sums them per rule and model into a Markdown table for docs/benchmarks.md:

    python benchmarks/stage_cost.py results/benchmarks --models smollm2-135m gemma3-270m

Wall seconds add up the jobs' own times: with `--cores 2` two jobs overlap, so the run's elapsed time is about half
of the sum when the cores are busy. CPU seconds are the steadier number on a shared machine.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path


def read_benchmark(path: Path) -> dict[str, float]:
    """One job's benchmark file: its first data row (Snakemake writes one per repeat; the pipeline repeats none)."""
    with path.open() as handle:
        row = next(csv.DictReader(handle, delimiter="\t"), None)
    if row is None:
        raise ValueError(f"{path}: empty benchmark file")

    def number(key: str) -> float:
        value = row.get(key, "NA")
        return float(value) if value not in ("", "NA", "-") else 0.0

    return {"wall_s": number("s"), "cpu_s": number("cpu_time"), "rss_mb": number("max_rss")}


def stage_costs(root: Path, models: list[str]) -> list[dict]:
    """One row per (rule, model): jobs, summed wall and CPU seconds, the largest peak RSS. `model` is '-' for
    rules whose files do not sit under a model's folder."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for path in sorted(root.rglob("*.tsv")):
        parts = path.relative_to(root).parts
        rule = parts[0] if len(parts) > 1 else path.stem
        model = next((part.removesuffix(".tsv") for part in parts[1:] if part.removesuffix(".tsv") in models), "-")
        groups[(rule, model)].append(read_benchmark(path))
    rows = []
    for (rule, model), jobs in groups.items():
        rows.append({"stage": rule, "model": model, "jobs": len(jobs),
                     "wall_s": sum(j["wall_s"] for j in jobs), "cpu_s": sum(j["cpu_s"] for j in jobs),
                     "peak_rss_mb": max(j["rss_mb"] for j in jobs)})
    return sorted(rows, key=lambda r: (r["model"], -r["cpu_s"]))


def to_markdown(rows: list[dict]) -> str:
    lines = ["| stage | model | jobs | wall s (sum) | CPU s | peak RSS MB |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['stage']} | {r['model']} | {r['jobs']} | {r['wall_s']:,.0f} | {r['cpu_s']:,.0f} | "
                     f"{r['peak_rss_mb']:,.0f} |")
    for model in sorted({r["model"] for r in rows}):
        mine = [r for r in rows if r["model"] == model]
        lines.append(f"| **total** | {model} | {sum(r['jobs'] for r in mine)} | "
                     f"{sum(r['wall_s'] for r in mine):,.0f} | {sum(r['cpu_s'] for r in mine):,.0f} | |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="the run's benchmark folder (results/benchmarks)")
    parser.add_argument("--models", nargs="+", default=[], help="the run's model names (folder names to group by)")
    args = parser.parse_args(argv)
    if not args.root.is_dir():
        raise SystemExit(f"error: {args.root} is not a folder")
    rows = stage_costs(args.root, args.models)
    if not rows:
        raise SystemExit(f"error: no benchmark files under {args.root}")
    sys.stdout.write(to_markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
