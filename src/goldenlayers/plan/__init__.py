"""The workflow's plan, as plain functions: a config (a dict) and the files that exist in, what the Snakemake rules
need out. `study`: what runs (run name, models, datasets, editors, layers). `files`: which result files each rule
reads and `all` builds (sweep plan, selector inputs, report inputs, unfinished outputs). `options`: each rule's
command-line options. `jobs`: job sizes (mem_mb, runtime) from one resolved view of the model.

Nothing here imports Snakemake: `workflow/rules/*.smk` adapt wildcards to these functions, and
tests/plan/ checks them in milliseconds.
"""
