"""Memory and runtime of each model-loading job, sized from the model and the amount of work (no torch import).

The workflow's rules read their `mem_mb` and `runtime` from here (through goldenlayers.plan.jobs), so a
135M model asks for about 2 GB and LLaMA-2-7B for what it needs, instead of a fixed 48 GB that a small node refuses.

    mem_mb  = (BASE_MB + weights_mb * FACTORS[rule] + held_mb) * HEADROOM, rounded up to 500 MB
    runtime = STARTUP_MIN + units of work * seconds per unit (scaled by the model's size and device)

`weights_mb` is parameters x bytes of the config's dtype. `FACTORS` say how many copies of the weights a job holds
at its peak (measured on this project's CPU machines, docs/paper-scale.md "Resources per rule"); `held_mb` is the
data it holds besides the model (key covariance matrices, SaLEM's gradient factors, BERTScore's model). The parameter count comes from the prepared model's
config.json (results/models/<model>/model.json names its folder) once prepare_model has run, else from a local
model folder's config.json, else from the config's `parameters` hint; a model known by none of these gets
FALLBACK_PARAMETERS and a warning.

A retry (attempt 2, 3, ...) gets more runtime and more memory, but never more memory than `cluster.max_mem_mb`
(the largest node or partition the jobs may use): a request above it would be refused by the scheduler on every
attempt, and a job that failed for a reason memory cannot fix would otherwise be resubmitted with an ever larger,
unschedulable request.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

from goldenlayers.io import recorded_model_dir

BYTES_PER_PARAM = {"float32": 4, "float16": 2, "bfloat16": 2}
# Python + torch + transformers + pandas imported, a tokenizer loaded: a job on the 3-layer test model peaks at
# 190-470 MB; 800 leaves room for bigger datasets and tokenizers.
BASE_MB = 800
# Copies of the model's weights a job holds at its peak (CPU). Measured: max_rss of the jobs' benchmark files for
# SmolLM2-135M (float32, 513 MB of weights) and the tiny 3-layer test model; docs/paper-scale.md has the numbers.
FACTORS = {
    # a hub model is only downloaded; an embedded GGUF is dequantised tensor by tensor (SmolLM2: 424 MB peak)
    "prepare_model": 1.0,
    # forward passes only
    "filter_dataset": 1.2,
    "generate_templates": 1.2,
    "trace_causal_effects": 1.3,
    "key_covariance": 1.2,
    # backward from the output to the edited layers' weights (SmolLM2, 20 samples: 1,174 MB peak, factor 1.4)
    "extract_gradients": 1.5,
    # one edited layer's weights kept to restore them after each edit, plus the edit's optimisation
    "sweep_layer": 1.5,
    "sweep_sequential": 1.5,
    "appendix_eval": 1.5,
}
MODEL_RULES = tuple(FACTORS)
# on a GPU node the host holds the checkpoint once while it is loaded and moved to the device
GPU_HOST_FACTOR = 1.2
# allocator slack and what the measurements did not see (longer prompts, another tokenizer)
HEADROOM = 1.3
ROUND_MB = 500
# appendix_eval loads BERTScore's roberta-large beside the model when it is on disk
BERTSCORE_MB = 1600
# seconds per unit of work for a 135M model on one CPU core (docs/benchmarks.md): an edit 2.3-8.4 s, a forward ~0.5 s
SECONDS_PER_UNIT = {
    "prepare_model": 60.0,  # per billion parameters: download + convert
    "filter_dataset": 1.0,  # per record
    "generate_templates": 10.0,  # per job
    "trace_causal_effects": 6.0,  # per record (10 noise draws x the layers' windows)
    "key_covariance": 0.05,  # per corpus text
    "extract_gradients": 2.0,  # per record
    "sweep_layer": 10.0,  # per edit (+ fluency's generation, doubled below)
    "sweep_sequential": 10.0,
    "appendix_eval": 15.0,
}
REFERENCE_PARAMETERS = 135e6
# a GPU runs a 7B model about as fast as one CPU core runs the 135M model (EasyEdit's ROME: ~10 s an edit on an A100)
GPU_SPEEDUP = 50.0
STARTUP_MIN = 5
FALLBACK_PARAMETERS = 1e9
DEFAULT_LIMITS = {"max_mem_mb": 16000, "max_runtime": 1440}


def config_parameters(config: dict) -> float:
    """Parameters of a Hugging Face config.json (dict): embeddings, attention, MLP and norms of every block, plus the
    vision tower of a multimodal wrapper (Gemma 3). Within a few percent of the checkpoints' true counts."""
    total = 0.0
    for part in ("text_config", "vision_config"):
        if isinstance(config.get(part), dict):
            total += config_parameters({**config[part], "vocab_size": config[part].get("vocab_size", 0)})
    if total:
        return total
    hidden = config.get("hidden_size") or config.get("n_embd") or config.get("d_model")
    layers = config.get("num_hidden_layers") or config.get("n_layer") or config.get("num_layers")
    if not hidden or not layers:
        raise ValueError("config.json has no hidden_size/n_embd or num_hidden_layers/n_layer")
    inner = config.get("intermediate_size") or config.get("n_inner") or 4 * hidden
    heads = config.get("num_attention_heads") or config.get("n_head") or 1
    head_dim = config.get("head_dim") or hidden // heads
    kv_heads = config.get("num_key_value_heads") or heads
    vocab = config.get("vocab_size") or 0
    # gated MLPs (LLaMA, Gemma, Mistral, Qwen) have three matrices, GPT-2's two
    gated = config.get("model_type", "") not in ("gpt2", "gptj", "gpt_neox", "gpt_neo", "opt", "siglip_vision_model")
    attention = hidden * heads * head_dim * 2 + hidden * kv_heads * head_dim * 2
    mlp = (3 if gated else 2) * hidden * inner
    embeddings = vocab * hidden * (1 if config.get("tie_word_embeddings", True) else 2)
    return float(embeddings + layers * (attention + mlp + 4 * hidden))


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _model_configs(model: dict, prepared: Path | None):
    """The model's config.json contents that are on this machine: the prepared folder's (prepared =
    results/models/<name>/model.json, written by prepare_model), then a local source folder's."""
    folders = []
    if prepared is not None and (ref := _read_json(prepared)) and ref.get("path"):
        folders.append(recorded_model_dir(prepared, ref))
    source = Path(str(model.get("source", ""))).expanduser()
    if source.is_dir():
        folders.append(source)
    for folder in folders:
        found = _read_json(folder / "config.json")
        if found:
            yield found


