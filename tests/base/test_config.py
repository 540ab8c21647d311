"""Config checks (issue #11 items 3 and 6): unknown keys anywhere, names, contradicting settings, YAML syntax."""


import pytest
import yaml

from goldenlayers import cli
from goldenlayers.config import config_problems
from helpers import REPO

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
DEFAULT = yaml.safe_load((REPO / "config/config.yaml").read_text())


def object_schemas(node, where="config"):
    """Every sub-schema that lists properties, with where it is."""
    if isinstance(node, dict):
        if "properties" in node:
            yield where, node
        for key, value in node.items():
            yield from object_schemas(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from object_schemas(value, f"{where}[{i}]")


def test_every_object_in_the_schema_rejects_unknown_keys():
    open_objects = [where for where, node in object_schemas(SCHEMA) if node.get("additionalProperties") is not False]
    assert not open_objects, open_objects


def test_the_shipped_configs_have_no_problems():
    for name in ("config.yaml", "full-cpu.yaml", "paper.yaml"):
        assert config_problems(yaml.safe_load((REPO / "config" / name).read_text()), SCHEMA) == [], name


@pytest.mark.parametrize("section, typo, valid", [("split", "proxy_fracton", "proxy_fraction"),
                                                  ("lga", "tukey-k", "tukey_k"),
                                                  ("cma", "n_nosie", "n_noise")])
def test_nested_typo_names_the_key_and_the_nearest_valid_one(section, typo, valid):
    config = yaml.safe_load(yaml.safe_dump(DEFAULT))
    config[section] = {typo: 0.5}
    (problem,) = config_problems(config, SCHEMA)
    assert f"'{section}.{typo}'" in problem and f"did you mean '{valid}'" in problem


def test_typo_in_a_model_entry_is_named_with_the_model():
    config = yaml.safe_load(yaml.safe_dump(DEFAULT))
    config["models"]["smollm2-135m"]["num_layer"] = 30
    assert config_problems(config, SCHEMA) == [
        "unknown key 'models.smollm2-135m.num_layer' (did you mean 'num_layers'?)"]


@pytest.mark.parametrize("name", ["my.data", "a+b", "x/y"])
def test_dataset_names_outside_the_wildcard_pattern_are_refused(name):
    config = yaml.safe_load(yaml.safe_dump(DEFAULT))
    config["datasets"] = {name: {"source": "embedded:default_edits"}}
    (problem,) = config_problems(config, SCHEMA)
    assert f"datasets name {name!r}" in problem


def test_fluency_metric_without_fluency_is_refused_at_config_time():
    config = dict(DEFAULT, metric="fluency", fluency=False)
    assert any("metric: fluency needs fluency: true" in p for p in config_problems(config, SCHEMA))
    assert config_problems(dict(DEFAULT, metric="fluency", fluency=True), SCHEMA) == []


def test_yaml_syntax_error_names_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("split:\n  proxy_fraction: 0.5\n  seed: [1\nlga: {}\n")
    assert cli.main(["check-config", str(bad)]) != 0
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"{bad}: YAML syntax error at line 4" in line and "flow sequence at line 3" in line
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump({"split": {"proxy_fraction": 0.5}}))
    assert cli.main(["check-config", str(good)]) == 0
    typo = tmp_path / "typo.yaml"
    typo.write_text(yaml.safe_dump({"split": {"proxy_fracton": 0.5}}))
    assert cli.main(["check-config", str(typo)]) != 0
    assert "did you mean 'proxy_fraction'" in capsys.readouterr().err


def test_hparams_yaml_syntax_error_names_file_and_line(tmp_path):
    from goldenlayers.editing import load_hparams

    hp = tmp_path / "hp.yaml"
    hp.write_text("v_num_grad_steps: 2\nv_lr: [0.5\n")
    with pytest.raises(ValueError, match=r"hp.yaml: YAML syntax error at line 3.*flow sequence at line 2"):
        load_hparams("r-rome", hp)


def test_an_old_layer_stats_section_is_named_as_renamed():
    config = yaml.safe_load(yaml.safe_dump(DEFAULT))
    config["layer_stats"] = config.pop("key_covariance")
    (problem,) = config_problems(config, SCHEMA)
    assert "'layer_stats' was renamed to 'key_covariance'" in problem


def test_editors_are_checked_against_the_registry():
    from goldenlayers.editing import EDITORS

    config = yaml.safe_load(yaml.safe_dump(DEFAULT))
    config["editors"] = ["r-rome", "memit"]
    (problem,) = config_problems(config, SCHEMA, EDITORS)
    assert "'memit'" in problem and all(name in problem for name in EDITORS)
    config["editors"] = list(EDITORS)
    assert config_problems(config, SCHEMA, EDITORS) == []
