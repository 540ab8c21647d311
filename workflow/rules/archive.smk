# A study rebuilt from its archive (config `archive: studies/<name>`, docs/archive.md): one restore rule per
# archived (model, dataset) cell writes the files the measuring stages and the selectors would have written
# (goldenlayers.plan.archive.restore_outputs), so prepare_*, filter, sample_set, split, extract_gradients,
# trace_causal_effects, score_*, select_bf and sweep_layer never run: a rule without wildcards wins over one with.
# plan_sweep (the checkpoint) and everything after it run as in a measured study; resample_splits reads SaLEM's
# stored saliency (analysis.smk).
for _cell, _record in ARCHIVED_CELLS.items():

    rule:
        name:
            archive_plan.restore_rule(_cell)
        input:
            index=f"{archive_plan.archive_dir(config)}/study.json",
            cell=f"{archive_plan.archive_dir(config)}/{_cell}/cell.json",
        output:
            archive_plan.restore_outputs(_record),
        log:
            f"results/logs/restore/{_cell}.log",
        localrule: True
        conda:
            "../../environment.yml"
        threads: 1
        resources:
            mem_mb=1000,
        params:
            archive=lambda wildcards, input: Path(input.index).parent,
            cell=_cell,
            opts=archive_plan.restore_opts(),
        shell:
            "goldenlayers unarchive --archive {params.archive} --cells {params.cell} --results results "
            "{params.opts} > {log} 2>&1"
