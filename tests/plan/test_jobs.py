"""Job sizes from one resolved view of the model, checked against hand arithmetic (the factors and constants of
goldenlayers.resources: BASE_MB 800, HEADROOM 1.3, 500 MB steps, 4 bytes a float32 parameter, STARTUP_MIN 5,
runtime doubled for headroom and rounded up to whole minutes)."""

from __future__ import annotations

import json

from conftest import load_config
from goldenlayers.plan import jobs


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return str(path)


def test_a_sweep_job_is_sized_from_the_parameters_hint_and_its_sample_set(in_tmp):
    config = load_config()  # SmolLM2: `parameters: 135000000`, float32, cpu; nothing prepared yet
    view = jobs.model_view(config, "smollm2-135m")
    assert view["parameters"] == 135e6 and view["num_layers"] == 30
    samples = write(in_tmp / "samples.json", {"ids": list(range(20))})
    records = jobs.job_records(config, "default", {"samples": samples})
    assert records == 20
    # memory: 135e6 x 4 B = 514.98 MB x 1.5 (sweep) + 800 = 1572.5, x 1.3 = 2044.2 -> 2500 MB
    # runtime: 20 edits x 10 s = 200 s, x 2 = 6.7 -> 7 min + 5 startup = 12
    assert jobs.job_size(config, "sweep_layer", view, records) == {"mem_mb": 2500, "runtime": 12}
    # a retry: memory x 1.5 (3750 -> 4000), runtime x 2
    assert jobs.job_size(config, "sweep_layer", view, records, attempt=2) == {"mem_mb": 4000, "runtime": 24}
    # two chunks: 10 edits a job, 100 s x 2 = 3.3 -> 4 min + 5
    halves = load_config(sweep_chunks=2)
    assert jobs.job_size(halves, "sweep_layer", view, records) == {"mem_mb": 2500, "runtime": 9}
    # capped at the cluster's limits
    small = load_config(cluster={"max_mem_mb": 2000, "max_runtime": 10})
    assert jobs.job_size(small, "sweep_layer", view, records) == {"mem_mb": 2000, "runtime": 10}


def test_the_causal_trace_works_on_the_split_times_a_tenth_of_the_layers(in_tmp):
    config = load_config()
    view = jobs.model_view(config, "smollm2-135m")
    split = write(in_tmp / "split.json", {"proxy": list(range(7)), "test": list(range(7, 20))})
    records = jobs.job_records(config, "default", {"split": split, "records": None})
    assert records == 7 + 13
    # 20 records x 30 // 10 layers = 60 units x 6 s = 360 s, x 2 = 12 min + 5; memory 514.98 x 1.3 + 800 = 1469.5,
    # x 1.3 = 1910.3 -> 2000 MB
    assert jobs.job_size(config, "trace_causal_effects", view, records) == {"mem_mb": 2000, "runtime": 17}


def test_before_the_records_exist_a_job_counts_the_datasets_cap():
    config = load_config()
    assert jobs.job_records(config, "default", {"samples": "no/such/samples.json"}) == 20
    del config["datasets"]["default"]["max_samples"]
    assert jobs.job_records(config, "default", {}) == 1000
    assert jobs.job_records(config, None, {}) == 1000


def test_the_prepared_models_config_json_is_the_one_view_of_the_model(in_tmp):
    """Once prepare_model ran, its config.json sizes the job (not the config's hint): parameters and the MLP and
    hidden sizes that SaLEM's gradient factors take."""
    config = load_config(models={"smollm2-135m": {"num_layers": 10}})
    folder = in_tmp / "prepared"
    write(folder / "config.json", {"model_type": "gpt2", "hidden_size": 1000, "num_hidden_layers": 10,
                                   "intermediate_size": 4000, "num_attention_heads": 10, "vocab_size": 10000})
    write(in_tmp / "results/models/smollm2-135m/model.json", {"path": str(folder)})
    view = jobs.model_view(config, "smollm2-135m")
    # attention 4 x 1000 x 1000 + MLP 2 x 1000 x 4000 + norms 4 x 1000, x 10 blocks, + 10000 x 1000 embeddings
    assert view["parameters"] == 130_040_000
    assert (view["inner"], view["hidden"]) == (4000, 1000)
    split = write(in_tmp / "split.json", {"proxy": list(range(50)), "test": list(range(50, 200))})
    records = jobs.job_records(config, "default", {"split": split})
    # factors: 200 x 15 tokens x (4000 + 1000) x 10 layers x 4 B = 572.2 MB; weights 130.04e6 x 4 B = 496.06 MB
    # memory: (800 + 496.06 x 1.5 + 572.2) x 1.3 = 2751.2 -> 3000 MB
    # runtime: 200 x 2 s x 130.04 / 135 = 385.3 s, x 2 = 12.8 -> 13 min + 5
    assert jobs.job_size(config, "extract_gradients", view, records) == {"mem_mb": 3000, "runtime": 18}
