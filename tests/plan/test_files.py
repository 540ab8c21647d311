"""Which files each rule reads and `all` builds: the sweep plan (grid, chosen, added, chunks), the selectors'
inputs, the report's inputs, unfinished outputs."""

from __future__ import annotations

import pytest

from conftest import load_config
from goldenlayers.io import PARTIAL_SUFFIX
from goldenlayers.plan import files


def test_the_planned_sweeps_are_the_grid_and_the_chosen_layers_of_every_study():
    config = load_config("two-models", editors=["r-rome", "emmet"])
    plans = {("smollm2-135m", "default"): [0, 7, 11], ("gemma3-270m", "default"): [2, 17]}
    assert files.planned_sweeps(config, lambda model, dataset: plans[model, dataset]) == [
        "results/smollm2-135m/default/sweep/r-rome/layer_0.parquet",
        "results/smollm2-135m/default/sweep/emmet/layer_0.parquet",
        "results/smollm2-135m/default/sweep/r-rome/layer_7.parquet",
        "results/smollm2-135m/default/sweep/emmet/layer_7.parquet",
        "results/smollm2-135m/default/sweep/r-rome/layer_11.parquet",
        "results/smollm2-135m/default/sweep/emmet/layer_11.parquet",
        "results/gemma3-270m/default/sweep/r-rome/layer_2.parquet",
        "results/gemma3-270m/default/sweep/emmet/layer_2.parquet",
        "results/gemma3-270m/default/sweep/r-rome/layer_17.parquet",
        "results/gemma3-270m/default/sweep/emmet/layer_17.parquet",
    ]


def test_the_sweep_plan_file_is_read(tmp_path):
    plan = tmp_path / "sweep_plan.json"
    plan.write_text('{"layers": [0, 7, 12], "grid": [0, 7]}')
    assert files.read_sweep_plan(str(plan)) == [0, 7, 12]


def test_one_sweep_job_per_layer_or_per_chunk():
    one, three = load_config(), load_config(sweep_chunks=3)
    assert files.sweep_output(one) == "results/{model}/{dataset}/sweep/{editor}/layer_{layer}.parquet"
    assert files.sweep_job(one) == "{model}/{dataset}/{editor}/layer_{layer}"
    assert files.sweep_output(three) == "results/{model}/{dataset}/sweep/{editor}/layer_{layer}_chunk_{chunk}.parquet"
    assert files.sweep_job(three) == "{model}/{dataset}/{editor}/layer_{layer}_chunk_{chunk}"
    assert files.layer_chunks(three, "m", "d", "e", 4) == [
        f"results/m/d/sweep/e/layer_4_chunk_{c}.parquet" for c in (0, 1, 2)]


def test_bf_reads_the_first_editors_sweeps_and_their_benchmarks_in_plan_order():
    config = load_config(editors=["emmet", "r-rome"], sweep_chunks=2)
    assert files.layer_sweeps("m", "d", "emmet", [9, 3]) == [
        "results/m/d/sweep/emmet/layer_9.parquet", "results/m/d/sweep/emmet/layer_3.parquet"]
    assert files.bf_benchmarks(config, "m", "d", [9, 3]) == [
        "results/benchmarks/sweep_layer/m/d/emmet/layer_9_chunk_0.tsv",
        "results/benchmarks/sweep_layer/m/d/emmet/layer_9_chunk_1.tsv",
        "results/benchmarks/sweep_layer/m/d/emmet/layer_3_chunk_0.tsv",
        "results/benchmarks/sweep_layer/m/d/emmet/layer_3_chunk_1.tsv",
    ]
    assert files.bf_benchmarks(load_config(), "m", "d", [9]) == [
        "results/benchmarks/sweep_layer/m/d/r-rome/layer_9.tsv"]


def test_only_the_first_editors_aggregate_reports_bf():
    config = load_config(editors=["r-rome", "emmet"])
    first = files.aggregate_selections(config, "m", "d", "r-rome")
    other = files.aggregate_selections(config, "m", "d", "emmet")
    assert "results/m/d/selection/bf.json" in first and "results/m/d/selection/bf.json" not in other
    assert set(first) - set(other) == {"results/m/d/selection/bf.json"}
    assert "results/m/d/selection/bf.json" not in files.sequential_selections("m", "d")


