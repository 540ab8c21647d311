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
