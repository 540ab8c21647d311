"""verify and consensus in the workflow's plan: verify's shortlist joins the sweep plan (only the layers it adds),
select_verify reads the first editor's sweeps of exactly those layers, the cheap selectors' files come from the
config, and resample_splits gets the config's frontier (checked against config/config.yaml by hand)."""

from __future__ import annotations

import pandas as pd

from conftest import load_config
from goldenlayers.cli.main import build_parser
from goldenlayers.plan import files, options
from goldenlayers.selection import registry
from goldenlayers.selection.plan import sweep_plan

LAYERS = list(range(9))


def record(method, chosen, scores):
    return {"method": method, "layers": LAYERS, "scores": scores, "chosen_layer": chosen}


# by hand: LGA ranks 4, 5, 0, 3, ...; CMA 8, 6, 7, 0, ...; SaLEM 4, 7, 0, ...
# round-robin: 4 (LGA), 8 (CMA), 4 taken (SaLEM), then 5 (LGA), 6 (CMA), 7 (SaLEM)
CHEAP = [record("lga", 4, [0.7, 0.1, 0.2, 0.3, 0.9, 0.8, 0.0, -0.1, -0.2]),
         record("cma", 8, [0, 0, 0, 0, 0, 0, 0.5, 0.1, 0.9]),
         record("salem", 4, [0, 0, 0, 0, 1.0, 0, 0, 0.7, 0])]


def plan(grid, params):
    return sweep_plan(grid, CHEAP, {"selections": CHEAP, "params": params})


def test_the_shortlist_joins_the_sweep_plan_and_adds_exactly_the_layers_it_needs():
    three = plan([0, 4, 8], {"shortlist_k": 3})
    assert three["shortlist"] == [4, 8, 5]
    assert three["added"] == [5] and three["layers"] == [0, 4, 5, 8]
    # inside the grid and the chosen layers: nothing to add
    two = plan([0, 4, 8], {"shortlist_k": 2})
    assert two["shortlist"] == [4, 8] and two["added"] == [] and two["layers"] == [0, 4, 8]
    assert sweep_plan([0, 4, 8], CHEAP)["layers"] == [0, 4, 8] and "shortlist" not in sweep_plan([0, 4, 8], CHEAP)
    # the registry's default k (3); the cheap selectors as configured, in their order
    assert plan([0], {})["shortlist"] == [4, 8, 5]
    assert plan([0], {"cheap_selectors": "cma,salem", "shortlist_k": 4})["shortlist"] == [8, 4, 6, 7]


def test_select_verify_edits_only_the_planned_shortlist():
    """The pipeline's verify, on sweep rows at the planned layers only, shortlists what the plan swept and keeps
    the best mean overall of its first m proxy facts (by hand: layer 5)."""
    shortlist = plan([0, 4, 8], {})["shortlist"]
    value = {4: 0.2, 8: 0.4, 5: 0.6}
    rows = [{"sample_id": f"s{i}", "layer": layer, "split": "proxy", "rewrite": value[layer],
             "rephrase": value[layer], "locality": value[layer]} for layer in shortlist for i in range(4)]
    # a fifth proxy fact beyond m=4 that would make layer 8 best
    rows += [{"sample_id": "s9", "layer": 8, "split": "proxy", "rewrite": 1e6, "rephrase": 1e6, "locality": 1e6}]
    sweep = pd.DataFrame(rows)
    evidence = {"selections": {r["method"]: r for r in CHEAP}, "sweep": sweep,
                "proxy_order": ["s0", "s1", "s2", "s3", "s9"]}
    chosen = registry.run("verify", evidence, params={"proxy_facts": 4})
    assert chosen["shortlist"] == shortlist and chosen["chosen_layer"] == 5 and chosen["edits"] == 12
    config = load_config(editors=["emmet", "r-rome"])
    assert files.verify_sweeps(config, "m", "d", shortlist) == [
        "results/m/d/sweep/emmet/layer_4.parquet", "results/m/d/sweep/emmet/layer_8.parquet",
        "results/m/d/sweep/emmet/layer_5.parquet"]


def test_the_plans_shortlist_is_read_from_its_file(tmp_path):
    path = tmp_path / "sweep_plan.json"
    path.write_text('{"layers": [0, 4, 5, 8], "grid": [0, 4, 8], "shortlist": [4, 8, 5]}')
    assert files.read_shortlist(str(path)) == [4, 8, 5]


def test_the_cheap_selectors_and_the_shortlist_come_from_the_config():
    default = load_config()
    assert files.cheap_selections(default, "m", "d") == [
        "results/m/d/selection/lga.json", "results/m/d/selection/cma.json", "results/m/d/selection/salem.json"]
    assert options.sweep_plan_opts(default, "m", "d") == ""
    config = load_config(selector_params={"cheap_selectors": "cma,lga", "shortlist_k": 2})
    assert files.cheap_selections(config, "m", "d") == [
        "results/m/d/selection/cma.json", "results/m/d/selection/lga.json"]
    assert options.sweep_plan_opts(config, "m", "d") == "--cheap-selectors cma,lga --shortlist-k 2"
    assert "--cheap-selectors cma,lga" in options.selector_opts(config, "consensus", "m", "d")
    assert options.selector_opts(config, "verify", "m", "d") == "--cheap-selectors cma,lga --shortlist-k 2"


def test_verify_and_consensus_are_in_every_aggregate_and_resample_reads_the_measured_selections():
    config = load_config(editors=["r-rome", "emmet"])
    for editor in ("r-rome", "emmet"):
        found = files.aggregate_selections(config, "m", "d", editor)
        assert {"results/m/d/selection/verify.json", "results/m/d/selection/consensus.json"} <= set(found)
    assert files.resampling_selections("m", "d") == [
        f"results/m/d/selection/{m}.json" for m in ("lga", "lga_kprime", "salem", "cma")]


def test_resample_options_carry_the_configs_frontier():
    """config/config.yaml's resampling.frontier, written out by hand, and the resample command parses it back."""
    opts = options.resampling_opts(load_config())
    assert opts.endswith(" --frontier-verify 2:3 3:5 5:5 --frontier-metrics rewrite overall --frontier-bf-facts 3 5 10")
    args = build_parser().parse_args(["resample", "--sweep", "s", "--split", "p", "--out-dir", "o", *opts.split()])
    assert args.frontier_verify == ["2:3", "3:5", "5:5"] and args.frontier_bf_facts == [3, 5, 10]
    assert args.frontier_metrics == ["rewrite", "overall"]
    only_bf = load_config(resampling={"frontier": {"verify": [], "bf_facts": [7]}})
    assert options.resampling_opts(only_bf).endswith("--fact-bootstrap 100 2 --frontier-bf-facts 7")
