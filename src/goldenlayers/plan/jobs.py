"""Job sizes: mem_mb and runtime of every rule that loads the model (goldenlayers.resources holds the measured
factors), from one resolved view of the model and the job's work (records, layers, edits). The workflow asks when
a job is ready, so the prepared model's config.json and the filtered records are there to read (a dry run before
that uses the config's `parameters` hint). Retries grow, capped at the config's `cluster` limits."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

from goldenlayers import resources
from goldenlayers.plan.options import needs_key_covariance


def prepared_model(model: str) -> str:
    """What prepare_model writes (its folder holds the model's config.json)."""
    return f"results/models/{model}/model.json"


def model_view(config: dict, model: str) -> dict:
    """The model as job sizing sees it, resolved once: its config entry (num_layers, dtype, device) with the parameter
    count and MLP / hidden sizes of its prepared config.json (else a local source's, else the `parameters` hint)."""
    entry = config["models"][model]
    prepared = Path(prepared_model(model))
    prepared = prepared if prepared.exists() else None
    parameters = resources.model_parameters(model, entry, prepared)
    inner, hidden = resources.model_dims(model, {**entry, "parameters": parameters}, prepared)
    return {"name": model, "parameters": parameters, "inner": inner, "hidden": hidden,
            "num_layers": entry["num_layers"], "dtype": entry.get("dtype", "float32"),
            "device": entry.get("device", "auto")}


def job_records(config: dict, dataset: str | None, inputs: dict) -> int:
    """Records a job reads: the sample set (sweeps), else the split (gradients, trace), else every kept record;
    before they exist, the dataset's max_samples (or 1000)."""
    found = None
    for name in ("samples", "split", "records"):
        found = found or resources.count_records(inputs.get(name))
    if found is None:
        return config["datasets"].get(dataset or "", {}).get("max_samples") or 1000
    return found


def job_work(config: dict, rule: str, view: dict, records: int) -> int:
    """Units of work of one job (goldenlayers.resources.SECONDS_PER_UNIT): records, edits or corpus texts."""
    if rule == "sweep_layer":
        return math.ceil(records / config["sweep_chunks"])
    if rule == "sweep_sequential":
        return config["sequential"]["n_edits"]
    if rule == "key_covariance":
        return min(config["key_covariance"]["n_samples"], 20000)
    if rule == "trace_causal_effects":
        return records * max(1, view["num_layers"] // 10)
    if rule in ("prepare_model", "generate_templates"):
        return 1
    return records


def job_size(config: dict, rule: str, view: dict, records: int, editor: str | None = None,
             attempt: int = 1) -> dict:
    """{"mem_mb", "runtime"} of one job of `rule` at its `attempt` (override per rule on the command line with
    --set-resources: README, "Running on a cluster")."""
    covariance = rule == "key_covariance" or (
        editor is not None and needs_key_covariance(config, view["name"], editor))
    work = job_work(config, rule, view, records)
    factors = 0.0
    if rule == "extract_gradients":
        factors = resources.gradient_factors_mb(work, view["inner"], view["hidden"], view["num_layers"])
    mem = resources.memory_mb(
        rule, view["parameters"], view["dtype"], covariance_dim=view["inner"] if covariance else 0,
        uses_covariance=covariance, evidence_mb=factors,
        bertscore=Path(config.get("appendix", {}).get("bertscore_model", "")).is_dir(), device=view["device"])
    runtime = resources.runtime_min(rule, view["parameters"], work, device=view["device"],
                                    fluency=config["fluency"])
    return resources.for_attempt(mem, runtime, attempt, config.get("cluster", {}), rule)


def slurm_node_limits() -> str:
    """The nodes' memory, CPUs and GPUs as `sinfo` reports them, or a note when there is no sinfo."""
    try:
        found = subprocess.run(["sinfo", "-h", "-o", "%P: %m MB, %c CPUs, gres %G, time limit %l"],
                               capture_output=True, text=True, timeout=30).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return "(sinfo not available)"
    return "; ".join(line for line in found if line.strip()) or "(sinfo said nothing)"


def refusal_lines(log_files: list) -> list[str]:
    """When the cluster refused a job (the plugin reports "sbatch failed"): which rule asked for what, and what the
    nodes have, one line each (nothing when the run's log shows no refusal)."""
    text = "".join(Path(path).read_text(errors="replace") for path in log_files if Path(path).exists())
    if not text or not resources.explain_refusals(text, ""):
        return []
    return resources.explain_refusals(text, slurm_node_limits())
