# Edit and evaluate: what an editor needs first (context templates per model and editor; for editors whose EDITORS
# entry uses it, the key covariance per model and layer, shared by every editor), the single-edit sweep (one job
# per model, dataset, editor and layer, or per chunk of a layer's samples; keyed by the sample set, not the split)
# and the sequential-editing sweep (Table 11). The aggregates are in analysis.smk.


rule generate_templates:
    input:
        model="results/models/{model}/model.json",
        hparams=get_hparams,
    output:
        templates="results/{model}/context_templates/{editor}.json",
    log:
        "results/logs/generate_templates/{model}/{editor}.log",
    benchmark:
        "results/benchmarks/generate_templates/{model}/{editor}.tsv"
    conda:
        "../../environment.yml"
    threads: 2
    resources:
        gpu=get_gpu,
        mem_mb=sized("generate_templates", "mem_mb"),
        runtime=sized("generate_templates", "runtime"),
    params:
        model=model_opts,
    shell:
        "goldenlayers -q templates {params.model} --threads {threads} --editor {wildcards.editor} "
        "--hparams {input.hparams} --out {output.templates} > {log} 2>&1"


rule key_covariance:
    input:
        model="results/models/{model}/model.json",
        corpus=lambda wildcards: options.key_covariance_corpus(config),
    output:
        covariance="results/{model}/key_covariance/layer_{layer}.safetensors",
    log:
        "results/logs/key_covariance/{model}/layer_{layer}.log",
    benchmark:
        "results/benchmarks/key_covariance/{model}/layer_{layer}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        gpu=get_gpu,
        mem_mb=sized("key_covariance", "mem_mb"),
        runtime=sized("key_covariance", "runtime"),
    params:
        model=model_opts,
        opts=lambda wildcards: options.key_covariance_opts(config),
    shell:
        "goldenlayers -q key-covariance {params.model} --threads {threads} --layer {wildcards.layer} "
        "{params.opts} --out {output.covariance} > {log} 2>&1"


rule sweep_layer:
    input:
        model="results/models/{model}/model.json",
        records="results/{model}/{dataset}/records.json",
        samples="results/{model}/{dataset}/samples.json",
        templates="results/{model}/context_templates/{editor}.json",
        hparams=get_hparams,
        covariance=get_key_covariance,
    output:
        sweep=files.sweep_output(config),
    log:
        f"results/logs/sweep_layer/{files.sweep_job(config)}.log",
    benchmark:
        f"results/benchmarks/sweep_layer/{files.sweep_job(config)}.tsv"
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
        chunk=lambda wildcards: options.chunk_opt(
            config, getattr(wildcards, "chunk", None)
        ),
    shell:
        "goldenlayers -q sweep {params.model} --threads {threads} --records {input.records} "
        "--samples {input.samples} --templates {input.templates} --editor {wildcards.editor} "
        "--hparams {input.hparams} --layer {wildcards.layer} {params.fluency} {params.covariance} "
        "{params.chunk} --out {output.sweep} > {log} 2>&1"


if SWEEP_CHUNKS > 1:

    localrules:
        merge_layer_chunks,

    rule merge_layer_chunks:
        input:
            chunks=lambda w: files.layer_chunks(
                config, w.model, w.dataset, w.editor, w.layer
            ),
        output:
            sweep="results/{model}/{dataset}/sweep/{editor}/layer_{layer}.parquet",
        log:
            "results/logs/merge_layer_chunks/{model}/{dataset}/{editor}/layer_{layer}.log",
        conda:
            "../../environment.yml"
        threads: 1
        resources:
            mem_mb=1000,
        shell:
            "goldenlayers merge-chunks --chunks {input.chunks} --out {output.sweep} > {log} 2>&1"


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