def model_parameters(name: str, model: dict, prepared: Path | None = None) -> float:
    """The model's parameter count: its prepared folder's config.json (prepared = results/models/<name>/model.json),
    a local source folder's config.json, the config's `parameters` hint, else FALLBACK_PARAMETERS (with a warning)."""
    for found in _model_configs(model, prepared):
        try:
            return config_parameters(found)
        except ValueError:
            pass
    if model.get("parameters"):
        return float(model["parameters"])
    print(f"goldenlayers: cannot size jobs of model {name!r} before prepare_model ran (no local config.json, no "
          f"`parameters` in its config entry): assuming {FALLBACK_PARAMETERS:.0e} parameters", file=sys.stderr)
    return FALLBACK_PARAMETERS


def model_dims(name: str, model: dict, prepared: Path | None = None) -> tuple[int, int]:
    """(MLP inner size = the edited matrix's key dimension, hidden size), for the covariance and gradient factors a
    job holds: from the model's config.json when there is one, else estimated from the parameter count."""
    for cfg in _model_configs(model, prepared):
        cfg = cfg.get("text_config", cfg)
        hidden = int(cfg.get("hidden_size") or cfg.get("n_embd") or 0)
        return int(cfg.get("intermediate_size") or cfg.get("n_inner") or 4 * hidden), hidden
    # a block holds ~12 hidden^2 weights (LLaMA-like: inner ~ 2.7 x hidden)
    hidden = int(math.sqrt(model_parameters(name, model, prepared) / max(model.get("num_layers", 1), 1) / 12))
    return int(2.7 * hidden), hidden


def memory_mb(rule: str, parameters: float, dtype: str = "float32", covariance_dim: int = 0,
              uses_covariance: bool = False, bertscore: bool = False, device: str = "cpu",
              evidence_mb: float = 0.0) -> int:
    """Peak host memory of one job of `rule` (attempt 1), rounded up to ROUND_MB. On a GPU the host holds the
    weights once while loading them (GPU_HOST_FACTOR); the rest of FACTORS is then GPU memory (gpu_memory_mb)."""
    weights = parameters * BYTES_PER_PARAM[dtype] / 2**20
    factor = FACTORS[rule] if device == "cpu" or rule == "prepare_model" else GPU_HOST_FACTOR
    held = 0.0
    if rule == "key_covariance" or uses_covariance:
        held += 2 * covariance_dim**2 * 8 / 2**20  # the float64 accumulator and its result / inverse
    if rule == "appendix_eval" and bertscore:
        held += BERTSCORE_MB
    held += evidence_mb  # evidence the job collects in memory before writing it (extract_gradients' factors)
    need = (BASE_MB + weights * factor + held) * HEADROOM
    return int(math.ceil(need / ROUND_MB) * ROUND_MB)


def gpu_memory_mb(rule: str, parameters: float, dtype: str = "float32", covariance_dim: int = 0,
                  uses_covariance: bool = False) -> int:
    """GPU memory one job of `rule` needs on a GPU (for choosing a GPU type; SLURM is not asked for it)."""
    weights = parameters * BYTES_PER_PARAM[dtype] / 2**20
    held = 2 * covariance_dim**2 * 8 / 2**20 if rule == "key_covariance" or uses_covariance else 0.0
    return int(math.ceil((weights * FACTORS[rule] + held) * HEADROOM / ROUND_MB) * ROUND_MB)


