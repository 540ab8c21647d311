# Layer selection: measure (gradients, causal traces), score every selector of the registry
# (goldenlayers.selectors.SELECTORS), plan the sweep, BF from the sweep, Figure 3. A selector added to the registry
# gets its score_<method> rule, inputs and flags from there (common.smk, selector section).
localrules:
    select_random_layers,
    plan_sweep,
    select_bf,
    plot_causal_trace,
    plot_figure3,


rule extract_gradients:
    input:
        model="results/models/{model}/model.json",
        records="results/{model}/{dataset}/records.json",
        split="results/{model}/{dataset}/split.json",
    output:
        gradients=EVIDENCE_FILES["gradients"],
        saliency=EVIDENCE_FILES["saliency"],
        factors="results/{model}/{dataset}/gradients/new_factors.safetensors",
        timing=STAGE_FILES["gradient"]["timing"],
    log:
        "results/logs/extract_gradients/{model}/{dataset}.log",
    benchmark:
        STAGE_FILES["gradient"]["benchmark"]
    conda:
        "../../environment.yml"
    threads: 2
    resources:
        gpu=get_gpu,
        mem_mb=sized("extract_gradients", "mem_mb"),
        runtime=sized("extract_gradients", "runtime"),
    params:
        model=model_opts,
    shell:
        "goldenlayers -q gradients {params.model} --threads {threads} --records {input.records} "
        "--split {input.split} --subset all --out {output.gradients} --out-saliency {output.saliency} "
        "--out-factors {output.factors} --out-timing {output.timing} > {log} 2>&1"


rule trace_causal_effects:
    input:
        model="results/models/{model}/model.json",
        records="results/{model}/{dataset}/records.json",
        split="results/{model}/{dataset}/split.json",
    output:
        effects=EVIDENCE_FILES["effects"],
        timing=STAGE_FILES["trace"]["timing"],
    log:
        "results/logs/trace_causal_effects/{model}/{dataset}.log",
    benchmark:
        STAGE_FILES["trace"]["benchmark"]
    conda:
        "../../environment.yml"
    # one thread: it traces every sample now and runs beside a sweep job instead of holding both cores
    threads: 1
    resources:
        gpu=get_gpu,
        mem_mb=sized("trace_causal_effects", "mem_mb"),
        runtime=sized("trace_causal_effects", "runtime"),
    params:
        model=model_opts,
        opts=get_trace_opts,
    shell:
        "goldenlayers -q causal-trace {params.model} --threads {threads} --records {input.records} "
        "--split {input.split} --subset all {params.opts} --out {output.effects} --out-timing {output.timing} "
        "> {log} 2>&1"


# One score_<method> rule per selector that scores the measurements above (LGA, LGA(K'), SaLEM, CMA, and any
# selector registered later); the loop variable is bound through the helpers' arguments, not read lazily.
for _method in MEASURED_SELECTORS:

    rule:
        name:
            f"score_{_method}"
        input:
            **get_selector_inputs(_method),
        output:
            selection=f"results/{{model}}/{{dataset}}/selection/{_method}.json",
        log:
            f"results/logs/score_{_method}/{{model}}/{{dataset}}.log",
        benchmark:
            f"results/benchmarks/score_{_method}/{{model}}/{{dataset}}.tsv"
        localrule: True
        conda:
            "../../environment.yml"
        threads: 1
        resources:
            mem_mb=2000,
        params:
            method=_method,
            evidence=get_selector_evidence_opts(_method),
            opts=get_selector_opts(_method),
        shell:
            "goldenlayers select --method {params.method} {params.evidence} --split {input.split} "
            "--benchmarks {input.benchmark} --timing {input.timing} {params.opts} --model {wildcards.model} "
            "--dataset {wildcards.dataset} --out {output.selection} "
            "> {log} 2>&1"


rule plot_causal_trace:
    input:
        effects=EVIDENCE_FILES["effects"],
        split="results/{model}/{dataset}/split.json",
    output:
        plot=report(
            "results/{model}/{dataset}/causal_trace/trace.png",
            caption="../report/causal_trace.rst",
            category="Layer selection",
            subcategory="{model} / {dataset}",
        ),
        plot_pdf="results/{model}/{dataset}/causal_trace/trace.pdf",
    log:
        "results/logs/plot_causal_trace/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/plot_causal_trace/{model}/{dataset}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
    params:
        prefix=lambda wildcards, output: output.plot[: -len(".png")],
    shell:
        "goldenlayers plot-causal-trace --effects {input.effects} --split {input.split} "
        "--out-prefix {params.prefix} > {log} 2>&1"


rule select_random_layers:
    output:
        selection="results/{model}/{dataset}/selection/random.json",
    log:
        "results/logs/select_random_layers/{model}/{dataset}.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
    params:
        layers=get_candidate_layers,
        opts=get_selector_opts("random"),
    shell:
        "goldenlayers select --method random --layers {params.layers} {params.opts} "
        "--model {wildcards.model} --dataset {wildcards.dataset} --out {output.selection} > {log} 2>&1"


checkpoint plan_sweep:
    input:
        selections=get_planned_selections,
    output:
        plan="results/{model}/{dataset}/sweep_plan.json",
    log:
        "results/logs/plan_sweep/{model}/{dataset}.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
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
    benchmark:
        "results/benchmarks/select_bf/{model}/{dataset}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
    params:
        opts=get_selector_opts("bf"),
    shell:
        "goldenlayers select --method bf --sweep {input.sweeps} --benchmarks {input.benchmarks} {params.opts} "
        "--model {wildcards.model} --dataset {wildcards.dataset} --out {output.selection} > {log} 2>&1"


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
    benchmark:
        "results/benchmarks/plot_figure3.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
    params:
        out_prefix=lambda wildcards, output: str(Path(output.figure).with_suffix("")),
    shell:
        "goldenlayers figure3 --selections {input.selections} --config {input.config} "
        "--out-prefix {params.out_prefix} > {log} 2>&1"
