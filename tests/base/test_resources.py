"""Job resources sized from the model (goldenlayers.resources) and what the SLURM profile asks the scheduler for."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from goldenlayers import resources
from helpers import REPO, workflow_copy

# config.json values of the paper's models and the embedded default (their published parameter counts in comments)
SMOLLM2 = {"model_type": "llama", "hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
           "num_attention_heads": 9, "num_key_value_heads": 3, "vocab_size": 49152, "tie_word_embeddings": True}
GPT2_XL = {"model_type": "gpt2", "n_embd": 1600, "n_layer": 48, "n_head": 25, "vocab_size": 50257}
LLAMA2_7B = {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
             "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 32000, "tie_word_embeddings": False}


@pytest.mark.parametrize("config, published", [(SMOLLM2, 134.5e6), (GPT2_XL, 1.558e9), (LLAMA2_7B, 6.74e9)])
def test_parameter_count_from_config_json(config, published):
    assert resources.config_parameters(config) == pytest.approx(published, rel=0.03)


def test_prepared_model_config_wins_over_the_hint(tmp_path):
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf/config.json").write_text(json.dumps(LLAMA2_7B))
    (tmp_path / "model.json").write_text(json.dumps({"path": str(tmp_path / "hf")}))
    model = {"source": "meta-llama/Llama-2-7b-hf", "parameters": 1}
    assert resources.model_parameters("llama", model, tmp_path / "model.json") == pytest.approx(6.74e9, rel=0.03)
    assert resources.model_parameters("llama", model, None) == 1


def test_memory_grows_with_the_model_and_retries_stay_within_the_node():
    small = resources.memory_mb("sweep_layer", 135e6)
    large = resources.memory_mb("sweep_layer", 6.74e9, "float16")
    assert small <= 4000 < 16000 < large  # a 135M model no longer asks for 48 GB; a 7B model on CPU needs more
    assert resources.memory_mb("extract_gradients", 135e6) > resources.memory_mb("filter_dataset", 135e6)
    attempts = [resources.for_attempt(small, 30, n, {"max_mem_mb": 16000}) for n in (1, 2, 3)]
    assert [a["mem_mb"] for a in attempts] == sorted({a["mem_mb"] for a in attempts})  # grows ...
    assert [a["runtime"] for a in attempts] == [30, 60, 90]
    capped = [resources.for_attempt(12000, 30, n, {"max_mem_mb": 16000})["mem_mb"] for n in (1, 2, 3)]
    assert capped == [12000, 16000, 16000]  # ... but never past the largest node (48000 * attempt was)


def test_a_refused_submission_is_explained():
    log = ("Error in rule sweep_layer:\n    message: SLURM sbatch failed. The error message was 'sbatch: error: "
           "Memory specification can not be satisfied\nsbatch: error: Batch job submission failed: Requested node "
           "configuration is not available'.\n    sbatch call:\n        sbatch --parsable --job-name x -p main "
           "-t 12 --mem 48000 --ntasks=1 --cpus-per-task=1 -D /tmp/x\nError in rule other:\n    message: failed\n")
    lines = resources.explain_refusals(log, "main*: 16000 MB, 2 CPUs")
    assert len(lines) == 1
    assert "rule sweep_layer" in lines[0] and "-t 12 --mem 48000" in lines[0] and "16000 MB" in lines[0]


def job_requests(dry_run: str) -> list[tuple[str, int]]:
    """(rule, mem_mb) of every job a dry run lists."""
    found = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", dry_run):
        rule, mem = re.match(r"(?:local)?rule (\w+):", block), re.search(r"resources: .*\bmem_mb=(\d+)", block)
        if rule and mem:
            found.append((rule.group(1), int(mem.group(1))))
    return found


def slurm_dry_run(root: Path, *args: str) -> str:
    run = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--workflow-profile", "workflow/profiles/slurm",
                          *args], cwd=root, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


def test_default_config_fits_a_16_gb_node(tmp_path):
    """`snakemake -n --workflow-profile workflow/profiles/slurm`: every job of the default config fits a 16 GB node
    (the old profile asked 48-64 GB for every model-loading rule)."""
    requests = job_requests(slurm_dry_run(workflow_copy(tmp_path)))
    rules = {rule for rule, _ in requests}
    assert {"prepare_model", "extract_gradients", "sweep_layer", "trace_causal_effects"} <= rules
    too_big = [(rule, mem) for rule, mem in requests if mem > 16000]
    assert not too_big, too_big


@pytest.mark.slow
def test_paper_config_gets_enough_for_its_models(tmp_path):
    """config/paper.yaml: each model-loading job gets at least its weights once more than the bare process, and no
    job asks for more than the config's cluster.max_mem_mb (docs/paper-scale.md, "Resources per rule")."""
    root = workflow_copy(tmp_path)
    paper = yaml.safe_load((REPO / "config/paper.yaml").read_text())
    dry = slurm_dry_run(root, "--configfile", "config/paper.yaml")
    limit = paper["cluster"]["max_mem_mb"]
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", dry):
        rule, mem = re.match(r"(?:local)?rule (\w+):", block), re.search(r"resources: .*\bmem_mb=(\d+)", block)
        model = re.search(r"wildcards: .*\bmodel=([\w.-]+)", block)
        if not (rule and mem and model) or rule.group(1) not in resources.MODEL_RULES:
            continue
        m = paper["models"][model.group(1)]
        weights_mb = m["parameters"] * resources.BYTES_PER_PARAM[m["dtype"]] / 2**20
        assert weights_mb + resources.BASE_MB < int(mem.group(1)) <= limit, (rule.group(1), model.group(1))


def test_a_sweep_is_sized_by_its_sample_set_not_by_every_kept_record(tmp_path):
    # a sweep reads samples.json (the sampled ids), not split.json; its runtime must count those, not records.json
    samples = tmp_path / "samples.json"
    samples.write_text(json.dumps({"n": 20, "seed": 0, "ids": [str(i) for i in range(20)]}))
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"proxy": ["0", "1"], "test": ["2", "3", "4"]}))
    records = tmp_path / "records.json"
    records.write_text(json.dumps([{"id": str(i)} for i in range(226)]))
    assert resources.count_records(samples) == 20
    assert resources.count_records(split) == 5
    assert resources.count_records(records) == 226
    assert resources.count_records(tmp_path / "missing.json") is None
