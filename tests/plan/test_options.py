"""Each rule's options from the config."""

from __future__ import annotations

import json

from conftest import load_config
from goldenlayers.plan import options


def test_how_a_model_is_loaded_and_whether_it_needs_a_gpu():
    config = load_config("paper")
    model = next(iter(config["models"]))
    entry = config["models"][model]
    assert options.model_opts(config, model) == (
        f"--model results/models/{model}/model.json --dtype {entry['dtype']} --device {entry['device']}")
    assert options.gpus(config, model) == (0 if entry["device"] == "cpu" else 1)
    assert options.gpus(load_config(), "smollm2-135m") == 0


def test_prepare_dataset_declares_the_local_file_it_reads(tmp_path):
    """Editing a local dataset file re-runs prepare_dataset (it is the rule's input); a file not copied yet is not
    declared, so a dry run still plans the run and prepare-dataset names the missing file when it runs."""
    here = tmp_path / "here.json"
    here.write_text(json.dumps([{"subject": "France", "prompt": "The capital of France is", "target_new": "Rome"}]))
    config = {"datasets": {"here": {"source": str(here)}, "later": {"source": str(tmp_path / "later.json")},
                           "hub": {"hf_dataset": "org/x", "hf_file": "a b.json"}}}
    assert options.dataset_files(config, "here") == [str(here)]
    assert options.dataset_files(config, "later") == [] and options.dataset_files(config, "hub") == []
    assert options.dataset_files(load_config(), "default")[0].endswith("default_edits.json")
    assert options.dataset_opts(config, "hub") == "--hf-dataset org/x --hf-file 'a b.json' --on-invalid error"


def test_a_local_model_folders_files_are_prepare_models_inputs(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_text("w")
    config = {"models": {"local": {"source": str(folder)}, "hub": {"source": "org/model"}}}
    assert sorted(options.model_source_files(config, "local")) == [str(folder / "config.json"),
                                                                   str(folder / "model.safetensors")]
    assert options.model_source_files(config, "hub") == []
    assert options.model_files_stamp(config, "hub") == "org/model"


def test_the_sample_set_takes_the_seed_only_with_a_cap():
    config = load_config(split={"seed": 7, "proxy_fraction": 0.5})
    assert options.sample_opts(config, "default") == "--max-samples 20 --seed 7"
    assert options.split_opts(config, "default") == "--proxy-fraction 0.5 --seed 7 --max-samples 20"
    uncapped = load_config()
    del uncapped["datasets"]["default"]["max_samples"]
    assert options.sample_opts(uncapped, "default") == ""


def test_selector_parameters_come_from_their_config_sections():
    config = load_config("paper", lga={"tukey_k": 2.0}, random={"n_layers": 4, "seed": 9},
                         selector_params={"alpha": 2})
    # a dataset's own tukey_k (the appendix settings) wins over lga.tukey_k
    assert options.selector_opts(config, "lga", "gpt2-xl", "counterfact") == "--tukey-k 2.0"
    assert options.selector_opts(config, "lga", "gpt2-xl", "peakcf") == "--tukey-k 0.5"
    assert options.selector_opts(config, "random", "gpt2-xl", "counterfact") == "--n-layers 4 --seed 9"
    # a plugin's parameter is read from selector_params; one that is not configured is left out
    assert options.param_flags(config, ["alpha", "beta"], "gpt2-xl", "counterfact") == "--alpha 2"
    resample = options.resampling_selector_opts(config, "gpt2-xl", "counterfact")
    assert "--tukey-k 2.0" in resample and "--n-layers" not in resample and "--seed" not in resample


def test_a_selectors_evidence_flags_name_the_rules_inputs():
    inputs = {"gradients": "g.parquet", "effects": "e.parquet", "split": "s.json"}
    assert options.selector_evidence_opts("lga", inputs) == "--gradients g.parquet"
    assert options.selector_evidence_opts("cma", inputs) == "--effects e.parquet"


def test_the_key_covariance_is_an_input_only_for_editors_that_use_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hp/rome").mkdir(parents=True)
    (tmp_path / "hp/rome/m.yaml").write_text("mom2_adjustment: true\n")
    (tmp_path / "hp/r-rome").mkdir(parents=True)
    (tmp_path / "hp/r-rome/m.yaml").write_text("mom2_adjustment: false\n")
    config = {"hparams_dir": "hp"}
    assert options.key_covariance_file(config, "m", "rome", 4) == "results/m/key_covariance/layer_4.safetensors"
    assert options.key_covariance_file(config, "m", "r-rome", 4) == []
    assert options.needs_key_covariance(config, "m", "emmet")


def test_options_of_the_trace_chunks_resampling_and_appendix(tmp_path):
    config = load_config("paper", sweep_chunks=4)
    assert options.chunk_opt(config, "2") == "--chunk 2/4" and options.chunk_opt(load_config(), None) == ""
    assert options.trace_opts(load_config()) == "--noise-multiplier 3.0 --n-noise 10 --window 10 --seed 42"
    assert options.resampling_opts(load_config(resampling={"frontier": {"verify": [], "bf_facts": [], "metrics": []}})) == (
        "--draws 200 --curve-draws 50 --proxy-sizes 3 5 10 20 50 --seed 42 --candidates grid --fact-bootstrap 100 2")
    assert options.appendix_opts(config).startswith("--decoding ")
    mmlu = tmp_path / "mmlu.json"
    config["appendix"]["mmlu_file"] = str(mmlu)
    assert options.mmlu_files(config) == [] and f"--mmlu-file {mmlu}" in options.appendix_opts(config)
    mmlu.write_text("[]")
    assert options.mmlu_files(config) == [str(mmlu)]


def test_the_config_sets_a_plugin_parameter_for_its_score_rule_and_the_draws():
    """A plugin selector's own parameter (ALPHA_MODULE registers `alpha`) is read from selector_params, for its
    score rule and for the resampling draws; the other selectors do not take it."""
    from goldenlayers.selection import registry
    from helpers import ALPHA_MODULE

    exec(ALPHA_MODULE, {})
    try:
        config = load_config(selector_params={"alpha": 2})
        assert options.selector_opts(config, "alpha", "smollm2-135m", "default") == "--alpha 2"
        assert "--alpha 2" in options.resampling_selector_opts(config, "smollm2-135m", "default")
        assert "--alpha" not in options.selector_opts(config, "lga", "smollm2-135m", "default")
    finally:
        registry.SELECTORS.pop("alpha")
        registry.PARAMS.pop("alpha")