def runtime_min(rule: str, parameters: float, units: float, device: str = "cpu", fluency: bool = False) -> int:
    """Minutes for one job of `rule` (attempt 1): startup + units of work at the model's speed, with headroom."""
    if rule == "prepare_model":
        seconds = SECONDS_PER_UNIT[rule] * max(parameters / 1e9, 1.0)
    else:
        scale = parameters / REFERENCE_PARAMETERS / (1.0 if device == "cpu" else GPU_SPEEDUP)
        seconds = SECONDS_PER_UNIT[rule] * max(units, 1) * max(scale, 0.05) * (2 if fluency else 1)
    return int(STARTUP_MIN + math.ceil(seconds * 2 / 60))


def for_attempt(mem_mb: int, runtime: int, attempt: int, limits: dict | None = None, rule: str = "a job") -> dict:
    """Attempt n's request: runtime x n and memory x (1 + (n-1)/2), each capped at the cluster's limits (a request
    above the largest node is refused by SLURM on every attempt). A first request above the cap is capped too,
    with a warning: the job then gets the largest node there is."""
    limits = {**DEFAULT_LIMITS, **(limits or {})}
    if mem_mb > limits["max_mem_mb"]:
        _warn_once(f"goldenlayers: {rule} needs about {mem_mb} MB but cluster.max_mem_mb is {limits['max_mem_mb']}: "
                   "asking for the limit (raise cluster.max_mem_mb if your nodes have more)")
    grown_mem = int(math.ceil(mem_mb * (1 + (attempt - 1) / 2) / ROUND_MB) * ROUND_MB)
    return {"mem_mb": min(grown_mem, int(limits["max_mem_mb"])),
            "runtime": min(runtime * attempt, int(limits["max_runtime"]))}


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    """Print a planning warning once per process: Snakemake sizes every job of a rule (and memory and runtime
    apart), and 878 copies of one line hide everything else a dry run says."""
    if message not in _warned:
        _warned.add(message)
        print(message, file=sys.stderr)


def count_records(path: str | Path | None) -> int | None:
    """Samples a job works on: the sample set of a samples.json (what a sweep edits), the proxy + test samples of a
    split.json, the records of a records.json, or None when the file does not exist yet."""
    data = _read_json(Path(path)) if path else None
    if isinstance(data, dict) and isinstance(data.get("ids"), list):
        return len(data["ids"])
    if isinstance(data, dict) and isinstance(data.get("proxy"), list):
        return len(data["proxy"]) + len(data.get("test", []))
    return len(data) if isinstance(data, list) else None


# tokens of a typical edit sequence (prompt + target); WikiBio's are ~8x longer (docs/paper-scale.md)
FACTOR_TOKENS = 15


def gradient_factors_mb(samples: int, key_dim: int, hidden: int, layers: int) -> float:
    """SaLEM's per-sample gradient factors, which extract_gradients holds until it writes them: tokens x
    (d_in + d_out) x layers float32 values per sample (docs/paper-scale.md)."""
    return samples * FACTOR_TOKENS * (key_dim + hidden) * layers * 4 / 2**20


# What sbatch says when a request exceeds every node (Slurm 22.05-24.x), and the request flags it names.
REFUSALS = ("Requested node configuration is not available", "Memory specification can not be satisfied",
            "Requested time limit is invalid", "Invalid generic resource")
REQUEST_FLAGS = re.compile(r"(?:--mem|-t|--time|--gpus|--gres|--cpus-per-task)[ =]\S+")


def explain_refusals(log_text: str, node_limits: str) -> list[str]:
    """One line per rule whose job SLURM refused at submission, naming the rule, what it asked for and what the
    nodes offer (`node_limits`, e.g. from `sinfo`). Snakemake's log holds the plugin's "Error in rule X" block with
    sbatch's message and call; the plugin itself only says that sbatch failed."""
    lines, seen = [], set()
    for block in re.split(r"\n(?=Error in rule )", log_text):
        found = re.match(r"Error in rule (\w+)", block)
        if not found or not any(refusal in block for refusal in REFUSALS):
            continue
        call = re.search(r"sbatch call:\s*\n?\s*(sbatch .*)", block)
        request = " ".join(REQUEST_FLAGS.findall(call.group(1))) if call else "(request not in the log)"
        if (found.group(1), request) in seen:
            continue
        seen.add((found.group(1), request))
        lines.append(f"goldenlayers: SLURM refused rule {found.group(1)}'s job: it asked for {request}, but the "
                     f"nodes offer {node_limits}. Lower the request (--set-resources {found.group(1)}:mem_mb=...) or "
                     "set cluster.max_mem_mb / cluster.max_runtime in the config to your nodes' limits.")
    return lines
