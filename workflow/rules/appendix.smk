# The paper's appendix settings (Appendix D): composite editing (Table 12, PeakCF) and unstructured editing
# (Table 13, UnKE). A dataset with `setting:` gets the usual records, split and layer selectors; then each test
# sample is edited with R-ROME at the layer LGA, SaLEM and CMA chose and scored (goldenlayers.appendix.evaluate). The tables
# (rules make_table12, make_table13, targets table12, table13) come from the PAPER_TABLES registry (report.smk);
# they are not part of `all`, whose datasets are the main study's.


rule appendix_eval:
    input:
        model="results/models/{model}/model.json",
        records="results/{model}/{dataset}/records.json",
        split="results/{model}/{dataset}/split.json",
        templates="results/{model}/context_templates/{editor}.json",
        selection="results/{model}/{dataset}/selection/{method}.json",
        hparams=get_hparams,
        mmlu=lambda wildcards: options.mmlu_files(config),
    output:
        result="results/{model}/{dataset}/appendix/{editor}/{method}.json",
    log:
        "results/logs/appendix_eval/{model}/{dataset}/{editor}/{method}.log",
    benchmark:
        "results/benchmarks/appendix_eval/{model}/{dataset}/{editor}/{method}.tsv"
    wildcard_constraints:
        method="|".join(selector_registry.selectors_in("table12")),
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        gpu=get_gpu,
        mem_mb=sized("appendix_eval", "mem_mb"),
        runtime=sized("appendix_eval", "runtime"),
    params:
        model=model_opts,
        setting=lambda wildcards: study.dataset_setting(config, wildcards.dataset),
        opts=lambda wildcards: options.appendix_opts(config),
    shell:
        "goldenlayers -q appendix-eval {params.model} --threads {threads} --setting {params.setting} "
        "--records {input.records} --split {input.split} --templates {input.templates} "
        "--selection {input.selection} --method {wildcards.method} --editor {wildcards.editor} "
        "--hparams {input.hparams} --model-name {wildcards.model} --dataset-name {wildcards.dataset} "
        "{params.opts} --out {output.result} > {log} 2>&1"
