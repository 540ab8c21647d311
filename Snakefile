# goldenlayers: find the golden layer for knowledge editing and prove it, from data to the paper's tables.
# Stages (see docs/architecture.md): prepare_model -> filter_dataset -> split_dataset -> extract_gradients,
# trace_causal_effects -> score_<method> for every selector of the registry (selectors.smk) | generate_templates ->
# sweep_layer -> select_bf, aggregate_sweep -> make_<table>, plot_<figure> for every table and figure of the
# registries (report.smk), resample_splits -> Table 16, Figures 5-6
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/selectors.smk"
include: "workflow/rules/editing.smk"
include: "workflow/rules/sweep.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/resampling.smk"
include: "workflow/rules/appendix_common.smk"
include: "workflow/rules/appendix.smk"


rule all:
    input:
        get_final_outputs(),
        get_planned_sweeps,
