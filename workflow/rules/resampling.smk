# Resampled proxy/test splits (beyond the paper): every selector re-chooses from cached per-sample evidence in R
# seeded draws; Table 16, Table 1 per metric, Figures 5 and 6.
localrules:
    resampling_report,
    table16,
    table1_by_metric,
    figure5,
    figure6,


rule resample_splits:
    input:
        sweep="results/{model}/{dataset}/aggregate/{editor}/sweep.parquet",
        split="results/{model}/{dataset}/split.json",
        gradients="results/{model}/{dataset}/gradients/samples.parquet",
        factors="results/{model}/{dataset}/gradients/new_factors.safetensors",
        effects="results/{model}/{dataset}/causal_trace/samples.parquet",
    output:
        draws="results/{model}/{dataset}/resampling/{editor}/draws.parquet",
        verdicts="results/{model}/{dataset}/resampling/{editor}/verdicts.parquet",
        curve="results/{model}/{dataset}/resampling/{editor}/curve.parquet",
        summary="results/{model}/{dataset}/resampling/{editor}/summary.json",
    log:
        "results/logs/resample_splits/{model}/{dataset}/{editor}.log",
    benchmark:
        "results/benchmarks/resample_splits/{model}/{dataset}/{editor}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
    params:
        metric=config["metric"],
        k=config["lga"]["tukey_k"],
        opts=get_resampling_opts,
        out_dir=lambda wildcards, output: str(Path(output.summary).parent),
    shell:
        "goldenlayers resample --threads {threads} --sweep {input.sweep} --split {input.split} --gradients {input.gradients} "
        "--factors {input.factors} --effects {input.effects} --metric {params.metric} --tukey-k {params.k} "
        "{params.opts} --out-dir {params.out_dir} > {log} 2>&1"


rule resampling_report:
    input:
        get_resampling_summaries,
    output:
        table16=report(
            f"{REPORT}/table16.csv",
            caption="../report/table16.rst",
            category="Tables",
        ),
        table16_md=f"{REPORT}/table16.md",
        table1_by_metric=report(
            f"{REPORT}/table1_by_metric.csv",
            caption="../report/table1_by_metric.rst",
            category="Tables",
        ),
        figure5=report(
            f"{REPORT}/figure5.png",
            caption="../report/figure5.rst",
            category="Figures",
        ),
        figure5_pdf=f"{REPORT}/figure5.pdf",
        figure6=report(
            f"{REPORT}/figure6.png",
            caption="../report/figure6.rst",
            category="Figures",
        ),
        figure6_pdf=f"{REPORT}/figure6.pdf",
    log:
        "results/logs/resampling_report.log",
    conda:
        "../../environment.yml"
    params:
        runs=lambda wildcards, input: [str(Path(p).parent) for p in input],
        config_file=CONFIG_FILE,
        out_dir=lambda wildcards, output: str(Path(output[0]).parent),
    shell:
        "goldenlayers resampling-report --runs {params.runs} --config {params.config_file} "
        "--out-dir {params.out_dir} > {log} 2>&1"


# Named targets
rule table16:
    input:
        f"{REPORT}/table16.csv",


rule table1_by_metric:
    input:
        f"{REPORT}/table1_by_metric.csv",


rule figure5:
    input:
        f"{REPORT}/figure5.png",


rule figure6:
    input:
        f"{REPORT}/figure6.png",
