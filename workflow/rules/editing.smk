# What an editor needs before it edits: context templates (per model and editor) and, for editors whose EDITORS
# entry uses it, the key covariance (per model and layer, shared by every editor). The sweeps are in sweep.smk.


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
        corpus=get_key_covariance_corpus,
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
        opts=get_key_covariance_opts,
    shell:
        "goldenlayers -q key-covariance {params.model} --threads {threads} --layer {wildcards.layer} "
        "{params.opts} --out {output.covariance} > {log} 2>&1"