def test_a_measured_selectors_inputs_are_its_evidence_split_and_timing():
    assert files.selector_inputs("lga") == {
        "gradients": "results/{model}/{dataset}/gradients/samples.parquet",
        "split": "results/{model}/{dataset}/split.json",
        "benchmark": "results/benchmarks/extract_gradients/{model}/{dataset}.tsv",
        "timing": "results/{model}/{dataset}/gradients/timing.json",
    }
    assert files.selector_inputs("cma")["effects"] == "results/{model}/{dataset}/causal_trace/samples.parquet"
    # plan_sweep reads the selectors that score every layer, not Random or BF
    planned = files.planned_selections("m", "d")
    assert "results/m/d/selection/lga.json" in planned
    assert not {"results/m/d/selection/random.json", "results/m/d/selection/bf.json"} & set(planned)


def test_report_inputs_and_their_siblings():
    config = load_config("two-models")
    assert files.report_inputs(config, "aggregates") == [
        "results/smollm2-135m/default/aggregate/r-rome/summary.json",
        "results/gemma3-270m/default/aggregate/r-rome/summary.json"]
    assert files.report_siblings(config, "aggregates", ("layer_stats.parquet",)) == [
        "results/smollm2-135m/default/aggregate/r-rome/layer_stats.parquet",
        "results/gemma3-270m/default/aggregate/r-rome/layer_stats.parquet"]
    assert files.report_siblings(config, "aggregates", ()) == []
    timed = files.report_inputs(config, "timed_selections")
    assert "results/gemma3-270m/default/selection/bf.json" in timed
    assert "results/gemma3-270m/default/selection/random.json" not in timed


def test_appendix_tables_need_a_dataset_of_their_setting():
    with pytest.raises(ValueError, match="table13 needs a dataset with `setting: unstructured`"):
        files.report_inputs(load_config(), "appendix_unstructured")
    composite = files.report_inputs(load_config("paper"), "appendix_composite")
    assert composite and all("/appendix/r-rome/" in p for p in composite)
    assert {p.split("/")[2] for p in composite} == {"peakcf"}
    # one per model and appendix selector (LGA, SaLEM, CMA)
    assert len(composite) == 3 * 3


def test_all_builds_every_table_and_figure_and_the_sequential_aggregates_when_enabled():
    config = load_config()
    final = files.final_outputs(config, "default")
    for name in ("table1.csv", "table17.csv", "figure3.png", "figure7.png"):
        assert f"results/report/default/{name}" in final
    # the appendix tables and Table 11 (sequential editing, off by default) are not in `all`
    assert "results/report/default/table12.csv" not in final and "results/report/default/table11.csv" not in final
    assert not [p for p in final if "aggregate_sequential" in p]
    on = files.final_outputs(load_config(sequential={"enabled": True}), "default")
    assert "results/smollm2-135m/default/aggregate_sequential/r-rome/summary.json" in on
    assert "results/report/default/table11.csv" in on


def test_unfinished_sweeps_are_named_and_built_by_all(in_tmp):
    config = load_config()
    folder = in_tmp / "results/smollm2-135m/default/sweep/r-rome"
    folder.mkdir(parents=True)
    (folder / f"layer_7.parquet{PARTIAL_SUFFIX}").write_text("rows")
    (folder / f"layer_0.parquet{PARTIAL_SUFFIX}").write_text("rows")
    (folder / "layer_0.parquet").write_text("done")  # finished: its partial file is a leftover, not unfinished
    unfinished = files.unfinished_sweeps(config)
    assert unfinished == ["results/smollm2-135m/default/sweep/r-rome/layer_7.parquet"]
    assert unfinished[0] in files.final_outputs(config, "default", unfinished)
    assert "1 sweep output(s) unfinished" in files.unfinished_message(unfinished)
