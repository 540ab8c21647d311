"""verify, consensus and BF(m) (goldenlayers.selection.registry) against hand arithmetic on a small sweep.

Proxy facts in split.json's order p2, p0, p3, p1 (so "the first m" differs from sorted ids); rewrite per layer:

    layer   p2   p0   p3   p1  | first 1  first 2  all 4  (means)
      0     0    0    0    0   |   0        0       0
      1    .5   .5   .5   .5   |  .5       .5      .5
      2     0    1    1    1   |   0       .5      .75    <- best on all four
      3     0   .5    1    1   |   0       .25     .625
      4     1    0    0    0   |   1       .5      .25

The cheap selectors' rankings: LGA [1, 3, 0, 2, 4], CMA [3, 1, 4, 0, 2], SaLEM [4, 2, 1, 0, 3]; round robin they
shortlist 1, 3, 4 (k = 3), then 2 (k = 4: SaLEM's second pick; LGA's and CMA's second picks are taken).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from goldenlayers.analysis import resampling
from goldenlayers.selection import registry
from goldenlayers.selection.stage import select
from goldenlayers.selection.verify import mean_ranks

ORDER = ["p2", "p0", "p3", "p1"]
REWRITE = {0: [0, 0, 0, 0], 1: [.5, .5, .5, .5], 2: [0, 1, 1, 1], 3: [0, .5, 1, 1], 4: [1, 0, 0, 0]}
RANKINGS = {"lga": [1, 3, 0, 2, 4], "cma": [3, 1, 4, 0, 2], "salem": [4, 2, 1, 0, 3]}


def record(name, order):
    """A selection record whose `verify.ranking` is `order`: descending scores, the first layer chosen."""
    layers = sorted(order)
    scores = [float(len(order) - order.index(layer)) for layer in layers]
    return {"method": name, "layers": layers, "scores": scores, "chosen_layer": order[0]}


def sweep(rephrase_layer4: float = 0.0) -> pd.DataFrame:
    rows = []
    for layer, values in REWRITE.items():
        for sid, value in zip(ORDER, values):
            rows.append({"sample_id": sid, "split": "proxy", "layer": layer, "rewrite": float(value),
                         "rephrase": rephrase_layer4 if layer == 4 else 0.0, "status": "ok"})
        rows.append({"sample_id": "t0", "split": "test", "layer": layer, "rewrite": 1.0, "rephrase": 0.0,
                     "status": "ok"})
    return pd.DataFrame(rows)


def evidence(frame=None, order=ORDER):
    records = {name: record(name, r) for name, r in RANKINGS.items()}
    return {"selections": records, "sweep": sweep() if frame is None else frame, "proxy_order": order}


def verify(k, m, metric="rewrite", **kw):
    params = {"shortlist_k": k, "proxy_facts": m, "verify_metric": metric}
    return registry.run("verify", kw.pop("ev", None) or evidence(), kw.pop("layers", None), params)


def test_verify_shortlist_misses_catches_and_breaks_ties():
    # k = 3 misses layer 2. On the first 2 facts layers 1 and 4 tie at .5: the earlier shortlisted one (1) wins
    got = verify(3, 2)
    assert got["shortlist"] == [1, 3, 4] and got["facts"] == ["p2", "p0"]
    assert got["measured"] == {"1": .5, "3": .25, "4": .5} and got["chosen_layer"] == 1 and got["edits"] == 6
    # on all 4 facts layer 3 (.625) beats 1 (.5) and 4 (.25); still misses the best layer 2
    assert verify(3, 4)["chosen_layer"] == 3
    # k = 4 catches layer 2 (SaLEM's second pick), the best on all four facts
    got = verify(4, 4)
    assert got["shortlist"] == [1, 3, 4, 2] and got["chosen_layer"] == 2 and got["edits"] == 16
    # ... but on the first two facts 1, 4 and 2 tie at .5: the earliest in the shortlist, 1
    assert verify(4, 2)["chosen_layer"] == 1


def test_verify_reads_the_documented_first_facts_and_its_metric():
    # sorted ids instead of the split's order: p0, p1 -> layer 1 .5, 3 .75, 4 0 -> 3
    got = verify(3, 2, ev=evidence(order=None))
    assert got["facts"] == ["p0", "p1"] and got["chosen_layer"] == 3
    # by overall (mean of rewrite and rephrase per row), rephrase 1 at layer 4 lifts it: p2 (1 + 1)/2, p0 (0 + 1)/2
    ev = evidence(sweep(rephrase_layer4=1.0))
    assert verify(3, 2, "overall", ev=ev)["measured"] == {"1": .25, "3": .125, "4": .75}
    assert verify(3, 2, "overall", ev=ev)["chosen_layer"] == 4
    assert verify(3, 2, "rewrite", ev=ev)["chosen_layer"] == 1
    # a failed edit counts as 0: layer 1 on p2 failed -> (0 + .5)/2 = .25, so layer 4 (.5) wins alone
    frame = sweep()
    frame.loc[(frame["layer"] == 1) & (frame["sample_id"] == "p2"), "status"] = "failed"
    assert verify(3, 2, ev=evidence(frame))["chosen_layer"] == 4
    # candidate layers cut the rankings: without layer 1, LGA [3, 0, 2, 4], CMA [3, 4, 0, 2], SaLEM [4, 2, 0, 3]
    # shortlist 3, 4, then LGA's second pick 0; on all four facts 3 (.625) wins
    got = verify(3, 4, layers=[0, 2, 3, 4])
    assert got["shortlist"] == [3, 4, 0] and got["chosen_layer"] == 3


def test_verify_in_the_pipeline_reads_the_split_order(tmp_path):
    paths = {"sweep": [str(tmp_path / "sweep.parquet")], "selections": []}
    sweep().drop(columns="split").to_parquet(paths["sweep"][0])
    for name, order in RANKINGS.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(record(name, order)))
        paths["selections"].append(str(path))
    split = {"proxy": ORDER, "test": ["t0"]}
    got = select("verify", paths, split, None, {"shortlist_k": 3, "proxy_facts": 2, "verify_metric": "rewrite"})
    assert got["facts"] == ["p2", "p0"] and got["chosen_layer"] == 1
    assert select("consensus", paths, split, None, {})["chosen_layer"] == 1


def test_consensus_is_the_lowest_mean_rank():
    # mean ranks: 0 (3+4+4)/3, 1 (1+2+3)/3 = 2, 2 (4+5+2)/3, 3 (2+1+5)/3, 4 (5+3+1)/3 = 3
    ranks = mean_ranks(list(RANKINGS.values()))
    assert ranks == pytest.approx({0: 11 / 3, 1: 2.0, 2: 11 / 3, 3: 8 / 3, 4: 3.0})
    got = registry.run("consensus", evidence(), None, {})
    assert got["chosen_layer"] == 1 and got["scores"][1] == pytest.approx(-2.0)
    # LGA and CMA alone: layers 1 and 3 tie at 1.5; the tie goes to the lower layer, whichever ranking comes first
    assert registry.run("consensus", evidence(), None, {"cheap_selectors": "cma,lga"})["chosen_layer"] == 1
    # without layer 1: 0 (2+3+3)/3, 2 (3+4+2)/3, 3 (1+1+4)/3 = 2, 4 (4+2+1)/3 -> 3
    assert registry.run("consensus", evidence(), [0, 2, 3, 4], {})["chosen_layer"] == 3
    # a cheap selector without a record (a draw where it could not choose) is left out; none: no choice
    ev = evidence()
    del ev["selections"]["lga"]
    assert registry.run("consensus", ev, None, {})["rankings_from"] == ["cma", "salem"]
    with pytest.raises(registry.NoEvidence):
        registry.run("consensus", {"selections": {}}, None, {})
    with pytest.raises(ValueError, match="cheap_selectors"):
        registry.run("consensus", evidence(), None, {"cheap_selectors": "bf"})


def test_bf_on_the_first_m_proxy_facts():
    ev = {"sweep": sweep(), "proxy_order": ORDER}
    assert registry.run("bf", ev, None, {"metric": "rewrite"})["chosen_layer"] == 2           # all 4: .75
    assert registry.run("bf", ev, None, {"metric": "rewrite", "proxy_facts": 1})["chosen_layer"] == 4  # p2: 1
    # first 2: layers 1, 2 and 4 tie at .5 -> the lowest, 1
    got = registry.run("bf", ev, None, {"metric": "rewrite", "proxy_facts": 2})
    assert got["chosen_layer"] == 1 and got["facts"] == ["p2", "p0"] and got["n_samples"] == 2


def test_costs_in_edits():
    assert registry.edits("verify", {"shortlist_k": 3, "proxy_facts": 5}, 15, 30) == 15
    assert registry.edits("verify", {}, 15, 30) == registry.SHORTLIST_K * registry.VERIFY_FACTS
    assert registry.edits("verify", {"shortlist_k": 40, "proxy_facts": 20}, 15, 30) == 30 * 15  # capped
    assert registry.edits("bf", {}, 15, 30) == 450
    assert registry.edits("bf", {"proxy_facts": 5}, 15, 30) == 150
    assert registry.edits("lga", {}, 15, 30) == registry.edits("consensus", {}, 15, 30) == 0


def draw_evidence_frames():
    """The table above as resampling evidence (proxy p0-p3 and test t0, t1) and LGA gradients ranking layers
    1, 3, 0, 2, 4 (every sample scores the layers .5, .4, .3, .2, .1 in that order: Tukey's fences keep all)."""
    frame = sweep()
    extra = frame[frame["sample_id"] == "t0"].assign(sample_id="t1")
    frame = pd.concat([frame, extra], ignore_index=True).drop(columns="split")
    score = {1: .5, 3: .4, 0: .3, 2: .2, 4: .1}
    grads = pd.DataFrame([{"sample_id": s, "layer": layer, "dot_old_new": score[layer], "sq_norm_old": 1.0,
                           "sq_norm_new": 1.0} for s in ORDER + ["t0", "t1"] for layer in score])
    return frame, grads


def test_the_draws_reuse_the_cheap_records_and_the_draws_order(monkeypatch):
    frame, grads = draw_evidence_frames()
    ev = resampling.build_evidence(frame, grads)
    assert ev["samples"] == ["p0", "p1", "p2", "p3", "t0", "t1"]
    proxy = np.array([True] * 4 + [False] * 2)
    order = [2, 0, 3, 1]  # p2, p0, p3, p1
    settings = resampling.frontier_settings({"verify": [{"k": 2, "m": 2}, {"k": 2, "m": 4}], "metrics": ["rewrite"],
                                             "bf_facts": [1]})
    assert list(settings) == ["verify(k=2,m=2,rewrite)", "verify(k=2,m=4,rewrite)", "bf(m=1)"]
    calls = []
    lga = registry.SELECTORS["lga"]

    def counted(evidence, layers, params):
        calls.append(1)
        return lga.select(evidence, layers, params)

    import dataclasses
    monkeypatch.setitem(registry.SELECTORS, "lga", dataclasses.replace(lga, select=counted))
    params = {"cheap_selectors": "lga"}
    got = resampling.choose(ev, proxy, params=params, order=order, settings=settings)
    assert len(calls) == 1  # LGA scored once; verify, consensus and the settings reuse its record
    layers = ev["layers"]
    # shortlist from LGA alone, k = 2: [1, 3]; first 2 facts {1: .5, 3: .25} -> 1; all 4 {1: .5, 3: .625} -> 3
    assert layers[got["verify(k=2,m=2,rewrite)"]] == 1 and layers[got["verify(k=2,m=4,rewrite)"]] == 3
    assert layers[got["bf(m=1)"]] == 4 and layers[got["bf"]] == 2 and layers[got["consensus"]] == 1
    # the draws' order, not sorted ids: first 2 = p0, p1 -> {1: .5, 3: .75} -> 3
    got = resampling.choose(ev, proxy, params=params, order=[0, 1, 2, 3], settings=settings)
    assert layers[got["verify(k=2,m=2,rewrite)"]] == 3
