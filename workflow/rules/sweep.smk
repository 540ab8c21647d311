rule sweep_layer:
    input:
        model="results/models/{model}/model.json",
        records="results/{model}/{dataset}/records.json",
        split="results/{model}/{dataset}/split.json",
        templates="results/{model}/context_templates/{editor}.json",
        stats=get_layer_stats,
    output:
        sweep="results/{model}/{dataset}/sweep/{editor}/layer_{layer}.parquet",
    log:
        "results/logs/sweep_layer/{model}/{dataset}/{editor}/layer_{layer}.log",
    benchmark:
        "results/benchmarks/sweep_layer/{model}/{dataset}/{editor}/layer_{layer}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        gpu=get_gpu,
        mem_mb=4000,
    params:
        model=model_opts,
        hparams=get_hparams,
        fluency="--fluency" if config["fluency"] else "",
        stats=get_layer_stats_opt,
    shell:
        "goldenlayers -q sweep {params.model} --threads {threads} --records {input.records} "
        "--split {input.split} --templates {input.templates} --editor {wildcards.editor} "
        "--hparams {params.hparams} --layer {wildcards.layer} {params.fluency} {params.stats} "
        "--out {output.sweep} > {log} 2>&1"


rule aggregate_sweep:
    input:
        sweeps=get_layer_sweeps,
        selection=get_selections,
    output:
        sweep="results/{model}/{dataset}/aggregate/{editor}/sweep.parquet",
        stats="results/{model}/{dataset}/aggregate/{editor}/layer_stats.parquet",
        summary="results/{model}/{dataset}/aggregate/{editor}/summary.json",
    log:
        "results/logs/aggregate_sweep/{model}/{dataset}/{editor}.log",
    conda:
        "../../environment.yml"
    params:
        metric=config["metric"],
    shell:
        "goldenlayers aggregate --sweeps {input.sweeps} --selection {input.selection} --metric {params.metric} "
        "--out-sweep {output.sweep} --out-stats {output.stats} --out-summary {output.summary} > {log} 2>&1"
