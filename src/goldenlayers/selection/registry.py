"""Every layer selector the project knows: one `SelectorSpec` per entry of `SELECTORS`, each with one `select`.

The library (reports, plots, resampling, `suggest`), the CLI (`goldenlayers select --method NAME`) and the workflow
(`workflow/rules/selection.smk` makes one `score_<name>` rule per measured selector) read this registry; nothing else
lists selector names. Adding a selector is one function with the signature below plus one entry here (see
docs/architecture.md, "Adding a selector").

    select(evidence, layers, params) -> dict

* `evidence`: {need: table} for the selector's `needs`, over the proxy samples only (`proxy_evidence` restricts the
  per-sample tables; SaLEM's saliency is already summed over them; BF's sweep keeps its `split` column and reads
  the proxy rows, because its wall time is the proxy share of each sweep job). BF alone may also get
  "sweep_job_seconds" ({layer: seconds}).
* `layers`: the candidate layers (None: every layer in the evidence).
* `params`: the selector's parameters by name (`spec.params`); absent ones take the defaults below.
* returns the JSON-ready selection record (`method`, `layers`, `scores`, `chosen_layer` or `chosen_layers`,
  `params`, ...), as written to results/<model>/<dataset>/selection/<name>.json. The math lives in
  `goldenlayers.selection.lga` (LGA, LGA(K')) and `goldenlayers.selection.baselines` (SaLEM, CMA, Random, BF).

The pipeline (one proxy split) and the resampling draws (`resampling.choose`, many re-splits) call the same
`select`, so a re-scored subset gives the pipeline's record.

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
}
STAGE = {"gradients": "gradient", "saliency": "gradient", "effects": "trace", "sweep": "sweep"}
# Every selector parameter: (type, what it is); the CLI's `select` takes each as --<name> and the workflow fills
# them from the config (common.smk, SELECTOR_PARAMS).
PARAMS = {
    "tukey_k": (float, f"Tukey fence constant k (default {TUKEY_K:g})"),
    "n_layers": (int, "number of random candidate layers"),
    "seed": (int, "seed of the random draw"),
    "metric": (str, "BF's metric"),
    "num_layers": (int, "the model's layer count: BF also estimates its time over every candidate layer"),
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
    metric = {"metric": params["metric"]} if params.get("metric") else {}
    try:
        return baselines.run_bf(sweep, job_seconds=evidence.get("sweep_job_seconds"),
                                num_layers=params.get("num_layers"), **metric)
    except baselines.NoProxyValues as err:
        # e.g. a resampled draw whose proxy samples have no portability prompt: no choice in that draw
        raise NoEvidence(str(err)) from None


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
                     select=select_bf, params=("metric", "num_layers")),
    )
}


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
    return {p: given[p] for p in SELECTORS[name].params if given.get(p) is not None}


def selectors_in(table: str) -> list[str]:
    """Names of the selectors a paper table compares, in registry order."""
    return [name for name, spec in SELECTORS.items() if table in spec.tables]


def timed() -> list[str]:
    """Selectors Figure 3 times against BF, in registry order."""
    return [name for name, spec in SELECTORS.items() if spec.timed]


def planned() -> list[str]:
    """Selectors whose chosen layer joins the sweep plan, in registry order."""
    return [name for name, spec in SELECTORS.items() if spec.planned]


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
    if name not in SELECTORS:
        raise ValueError(f"unknown selector {name!r}; choose from {', '.join(SELECTORS)}")
    spec = SELECTORS[name]
    missing = [need for need in spec.needs if need not in evidence]
    if missing:
        raise ValueError(f"selector {name!r} needs {', '.join(missing)}")
    return spec.select(evidence, None if layers is None else [int(x) for x in layers], dict(params or {}))


def _load_plugins() -> None:
    for module in filter(None, (m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(","))):
        importlib.import_module(module)


_load_plugins()
