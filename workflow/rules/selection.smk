rule extract_gradients:
    input:
        model="results/models/{model}/model.json",
        records="results/{model}/{dataset}/records.json",
        split="results/{model}/{dataset}/split.json",
    output:
        gradients="results/{model}/{dataset}/gradients/samples.parquet",
        saliency="results/{model}/{dataset}/gradients/proxy_saliency.parquet",
        factors="results/{model}/{dataset}/gradients/new_factors.safetensors",
        timing="results/{model}/{dataset}/gradients/timing.json",
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
        "--split {input.split} --subset all --out {output.gradients} --out-saliency {output.saliency} "
        "--out-factors {output.factors} --out-timing {output.timing} > {log} 2>&1"


rule score_lga:
    input:
        gradients="results/{model}/{dataset}/gradients/samples.parquet",
        split="results/{model}/{dataset}/split.json",
        benchmark="results/benchmarks/extract_gradients/{model}/{dataset}.tsv",
        timing="results/{model}/{dataset}/gradients/timing.json",
    output:
        selection="results/{model}/{dataset}/selection/lga.json",
    log:
        "results/logs/score_lga/{model}/{dataset}.log",
    # quick: runs in the main process even on a cluster (was declared local in report.smk)
    localrule: True
    conda:
        "../../environment.yml"
    params:
        k=get_tukey_k,
    shell:
        "goldenlayers lga --gradients {input.gradients} --split {input.split} --method lga "
        "--tukey-k {params.k} --gradients-benchmark {input.benchmark} --gradients-timing {input.timing} "
        "--out {output.selection} > {log} 2>&1"
