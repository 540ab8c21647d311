"""The cost-regret frontier (goldenlayers.analysis.frontier): costs, the best, the CI test and the ambition, by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from goldenlayers.analysis import frontier, resampling
from goldenlayers.analysis.resampling_report import run_resampling
from goldenlayers.report.write import write_figures, write_tables


def cell(model, rows):
    """One cell's overall rows: (selector, edits, mean regret, upper CI end over facts); BF's edits are 450."""
    frame = pd.DataFrame([{"selector": s, "label": s, "metric": "overall", "edits": e, "share_of_bf": e / 450,
                           "seconds": math.nan, "mean_regret": r, "facts_low": 0.0, "facts_high": h, "n_draws": 10}
                          for s, e, r, h in rows])
    return frontier.mark(frame).assign(model=model, dataset="d", editor="r-rome")


def cells(verify_b=0.025):
    a = cell("a", [("lga", 0, .10, .20), ("cma", 0, .02, .05), ("verify", 15, .04, .09), ("bf", 450, .03, .06),
                   ("bf(m=10)", 300, .045, .08)])
    b = cell("b", [("lga", 0, .01, .03), ("cma", 0, .05, .09), ("verify", 15, verify_b, .06), ("bf", 450, .02, .05),
                   ("bf(m=10)", 300, .04, .07)])
    return pd.concat([a, b], ignore_index=True)


def test_best_within_and_ambition_per_cell():
    frame = cells()
    a = frame[frame["model"] == "a"].set_index("selector")
    # best: CMA (.02); within: mean <= CMA's upper end .05 -> verify .04, BF .03, BF(10) .045; LGA .10 is not
    assert list(a.index[a["best"]]) == ["cma"]
    assert a["within_best_ci"].to_dict() == {"lga": False, "cma": True, "verify": True, "bf": True, "bf(m=10)": True}
    # the ambition also asks <= 20 % of BF's edits: verify (15/450) and the zero-edit CMA, not BF (100 %, 67 %)
    assert a["ambition"].to_dict() == {"lga": False, "cma": True, "verify": True, "bf": False, "bf(m=10)": False}


def test_a_tie_for_best_goes_to_fewer_edits_and_no_bootstrap_leaves_the_test_open():
    frame = cell("a", [("bf", 450, .02, .05), ("verify", 15, .02, .04)]).set_index("selector")
    assert frame.loc["verify", "best"] and not frame.loc["bf", "best"]
    frame = cell("a", [("cma", 0, .02, math.nan), ("lga", 0, .05, math.nan)]).set_index("selector")
    assert frame.loc["cma", "best"] and frame["within_best_ci"].isna().all() and frame["ambition"].isna().all()


def test_ambition_across_cells():
    verdict = frontier.ambition(cells()).set_index("selector")
    # verify: within in both cells (.04 <= .05, .025 <= .03) at 15/450 of BF's edits
    assert list(verdict.index[verdict["meets"]]) == ["verify"]
    assert verdict.loc["verify", "cells_within"] == 2
    assert verdict.loc["verify", "worst_gap"] == pytest.approx(max(.04 - .05, .025 - .03))
    # CMA: best in a, .05 against LGA's .03 in b; LGA: .10 against .05 in a
    assert verdict.loc["cma", "worst_gap"] == pytest.approx(.02) and not verdict.loc["cma", "meets"]
    assert verdict.loc["lga", "worst_gap"] == pytest.approx(.05)
    # BF is within everywhere but costs all of BF's edits
    assert verdict.loc["bf", "cells_within"] == 2 and not verdict.loc["bf", "meets"]
    assert "met by verify" in frontier.ambition_sentence(frontier.ambition(cells()))
    # verify at .035 in b misses LGA's upper end .03 by .005: nobody meets it; the closest within budget is verify
    verdict = frontier.ambition(cells(verify_b=.035))
    assert not verdict["meets"].any()
    line = frontier.ambition_sentence(verdict)
    assert "met by none" in line and "closest within budget is verify" in line and "+0.0050" in line
    # a setting missing from a cell cannot meet it
    part = cells()
    part = part[~((part["model"] == "b") & (part["selector"] == "verify"))]
    assert not frontier.ambition(part).set_index("selector").loc["verify", "meets"]


def test_frontier_rows_costs_and_seconds():
    settings = resampling.frontier_settings({"verify": [{"k": 2, "m": 3}], "bf_facts": [5], "metrics": ["rewrite"]})
    names = ["lga", "lga_kprime", "salem", "cma", "bf", "verify", "consensus", "random", *settings]
    draws = pd.DataFrame([{"draw": d, "n_proxy": 15, "selector": n, "layer": 1, "metric": "overall",
                           "value": .5, "golden_layer": 1, "golden_value": .5, "regret": 0.1 * i + 0.01 * d,
                           "hit": True, "p": 1.0} for i, n in enumerate(names) for d in range(3)])
    summary = {"n_proxy": 15, "candidate_layers": list(range(30)), "seed": 0,
               "settings": {**{n: {"selector": n, "params": {}} for n in names[:8]}, **settings},
               "selector_seconds": {"lga": 10.0, "salem": 12.0, "cma": 30.0}}
    run = {"summary": summary, "draws": draws, "fact_draws": pd.DataFrame(columns=resampling.DRAW_COLUMNS)}
    rows = frontier.frontier_rows(run, ["overall"]).set_index("selector")
    assert list(rows.index) == names  # the registry's order, then the settings'
    edits = rows["edits"].to_dict()
    assert edits["bf"] == 15 * 30 and edits["bf(m=5)"] == 5 * 30 and edits["verify(k=2,m=3,rewrite)"] == 6
    assert edits["verify"] == 3 * 5 and edits["lga"] == edits["consensus"] == edits["random"] == 0
    assert rows.loc["verify", "label"] == "Verify (k=3,m=5,overall)"
    assert rows.loc["bf(m=5)", "share_of_bf"] == pytest.approx(150 / 450)
    # consensus charges the gradient job once (the longer of LGA's 10 s and SaLEM's 12 s) plus CMA's trace job
    assert rows.loc["consensus", "seconds"] == pytest.approx(12.0 + 30.0)
    assert rows.loc["lga", "seconds"] == 10.0 and math.isnan(rows.loc["lga_kprime", "seconds"])
    assert math.isnan(rows.loc["verify", "seconds"]) and rows.loc["random", "seconds"] == 0.0
    assert rows.loc["lga", "mean_regret"] == pytest.approx(0.01)  # (0 + .01 + .02) / 3
    assert rows.loc["lga", "best"] and rows["within_best_ci"].isna().all()


def test_frontier_settings_are_checked():
    with pytest.raises(ValueError, match="unknown keys"):
        resampling.frontier_settings({"verfy": []})
    with pytest.raises(ValueError, match="k: >= 1"):
        resampling.frontier_settings({"verify": [{"k": 0, "m": 3}]})
    got = resampling.frontier_settings({"verify": [{"k": 3, "m": 5}], "metrics": ["rewrite", "overall"]})
    assert got["verify(k=3,m=5,overall)"] == {"selector": "verify", "params": {"shortlist_k": 3, "proxy_facts": 5,
                                                                                 "verify_metric": "overall"}}
    # the registry's verify already runs k = 3, m = 5 by overall: that setting is not run twice
    assert list(resampling.new_settings(got, {})) == ["verify(k=3,m=5,rewrite)"]
    assert list(resampling.new_settings(got, {"shortlist_k": 2})) == list(got)


def test_the_stage_writes_the_frontier_table_and_figure(tmp_path):
    rng = np.random.default_rng(0)
    ids = [f"r{i:02d}" for i in range(14)]
    layers = [0, 2, 3, 5]
    sweep = pd.DataFrame([{"sample_id": s, "split": "proxy" if i < 4 else "test", "layer": layer,
                           "editor": "r-rome", "rewrite": float(rng.random() < 0.6), "rephrase": rng.random(),
                           "status": "ok"} for i, s in enumerate(ids) for layer in layers])
    grads = pd.DataFrame([{"sample_id": s, "layer": layer, "dot_old_new": rng.normal(), "sq_norm_old": 1.0,
                           "sq_norm_new": rng.random()} for s in ids for layer in range(6)])
    effects = pd.DataFrame([{"sample_id": s, "layer": layer, "correct": True, "indirect_effect": rng.random()}
                            for s in ids for layer in range(6)])
    for name, frame in (("sweep", sweep), ("grads", grads), ("effects", effects)):
        frame.to_parquet(tmp_path / f"{name}.parquet")
    (tmp_path / "split.json").write_text(json.dumps({"proxy": ids[:4], "test": ids[4:]}))
    (tmp_path / "plan.json").write_text(json.dumps({"grid": layers, "chosen": {}, "added": [], "layers": layers}))
    (tmp_path / "lga.json").write_text(json.dumps({"method": "lga", "wall_seconds": 7.5}))
    run_dir = tmp_path / "results/m/d/resampling/r-rome"
    summary = run_resampling(str(tmp_path / "sweep.parquet"), str(tmp_path / "split.json"), str(run_dir),
                             gradients_path=str(tmp_path / "grads.parquet"),
                             effects_path=str(tmp_path / "effects.parquet"), n_draws=12, curve_draws=4, sizes=(3,),
                             key={"model": "m", "dataset": "d", "editor": "r-rome"},
                             plan_path=str(tmp_path / "plan.json"), fact_replicates=4, fact_draws=2,
                             frontier={"verify": [{"k": 2, "m": 3}], "bf_facts": [2], "metrics": ["overall"]},
                             selection_paths=[str(tmp_path / "lga.json")])
    assert summary["selector_seconds"] == {"lga": 7.5}
    draws = pd.read_parquet(run_dir / "draws.parquet")
    assert {"verify(k=2,m=3,overall)", "bf(m=2)", "verify", "consensus"} <= set(draws["selector"])
    assert "bf(m=2)" not in set(pd.read_parquet(run_dir / "curve.parquet")["selector"])  # settings: main draws only
    assert "bf(m=2)" in set(pd.read_parquet(run_dir / "fact_draws.parquet")["selector"])
    runs = [str(run_dir / "summary.json")]
    table = write_tables(["frontier"], runs, str(tmp_path / "report"))["frontier"]
    write_figures(["figure8"], runs, str(tmp_path / "report"))
    assert (tmp_path / "report/figure8.png").exists()
    row = table[(table["Selector"] == "bf(m=2)") & (table["Metric"] == "overall")].iloc[0]
    assert row["Edits"] == 2 * 4 and row["Share of BF's edits"] == pytest.approx(8 / 16)
    assert table.loc[table["Selector"] == "LGA", "Seconds (zero-edit)"].iloc[0] == 7.5
    assert (table.groupby("Metric")["Best"].apply(lambda b: (b == "best").sum()) == 1).all()
    md = (tmp_path / "report/frontier.md").read_text()
    assert "BF's edits = 4 proxy facts x 4 candidate layers = 16" in md and "ambition, within" in md
