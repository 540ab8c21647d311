"""Does the default data discriminate between layers? Per-layer test means and t-tests of two small sweeps.

Usage:
    python benchmarks/check_default_data.py --before OLD_SWEEP.parquet ... --after NEW_SWEEP.parquet ... \
        [--samples ID ...] [--out benchmarks/results/default_data.json]

Each side is one or more sweep files (`goldenlayers sweep` output, one per layer, or an aggregated sweep.parquet);
`--samples` restricts both sides to the same sample ids (paired comparison of old and new records of the same
facts). For every metric it reports, over the test split: the mean per layer, the spread (best - worst layer mean),
Table 1's test at the golden layer (per-sample optimum vs the golden layer, `analysis.compare_optimal_vs_golden`),
how many swept layers that same test separates from the per-sample optimum, and how many layers a paired t-test
separates from the golden layer (p < 0.05). A metric that is 1.0 at every layer scores 0 on all of these.
See docs/methods.md, "The default data".
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from goldenlayers import analysis

METRICS = ("rewrite", "rephrase", "portability", "locality", "overall")


def load(paths: list[str], samples: list[str] | None) -> pd.DataFrame:
    sweep = analysis.apply_failures(pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True))
    if samples:
        sweep = sweep[sweep["sample_id"].isin(samples)]
    return analysis.overall(sweep)


def describe(sweep: pd.DataFrame) -> dict:
    out = {"n_samples": int(sweep.loc[sweep["split"] == "test", "sample_id"].nunique()),
           "layers": sorted(int(x) for x in sweep["layer"].unique()),
           "edit_seconds_mean": float(sweep["edit_seconds"].mean()),
           "steps_mean": float(sweep["steps"].mean()), "metrics": {}}
    for metric in METRICS:
        if metric not in sweep or sweep[metric].notna().sum() == 0:
            continue
        means = analysis.layer_means(sweep, metric, "test")
        golden = analysis.golden_layer(sweep, metric, "test")
        row = analysis.compare_optimal_vs_golden(sweep, metric, "test", golden)
        apart_from_optimum = sum(bool(analysis.compare_optimal_vs_golden(sweep, metric, "test", layer)["different"])
                                 for layer in means.index)
        at_golden = analysis.values_at_layer(sweep, metric, "test", golden)
        apart_from_golden = 0
        for layer in means.index:
            if layer == golden:
                continue
            at = analysis.values_at_layer(sweep, metric, "test", layer)
            common = at_golden.index.intersection(at.index)
            d = at_golden[common].to_numpy() - at[common].to_numpy()
            if len(d) > 1 and np.any(d != 0):
                apart_from_golden += bool(stats.ttest_rel(at_golden[common], at[common]).pvalue < 0.05)
        out["metrics"][metric] = {
            "layer_means": {int(k): round(float(v), 4) for k, v in means.items()},
            "spread": round(float(means.max() - means.min()), 4),
            "golden_layer": golden,
            "table1": {k: row[k] for k in ("optimal_mean", "optimal_std", "golden_mean", "golden_std", "p",
                                           "different")},
            "layers_apart_from_optimum": apart_from_optimum,
            "layers_apart_from_golden": apart_from_golden,
        }
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", nargs="+", required=True)
    p.add_argument("--after", nargs="+", required=True)
    p.add_argument("--samples", nargs="*")
    p.add_argument("--out")
    args = p.parse_args(argv)
    result = {"before": describe(load(args.before, args.samples)), "after": describe(load(args.after, args.samples))}
    for side in ("before", "after"):
        r = result[side]
        print(f"{side}: {r['n_samples']} test samples, layers {r['layers']}, "
              f"{r['edit_seconds_mean']:.2f} s/edit, {r['steps_mean']:.1f} v* steps")
        for metric, m in r["metrics"].items():
            means = " ".join(f"{k}:{v:.3f}" for k, v in m["layer_means"].items())
            t1 = m["table1"]
            print(f"  {metric:12s} {means} | spread {m['spread']:.3f} | golden {m['golden_layer']} "
                  f"opt {t1['optimal_mean']:.3f}±{t1['optimal_std']:.3f} vs {t1['golden_mean']:.3f}±"
                  f"{t1['golden_std']:.3f} p={t1['p']} | layers apart from optimum "
                  f"{m['layers_apart_from_optimum']}, from golden {m['layers_apart_from_golden']}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
