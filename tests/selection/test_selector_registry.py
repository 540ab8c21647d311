"""Adding a selector is one function plus one registry entry: a toy selector registered through the registry shows
up in the workflow's DAG, in Table 2 and in the resampling draws; and the pipeline's selection record equals the
registry's `select` on the same proxy subset (the code the resampling draws run)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from goldenlayers.analysis import resampling
from goldenlayers.selection import registry as selectors
from goldenlayers.report.write import write_figures, write_tables
from goldenlayers.report.tables import PAPER_TABLES
from goldenlayers.selection.registry import SELECTORS, SelectorSpec
from helpers import ALPHA_MODULE, TOY_MODULE


def toy_spec() -> SelectorSpec:
    namespace = {}
    exec(TOY_MODULE.replace("register(", "spec = ("), namespace)  # the same entry, not registered globally
    return namespace["spec"]


# ----------------------------------------------------------------------------------------------------------
# (b) Table 2: rows for every registered selector whose `tables` name it
# ----------------------------------------------------------------------------------------------------------
def write_summary(root: Path, model: str, dataset: str, editor: str, selected: dict) -> str:
    path = root / "results" / model / dataset / "aggregate" / editor / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"model": model, "dataset": dataset, "editor": editor, "selected": selected}))
    return str(path)


def test_a_registered_selector_gets_rows_in_table2(tmp_path, monkeypatch):
    selected = {name: {"layer": layer, "test": {"rewrite": value, "overall": value / 2}}
                for name, layer, value in (("lga", 2, 0.9), ("salem", 1, 0.5), ("cma", 0, 0.25), ("toy", 0, 0.125))}
    files = [write_summary(tmp_path, "m", d, "r-rome", selected) for d in ("d1", "d2")]

    before = write_tables(["table2"], files, str(tmp_path / "before"))["table2"]
    assert list(before["Selector"]) == ["LGA", "SaLEM", "CMA"] * 2  # not registered: not in the table
    assert "chosen by LGA, SaLEM or CMA," in PAPER_TABLES["table2"].caption

    monkeypatch.setitem(SELECTORS, "toy", toy_spec())
    table = write_tables(["table2"], files, str(tmp_path / "after"))["table2"]
    write_figures(["figure4"], files, str(tmp_path / "after"), metric="overall")
    assert list(table["Selector"]) == ["LGA", "SaLEM", "CMA", "Toy"] * 2
    assert "chosen by LGA, SaLEM, CMA or Toy," in PAPER_TABLES["table2"].caption  # the caption names it too
    toy = table[table["Selector"] == "Toy"]
    assert list(toy["Layer"]) == [0, 0] and list(toy["rewrite"]) == [0.125, 0.125]
    written = pd.read_csv(tmp_path / "after" / "table2.csv")
    assert list(written["Selector"]) == list(table["Selector"])
    assert (tmp_path / "after" / "figure4.png").stat().st_size > 0  # Figure 4 draws it with its registry style
    # Table 14 does not name it
    other = write_tables(["table14"], files, str(tmp_path / "t14"))["table14"]
    assert "Toy" not in set(other["Selector"])


# ----------------------------------------------------------------------------------------------------------
# (c) one code: the pipeline's record == the registry's select on a resampling draw's evidence
# ----------------------------------------------------------------------------------------------------------
def evidence_tables(n: int = 12, layers=(0, 1, 2, 3), seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = [f"r{i}" for i in range(n)]
    sweep = pd.DataFrame([{"sample_id": s, "split": "test", "layer": layer, "editor": "r-rome",
                           "rewrite": float(rng.random() < 0.6), "status": "ok"} for s in ids for layer in layers])
    grads = pd.DataFrame([{"sample_id": s, "layer": layer, "dot_old_new": rng.normal(), "sq_norm_old": rng.random(),
                           "sq_norm_new": rng.random()} for s in ids for layer in layers])
    effects = pd.DataFrame([{"sample_id": s, "layer": layer, "correct": bool(i % 3), "indirect_effect": rng.random()}
                            for i, s in enumerate(ids) for layer in layers])
    return ids, sweep, grads, effects


def test_pipeline_records_equal_the_registry_on_a_draw(tmp_path):
    from goldenlayers.cli import main

    ids, sweep, grads, effects = evidence_tables()
    grads.to_parquet(tmp_path / "g.parquet")
    effects.to_parquet(tmp_path / "e.parquet")
    ev = resampling.build_evidence(sweep, grads, effects=effects)
    for r, proxy in enumerate(resampling.draw_masks(len(ids), 5, 4, seed=1)):
        subset = [s for s, keep in zip(ev["samples"], proxy) if keep]
        (tmp_path / "split.json").write_text(json.dumps({"proxy": subset, "test": []}))
        drawn = resampling.draw_evidence(ev, proxy)
        chosen = resampling.choose(ev, proxy, params={"tukey_k": 0.5})
        for method, flag, path in (("lga", "--gradients", "g.parquet"), ("lga_kprime", "--gradients", "g.parquet"),
                                   ("cma", "--effects", "e.parquet")):
            out = tmp_path / f"{method}_{r}.json"
            params = ["--tukey-k", "0.5"] if "tukey_k" in SELECTORS[method].params else []
            assert main(["-q", "select", "--method", method, flag, str(tmp_path / path), "--split",
                         str(tmp_path / "split.json"), *params, "--out", str(out)]) == 0
            pipeline = json.loads(out.read_text())
            pipeline.pop("scoring_seconds")
            registry = selectors.run(method, drawn, ev["layers"], {"tukey_k": 0.5})
            assert json.loads(json.dumps(registry)) == pipeline, method
            assert ev["layers"][chosen[method]] == pipeline["chosen_layer"]


def test_random_draws_one_layer_from_the_callers_stream():
    # Table 16's Random is one uniform layer per draw from the resampling's own stream
    _, sweep, grads, _ = evidence_tables()
    ev = resampling.build_evidence(sweep, grads)
    proxy = resampling.draw_masks(len(ev["samples"]), 5, 1, seed=0)[0]
    for seed in range(20):
        got = resampling.choose(ev, proxy, rng=np.random.default_rng(seed))["random"]
        assert got == int(np.random.default_rng(seed).integers(len(ev["layers"])))
    assert "random" not in resampling.choose(ev, proxy)  # no stream, no random draw


def test_a_registered_selector_joins_the_resampling_draws(monkeypatch):
    _, sweep, grads, _ = evidence_tables()
    ev = resampling.build_evidence(sweep, grads)
    assert "toy" not in resampling.choose(ev, resampling.draw_masks(12, 5, 1, seed=0)[0])
    monkeypatch.setitem(SELECTORS, "toy", toy_spec())
    draws, _ = resampling.resample(ev, n_proxy=5, n_draws=3, seed=0)
    toy = draws[draws["selector"] == "toy"]
    assert len(toy) and (toy["layer"] == 0).all()  # the first candidate layer, in every draw
    assert resampling.draw_order()[-1] == "random"  # selectors that read evidence first, then the random ones


def test_register_refuses_a_duplicate_or_unknown_evidence():
    with pytest.raises(ValueError, match="already registered"):
        selectors.register(SELECTORS["lga"])
    spec = toy_spec()
    bad = SelectorSpec(**{**spec.__dict__, "name": "toy2", "needs": ("tea leaves",)})
    with pytest.raises(ValueError, match="unknown evidence"):
        selectors.register(bad)
    assert "toy2" not in SELECTORS


def test_register_refuses_a_selector_the_workflow_cannot_score():
    # no score_<name> rule is generated for a selector without gradient / saliency / trace evidence
    spec = SelectorSpec(name="sweepy", label="Sweepy", color="#000000", marker="v", linestyle=":", hatch="",
                        needs=("sweep",), timed=False, planned=True, multi_layer=False, tables=("table2",),
                        select=lambda evidence, layers, params: {})
    with pytest.raises(ValueError, match="must score the gradient"):
        selectors.register(spec)
    assert "sweepy" not in SELECTORS


@pytest.fixture
def alpha_selector(tmp_path, monkeypatch):
    """ALPHA_MODULE registered (and unregistered afterwards)."""
    namespace = {}
    exec(ALPHA_MODULE, namespace)
    yield namespace["SEEN"]
    SELECTORS.pop("alpha")
    selectors.PARAMS.pop("alpha")


def test_a_new_selector_parameter_reaches_the_resampling_draws(tmp_path, alpha_selector):
    from goldenlayers.cli import main

    ids, sweep, grads, _ = evidence_tables()
    sweep.to_parquet(tmp_path / "sweep.parquet")
    grads.to_parquet(tmp_path / "g.parquet")
    (tmp_path / "split.json").write_text(json.dumps({"proxy": ids[:5], "test": ids[5:]}))
    base = ["-q", "resample", "--sweep", str(tmp_path / "sweep.parquet"), "--split", str(tmp_path / "split.json"),
            "--gradients", str(tmp_path / "g.parquet"), "--draws", "3", "--curve-draws", "2", "--proxy-sizes", "3",
            "--candidates", "swept"]
    for given, layer in ((["--alpha", "2"], 2), ([], 0)):
        out = tmp_path / f"run{len(given)}"
        assert main([*base, *given, "--out-dir", str(out)]) == 0
        draws = pd.read_parquet(out / "draws.parquet")
        assert set(draws.loc[draws["selector"] == "alpha", "layer"]) == {layer}
    assert set(alpha_selector) == {2, None}  # the configured value in every draw of the first run, then the default
    assert json.loads((tmp_path / "run2" / "summary.json").read_text())["selector_params"]["alpha"] == 2


def test_registry_entries_are_built_with_keywords():
    spec = toy_spec()
    with pytest.raises(TypeError):
        SelectorSpec("toy", "Toy", "#000000", "v", ":", "", ("gradients",), False, True, False, ("table2",),
                     spec.select)
