# The input stage. A model made loadable offline (prepare_model) and a dataset fetched, validated and normalised
# (prepare_dataset), each once; then per (model, dataset) the facts the model knows, with their pre-edit locality
# predictions (filter_dataset), the samples the sweeps edit (sample_set) and the seeded proxy/test split
# (split_dataset). Every later stage reads results/{model}/{dataset}/records.json and split.json (the sweeps
# samples.json instead).
#
# prepare_dataset and split_dataset are local rules: both take a second or less, and a download needs the network
# that cluster compute nodes often lack.
localrules:
    prepare_dataset,
    split_dataset,


rule prepare_model:
    input:
        lambda wildcards: options.model_source_files(config, wildcards.model),
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
        mem_mb=sized("prepare_model", "mem_mb"),
        runtime=sized("prepare_model", "runtime"),
    params:
        source=lambda wildcards: config["models"][wildcards.model]["source"],
        num_layers=lambda wildcards: config["models"][wildcards.model]["num_layers"],
        files=lambda wildcards: options.model_files_stamp(config, wildcards.model),
    shell:
        "goldenlayers prepare-model --source {params.source} --num-layers {params.num_layers} "
        "--out-dir results/models/{wildcards.model} > {log} 2>&1"


rule prepare_dataset:
    input:
        lambda wildcards: options.dataset_files(config, wildcards.dataset),
    output:
        records="results/datasets/{dataset}/records.json",
        report="results/datasets/{dataset}/validation.json",
    log:
        "results/logs/prepare_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_dataset/{dataset}.tsv"
    priority: 10
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
    params:
        opts=lambda wildcards: options.dataset_opts(config, wildcards.dataset),
    shell:
        "goldenlayers prepare-dataset {params.opts} --out-records {output.records} "
        "--out-report {output.report} > {log} 2>&1"


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
        mem_mb=sized("filter_dataset", "mem_mb"),
        runtime=sized("filter_dataset", "runtime"),
    params:
        model=model_opts,
        opts=lambda wildcards: options.filter_opts(config, wildcards.dataset),
    shell:
        "goldenlayers -q filter-dataset {params.model} --threads {threads} --dataset {input.dataset}{params.opts} "
        "--out-records {output.records} --out-report {output.report} > {log} 2>&1"


# The samples the sweeps edit: what the split divides, whatever its proxy fraction (sweep.smk keys the sweeps by
# it; the split joins at aggregation, so a new split reruns no sweep job).
rule sample_set:
    input:
        records="results/{model}/{dataset}/records.json",
    output:
        samples="results/{model}/{dataset}/samples.json",
    log:
        "results/logs/sample_set/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/sample_set/{model}/{dataset}.tsv"
    localrule: True
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
    params:
        opts=lambda wildcards: options.sample_opts(config, wildcards.dataset),
    shell:
        "goldenlayers samples --records {input.records} {params.opts} --out {output.samples} > {log} 2>&1"


rule split_dataset:
    input:
        records="results/{model}/{dataset}/records.json",
    output:
        split="results/{model}/{dataset}/split.json",
    log:
        "results/logs/split_dataset/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/split_dataset/{model}/{dataset}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
    params:
        opts=lambda wildcards: options.split_opts(config, wildcards.dataset),
    shell:
        "goldenlayers split --records {input.records} {params.opts} --out {output.split} > {log} 2>&1"
