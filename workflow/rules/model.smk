rule prepare_model:
    output:
        model="results/models/{model}/model.json",
    log:
        "results/logs/prepare_model/{model}.log",
    benchmark:
        "results/benchmarks/prepare_model/{model}.tsv"
    conda:
        "../../environment.yml"
    threads: 2
    resources:
        mem_mb=4000,
    params:
        source=lambda wildcards: config["models"][wildcards.model]["source"],
        num_layers=lambda wildcards: config["models"][wildcards.model]["num_layers"],
    shell:
        "goldenlayers prepare-model --source {params.source} --num-layers {params.num_layers} "
        "--out-dir results/models/{wildcards.model} > {log} 2>&1"


rule generate_templates:
    input:
        model="results/models/{model}/model.json",
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
    params:
        model=model_opts,
        hparams=get_hparams,
    shell:
        "goldenlayers -q templates {params.model} --threads {threads} --editor {wildcards.editor} "
        "--hparams {params.hparams} --out {output.templates} > {log} 2>&1"
