# Layer selection: score every selector of the registry (goldenlayers.selection.registry.SELECTORS) on the
# measurements of measure.smk, combine the cheap selectors' rankings (consensus), plan the sweep (with verify's
# shortlist), BF and verify from the sweep. A selector added to the registry gets its score_<method> rule, inputs
# and flags from there (goldenlayers.plan).
localrules:
    select_random_layers,
    score_consensus,
    plan_sweep,
    select_bf,
    select_verify,


# One score_<method> rule per selector that scores the measurements above (LGA, LGA(K'), SaLEM, CMA, and any
# selector registered later); the loop variable is bound through the helpers' arguments (common.smk), not read
# lazily.
for _method in selector_registry.measured():

    rule:
        name:
            f"score_{_method}"
        input:
            **files.selector_inputs(_method),
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
            evidence=selector_evidence_opts(_method),
            opts=selector_opts(_method),
        shell:
            "goldenlayers select --method {params.method} {params.evidence} --split {input.split} "
            "--benchmarks {input.benchmark} --timing {input.timing} {params.opts} --model-name {wildcards.model} "
            "--dataset-name {wildcards.dataset} --out {output.selection} "
            "> {log} 2>&1"


rule select_random_layers:
    output:
        selection="results/{model}/{dataset}/selection/random.json",
    log:
        "results/logs/select_random_layers/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/select_random_layers/{model}/{dataset}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
    params:
        layers=get_candidate_layers,
        opts=selector_opts("random"),
    shell:
        "goldenlayers select --method random --layers {params.layers} {params.opts} "
        "--model-name {wildcards.model} --dataset-name {wildcards.dataset} --out {output.selection} > {log} 2>&1"


# consensus: the lowest mean rank over the cheap selectors' rankings (zero edits)
rule score_consensus:
    input:
        selections=lambda w: files.cheap_selections(config, w.model, w.dataset),
    output:
        selection="results/{model}/{dataset}/selection/consensus.json",
    log:
        "results/logs/score_consensus/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/score_consensus/{model}/{dataset}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
    params:
        opts=selector_opts("consensus"),
    shell:
        "goldenlayers select --method consensus --selections {input.selections} {params.opts} "
        "--model-name {wildcards.model} --dataset-name {wildcards.dataset} --out {output.selection} > {log} 2>&1"


# the grid, the planned selectors' chosen layers and verify's shortlist (from the cheap selectors' rankings)
checkpoint plan_sweep:
    input:
        selections=lambda w: files.planned_selections(w.model, w.dataset),
        cheap=lambda w: files.cheap_selections(config, w.model, w.dataset),
    output:
        plan="results/{model}/{dataset}/sweep_plan.json",
    log:
        "results/logs/plan_sweep/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/plan_sweep/{model}/{dataset}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
    params:
        grid=get_candidate_layers,
        verify=lambda w: options.sweep_plan_opts(config, w.model, w.dataset),
    shell:
        "goldenlayers sweep-plan --selections {input.selections} --grid {params.grid} "
        "--verify-selections {input.cheap} {params.verify} --out {output.plan} > {log} 2>&1"


rule select_bf:
    input:
        sweeps=get_bf_sweeps,
        split="results/{model}/{dataset}/split.json",
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
        opts=selector_opts("bf"),
    shell:
        "goldenlayers select --method bf --sweep {input.sweeps} --split {input.split} --benchmarks {input.benchmarks} "
        "{params.opts} "
        "--model-name {wildcards.model} --dataset-name {wildcards.dataset} --out {output.selection} > {log} 2>&1"


# verify: the best mean metric of the first m proxy facts at its shortlisted layers, read from their sweeps (the
# plan's shortlist; the first editor's, as BF)
rule select_verify:
    input:
        selections=lambda w: files.cheap_selections(config, w.model, w.dataset),
        sweeps=get_verify_sweeps,
        split="results/{model}/{dataset}/split.json",
    output:
        selection="results/{model}/{dataset}/selection/verify.json",
    log:
        "results/logs/select_verify/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/select_verify/{model}/{dataset}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
    params:
        opts=selector_opts("verify"),
    shell:
        "goldenlayers select --method verify --selections {input.selections} --sweep {input.sweeps} "
        "--split {input.split} {params.opts} --model-name {wildcards.model} --dataset-name {wildcards.dataset} "
        "--out {output.selection} > {log} 2>&1"
