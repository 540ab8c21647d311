localrules:
    compare_selectors,
    make_table11,
    table1,
    table11,
    table2,
    table14,
    table15,
    figure4,
    tables3_8,
    figure1,
    figure2,
    split_dataset,
    score_lga,
    aggregate_sweep,
    make_report,


rule make_report:
    input:
        get_aggregates,
    output:
        table1=report(
            f"{REPORT}/table1.csv",
            caption="../report/table1.rst",
            category="Tables",
        ),
        table1_md=f"{REPORT}/table1.md",
        selected=report(
            f"{REPORT}/selected_layers.csv",
            caption="../report/selected_layers.rst",
            category="Tables",
        ),
        tables3_8=report(
            f"{REPORT}/tables3_8.csv",
            caption="../report/tables3_8.rst",
            category="Tables",
        ),
        figure1=report(
            f"{REPORT}/figure1.png",
            caption="../report/figure1.rst",
            category="Figures",
        ),
        figure2=report(
            f"{REPORT}/figure2.png",
            caption="../report/figure2.rst",
            category="Figures",
        ),
    log:
        "results/logs/make_report.log",
    conda:
        "../../environment.yml"
    params:
        dirs=lambda wildcards, input: [str(Path(p).parent) for p in input],
        metric=config["metric"],
        config_file=CONFIG_FILE,
        out_dir=lambda wildcards, output: str(Path(output[0]).parent),
    shell:
        "goldenlayers report --aggregates {params.dirs} --metric {params.metric} --config {params.config_file} "
        "--out-dir {params.out_dir} > {log} 2>&1"


rule compare_selectors:
    input:
        get_all_summaries,
    output:
        table2=report(
            f"{REPORT}/table2.csv",
            caption="../report/table2.rst",
            category="Tables",
        ),
        table14=report(
            f"{REPORT}/table14.csv",
            caption="../report/table14.rst",
            category="Tables",
        ),
        table15=report(
            f"{REPORT}/table15.csv",
            caption="../report/table15.rst",
            category="Tables",
        ),
        figure4=report(
            f"{REPORT}/figure4.png",
            caption="../report/figure4.rst",
            category="Figures",
        ),
    log:
        "results/logs/compare_selectors.log",
    conda:
        "../../environment.yml"
    params:
        config_file=CONFIG_FILE,
        out_dir=lambda wildcards, output: str(Path(output[0]).parent),
    shell:
        "goldenlayers compare-selectors --summaries {input} --metric overall --config {params.config_file} "
        "--out-dir {params.out_dir} > {log} 2>&1"


rule make_table11:
    input:
        get_all_sequential_summaries,
    output:
        table11=report(
            f"{REPORT}/table11.csv",
            caption="../report/table11.rst",
            category="Tables",
        ),
    log:
        "results/logs/make_table11.log",
    conda:
        "../../environment.yml"
    params:
        config_file=CONFIG_FILE,
        out_dir=lambda wildcards, output: str(Path(output[0]).parent),
    shell:
        "goldenlayers compare-selectors --summaries {input} --tables table11 --config {params.config_file} "
        "--out-dir {params.out_dir} > {log} 2>&1"


# Named targets: `snakemake --cores 2 table1 figure2` builds just what those need.
rule table1:
    input:
        f"{REPORT}/table1.csv",


rule tables3_8:
    input:
        f"{REPORT}/tables3_8.csv",


rule table2:
    input:
        f"{REPORT}/table2.csv",


rule table11:
    input:
        f"{REPORT}/table11.csv",


rule table14:
    input:
        f"{REPORT}/table14.csv",


rule table15:
    input:
        f"{REPORT}/table15.csv",


rule figure4:
    input:
        f"{REPORT}/figure4.png",


rule figure1:
    input:
        f"{REPORT}/figure1.png",


rule figure2:
    input:
        f"{REPORT}/figure2.png",
