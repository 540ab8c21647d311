# Analysis: each (model, dataset, editor)'s sweep aggregated with the split joined in (per-layer statistics, golden
# layers, t-tests, every selector's choice), and the resampled proxy/test splits (beyond the paper): every selector
# re-chooses from cached per-sample evidence in R seeded draws. Tables 16-17, Table 1 per metric and Figures 5-7 are
# drawn from them by report.smk's rules.


rule aggregate_sweep:
    input:
        sweeps=lambda w: files.layer_sweeps(
            w.model, w.dataset, w.editor, swept_layers(w.model, w.dataset)
        ),
        split="results/{model}/{dataset}/split.json",
        selection=lambda w: files.aggregate_selections(
            config, w.model, w.dataset, w.editor
        ),
    output:
        sweep="results/{model}/{dataset}/aggregate/{editor}/sweep.parquet",
        stats="results/{model}/{dataset}/aggregate/{editor}/layer_stats.parquet",
        summary="results/{model}/{dataset}/aggregate/{editor}/summary.json",
    log:
        "results/logs/aggregate_sweep/{model}/{dataset}/{editor}.log",
    benchmark:
        "results/benchmarks/aggregate_sweep/{model}/{dataset}/{editor}.tsv"
    # quick: runs in the main process even on a cluster (was declared local in report.smk)
    localrule: True
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
    params:
        metric=config["metric"],
    shell:
        "goldenlayers aggregate --sweeps {input.sweeps} --split {input.split} --selection {input.selection} "
        "--metric {params.metric} --model-name {wildcards.model} --dataset-name {wildcards.dataset} "
        "--editor {wildcards.editor} --out-sweep {output.sweep} --out-stats {output.stats} "
        "--out-summary {output.summary} > {log} 2>&1"


rule aggregate_sequential:
    input:
        sweeps=lambda w: files.layer_sweeps(
            w.model,
            w.dataset,
            w.editor,
            swept_layers(w.model, w.dataset),
            "sequential",
        ),
        selection=lambda w: files.sequential_selections(w.model, w.dataset),
    output:
        sweep="results/{model}/{dataset}/aggregate_sequential/{editor}/sweep.parquet",
        stats="results/{model}/{dataset}/aggregate_sequential/{editor}/layer_stats.parquet",
        summary="results/{model}/{dataset}/aggregate_sequential/{editor}/summary.json",
    log:
        "results/logs/aggregate_sequential/{model}/{dataset}/{editor}.log",
    benchmark:
        "results/benchmarks/aggregate_sequential/{model}/{dataset}/{editor}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
    params:
        metric=config["metric"],
    shell:
        "goldenlayers aggregate --sweeps {input.sweeps} --selection {input.selection} --metric {params.metric} "
        "--model-name {wildcards.model} --dataset-name {wildcards.dataset} --editor {wildcards.editor} "
        "--out-sweep {output.sweep} --out-stats {output.stats} --out-summary {output.summary} > {log} 2>&1"


rule resample_splits:
    input:
        sweep="results/{model}/{dataset}/aggregate/{editor}/sweep.parquet",
        split="results/{model}/{dataset}/split.json",
        gradients="results/{model}/{dataset}/gradients/samples.parquet",
        salem=archive_plan.salem_input(config),
        effects="results/{model}/{dataset}/causal_trace/samples.parquet",
        plan="results/{model}/{dataset}/sweep_plan.json",
        aggregate="results/{model}/{dataset}/aggregate/{editor}/summary.json",
        selections=lambda w: files.resampling_selections(w.model, w.dataset),
    output:
        draws="results/{model}/{dataset}/resampling/{editor}/draws.parquet",
        verdicts="results/{model}/{dataset}/resampling/{editor}/verdicts.parquet",
        curve="results/{model}/{dataset}/resampling/{editor}/curve.parquet",
        fact_draws="results/{model}/{dataset}/resampling/{editor}/fact_draws.parquet",
        summary="results/{model}/{dataset}/resampling/{editor}/summary.json",
    log:
        "results/logs/resample_splits/{model}/{dataset}/{editor}.log",
    benchmark:
        "results/benchmarks/resample_splits/{model}/{dataset}/{editor}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
    params:
        metric=config["metric"],
        salem=archive_plan.salem_flag(config),
        selector_opts=lambda w: options.resampling_selector_opts(
            config, w.model, w.dataset
        ),
        opts=lambda wildcards: options.resampling_opts(config),
        out_dir=lambda wildcards, output: str(Path(output.summary).parent),
    shell:
        "goldenlayers resample --threads {threads} --sweep {input.sweep} --split {input.split} --gradients {input.gradients} "
        "{params.salem} {input.salem} --effects {input.effects} --plan {input.plan} --aggregate {input.aggregate} --metric {params.metric} {params.selector_opts} "
        "{params.opts} --selections {input.selections} --model-name {wildcards.model} --dataset-name {wildcards.dataset} "
        "--editor {wildcards.editor} --out-dir {params.out_dir} > {log} 2>&1"
