# Datasets: fetch (local file, embedded, or a file of a Hugging Face dataset repo), validate every record and write
# normalised records, once per dataset and before any model is loaded. A local rule: it is cheap, and downloads
# need the network that cluster compute nodes often lack.
localrules:
    prepare_dataset,


rule prepare_dataset:
    output:
        records="results/datasets/{dataset}/records.json",
        report="results/datasets/{dataset}/validation.json",
    log:
        "results/logs/prepare_dataset/{dataset}.log",
    priority: 10
    conda:
        "../../environment.yml"
    params:
        opts=get_dataset_opts,
    shell:
        "goldenlayers prepare-dataset {params.opts} --out-records {output.records} "
        "--out-report {output.report} > {log} 2>&1"
