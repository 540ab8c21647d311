"""Resampled proxy/test splits: how often, and by how much, each layer selector misses the test golden layer.

The paper (and the pipeline's Table 2) judge a selector on one proxy/test split. Here the swept samples are re-split
R times (seeded; the pipeline's proxy size, then a range of proxy sizes for the proxy-size curve), and in every draw

* each selector of the registry (`goldenlayers.selection.registry`) chooses a layer **from cached per-sample evidence
  only** (no model), through the same `select` the pipeline calls: LGA / LGA(K') from the per-sample gradient
  scalars, SaLEM from the new-knowledge gradient factors (`goldenlayers.measure.factors`), CMA from the per-sample
  indirect effects, BF from the proxy part of the sweep, Random as one random layer per draw; verify and
  consensus combine the cheap selectors' records of the same draw (no re-scoring; verify reads its edits from
  the proxy facts' sweep rows), and the frontier's settings (`frontier_settings`: verify at several k, m and
  metrics, BF on m proxy facts) run beside them as named variants. Candidates are
  swept layers, so every choice has test metrics: the pipeline passes the configured grid (every layer with
  `layers: all`), not the layers the selectors added to the sweep, which would favour them;
* on the draw's test samples, per metric (every supported one and overall): the test golden layer(s) (best mean;
  ties kept), the chosen layer's mean, its **regret** = golden mean - chosen mean (>= 0), and a **hit** when the
  chosen layer is statistically indistinguishable from the golden layer (the Table 1 test: two-sided Student's
  t-test on the per-sample values, p >= 0.05);
* Table 1's verdict: is the golden layer statistically indistinguishable from every sample's own best layer?

Summaries (`summarise_draws`, Table 16) report the mean regret over draws with a 95 % bootstrap CI
(`scipy.stats.bootstrap`, percentile method). The draws re-split *the same* samples, so that CI measures how well R
draws pin the mean down (Monte Carlo error), not how the result would move on a fresh sample of facts: that is the
CI over facts (`fact_bootstrap`, `fact_ci`: the bootstrap over facts of `goldenlayers.analysis.verdict`). Table 17's
paired comparisons: `pipeline_pairs` (the pipeline's split) and `paired_draws` (over the draws).

Everything here is pure numpy / pandas / scipy on tables; the CLI reads and writes the files.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from goldenlayers import stats as analysis  # goldenlayers.stats (scipy's `stats` is imported above)
from goldenlayers.measure import factors as evidence
from goldenlayers.measure.gradients import SALIENCY_COLUMNS
from goldenlayers.selection import registry
from goldenlayers.selection.registry import NoEvidence, params_of
from goldenlayers.analysis import verdict


def draw_order() -> list[str]:
    """Selectors in the order of the draws and of Table 16: those that read evidence, then the derived ones
    (verify, consensus: they combine the others' records of the same draw), then the ones that draw at random
    (registry order within each)."""
    selectors, derived = registry.SELECTORS, registry.derived()
    return ([n for n, s in selectors.items() if s.needs and n not in derived] + derived
            + [n for n, s in selectors.items() if not s.needs])


def setting_name(selector: str, params: Mapping[str, Any]) -> str:
    """A frontier setting's row name: "verify(k=3,m=5,overall)", "bf(m=5)"."""
    if selector == "verify":
        return f"verify(k={int(params['shortlist_k'])},m={int(params['proxy_facts'])},{params['verify_metric']})"
    if selector == "bf":
        return f"bf(m={int(params['proxy_facts'])})"
    raise ValueError(f"the frontier has no settings of {selector!r}")


def new_settings(settings: Mapping[str, Mapping[str, Any]], params: Mapping[str, Any] | None) -> dict[str, dict]:
    """`settings` without those that repeat the registry's verify as `params` configure it (its row already shows
    that setting; running it twice would only cost time)."""
    given = params_of("verify", params or {})
    default = {"shortlist_k": int(given.get("shortlist_k") or registry.SHORTLIST_K),
               "proxy_facts": int(given.get("proxy_facts") or registry.VERIFY_FACTS),
               "verify_metric": given.get("verify_metric") or registry.VERIFY_METRIC}
    return {name: s for name, s in settings.items() if not (s["selector"] == "verify" and s["params"] == default)}


def frontier_settings(frontier: Mapping[str, Any] | None) -> dict[str, dict]:
    """The config's `resampling.frontier` ({verify: [{k, m}, ...], bf_facts: [m, ...], metrics: [...]}) as named
    selector settings {name: {selector, params}}: every verify (k, m) with every metric, BF on each m proxy facts.
    Run in the main draws and the bootstrap over facts beside the registry's selectors (not in the proxy-size
    curve)."""
    out: dict[str, dict] = {}
    if not frontier:
        return out
    unknown = sorted(set(frontier) - {"verify", "bf_facts", "metrics"})
    if unknown:
        raise ValueError(f"resampling.frontier: unknown keys {unknown} (verify, bf_facts, metrics)")
    for setting in frontier.get("verify") or []:
        if set(setting) != {"k", "m"} or int(setting["k"]) < 1 or int(setting["m"]) < 1:
            raise ValueError(f"resampling.frontier.verify: each setting is {{k: >= 1, m: >= 1}}, not {setting!r}")
        for metric in frontier.get("metrics") or [registry.VERIFY_METRIC]:
            params = {"shortlist_k": int(setting["k"]), "proxy_facts": int(setting["m"]), "verify_metric": metric}
            out[setting_name("verify", params)] = {"selector": "verify", "params": params}
    for m in frontier.get("bf_facts") or []:
        if int(m) < 1:
            raise ValueError(f"resampling.frontier.bf_facts: m must be >= 1, not {m!r}")
        params = {"proxy_facts": int(m)}
        out[setting_name("bf", params)] = {"selector": "bf", "params": params}
    return out



DRAW_COLUMNS = ["draw", "n_proxy", "selector", "layer", "metric", "value", "golden_layer", "golden_value",
                "regret", "hit", "p"]
VERDICT_COLUMNS = ["draw", "n_proxy", "metric", "golden_layer", "golden_layers", "golden_value", "optimal_mean",
                   "p", "golden_exists"]


# ----------------------------------------------------------------------------------------------------------
# evidence: per-sample matrices over the swept samples and candidate layers
# ----------------------------------------------------------------------------------------------------------
def _matrix(frame: pd.DataFrame, column: str, samples: list[str], layers: list[int]) -> np.ndarray:
    table = frame.pivot_table(index="sample_id", columns="layer", values=column, aggfunc="mean", dropna=False)
    return table.reindex(index=samples, columns=layers).to_numpy(dtype=np.float64)


def build_evidence(sweep: pd.DataFrame, gradients: pd.DataFrame | None = None, factors: dict | None = None,
                   effects: pd.DataFrame | None = None, metric: str = "rewrite",
                   candidates: Sequence[int] | None = None, saliency_store: dict | None = None) -> dict:
    """Everything a draw needs: the test values as arrays over the sweep's samples (rows) and swept layers
    (columns), and the selectors' per-sample evidence tables (`draw_evidence` cuts one draw's proxy part).

    `sweep` is an aggregated sweep (every swept layer, proxy and test samples); `gradients` the per-sample gradient
    table (`gradients.COLUMNS`) of those samples, `factors` `factors.load_factors(...)`, `effects` the per-sample
    causal-trace table. A missing piece drops its selector(s); a sweep sample missing from a piece is an error
    (the evidence was computed for other samples). `saliency_store` (an archived study's SaLEM saliency per proxy
    set, `goldenlayers.analysis.archive.load_saliency_store`) stands in for `factors` where they are not kept.
    `candidates` (e.g. the configured grid) restricts the layers the draws choose among to those swept layers, so
    that no selector's own pipeline choice is a candidate only because that selector picked it; every candidate
    must have been swept.
    """
    df = analysis.overall(sweep)
    samples = sorted(df["sample_id"].astype(str).unique())
    layers = sorted(int(x) for x in df["layer"].unique())
    if candidates is not None:
        unswept = sorted({int(x) for x in candidates} - set(layers))
        if unswept:
            raise ValueError(f"candidate layers {unswept} were not swept (swept: {layers})")
        layers = sorted({int(x) for x in candidates})
        df = df[df["layer"].isin(layers)]
    metrics = analysis.supported_metrics(df) + [analysis.OVERALL]
    if metric not in metrics:
        raise ValueError(f"metric {metric!r} is not supported by this sweep (supported: {metrics})")
    ev: dict[str, Any] = {"samples": samples, "layers": layers, "metrics": metrics, "metric": metric,
                          "values": {m: _matrix(df, m, samples, layers) for m in metrics}}
    if gradients is not None:
        grads = gradients.assign(sample_id=gradients["sample_id"].astype(str))
        missing = sorted(set(samples) - set(grads["sample_id"]))
        if missing:
            raise ValueError(f"{len(missing)} swept samples have no gradient scalars, e.g. {missing[:3]}")
        absent = sorted(set(layers) - {int(x) for x in grads["layer"].unique()})
        if absent:
            raise ValueError(f"swept layers {absent} are not in the gradient table")
        ev["gradients"] = grads[grads["sample_id"].isin(samples)].reset_index(drop=True)
    if factors is not None:
        missing = sorted(set(samples) - set(factors["sample_ids"]))
        if missing:
            raise ValueError(f"{len(missing)} swept samples have no gradient factors, e.g. {missing[:3]}")
        ev["factors"] = factors
    elif saliency_store is not None:
        if list(saliency_store["samples"]) != samples:
            raise ValueError(f"the stored SaLEM saliency is for another sample set ({len(saliency_store['samples'])} "
                             f"samples) than the sweep's ({len(samples)})")
        absent = sorted(set(layers) - set(saliency_store["layers"]))
        if absent:
            raise ValueError(f"candidate layers {absent} are not in the stored SaLEM saliency")
        ev["saliency_store"] = saliency_store
    if effects is not None:
        eff = effects.assign(sample_id=effects["sample_id"].astype(str))
        ev["effects"] = eff[eff["sample_id"].isin(samples)].reset_index(drop=True)
    # BF's sweep: every swept sample's row, its split set per draw; only the columns BF reads (failures are applied
    # already), so the per-draw copy stays small
    columns = ["sample_id", "layer", metric] + [c for c in ("status",) if c in df.columns]
    ev["sweep"] = df[columns].assign(sample_id=df["sample_id"].astype(str))
    return ev


# ----------------------------------------------------------------------------------------------------------
# draws
# ----------------------------------------------------------------------------------------------------------
def draw_orders(n_samples: int, n_proxy: int, n_draws: int, seed: int) -> np.ndarray:
    """[n_draws, n_proxy] sample indices: each draw's proxy samples in its random order (the first m of them are
    the facts verify and BF(m) edit: a uniform random subset of the proxy)."""
    if not 1 <= n_proxy < n_samples:
        raise ValueError(f"a proxy of {n_proxy} samples out of {n_samples} leaves an empty split")
    if n_draws < 1:
        raise ValueError("n_draws must be >= 1")
    rng = np.random.default_rng([int(seed), int(n_proxy)])
    return np.stack([rng.permutation(n_samples)[:n_proxy] for _ in range(n_draws)])


def draw_masks(n_samples: int, n_proxy: int, n_draws: int, seed: int) -> np.ndarray:
    """[n_draws, n_samples] boolean proxy masks: each draw a seeded uniform subset of `n_proxy` samples
    (`draw_orders`' samples)."""
    orders = draw_orders(n_samples, n_proxy, n_draws, seed)
    masks = np.zeros((n_draws, n_samples), dtype=bool)
    np.put_along_axis(masks, orders, True, axis=1)
    return masks


def _means(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per-layer mean of `values` [S, L] over the masked samples, NaN skipped (NaN where a layer has none)."""
    has = ~np.isnan(values)
    sums = mask.astype(np.float64) @ np.where(has, values, 0.0)
    counts = mask.astype(np.float64) @ has
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _first_best(scores: np.ndarray) -> int | None:
    if np.all(np.isnan(scores)):
        return None
    best = np.nanmax(scores)
    return int(np.flatnonzero(scores >= best - analysis.TIE_TOL)[0])


def draw_evidence(ev: dict, proxy: np.ndarray) -> dict:
    """The registry's evidence ({need: table}) over one draw's proxy samples: the per-sample tables restricted to
    them, SaLEM's saliency rebuilt from their gradient factors, the sweep with them as its proxy split."""
    ids = [s for s, keep in zip(ev["samples"], proxy) if keep]
    wanted = set(ids)
    out: dict[str, Any] = {}
    if "gradients" in ev:
        out["gradients"] = ev["gradients"][ev["gradients"]["sample_id"].isin(wanted)]
    if "factors" in ev:
        out["saliency"] = evidence.salem_saliency(ev["factors"], ids, ev["layers"])
    elif "saliency_store" in ev:
        origin = [s for s, keep in zip(ev.get("origin", ev["samples"]), proxy) if keep]
        out["saliency"] = stored_saliency(ev["saliency_store"], origin, ev["layers"])
    if "effects" in ev:
        out["effects"] = ev["effects"][ev["effects"]["sample_id"].isin(wanted)]
    sweep = ev["sweep"]
    out["sweep"] = sweep.assign(split=np.where(sweep["sample_id"].isin(wanted), "proxy", "test"))
    return out


def proxy_key(ids: Sequence[str]) -> str:
    """The key of a proxy set in the stored SaLEM saliency: a hash of its original sample ids *in draw order* (a
    fact drawn twice by the bootstrap over facts appears twice), since the float32 sum behind a saliency depends on
    the order of the rows."""
    return hashlib.sha256(json.dumps([str(s) for s in ids]).encode()).hexdigest()[:20]


def stored_saliency(store: dict, ids: Sequence[str], layers: Sequence[int]) -> pd.DataFrame:
    """SaLEM's saliency table of one proxy set (`ids`: original sample ids in draw order) from an archive's store:
    the table `factors.salem_saliency` gave when the study was packed."""
    key = proxy_key(ids)
    if key not in store["saliency"]:
        raise ValueError(f"the stored SaLEM saliency has no entry for this proxy set ({len(ids)} samples, key {key}): "
                         f"it was packed for the resampling settings {store['settings']}; resample with those")
    values = store["saliency"][key]
    position = {layer: i for i, layer in enumerate(store["layers"])}
    rows = [(int(layer), float(values[position[int(layer)]]), len(ids), int(store["n_entries"][int(layer)]))
            for layer in sorted({int(x) for x in layers})]
    frame = pd.DataFrame(rows, columns=SALIENCY_COLUMNS)
    frame["layer"] = frame["layer"].astype(np.int64)
    return frame


def draw_params(name: str, params: Mapping[str, Any] | None, ev: dict, rng: np.random.Generator | None) -> dict:
    """Selector `name`'s parameters in a draw: its own from `params` (the config's, `registry.params_of`), BF's
    metric the evidence's, and a selector without evidence (Random) one layer from the caller's stream `rng`."""
    out = params_of(name, params or {})
    spec = registry.spec(name)
    if "metric" in spec.params:
        out["metric"] = ev["metric"]
    if not spec.needs:
        out.pop("seed", None)
        out.update(n_layers=1, rng=rng)
    return out


def proxy_sweep(ev: dict, proxy_order: Sequence[str]) -> pd.DataFrame:
    """The proxy facts' sweep rows at the candidate layers, every metric (overall included, failures applied),
    built from ev["values"]: what verify and BF(m) read in a draw (m facts x k layers of them), without copying
    the whole sweep per setting."""
    position = {s: i for i, s in enumerate(ev["samples"])}
    rows = np.asarray([position[s] for s in proxy_order], dtype=np.int64)
    layers = np.asarray(ev["layers"], dtype=np.int64)
    n, n_layers = len(rows), len(layers)
    columns = {"sample_id": np.repeat(np.asarray(proxy_order, dtype=object), n_layers),
               "layer": np.tile(layers, n), "split": np.full(n * n_layers, "proxy", dtype=object)}
    for m, values in ev["values"].items():
        columns[m] = values[rows].reshape(-1)
    return pd.DataFrame(columns)


def choose(ev: dict, proxy: np.ndarray, params: Mapping[str, Any] | None = None,
           rng: np.random.Generator | None = None, order: Sequence[int] | None = None,
           settings: Mapping[str, Mapping[str, Any]] | None = None) -> dict:
    """Each available selector's chosen layer (an index into ev["layers"], or None) for one proxy mask [S]: the
    registry's `select` on the draw's evidence with its parameters from `params` (`draw_params`; a selector whose
    evidence is missing is left out; one with no evidence draws one layer from `rng`, and is left out without it).

    verify and consensus combine the records the cheap selectors made in this same draw; verify and BF(m) edit
    the first m facts of `order` (the draw's proxy sample indices in its random order; without it, the proxy
    samples in ev["samples"] order). `settings` ({name: {selector, params}}, `frontier_settings`) adds named
    variants, each chosen with its selector's parameters overridden by its own."""
    layers = ev["layers"]
    available = draw_evidence(ev, proxy)
    ids = ev["samples"]
    proxy_order = [ids[i] for i in order] if order is not None else [s for s, keep in zip(ids, proxy) if keep]
    records: dict[str, dict] = {}
    cache: dict[str, Any] = {}

    def proxy_rows() -> pd.DataFrame:  # built once per draw, on first use
        if "proxy" not in cache:
            cache["proxy"] = proxy_sweep(ev, proxy_order)
        return cache["proxy"]

    def evidence_for(spec) -> dict | None:
        if not all(need in available or need == "selections" for need in spec.needs):
            return None
        given = {need: records if need == "selections" else available[need] for need in spec.needs}
        if "selections" in spec.needs and "sweep" in spec.needs:  # verify: the proxy facts' rows, every metric
            given["sweep"] = proxy_rows()
        return {**given, "proxy_order": proxy_order}

    def pick(name: str, spec, evidence: dict, chosen_params: dict) -> int | None:
        try:
            record = spec.select(evidence, layers, chosen_params)
        except NoEvidence:  # e.g. no proxy sample of this draw was traced
            return None
        records[name] = record
        chosen = record["chosen_layer"] if record.get("chosen_layers") is None else record["chosen_layers"][0]
        return layers.index(int(chosen))

    out: dict[str, int | None] = {}
    for name in draw_order():
        spec = registry.spec(name)
        evidence = evidence_for(spec)
        if evidence is None or (not spec.needs and rng is None):
            continue
        out[name] = pick(name, spec, evidence, draw_params(name, params, ev, rng))
    cheap = dict(records)  # the variants combine the registry selectors' records, not each other's
    for name, setting in (settings or {}).items():
        spec = registry.spec(setting["selector"])
        evidence = evidence_for(spec)
        if evidence is None:
            continue
        if "selections" in spec.needs:
            evidence["selections"] = cheap
        if spec.name == "bf":  # BF(m) reads the same proxy rows as verify
            evidence["sweep"] = proxy_rows()
        out[name] = pick(name, spec, evidence, {**draw_params(spec.name, params, ev, rng), **setting["params"]})
    return out


def student_p(a: np.ndarray, b: np.ndarray) -> float | None:
    """p of Table 1's test (two-sided Student's t-test, independent, equal variances) with `stats._safe_ttest`'s
    conventions for degenerate cases, in plain numpy: scipy's `ttest_ind` costs ~1 ms a call in its argument
    handling, and a resampling run makes thousands of calls (tests check the two agree)."""
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return None
    if na == nb and np.all(np.abs(a - b) <= analysis.TIE_TOL):
        return 1.0
    diff = float(np.mean(a) - np.mean(b))
    pooled = (np.sum((a - a.mean()) ** 2) + np.sum((b - b.mean()) ** 2)) / (na + nb - 2)
    se = math.sqrt(pooled * (1.0 / na + 1.0 / nb))
    if se == 0.0:
        return 1.0 if abs(diff) <= analysis.TIE_TOL else 0.0
    return float(2.0 * stats.t.sf(abs(diff / se), na + nb - 2))


def _hit(golden: np.ndarray, chosen: np.ndarray, same: bool) -> tuple[bool, float | None]:
    """The Table 1 test between the per-sample test values at the golden and at the chosen layer."""
    if same:
        return True, 1.0
    keep = ~np.isnan(golden) & ~np.isnan(chosen)
    p = student_p(golden[keep], chosen[keep])
    return (p is None or p >= analysis.ALPHA), p


def resample(ev: dict, n_proxy: int, n_draws: int, seed: int, params: Mapping[str, Any] | None = None,
             with_tests: bool = True, settings: Mapping[str, Mapping[str, Any]] | None = None
             ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(draws, verdicts) over `n_draws` seeded re-splits with `n_proxy` proxy samples.

    draws: one row per (draw, selector, metric), columns `DRAW_COLUMNS` (layer = the chosen layer; value = its test
    mean; regret = golden_value - value; hit and p from the Table 1 test, None without `with_tests`).
    verdicts: one row per (draw, metric), columns `VERDICT_COLUMNS` (Table 1 on the draw's test samples:
    golden_exists = the golden layer is not significantly different from the sample-wise optimal layers).
    `settings` (`frontier_settings`) adds named selector settings as rows of their own (`choose`).
    """
    layers, metrics = ev["layers"], ev["metrics"]
    orders = draw_orders(len(ev["samples"]), n_proxy, n_draws, seed)
    masks = np.zeros((n_draws, len(ev["samples"])), dtype=bool)
    np.put_along_axis(masks, orders, True, axis=1)
    rng = np.random.default_rng([int(seed), int(n_proxy), 1])  # Random's stream, apart from the splits'
    optimal = {m: np.nanmax(np.where(np.isnan(v), -np.inf, v), axis=1) for m, v in ev["values"].items()}
    draw_rows, verdict_rows = [], []
    for r, proxy in enumerate(masks):
        test = ~proxy
        chosen = choose(ev, proxy, params=params, rng=rng, order=orders[r], settings=settings)
        for m in metrics:
            values = ev["values"][m]
            means = _means(test, values)
            g = _first_best(means)
            if g is None:
                continue
            golden_set = [layers[i] for i in np.flatnonzero(means >= means[g] - analysis.TIE_TOL)]
            gold_col = values[test, g]
            if with_tests:
                opt = optimal[m][test]
                keep = ~np.isnan(gold_col) & np.isfinite(opt)
                p_opt = student_p(opt[keep], gold_col[keep])
                exists = None if p_opt is None else bool(p_opt >= analysis.ALPHA)
                opt_mean = float(np.mean(opt[keep])) if keep.any() else None
            else:
                p_opt = exists = opt_mean = None
            verdict_rows.append((r, n_proxy, m, layers[g], " ".join(map(str, golden_set)), float(means[g]),
                                 opt_mean, p_opt, exists))
            for name, c in chosen.items():
                if c is None or np.isnan(means[c]):
                    draw_rows.append((r, n_proxy, name, None if c is None else layers[c], m, None, layers[g],
                                      float(means[g]), None, None, None))
                    continue
                regret = float(means[g] - means[c])
                same = regret <= analysis.TIE_TOL
                hit, p = _hit(gold_col, values[test, c], same) if with_tests else (None, None)
                draw_rows.append((r, n_proxy, name, layers[c], m, float(means[c]), layers[g], float(means[g]),
                                  max(regret, 0.0), hit, p))
    draws = pd.DataFrame(draw_rows, columns=DRAW_COLUMNS)
    verdicts = pd.DataFrame(verdict_rows, columns=VERDICT_COLUMNS)
    return draws, verdicts


def proxy_sizes(requested: Sequence[int], n_samples: int, min_test: int = 2) -> list[int]:
    """The requested proxy sizes the data allows (at least `min_test` test samples left), sorted."""
    return sorted({int(n) for n in requested if 1 <= int(n) <= n_samples - min_test})


def proxy_size_curve(ev: dict, sizes: Sequence[int], n_draws: int, seed: int,
                     params: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """`resample` draws (regret only, no tests) for every proxy size, concatenated."""
    frames = [resample(ev, n, n_draws, seed, params=params, with_tests=False)[0] for n in sizes]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=DRAW_COLUMNS)


# ----------------------------------------------------------------------------------------------------------
# summaries
# ----------------------------------------------------------------------------------------------------------
def mean_ci(values: Sequence[float], confidence: float = 0.95, seed: int = 0,
            n_resamples: int = 2000) -> tuple[float, float, float]:
    """(mean, low, high): the mean with a percentile bootstrap CI from `scipy.stats.bootstrap` (seeded).

    A constant sample gives (c, c, c); a single value gives (x, nan, nan).
    """
    x = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=np.float64)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if x.size == 1:
        return mean, math.nan, math.nan
    if np.ptp(x) == 0:
        return mean, mean, mean
    res = stats.bootstrap((x,), np.mean, confidence_level=confidence, n_resamples=n_resamples,
                          method="percentile", random_state=np.random.default_rng(seed))
    return mean, float(res.confidence_interval.low), float(res.confidence_interval.high)


def summarise_draws(draws: pd.DataFrame, metrics: Sequence[str], seed: int = 0,
                    names: Sequence[str] | None = None) -> pd.DataFrame:
    """Table 16's rows for one (model, dataset, editor): per selector and metric, over the draws,
    mean regret with its 95 % bootstrap CI, hit rate, the most frequent chosen layer and its share, draws used.
    `names`: the rows' selectors (default the registry's, `draw_order`; the frontier adds its settings)."""
    rows = []
    for name in [s for s in (draw_order() if names is None else names) if s in set(draws["selector"])]:
        for m in metrics:
            part = draws[(draws["selector"] == name) & (draws["metric"] == m) & draws["regret"].notna()]
            if part.empty:
                continue
            mean, low, high = mean_ci(part["regret"].to_list(), seed=seed)
            counts = part["layer"].astype(int).value_counts()
            ties = sorted(int(layer) for layer in counts.index[counts == counts.max()])  # ties: the lowest layer
            hits = part["hit"].dropna()
            rows.append({"selector": name, "metric": m, "mean_regret": mean, "ci_low": low, "ci_high": high,
                         "hit_rate": float(hits.astype(bool).mean()) if len(hits) else math.nan,
                         "top_layer": ties[0],
                         "top_layer_share": float(counts.max() / len(part)), "n_draws": int(len(part))})
    return pd.DataFrame(rows, columns=["selector", "metric", "mean_regret", "ci_low", "ci_high", "hit_rate",
                                       "top_layer", "top_layer_share", "n_draws"])


def golden_exists_rate(verdicts: pd.DataFrame) -> dict[str, float]:
    """Per metric: the fraction of draws whose Table 1 verdict is "no significant difference"."""
    known = verdicts.dropna(subset=["golden_exists"])
    return {m: float(g["golden_exists"].astype(bool).mean()) for m, g in known.groupby("metric", sort=False)}


def curve_summary(curve: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Figure 6's data: per (selector, metric, proxy size) the mean regret over draws and its bootstrap CI."""
    rows = []
    for (name, m, n), part in curve.dropna(subset=["regret"]).groupby(["selector", "metric", "n_proxy"]):
        mean, low, high = mean_ci(part["regret"].to_list(), seed=seed)
        rows.append({"selector": name, "metric": m, "n_proxy": int(n), "mean_regret": mean, "ci_low": low,
                     "ci_high": high, "n_draws": int(len(part))})
    return pd.DataFrame(rows, columns=["selector", "metric", "n_proxy", "mean_regret", "ci_low", "ci_high",
                                       "n_draws"])


def layer_frequencies(draws: pd.DataFrame, verdicts: pd.DataFrame, metric: str, layers: Sequence[int]) -> pd.DataFrame:
    """Figure 5's data: rows = selectors then "test golden", columns = layers; cells = share of draws in which the
    selector chose that layer (for "test golden": in which the layer is one of the tied test golden layers)."""
    layers = [int(x) for x in layers]
    part = draws[draws["metric"] == metric]
    out = {}
    for name in [s for s in draw_order() if s in set(part["selector"])]:
        chosen = part.loc[part["selector"] == name, "layer"].dropna().astype(int)
        n = int(part.loc[part["selector"] == name, "draw"].nunique())
        out[name] = [float((chosen == layer).sum() / n) if n else math.nan for layer in layers]
    golden = verdicts.loc[verdicts["metric"] == metric, "golden_layers"]
    sets = [set(map(int, str(s).split())) for s in golden]
    out["test golden"] = [float(np.mean([layer in s for s in sets])) if sets else math.nan for layer in layers]
    return pd.DataFrame.from_dict(out, orient="index", columns=layers)



# ----------------------------------------------------------------------------------------------------------
# the bootstrap over facts: a fresh sample of facts like these, then re-split and re-choose
# ----------------------------------------------------------------------------------------------------------
def _copy_rows(frame: pd.DataFrame, origin: list[str], ids: list[str]) -> pd.DataFrame:
    """`frame`'s rows of each sample in `origin`, once per occurrence, renamed to the copy's id in `ids`."""
    groups = frame.groupby("sample_id", sort=False).indices
    rows = [groups.get(s, np.zeros(0, dtype=np.int64)) for s in origin]
    out = frame.iloc[np.concatenate(rows)].copy()
    out["sample_id"] = np.repeat(np.asarray(ids, dtype=object), [len(r) for r in rows])
    return out.reset_index(drop=True)


def _copy_factors(factors: dict, origin: list[str], ids: list[str], layers: Sequence[int]) -> dict:
    """SaLEM's factors with one block of token rows per copy (candidate layers only: the rest is never read)."""
    rows = evidence.token_index(factors, origin)
    position = {sid: i for i, sid in enumerate(factors["sample_ids"])}
    offsets = factors["offsets"]
    lengths = [int(offsets[position[s] + 1] - offsets[position[s]]) for s in origin]
    return {"sample_ids": list(ids), "layers": [int(x) for x in layers],
            "offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            "x": {layer: factors["x"][layer][rows] for layer in layers},
            "d": {layer: factors["d"][layer][rows] for layer in layers},
            "provenance": factors.get("provenance", {})}


def replicate_evidence(ev: dict, idx: Sequence[int]) -> dict:
    """`build_evidence`'s dict for the facts `idx` (indices into ev["samples"], with repeats): each occurrence is
    a fact of its own ("<id>#<k>"), with its values and evidence copied, so a fact drawn twice weighs twice in
    every selector's score and may land in both splits, as two equal facts of a fresh sample would."""
    origin = [ev["samples"][int(i)] for i in idx]
    ids = [f"{s}#{k}" for k, s in enumerate(origin)]
    out = {**ev, "samples": ids, "origin": origin,
           "values": {m: v[np.asarray(idx, dtype=np.int64)] for m, v in ev["values"].items()}}
    for key in ("gradients", "effects", "sweep"):
        if key in ev:
            out[key] = _copy_rows(ev[key], origin, ids)
    if "factors" in ev:
        out["factors"] = _copy_factors(ev["factors"], origin, ids, ev["layers"])
    return out


def fact_replicates(ev: dict, replicates: int, seed: int) -> Iterator[tuple[int, dict, int]]:
    """(replicate, its evidence, the seed of its draws) of the bootstrap over facts, one replicate at a time."""
    idx = verdict.bootstrap_indices(len(ev["samples"]), replicates, [int(seed), 7])
    for b, rows in enumerate(idx):
        yield b, replicate_evidence(ev, rows), int(seed) + 1 + b


def proxy_sets(ev: dict, n_proxy: int, n_draws: int, curve_sizes: Sequence[int], curve_draws: int,
               replicates: int, replicate_draws: int, seed: int) -> Iterator[tuple[dict, list[str], list[str]]]:
    """Every proxy set the resample stage draws with these settings (the draws, the proxy-size curve, the bootstrap
    over facts), as (the evidence it is drawn from, its sample ids, their original ids), in draw order: what an
    archive stores SaLEM's saliency for. Built from the same `draw_masks` and `fact_replicates` as the draws."""
    def sets(e, n, draws, draw_seed):
        origin = e.get("origin", e["samples"])
        for mask in draw_masks(len(e["samples"]), n, draws, draw_seed):
            yield e, [s for s, keep in zip(e["samples"], mask) if keep], [s for s, keep in zip(origin, mask) if keep]

    yield from sets(ev, n_proxy, n_draws, seed)
    for n in curve_sizes:
        yield from sets(ev, n, curve_draws, seed)
    if replicates > 0:
        for _, replicate, draw_seed in fact_replicates(ev, replicates, seed):
            yield from sets(replicate, n_proxy, replicate_draws, draw_seed)


def fact_bootstrap(ev: dict, n_proxy: int, replicates: int, draws: int, seed: int,
                   params: Mapping[str, Any] | None = None,
                   settings: Mapping[str, Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """`replicates` bootstrap samples of the facts (with replacement, `verdict.bootstrap_indices`), each re-split
    `draws` times with `n_proxy` proxy facts and judged as `resample` does (regret only). One row per (replicate,
    draw, selector, metric): `DRAW_COLUMNS` + replicate. The spread over replicates of a statistic averaged over
    each replicate's draws is its uncertainty on a fresh sample of facts, plus the split noise of `draws`
    re-splits (so the interval is conservative; more draws per replicate make it tighter)."""
    frames = []
    for b, replicate, draw_seed in fact_replicates(ev, replicates, seed):
        part, _ = resample(replicate, n_proxy, draws, seed=draw_seed, params=params, with_tests=False,
                           settings=settings)
        frames.append(part.assign(replicate=b))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=DRAW_COLUMNS + ["replicate"])


def fact_ci(fact_draws: pd.DataFrame, estimates: pd.DataFrame | None = None, confidence: float = 0.95) -> pd.DataFrame:
    """Per (selector, metric): the percentile interval over bootstrap replicates of the mean regret over each
    replicate's draws, centred on the estimate (`estimates`: summarise_draws' frame, its mean_regret;
    `verdict.centred`). Columns selector, metric, facts_low, facts_high, replicates."""
    cols = ["selector", "metric", "facts_low", "facts_high", "replicates"]
    if fact_draws is None or fact_draws.empty:
        return pd.DataFrame(columns=cols)
    per = fact_draws.dropna(subset=["regret"]).groupby(["selector", "metric", "replicate"])["regret"].mean()
    centre = {} if estimates is None else estimates.set_index(["selector", "metric"])["mean_regret"].to_dict()
    rows = []
    for (name, m), part in per.groupby(level=["selector", "metric"], sort=False):
        low, high = _replicate_ci(part.to_numpy(), centre.get((name, m)), confidence)
        rows.append((name, m, max(low, 0.0), high, int(len(part))))  # a regret is >= 0; centring can cross 0
    return pd.DataFrame(rows, columns=cols)


def _replicate_ci(means: np.ndarray, estimate: float | None, confidence: float = 0.95) -> tuple[float, float]:
    """The percentile interval of the replicates' means centred on `estimate` (`verdict.centred`)."""
    low, high = verdict.percentile_ci(verdict.centred(means, estimate), confidence)
    return float(low), float(high)


# ----------------------------------------------------------------------------------------------------------
# paired comparisons: each selector against a reference (LGA, Random) on the same draws / the same facts
# ----------------------------------------------------------------------------------------------------------
def _paired(draws: pd.DataFrame, ref: str, keys: list[str]) -> pd.DataFrame:
    """Rows (keys..., metric, selector) with the reference's value in the same draw: value, ref_value and
    diff = regret - ref regret = ref value - value (positive: the reference's layer did better)."""
    known = draws.dropna(subset=["regret"])
    mine = known[known["selector"] != ref]
    theirs = known.loc[known["selector"] == ref, keys + ["metric", "value"]].rename(columns={"value": "ref_value"})
    out = mine.merge(theirs, on=keys + ["metric"], how="inner")
    return out.assign(diff=out["ref_value"] - out["value"])


def paired_draws(draws: pd.DataFrame, ref: str, metrics: Sequence[str], fact_draws: pd.DataFrame | None = None,
                 seed: int = 0) -> pd.DataFrame:
    """Per selector X != `ref` and metric, over the draws where both chose: mean regret difference (X - ref) with
    the Monte-Carlo CI over draws (`mean_ci`), the share of draws in which ref's layer is at least as good, and,
    from `fact_draws`, the percentile CI over fact-bootstrap replicates of the same mean difference."""
    cols = ["selector", "ref", "metric", "mean_diff", "draws_low", "draws_high", "ref_at_least_as_good", "n_draws",
            "facts_low", "facts_high", "replicates"]
    pairs = _paired(draws, ref, ["draw"])
    boot = _paired(fact_draws, ref, ["replicate", "draw"]) if fact_draws is not None and len(fact_draws) else None
    rows = []
    for name in [s for s in draw_order() if s != ref and s in set(pairs["selector"])]:
        for m in metrics:
            part = pairs[(pairs["selector"] == name) & (pairs["metric"] == m)]
            if part.empty:
                continue
            mean, low, high = mean_ci(part["diff"].to_list(), seed=seed)
            f_low = f_high = math.nan
            n_rep = 0
            if boot is not None:
                per = boot[(boot["selector"] == name) & (boot["metric"] == m)].groupby("replicate")["diff"].mean()
                if len(per):
                    f_low, f_high = _replicate_ci(per.to_numpy(), mean)
                    n_rep = int(len(per))
            rows.append((name, ref, m, mean, low, high,
                         float((part["ref_value"] >= part["value"] - analysis.TIE_TOL).mean()), int(len(part)),
                         f_low, f_high, n_rep))
    return pd.DataFrame(rows, columns=cols)


def pipeline_values(sweep: pd.DataFrame, selected: dict, metric: str, split: str = "test") -> dict[str, pd.Series]:
    """Per selector of the aggregate summary's `selected` ({name: {layer, layers?}}): its per-fact `metric` on the
    pipeline's `split` at its chosen layer (a multi-layer selector such as Random: the mean over its layers, as the
    pipeline reports it). Index sample_id."""
    df = analysis.overall(sweep)
    out = {}
    for name, entry in selected.items():
        layers = entry.get("layers") if entry.get("layer") is None else [entry["layer"]]
        layers = [int(x) for x in (layers or []) if x is not None]
        if not layers:
            continue
        cols = [analysis.values_at_layer(df, metric, split, layer) for layer in layers]
        out[name] = pd.concat(cols, axis=1).mean(axis=1, skipna=False).dropna().sort_index()
    return out


def pipeline_pairs(sweep: pd.DataFrame, selected: dict, refs: Sequence[str], metrics: Sequence[str]) -> list[dict]:
    """Each selector X against each reference on the pipeline's test split: the paired tests of the per-fact
    values (d = ref - X, `verdict.paired_tests`) and the test facts a paired t-test needs to detect the observed
    mean difference with 80 % power (`verdict.power_note`)."""
    rows = []
    for m in metrics:
        values = pipeline_values(sweep, selected, m)
        for ref in refs:
            if ref not in values:
                continue
            for name in [s for s in draw_order() if s != ref and s in values]:
                both = pd.concat([values[ref], values[name]], axis=1, join="inner")
                tests = verdict.paired_tests(both.iloc[:, 0].to_numpy(), both.iloc[:, 1].to_numpy())
                rows.append({"selector": name, "ref": ref, "metric": m,
                             "layer": selected[name].get("layer"), "ref_layer": selected[ref].get("layer"),
                             **tests, "power": verdict.power_note(tests["n"], tests["mean_diff"], tests["sd_diff"])})
    return rows


def table1_power(sweep: pd.DataFrame, metric: str, layer: int) -> dict:
    """Power of Table 1's comparison (every fact at its own best layer vs all at the golden `layer`, test split):
    for its own test (two-sample Student's t, pooled sd) and for the paired t-test on the same facts."""
    df = analysis.overall(sweep)
    opt = analysis.sample_optimal(df, metric, "test").set_index("sample_id")["best"]
    at = analysis.values_at_layer(df, metric, "test", layer)
    both = pd.concat([opt, at], axis=1, join="inner").to_numpy(dtype=np.float64)
    n = int(len(both))
    diff = float(both[:, 0].mean() - both[:, 1].mean()) if n else None
    pooled = math.sqrt((both[:, 0].var(ddof=1) + both[:, 1].var(ddof=1)) / 2.0) if n >= 2 else None
    sd_diff = float((both[:, 0] - both[:, 1]).std(ddof=1)) if n >= 2 else None
    return {"two_sample": verdict.power_note(n, diff, pooled, paired=False),
            "paired": verdict.power_note(n, diff, sd_diff, paired=True)}
