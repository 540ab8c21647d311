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
            "results/report/table1.csv",
            caption="../report/table1.rst",
            category="Tables",
        ),
        table1_md="results/report/table1.md",
        selected=report(
            "results/report/selected_layers.csv",
            caption="../report/selected_layers.rst",
            category="Tables",
        ),
        tables3_8=report(
            "results/report/tables3_8.csv",
            caption="../report/tables3_8.rst",
            category="Tables",
        ),
        figure1=report(
            "results/report/figure1.png",
            caption="../report/figure1.rst",
            category="Figures",
        ),
        figure2=report(
            "results/report/figure2.png",
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
    shell:
        "goldenlayers report --aggregates {params.dirs} --metric {params.metric} --config {params.config_file} "
        "--out-dir results/report > {log} 2>&1"


rule compare_selectors:
    input:
        get_all_summaries,
    output:
        table2=report(
            "results/report/table2.csv",
            caption="../report/table2.rst",
            category="Tables",
        ),
        table14=report(
            "results/report/table14.csv",
            caption="../report/table14.rst",
            category="Tables",
        ),
        table15=report(
            "results/report/table15.csv",
            caption="../report/table15.rst",
            category="Tables",
        ),
        figure4=report(
            "results/report/figure4.png",
            caption="../report/figure4.rst",
            category="Figures",
        ),
    log:
        "results/logs/compare_selectors.log",
    conda:
        "../../environment.yml"
    params:
        config_file=CONFIG_FILE,
    shell:
        "goldenlayers compare-selectors --summaries {input} --metric overall --config {params.config_file} "
        "--out-dir results/report > {log} 2>&1"


rule make_table11:
    input:
        get_all_sequential_summaries,
    output:
        table11=report(
            "results/report/table11.csv",
            caption="../report/table11.rst",
            category="Tables",
        ),
    log:
        "results/logs/make_table11.log",
    conda:
        "../../environment.yml"
    params:
        config_file=CONFIG_FILE,
    shell:
        "goldenlayers compare-selectors --summaries {input} --tables table11 --config {params.config_file} "
        "--out-dir results/report > {log} 2>&1"


# Named targets: `snakemake --cores 2 table1 figure2` builds just what those need.
rule table1:
    input:
        "results/report/table1.csv",


rule tables3_8:
    input:
        "results/report/tables3_8.csv",


rule table2:
    input:
        "results/report/table2.csv",


rule table11:
    input:
        "results/report/table11.csv",


rule table14:
    input:
        "results/report/table14.csv",


rule table15:
    input:
        "results/report/table15.csv",


rule figure4:
    input:
        "results/report/figure4.png",


rule figure1:
    input:
        "results/report/figure1.png",


rule figure2:
    input:
        "results/report/figure2.png",
