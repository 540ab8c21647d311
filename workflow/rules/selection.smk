rule extract_gradients:
    input:
        model="results/models/{model}/model.json",
        records="results/{model}/{dataset}/records.json",
        split="results/{model}/{dataset}/split.json",
    output:
        gradients="results/{model}/{dataset}/gradients/proxy.parquet",
        saliency="results/{model}/{dataset}/gradients/proxy_saliency.parquet",
    log:
        "results/logs/extract_gradients/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/extract_gradients/{model}/{dataset}.tsv"
    conda:
        "../../environment.yml"
    threads: 2
    resources:
        gpu=get_gpu,
    params:
        model=model_opts,
    shell:
        "goldenlayers -q gradients {params.model} --threads {threads} --records {input.records} "
        "--split {input.split} --subset proxy --out {output.gradients} --out-saliency {output.saliency} "
        "> {log} 2>&1"


rule score_lga:
    input:
        gradients="results/{model}/{dataset}/gradients/proxy.parquet",
        split="results/{model}/{dataset}/split.json",
        benchmark="results/benchmarks/extract_gradients/{model}/{dataset}.tsv",
    output:
        selection="results/{model}/{dataset}/selection/lga.json",
    log:
        "results/logs/score_lga/{model}/{dataset}.log",
    conda:
        "../../environment.yml"
    params:
        k=get_tukey_k,
        layers=get_candidate_layers,
    shell:
        "goldenlayers lga --gradients {input.gradients} --split {input.split} --method lga "
        "--tukey-k {params.k} --layers {params.layers} --gradients-benchmark {input.benchmark} "
        "--out {output.selection} > {log} 2>&1"
