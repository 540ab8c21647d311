rule filter_dataset:
    input:
        model="results/models/{model}/model.json",
        dataset="results/datasets/{dataset}/records.json",
    output:
        records="results/{model}/{dataset}/records.json",
        report="results/{model}/{dataset}/filter_report.json",
    log:
        "results/logs/filter_dataset/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/filter_dataset/{model}/{dataset}.tsv"
    conda:
        "../../environment.yml"
    threads: 2
    resources:
        gpu=get_gpu,
    params:
        model=model_opts,
        opts=get_filter_opts,
    shell:
        "goldenlayers -q filter-dataset {params.model} --threads {threads} --dataset {input.dataset}{params.opts} "
        "--out-records {output.records} --out-report {output.report} > {log} 2>&1"


rule split_dataset:
    input:
        records="results/{model}/{dataset}/records.json",
    output:
        split="results/{model}/{dataset}/split.json",
    log:
        "results/logs/split_dataset/{model}/{dataset}.log",
    # quick: runs in the main process even on a cluster (was declared local in report.smk)
    localrule: True
    conda:
        "../../environment.yml"
    params:
        opts=get_split_opts,
    shell:
        "goldenlayers split --records {input.records} {params.opts} --out {output.split} > {log} 2>&1"
