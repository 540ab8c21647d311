localrules:
    plan_sweep,
    score_lga_kprime,
    score_salem,
    score_cma,
    select_random_layers,
    select_bf,
    plot_figure3,


rule score_lga_kprime:
    input:
        gradients="results/{model}/{dataset}/gradients/samples.parquet",
        split="results/{model}/{dataset}/split.json",
        benchmark="results/benchmarks/extract_gradients/{model}/{dataset}.tsv",
        timing="results/{model}/{dataset}/gradients/timing.json",
    output:
        selection="results/{model}/{dataset}/selection/lga_kprime.json",
    log:
        "results/logs/score_lga_kprime/{model}/{dataset}.log",
    conda:
        "../../environment.yml"
    params:
        k=get_tukey_k,
    shell:
        "goldenlayers lga --gradients {input.gradients} --split {input.split} --method lga_kprime "
        "--tukey-k {params.k} --gradients-benchmark {input.benchmark} --gradients-timing {input.timing} "
        "--out {output.selection} > {log} 2>&1"


rule score_salem:
    input:
        saliency="results/{model}/{dataset}/gradients/proxy_saliency.parquet",
        benchmark="results/benchmarks/extract_gradients/{model}/{dataset}.tsv",
        timing="results/{model}/{dataset}/gradients/timing.json",
    output:
        selection="results/{model}/{dataset}/selection/salem.json",
    log:
        "results/logs/score_salem/{model}/{dataset}.log",
    conda:
        "../../environment.yml"
    shell:
        "goldenlayers salem --saliency {input.saliency} --gradients-benchmark {input.benchmark} "
        "--gradients-timing {input.timing} --out {output.selection} > {log} 2>&1"


rule trace_causal_effects:
    input:
        model="results/models/{model}/model.json",
        records="results/{model}/{dataset}/records.json",
        split="results/{model}/{dataset}/split.json",
    output:
        effects="results/{model}/{dataset}/causal_trace/samples.parquet",
        timing="results/{model}/{dataset}/causal_trace/timing.json",
    log:
        "results/logs/trace_causal_effects/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/trace_causal_effects/{model}/{dataset}.tsv"
    conda:
        "../../environment.yml"
    # one thread: it traces every sample now and runs beside a sweep job instead of holding both cores
    threads: 1
    resources:
        gpu=get_gpu,
    params:
        model=model_opts,
        opts=get_trace_opts,
    shell:
        "goldenlayers -q causal-trace {params.model} --threads {threads} --records {input.records} "
        "--split {input.split} --subset all {params.opts} --out {output.effects} --out-timing {output.timing} "
        "> {log} 2>&1"


rule score_cma:
    input:
        effects="results/{model}/{dataset}/causal_trace/samples.parquet",
        split="results/{model}/{dataset}/split.json",
        benchmark="results/benchmarks/trace_causal_effects/{model}/{dataset}.tsv",
        timing="results/{model}/{dataset}/causal_trace/timing.json",
    output:
        selection="results/{model}/{dataset}/selection/cma.json",
        plot=report(
            "results/{model}/{dataset}/causal_trace/trace.png",
            caption="../report/causal_trace.rst",
            category="Layer selection",
            subcategory="{model} / {dataset}",
        ),
        plot_pdf="results/{model}/{dataset}/causal_trace/trace.pdf",
    log:
        "results/logs/score_cma/{model}/{dataset}.log",
    conda:
        "../../environment.yml"
    params:
        plot_prefix=lambda wildcards, output: output.plot[: -len(".png")],
    shell:
        "goldenlayers cma --effects {input.effects} --split {input.split} --trace-benchmark {input.benchmark} "
        "--trace-timing {input.timing} --out {output.selection} --out-plot {params.plot_prefix} > {log} 2>&1"


rule select_random_layers:
    output:
        selection="results/{model}/{dataset}/selection/random.json",
    log:
        "results/logs/select_random_layers/{model}/{dataset}.log",
    conda:
        "../../environment.yml"
    params:
        layers=get_candidate_layers,
        n=config["random"]["n_layers"],
        seed=config["random"]["seed"],
    shell:
        "goldenlayers random-layers --layers {params.layers} --n {params.n} --seed {params.seed} "
        "--out {output.selection} > {log} 2>&1"


checkpoint plan_sweep:
    input:
        selections=get_planned_selections,
    output:
        plan="results/{model}/{dataset}/sweep_plan.json",
    log:
        "results/logs/plan_sweep/{model}/{dataset}.log",
    conda:
        "../../environment.yml"
    params:
        grid=get_candidate_layers,
    shell:
        "goldenlayers sweep-plan --selections {input.selections} --grid {params.grid} --out {output.plan} "
        "> {log} 2>&1"


rule select_bf:
    input:
        sweeps=get_bf_sweeps,
        benchmarks=get_bf_benchmarks,
    output:
        selection="results/{model}/{dataset}/selection/bf.json",
    log:
        "results/logs/select_bf/{model}/{dataset}.log",
    conda:
        "../../environment.yml"
    params:
        metric=config["metric"],
        num_layers=lambda wildcards: config["models"][wildcards.model]["num_layers"],
    shell:
        "goldenlayers bf --sweeps {input.sweeps} --benchmarks {input.benchmarks} --metric {params.metric} "
        "--num-layers {params.num_layers} --out {output.selection} > {log} 2>&1"


rule plot_figure3:
    input:
        selections=get_figure3_selections,
        config=RESOLVED_CONFIG,
    output:
        figure=report(
            f"{REPORT}/figure3.png",
            caption="../report/figure3.rst",
            category="Figures",
        ),
        figure_pdf=f"{REPORT}/figure3.pdf",
        table=report(
            f"{REPORT}/figure3.csv",
            caption="../report/figure3.rst",
            category="Tables",
        ),
        table_md=f"{REPORT}/figure3.md",
    log:
        "results/logs/plot_figure3.log",
    conda:
        "../../environment.yml"
    params:
        out_prefix=lambda wildcards, output: str(Path(output.figure).with_suffix("")),
    shell:
        "goldenlayers figure3 --selections {input.selections} --config {input.config} "
        "--out-prefix {params.out_prefix} > {log} 2>&1"
