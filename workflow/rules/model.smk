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
