rule compute_layer_stats:
    input:
        model="results/models/{model}/model.json",
    output:
        stats="results/{model}/layer_stats/layer_{layer}.safetensors",
    log:
        "results/logs/compute_layer_stats/{model}/layer_{layer}.log",
    benchmark:
        "results/benchmarks/compute_layer_stats/{model}/layer_{layer}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        gpu=get_gpu,
        mem_mb=4000,
    params:
        model=model_opts,
        opts=get_layer_stats_opts,
    shell:
        "goldenlayers -q layer-stats {params.model} --threads {threads} --layer {wildcards.layer} "
        "{params.opts} --out {output.stats} > {log} 2>&1"


rule sweep_sequential:
    input:
        model="results/models/{model}/model.json",
        records="results/{model}/{dataset}/records.json",
        split="results/{model}/{dataset}/split.json",
        templates="results/{model}/context_templates/{editor}.json",
        stats=get_layer_stats,
    output:
        sweep="results/{model}/{dataset}/sequential/{editor}/layer_{layer}.parquet",
    log:
        "results/logs/sweep_sequential/{model}/{dataset}/{editor}/layer_{layer}.log",
    benchmark:
        "results/benchmarks/sweep_sequential/{model}/{dataset}/{editor}/layer_{layer}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        gpu=get_gpu,
        mem_mb=4000,
    params:
        model=model_opts,
        hparams=get_hparams,
        stats=get_layer_stats_opt,
        n_edits=config["sequential"]["n_edits"],
        seed=config["sequential"]["seed"],
        fluency="--fluency" if config["fluency"] else "",
    shell:
        "goldenlayers -q sequential {params.model} --threads {threads} --records {input.records} "
        "--split {input.split} --subset test --templates {input.templates} --editor {wildcards.editor} "
        "--hparams {params.hparams} --layer {wildcards.layer} --n-edits {params.n_edits} --seed {params.seed} "
        "{params.stats} {params.fluency} --out {output.sweep} > {log} 2>&1"


rule aggregate_sequential:
    input:
        sweeps=get_sequential_sweeps,
        selection=get_sequential_selections,
    output:
        sweep="results/{model}/{dataset}/aggregate_sequential/{editor}/sweep.parquet",
        stats="results/{model}/{dataset}/aggregate_sequential/{editor}/layer_stats.parquet",
        summary="results/{model}/{dataset}/aggregate_sequential/{editor}/summary.json",
    log:
        "results/logs/aggregate_sequential/{model}/{dataset}/{editor}.log",
    conda:
        "../../environment.yml"
    params:
        metric=config["metric"],
    shell:
        "goldenlayers aggregate --sweeps {input.sweeps} --selection {input.selection} --metric {params.metric} "
        "--model {wildcards.model} --dataset {wildcards.dataset} --editor {wildcards.editor} "
        "--out-sweep {output.sweep} "
        "--out-stats {output.stats} --out-summary {output.summary} > {log} 2>&1"
