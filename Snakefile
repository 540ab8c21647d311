# goldenlayers: find the golden layer for knowledge editing and prove it, from data to the paper's tables.
# Stages (see docs/architecture.md), one rules file each in workflow/rules/: data (prepare_model -> filter_dataset
# -> sample_set, split_dataset) -> measure (extract_gradients, trace_causal_effects) -> selection (score_<method> for
# every selector of the registry, plan_sweep, select_bf) | sweep (generate_templates, key_covariance -> sweep_layer)
# -> analysis (aggregate_sweep, resample_splits) -> report (make_<table>, plot_<figure> for every table and figure
# of the registries) ; appendix (Tables 12-13) ; archive (config `archive`: restore_<cell> in place of the measuring
# stages, docs/archive.md)
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/measure.smk"
include: "workflow/rules/selection.smk"
include: "workflow/rules/sweep.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/appendix.smk"
include: "workflow/rules/archive.smk"


rule all:
    input:
        get_final_outputs(),
        get_planned_sweeps,
