# The report: every paper table of goldenlayers.report.tables.PAPER_TABLES and every figure of goldenlayers.report.write.FIGURES
# gets its own rule (make_<table>, plot_<figure>) and a named target (`snakemake --cores 2 table1 figure2` builds just
# what those need). A table added to the registry shows up here, in `all` and in the CLI without an edit.
import yaml

from goldenlayers.io import write_text


rule resolved_config:
    output:
        RESOLVED_CONFIG,
    log:
        "results/logs/resolved_config.log",
    benchmark:
        "results/benchmarks/resolved_config.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=500,
    params:
        # the merged config this run uses: a changed --configfile or --config reruns this rule and every table
        config=config,
    run:
        write_text(output[0], yaml.safe_dump(dict(params.config), sort_keys=True))
        write_text(log[0], f"resolved config of run {RUN_NAME!r} -> {output[0]}\n")


for table in PAPER_TABLES.values():
    if table.writer != f"make_{table.id}":
        continue  # written by another rule (Figure 3's table comes with its plot)

    rule:
        name:
            table.writer
        input:
            files=report_files(table.reads),
            siblings=report_siblings(table.reads, INPUTS[table.reads].siblings),
            config=RESOLVED_CONFIG,
        output:
            table=report(
                f"{REPORT}/{table.id}.csv",
                caption="../report/table.rst",
                category="Tables",
            ),
            markdown=f"{REPORT}/{table.id}.md",
            provenance=f"{REPORT}/{table.id}.provenance.json",
        log:
            f"results/logs/{table.writer}.log",
        benchmark:
            f"results/benchmarks/{table.writer}.tsv"
        localrule: True
        conda:
            "../../environment.yml"
        threads: 1
        resources:
            mem_mb=2000,
        params:
            table=table.id,
            caption=table.caption,
            metric=config["metric"],
            out_dir=lambda wildcards, output: str(Path(output[0]).parent),
        shell:
            "goldenlayers report --tables {params.table} --inputs {input.files} --metric {params.metric} "
            "--config {input.config} --out-dir {params.out_dir} > {log} 2>&1"


for figure_id, figure in FIGURES.items():

    rule:
        name:
            f"plot_{figure_id}"
        input:
            **figure_table(figure_id, figure)[0],
            files=report_files(figure.reads),
            siblings=report_siblings(figure.reads, figure.siblings),
        output:
            **figure_table(figure_id, figure)[1],
            figure=report(
                f"{REPORT}/{figure_id}.png",
                caption=f"../report/{figure_id}.rst",
                category="Figures",
            ),
            figure_pdf=f"{REPORT}/{figure_id}.pdf",
        log:
            f"results/logs/plot_{figure_id}.log",
        benchmark:
            f"results/benchmarks/plot_{figure_id}.tsv"
        localrule: True
        conda:
            "../../environment.yml"
        threads: 1
        resources:
            mem_mb=2000,
        params:
            figure=figure_id,
            metric=config["metric"],
            config=config_opt,
            out_dir=lambda wildcards, output: str(Path(output[0]).parent),
        shell:
            "goldenlayers report --figures {params.figure} --inputs {input.files} --metric {params.metric}"
            "{params.config} --out-dir {params.out_dir} > {log} 2>&1"


# Named targets, one per table and figure (Figure 3's plot comes with its table: target figure3 names the table).
for target, target_files in {
    **{f: [f"{REPORT}/{f}.png"] for f in FIGURES},
    **{t: [f"{REPORT}/{t}.csv"] for t in PAPER_TABLES},
}.items():

    rule:
        name:
            target
        input:
            target_files,
        localrule: True
