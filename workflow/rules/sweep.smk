# Edit and evaluate: the single-edit sweep (one job per model, dataset, editor and layer, or per chunk of a layer's
# samples), the sequential-editing sweep (Table 11), and their per-editor aggregates.


rule sweep_layer:
    input:
        model="results/models/{model}/model.json",
        records="results/{model}/{dataset}/records.json",
        split="results/{model}/{dataset}/split.json",
        templates="results/{model}/context_templates/{editor}.json",
        hparams=get_hparams,
        covariance=get_key_covariance,
    output:
        sweep=SWEEP_OUTPUT,
    log:
        f"results/logs/sweep_layer/{SWEEP_JOB}.log",
    benchmark:
        f"results/benchmarks/sweep_layer/{SWEEP_JOB}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        gpu=get_gpu,
        mem_mb=sized("sweep_layer", "mem_mb"),
        runtime=sized("sweep_layer", "runtime"),
    params:
        model=model_opts,
        fluency="--fluency" if config["fluency"] else "",
        covariance=get_key_covariance_opt,
        chunk=get_chunk_opt,
    shell:
        "goldenlayers -q sweep {params.model} --threads {threads} --records {input.records} "
        "--split {input.split} --templates {input.templates} --editor {wildcards.editor} "
        "--hparams {input.hparams} --layer {wildcards.layer} {params.fluency} {params.covariance} "
        "{params.chunk} --out {output.sweep} > {log} 2>&1"


if SWEEP_CHUNKS > 1:

    localrules:
        merge_layer_chunks,

    rule merge_layer_chunks:
        input:
            chunks=get_layer_chunks,
            benchmarks=get_layer_chunk_benchmarks,
        output:
            sweep="results/{model}/{dataset}/sweep/{editor}/layer_{layer}.parquet",
            benchmark="results/benchmarks/sweep_layer/{model}/{dataset}/{editor}/layer_{layer}.tsv",
        log:
            "results/logs/merge_layer_chunks/{model}/{dataset}/{editor}/layer_{layer}.log",
        conda:
            "../../environment.yml"
        threads: 1
        resources:
            mem_mb=1000,
        shell:
            "goldenlayers merge-chunks --chunks {input.chunks} --benchmarks {input.benchmarks} "
            "--out {output.sweep} --out-benchmark {output.benchmark} > {log} 2>&1"


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
        "goldenlayers aggregate --sweeps {input.sweeps} --selection {input.selection} --metric {params.metric} "
        "--model {wildcards.model} --dataset {wildcards.dataset} --editor {wildcards.editor} "
        "--out-sweep {output.sweep} --out-stats {output.stats} --out-summary {output.summary} > {log} 2>&1"


rule sweep_sequential:
    input:
        model="results/models/{model}/model.json",
        records="results/{model}/{dataset}/records.json",
        split="results/{model}/{dataset}/split.json",
        templates="results/{model}/context_templates/{editor}.json",
        hparams=get_hparams,
        covariance=get_key_covariance,
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
        mem_mb=sized("sweep_sequential", "mem_mb"),
        runtime=sized("sweep_sequential", "runtime"),
    params:
        model=model_opts,
        covariance=get_key_covariance_opt,
        n_edits=config["sequential"]["n_edits"],
        seed=config["sequential"]["seed"],
        fluency="--fluency" if config["fluency"] else "",
    shell:
        "goldenlayers -q sequential {params.model} --threads {threads} --records {input.records} "
        "--split {input.split} --subset test --templates {input.templates} --editor {wildcards.editor} "
        "--hparams {input.hparams} --layer {wildcards.layer} --n-edits {params.n_edits} --seed {params.seed} "
        "{params.covariance} {params.fluency} --out {output.sweep} > {log} 2>&1"


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
        "--model {wildcards.model} --dataset {wildcards.dataset} --editor {wildcards.editor} "
        "--out-sweep {output.sweep} --out-stats {output.stats} --out-summary {output.summary} > {log} 2>&1"
