# Resampled proxy/test splits (beyond the paper): every selector re-chooses from cached per-sample evidence in R
# seeded draws. Table 16, Table 1 per metric and Figures 5-6 are drawn from them by report.smk's rules.


rule resample_splits:
    input:
        sweep="results/{model}/{dataset}/aggregate/{editor}/sweep.parquet",
        split="results/{model}/{dataset}/split.json",
        gradients="results/{model}/{dataset}/gradients/samples.parquet",
        factors="results/{model}/{dataset}/gradients/new_factors.safetensors",
        effects="results/{model}/{dataset}/causal_trace/samples.parquet",
        plan="results/{model}/{dataset}/sweep_plan.json",
        aggregate="results/{model}/{dataset}/aggregate/{editor}/summary.json",
    output:
        draws="results/{model}/{dataset}/resampling/{editor}/draws.parquet",
        verdicts="results/{model}/{dataset}/resampling/{editor}/verdicts.parquet",
        curve="results/{model}/{dataset}/resampling/{editor}/curve.parquet",
        fact_draws="results/{model}/{dataset}/resampling/{editor}/fact_draws.parquet",
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
        k=get_tukey_k,
        opts=get_resampling_opts,
        out_dir=lambda wildcards, output: str(Path(output.summary).parent),
    shell:
        "goldenlayers resample --threads {threads} --sweep {input.sweep} --split {input.split} --gradients {input.gradients} "
        "--factors {input.factors} --effects {input.effects} --plan {input.plan} --aggregate {input.aggregate} --metric {params.metric} --tukey-k {params.k} "
        "{params.opts} --model {wildcards.model} --dataset {wildcards.dataset} --editor {wildcards.editor} "
        "--out-dir {params.out_dir} > {log} 2>&1"
