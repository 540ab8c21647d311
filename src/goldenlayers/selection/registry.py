"""Every layer selector the project knows: one `SelectorSpec` per entry of `SELECTORS`, each with one `select`.

The library (reports, plots, resampling, `suggest`), the CLI (`goldenlayers select --method NAME`) and the workflow
(`workflow/rules/selection.smk` makes one `score_<name>` rule per measured selector) read this registry; nothing else
lists selector names. Adding a selector is one function with the signature below plus one entry here (see
docs/architecture.md, "Adding a selector").

    select(evidence, layers, params) -> dict

* `evidence`: {need: table} for the selector's `needs`, over the proxy samples only (`proxy_evidence` restricts the
  per-sample tables; SaLEM's saliency is already summed over them; BF's sweep keeps its `split` column and reads
  the proxy rows, because its wall time is the proxy share of each sweep job). BF alone may also get
  "sweep_job_seconds" ({layer: seconds}). "proxy_order" (optional) lists the proxy sample ids in the order whose
  first m facts BF(m) and verify edit (the pipeline: split.json's `proxy` list; a resampling draw: its random
  order); without it, sorted ids. "selections" is {method: selection record} of the cheap selectors on the same
  proxy samples (verify and consensus combine their rankings).
* `layers`: the candidate layers (None: every layer in the evidence).
* `params`: the selector's parameters by name (`spec.params`); absent ones take the defaults below.
* returns the JSON-ready selection record (`method`, `layers`, `scores`, `chosen_layer` or `chosen_layers`,
  `params`, ...), as written to results/<model>/<dataset>/selection/<name>.json. The math lives in
  `goldenlayers.selection.lga` (LGA, LGA(K')) and `goldenlayers.selection.baselines` (SaLEM, CMA, Random, BF).

The pipeline (one proxy split) and the resampling draws (`resampling.choose`, many re-splits) call the same
`select`, so a re-scored subset gives the pipeline's record.

`SELECTORS` holds what the pipeline runs per (model, dataset). Those that combine the cheap selectors' records
(`derived()`: verify, consensus) have rules of their own: score_consensus reads the cheap selectors' files; verify's
shortlist joins the sweep plan (`selection.plan.sweep_plan`) and select_verify reads those layers' sweeps.

Plugins: a module named in the environment variable GOLDENLAYERS_SELECTOR_PLUGINS (comma-separated) is imported
after the built-in entries and may `register` more; the workflow imports this module, so its rules and targets see
them too (the test of the registry adds a toy selector this way).
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

# stdlib only at import: the CLI's parser and Snakemake read this registry at every start; the math
# (goldenlayers.selection.lga / .baselines: numpy, pandas, scipy) loads when a selector runs

# LGA's Tukey fence constant when none is given (the paper's; 0.5 in its composite/unstructured settings). The
# workflow reads config/config.yaml's explicit `lga.tukey_k` instead.
TUKEY_K = 1.0
PLUGINS_ENV = "GOLDENLAYERS_SELECTOR_PLUGINS"

# Okabe-Ito, a palette that colour-blind readers can tell apart; kept apart from the metric colours of Figure 1
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}

# What each evidence name is, and the measuring stage whose job time a selector reading it is charged (its wall
# time: docs/methods.md). "sweep" is BF's: the per-layer sweep jobs, timed one by one.
EVIDENCE = {
    "gradients": "per-sample gradient scalars (gradients.COLUMNS)",
    "saliency": "SaLEM's per-layer saliency summed over the proxy samples (gradients.SALIENCY_COLUMNS)",
    "effects": "per-sample causal-trace effects (causal_trace.EFFECT_COLUMNS)",
    "sweep": "the first editor's per-layer sweep rows (proxy and test)",
    "selections": "the cheap selectors' selection records on the same proxy split (their selection/<name>.json)",
}
STAGE = {"gradients": "gradient", "saliency": "gradient", "effects": "trace", "sweep": "sweep",
         "selections": "selection"}
# verify's and consensus's defaults: whose rankings they combine, how many layers verify shortlists, on how many
# proxy facts it edits each, and the metric that picks among them (overall: rewrite alone is near its ceiling at
# most layers and says little about the rest of the edit, docs/findings.md)
CHEAP_SELECTORS = ("lga", "cma", "salem")
SHORTLIST_K = 3
VERIFY_FACTS = 5
VERIFY_METRIC = "overall"

# Every selector parameter: (type, what it is); the CLI's `select` takes each as --<name> and the workflow fills
# them from the config (goldenlayers.plan.options: selector_opts, param_flags).
PARAMS = {
    "tukey_k": (float, f"Tukey fence constant k (default {TUKEY_K:g})"),
    "n_layers": (int, "number of random candidate layers"),
    "seed": (int, "seed of the random draw"),
    "metric": (str, "BF's metric"),
    "num_layers": (int, "the model's layer count: BF also estimates its time over every candidate layer"),
    "cheap_selectors": (str, "verify / consensus: the zero-edit selectors whose rankings they combine, comma-separated "
                             f"(default {','.join(CHEAP_SELECTORS)})"),
    "shortlist_k": (int, f"verify: layers it shortlists and edits (default {SHORTLIST_K})"),
    "proxy_facts": (int, f"verify / BF: edit only the first m proxy facts (default: verify {VERIFY_FACTS}, BF all)"),
    "verify_metric": (str, f"verify: the metric that picks among its shortlisted layers (default {VERIFY_METRIC})"),
}


class NoEvidence(ValueError):
    """The evidence has no row for the selector to choose from (e.g. no proxy sample was traced)."""


# keyword-only: an entry reads as what each flag means (timed=True, planned=False, ...), never as a row of booleans
@dataclass(frozen=True, kw_only=True)
class SelectorSpec:
    name: str
    label: str
    # plot style, the same in every figure
    color: str
    marker: str
    linestyle: str
    hatch: str
    # evidence it reads (keys of EVIDENCE); none for Random
    needs: tuple[str, ...]
    # Figure 3 times it against BF
    timed: bool
    # scores every layer of the model; its chosen layer joins the sweep plan (checkpoint plan_sweep)
    planned: bool
    # chooses several layers and reports the mean of their metrics (Random)
    multi_layer: bool
    # paper tables that show it (table2, table11-table15; Tables 12-13 edit at its layer in the appendix settings)
    tables: tuple[str, ...]
    select: Callable[[Mapping[str, Any], Sequence[int] | None, Mapping[str, Any]], dict]
    # names of its parameters (CLI flags --<name>, filled by the workflow from the config)
    params: tuple[str, ...] = ()
    # its cost in edits, edits(params, n_proxy, n_layers) (the frontier's x axis); None: it edits nothing
    edits: Callable[[Mapping[str, Any], int, int], int] | None = None

    @property
    def stage(self) -> str | None:
        """The measuring stage its wall time includes (that of its first evidence), None without evidence."""
        return STAGE[self.needs[0]] if self.needs else None


# ----------------------------------------------------------------------------------------------------------
# the select functions: one signature
# ----------------------------------------------------------------------------------------------------------
def _sample_ids(frame) -> list[str]:
    ids = list(dict.fromkeys(frame["sample_id"].astype(str)))
    if not ids:
        raise NoEvidence("no proxy sample in the gradient table")
    return ids


def _gradient_scores(method: str, doc: str):
    """LGA and LGA(K') differ only in the per-layer score (`lga.SCORERS`); both take the argmax inside
    Tukey's fences."""
    def select(evidence, layers, params) -> dict:
        from goldenlayers.selection import lga

        grads = evidence["gradients"]
        return lga.run_lga(grads, _sample_ids(grads), k=params.get("tukey_k", TUKEY_K), method=method,
                                 layers=layers)

    select.__name__, select.__doc__ = f"select_{method}", doc
    return select


select_lga = _gradient_scores("lga", "LGA: sum over the proxy samples of <g_old, g_new> per layer, argmax inside "
                                     "Tukey's fences.")
select_lga_kprime = _gradient_scores("lga_kprime", "LGA(K'): sum over the proxy samples of ||g_new||_2 per layer, "
                                                   "the same fences.")


def select_salem(evidence, layers, params) -> dict:
    """SaLEM: the layer of greatest saliency (no fences)."""
    from goldenlayers.selection import baselines

    return baselines.run_salem(evidence["saliency"], layers=layers)


def select_cma(evidence, layers, params) -> dict:
    """CMA: the layer of largest mean indirect effect over the proxy samples the clean model gets right."""
    from goldenlayers.selection import baselines

    effects = evidence["effects"]
    if effects.empty:
        raise NoEvidence("no proxy sample in the causal-trace table")
    return baselines.run_cma(effects, layers=layers)


def select_random(evidence, layers, params) -> dict:
    """Random: `n_layers` seeded candidate layers (`baselines.run_random`'s defaults where not given); `rng` (a
    numpy Generator) instead of `seed` draws from a stream the caller owns (one layer per resampling draw)."""
    from goldenlayers.selection import baselines

    if layers is None:
        raise ValueError("random: give the candidate layers")
    given = {"n": params.get("n_layers"), "seed": params.get("seed"), "rng": params.get("rng")}
    return baselines.run_random(layers, **{k: v for k, v in given.items() if v is not None})


def select_bf(evidence, layers, params) -> dict:
    """BF: the proxy golden layer of the sweep, with the proxy share of the sweep jobs' time."""
    from goldenlayers.selection import baselines

    sweep = evidence["sweep"]
    if layers is not None:
        sweep = sweep[sweep["layer"].isin([int(layer) for layer in layers])]
    m = params.get("proxy_facts")
    if m is not None:
        # BF(m): only the first m proxy facts' rows are proxy rows (the test rows stay: the wall time is the proxy
        # share of each sweep job, now m facts' share)
        sweep, facts = _first_proxy_facts(sweep, evidence.get("proxy_order"), m)
    metric = {"metric": params["metric"]} if params.get("metric") else {}
    try:
        record = baselines.run_bf(sweep, job_seconds=evidence.get("sweep_job_seconds"),
                                  num_layers=params.get("num_layers"), **metric)
    except baselines.NoProxyValues as err:
        # e.g. a resampled draw whose proxy samples have no portability prompt: no choice in that draw
        raise NoEvidence(str(err)) from None
    if m is not None:
        record["params"]["proxy_facts"] = int(m)
        record["facts"] = facts
    return record


def _first_proxy_facts(sweep, proxy_order, m):
    """`sweep` with only the first m proxy facts (`verify.first_facts` of `proxy_order`, sorted proxy ids without
    it) left as proxy rows, and those facts."""
    from goldenlayers.selection.verify import first_facts

    is_proxy = sweep["split"] == "proxy"
    present = set(sweep.loc[is_proxy, "sample_id"].astype(str))
    order = sorted(present) if proxy_order is None else [str(s) for s in proxy_order if str(s) in present]
    facts = first_facts(order, m)
    return sweep[~is_proxy | sweep["sample_id"].astype(str).isin(set(facts))], facts


def cheap_names(params) -> list[str]:
    """The cheap selectors whose rankings verify and consensus combine (param `cheap_selectors`, comma-separated;
    default CHEAP_SELECTORS); each must be a zero-edit selector that scores every layer."""
    given = params.get("cheap_selectors")
    names = list(CHEAP_SELECTORS) if not given else [n.strip() for n in str(given).split(",") if n.strip()]
    unknown = [n for n in names if n not in measured()]
    if unknown or not names:
        raise ValueError(f"cheap_selectors {unknown or names}: each must be a zero-edit selector that scores every "
                         f"layer ({', '.join(measured())})")
    return names


def _rankings(evidence, layers, params) -> tuple[list[str], list[list[int]]]:
    """The cheap selectors' names (`cheap_names`) that chose on these proxy samples and their rankings
    (`verify.ranking`) cut to the candidate `layers`. A named selector without a record (e.g. in a resampling draw
    with no traced proxy sample) is left out; none at all: NoEvidence."""
    from goldenlayers.selection import verify

    records = evidence["selections"]
    names = [n for n in cheap_names(params) if records.get(n) is not None]
    if not names:
        raise NoEvidence("none of the cheap selectors chose on these proxy samples")
    return names, verify.restrict([verify.ranking(records[n]) for n in names], layers)


def verify_shortlist(records: Mapping[str, Any], params: Mapping[str, Any],
                     layers: Sequence[int] | None = None) -> list[int]:
    """The layers verify shortlists from the cheap selectors' `records` ({method: selection record}) with `params`:
    the layers its select edits, which the pipeline's sweep plan adds (`selection.plan.sweep_plan`)."""
    from goldenlayers.selection import verify

    return verify.shortlist(_rankings({"selections": records}, layers, params)[1], _shortlist_k(params))


def _shortlist_k(params) -> int:
    return int(params.get("shortlist_k") or SHORTLIST_K)


def select_verify(evidence, layers, params) -> dict:
    """verify: shortlist `shortlist_k` layers round-robin from the cheap selectors' rankings, read the sweep rows of
    the first `proxy_facts` proxy facts there, keep the best mean `verify_metric` (`verify.run_verify`)."""
    from goldenlayers.selection import verify

    names, rankings = _rankings(evidence, layers, params)
    record = verify.run_verify(evidence["sweep"], rankings, names, _shortlist_k(params),
                               int(params.get("proxy_facts") or VERIFY_FACTS),
                               params.get("verify_metric") or VERIFY_METRIC, evidence.get("proxy_order"), layers)
    if record["chosen_layer"] is None:
        raise NoEvidence(f"verify: no shortlisted layer {record['shortlist']} has a proxy value of "
                         f"{record['params']['verify_metric']!r}")
    return record


def select_consensus(evidence, layers, params) -> dict:
    """consensus: the layer of lowest mean rank over the cheap selectors' rankings (zero edits)."""
    from goldenlayers.selection import verify

    names, rankings = _rankings(evidence, layers, params)
    return verify.run_consensus(rankings, names)


def _verify_edits(params, n_proxy: int, n_layers: int) -> int:
    """k x m: the shortlisted layers times the proxy facts edited at each (capped by what there is)."""
    k = _shortlist_k(params)
    m = int(params.get("proxy_facts") or VERIFY_FACTS)
    return min(k, n_layers) * min(m, n_proxy)


def _bf_edits(params, n_proxy: int, n_layers: int) -> int:
    """m x layers: every candidate layer on m proxy facts (all of them by default)."""
    m = params.get("proxy_facts")
    return (n_proxy if m is None else min(int(m), n_proxy)) * n_layers


SELECTORS: dict[str, SelectorSpec] = {
    s.name: s
    for s in (
        SelectorSpec(name="lga", label="LGA", color=OKABE_ITO["blue"], marker="o", linestyle="-", hatch="",
                     needs=("gradients",), timed=True, planned=True, multi_layer=False,
                     tables=("table2", "table11", "table12", "table13", "table14", "table15"), select=select_lga,
                     params=("tukey_k",)),
        SelectorSpec(name="lga_kprime", label="LGA(K')", color=OKABE_ITO["sky_blue"], marker="s", linestyle="--",
                     hatch="//", needs=("gradients",), timed=True, planned=True, multi_layer=False,
                     tables=("table15",), select=select_lga_kprime, params=("tukey_k",)),
        SelectorSpec(name="salem", label="SaLEM", color=OKABE_ITO["orange"], marker="^", linestyle="-.",
                     hatch="\\\\", needs=("saliency",), timed=True, planned=True, multi_layer=False,
                     tables=("table2", "table11", "table12", "table13"), select=select_salem),
        SelectorSpec(name="cma", label="CMA", color=OKABE_ITO["bluish_green"], marker="D", linestyle=":",
                     hatch="..", needs=("effects",), timed=True, planned=True, multi_layer=False,
                     tables=("table2", "table11", "table12", "table13"), select=select_cma),
        SelectorSpec(name="random", label="Random", color="#777777", marker="x", linestyle="--", hatch="xx",
                     needs=(), timed=False, planned=False, multi_layer=True, tables=("table14",),
                     select=select_random, params=("n_layers", "seed")),
        SelectorSpec(name="bf", label="BF", color=OKABE_ITO["reddish_purple"], marker="P", linestyle="-",
                     hatch="", needs=("sweep",), timed=False, planned=False, multi_layer=False, tables=(),
                     select=select_bf, params=("metric", "num_layers", "proxy_facts"), edits=_bf_edits),
        # verify and consensus combine the cheap selectors' records (needs "selections"): the workflow runs them
        # after those (score_consensus; select_verify after the sweep of verify's shortlisted layers)
        SelectorSpec(name="verify", label="Verify", color=OKABE_ITO["vermillion"], marker="*", linestyle="-",
                     hatch="++", needs=("selections", "sweep"), timed=False, planned=False, multi_layer=False,
                     tables=(), select=select_verify,
                     params=("cheap_selectors", "shortlist_k", "proxy_facts", "verify_metric"),
                     edits=_verify_edits),
        SelectorSpec(name="consensus", label="Consensus", color=OKABE_ITO["yellow"], marker="v", linestyle="-.",
                     hatch="oo", needs=("selections",), timed=False, planned=False, multi_layer=False, tables=(),
                     select=select_consensus, params=("cheap_selectors",)),
    )
}


def spec(name: str) -> SelectorSpec:
    """The entry of selector `name`; a clear error for an unknown name."""
    if name in SELECTORS:
        return SELECTORS[name]
    raise ValueError(f"unknown selector {name!r}; choose from {', '.join(SELECTORS)}")


def edits(name: str, params: Mapping[str, Any], n_proxy: int, n_layers: int) -> int:
    """Selector `name`'s cost in edits with `params` on `n_proxy` proxy facts and `n_layers` candidate layers."""
    cost = spec(name).edits
    return 0 if cost is None else int(cost(params, int(n_proxy), int(n_layers)))


def register(spec: SelectorSpec, new_params: Mapping[str, tuple[type, str]] | None = None) -> None:
    """Add a selector (a plugin's); its name must be new and its evidence known. `new_params` adds parameters of
    its own to `PARAMS` ({name: (type, what)}): the CLI then takes --<name>, and the workflow reads the value from
    the config's `selector_params` section for its score rule and for the resampling draws."""
    for name, (kind, what) in (new_params or {}).items():
        if name in PARAMS and PARAMS[name][0] is not kind:
            raise ValueError(f"selector parameter {name!r} is already registered as a {PARAMS[name][0].__name__}")
        PARAMS.setdefault(name, (kind, what))
    if spec.name in SELECTORS:
        raise ValueError(f"selector {spec.name!r} is already registered")
    unknown = sorted(set(spec.needs) - set(EVIDENCE))
    if unknown:
        raise ValueError(f"selector {spec.name!r} needs unknown evidence {unknown}; known: {', '.join(EVIDENCE)}")
    unknown = sorted(set(spec.params) - set(PARAMS))
    if unknown:
        raise ValueError(f"selector {spec.name!r} takes unknown parameters {unknown}; known: {', '.join(PARAMS)}")
    SELECTORS[spec.name] = spec
    if spec.name not in measured():
        # the workflow generates score_<name> rules for measured selectors only (Random and BF have rules of their own)
        del SELECTORS[spec.name]
        raise ValueError(f"selector {spec.name!r}: a plugin must score the gradient / saliency / trace evidence "
                         f"({', '.join(n for n in EVIDENCE if STAGE[n] in ('gradient', 'trace'))})")


def params_of(name: str, given: Mapping[str, Any]) -> dict:
    """The parameters selector `name` takes (`spec.params`) out of `given` (the config's values, by name); absent
    ones are left out, so the selector uses its default."""
    return {p: given[p] for p in spec(name).params if given.get(p) is not None}


def selectors_in(table: str) -> list[str]:
    """Names of the selectors a paper table compares, in registry order."""
    return [name for name, spec in SELECTORS.items() if table in spec.tables]


def timed() -> list[str]:
    """Selectors Figure 3 times against BF, in registry order."""
    return [name for name, spec in SELECTORS.items() if spec.timed]


def planned() -> list[str]:
    """Selectors whose chosen layer joins the sweep plan, in registry order."""
    return [name for name, spec in SELECTORS.items() if spec.planned]


def derived() -> list[str]:
    """Selectors that combine the cheap selectors' records (their evidence includes "selections": verify,
    consensus), in registry order: the draws run them after the others of the same draw."""
    return [name for name, spec in SELECTORS.items() if "selections" in spec.needs]


def measured() -> list[str]:
    """Selectors that score the per-sample measurements of one (model, dataset) (the workflow's score_<name>
    rules): those whose evidence is all gradients / saliency / effects."""
    return [name for name, spec in SELECTORS.items()
            if spec.needs and all(STAGE[need] in ("gradient", "trace") for need in spec.needs)]


def proxy_evidence(tables: Mapping[str, Any], sample_ids: Sequence[str] | None) -> dict:
    """`tables` ({need: table}) restricted to the proxy `sample_ids` (None: as given). Every proxy sample must have
    gradient scalars; one without a causal trace (no subject in its prompt) is skipped; SaLEM's saliency is
    already over the proxy samples and BF's sweep marks them itself, so both pass unchanged."""
    if sample_ids is None:
        return dict(tables)
    ids = [str(s) for s in sample_ids]
    wanted = set(ids)
    out = dict(tables)
    if "gradients" in tables:
        grads = tables["gradients"]
        have = set(grads["sample_id"].astype(str))
        missing = sorted(wanted - have)
        if missing:
            raise KeyError(f"{len(missing)} sample ids are not in the gradient table, e.g. {missing[:3]}")
        if len(wanted) != len(ids):
            raise ValueError("sample_ids contains duplicates")
        out["gradients"] = grads[grads["sample_id"].astype(str).isin(wanted)]
    if "effects" in tables:
        effects = tables["effects"]
        out["effects"] = effects[effects["sample_id"].astype(str).isin(wanted)]
    return out


def run(name: str, evidence: Mapping[str, Any], layers: Sequence[int] | None = None,
        params: Mapping[str, Any] | None = None) -> dict:
    """`SELECTORS[name].select(evidence, layers, params)`, with a clear error for an unknown name or missing
    evidence."""
    entry = spec(name)
    missing = [need for need in entry.needs if need not in evidence]
    if missing:
        raise ValueError(f"selector {name!r} needs {', '.join(missing)}")
    return entry.select(evidence, None if layers is None else [int(x) for x in layers], dict(params or {}))


def _load_plugins() -> None:
    for module in filter(None, (m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(","))):
        importlib.import_module(module)


_load_plugins()
