# The paper's appendix settings (Appendix D): composite editing (Table 12, PeakCF) and unstructured editing
# (Table 13, UnKE). A dataset with `setting:` gets the usual records, split and layer selectors; then each test
# sample is edited with R-ROME at the layer LGA, SaLEM and CMA chose and scored (goldenlayers.appendix).
localrules:
    make_table12,
    make_table13,
    table12,
    table13,


rule appendix_eval:
    input:
        model="results/models/{model}/model.json",
        records="results/{model}/{dataset}/records.json",
        split="results/{model}/{dataset}/split.json",
        templates="results/{model}/context_templates/{editor}.json",
        selection="results/{model}/{dataset}/selection/{method}.json",
        mmlu=get_mmlu_file,
    output:
        result="results/{model}/{dataset}/appendix/{editor}/{method}.json",
    log:
        "results/logs/appendix_eval/{model}/{dataset}/{editor}/{method}.log",
    benchmark:
        "results/benchmarks/appendix_eval/{model}/{dataset}/{editor}/{method}.tsv"
    wildcard_constraints:
        method="|".join(APPENDIX_METHODS),
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        gpu=get_gpu,
        mem_mb=4000,
    params:
        model=model_opts,
        hparams=get_hparams,
        setting=get_appendix_setting,
        opts=get_appendix_opts,
    shell:
        "goldenlayers -q appendix-eval {params.model} --threads {threads} --setting {params.setting} "
        "--records {input.records} --split {input.split} --templates {input.templates} "
        "--selection {input.selection} --method {wildcards.method} --editor {wildcards.editor} "
        "--hparams {params.hparams} --model-name {wildcards.model} --dataset-name {wildcards.dataset} "
        "{params.opts} --out {output.result} > {log} 2>&1"


rule make_table12:
    input:
        get_appendix_results("composite"),
    output:
        table12=report(
            f"{REPORT}/table12.csv",
            caption="../report/table12.rst",
            category="Tables",
        ),
        table12_md=f"{REPORT}/table12.md",
    log:
        "results/logs/make_table12.log",
    conda:
        "../../environment.yml"
    params:
        config_file=CONFIG_FILE,
        out_dir=lambda wildcards, output: str(Path(output[0]).parent),
    shell:
        "goldenlayers appendix-table --table table12 --results {input} --config {params.config_file} "
        "--out-dir {params.out_dir} > {log} 2>&1"


rule make_table13:
    input:
        get_appendix_results("unstructured"),
    output:
        table13=report(
            f"{REPORT}/table13.csv",
            caption="../report/table13.rst",
            category="Tables",
        ),
        table13_md=f"{REPORT}/table13.md",
    log:
        "results/logs/make_table13.log",
    conda:
        "../../environment.yml"
    params:
        config_file=CONFIG_FILE,
        out_dir=lambda wildcards, output: str(Path(output[0]).parent),
    shell:
        "goldenlayers appendix-table --table table13 --results {input} --config {params.config_file} "
        "--out-dir {params.out_dir} > {log} 2>&1"


# Named targets: `snakemake table12 table13` (not part of `all`, whose datasets are the main study's).
rule table12:
    input:
        f"{REPORT}/table12.csv",


rule table13:
    input:
        f"{REPORT}/table13.csv",
