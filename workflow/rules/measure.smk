# Measure: per-sample evidence of every (model, dataset) for the layer selectors (gradient scalars with SaLEM's
# factors, causal traces) and the causal-trace plot. The selectors that read it are in selection.smk.
localrules:
    plot_causal_trace,


rule extract_gradients:
    input:
        model="results/models/{model}/model.json",
        records="results/{model}/{dataset}/records.json",
        split="results/{model}/{dataset}/split.json",
    output:
        gradients=files.EVIDENCE_FILES["gradients"],
        saliency=files.EVIDENCE_FILES["saliency"],
        factors="results/{model}/{dataset}/gradients/new_factors.safetensors",
        timing=files.STAGE_FILES["gradient"]["timing"],
    log:
        "results/logs/extract_gradients/{model}/{dataset}.log",
    benchmark:
        files.STAGE_FILES["gradient"]["benchmark"]
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
        effects=files.EVIDENCE_FILES["effects"],
        timing=files.STAGE_FILES["trace"]["timing"],
    log:
        "results/logs/trace_causal_effects/{model}/{dataset}.log",
    benchmark:
        files.STAGE_FILES["trace"]["benchmark"]
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
        opts=lambda wildcards: options.trace_opts(config),
    shell:
        "goldenlayers -q causal-trace {params.model} --threads {threads} --records {input.records} "
        "--split {input.split} --subset all {params.opts} --out {output.effects} --out-timing {output.timing} "
        "> {log} 2>&1"


rule plot_causal_trace:
    input:
        effects=files.EVIDENCE_FILES["effects"],
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
