"""Every rule that runs something says where its log and its measured cost go and how much memory it needs (log:,
benchmark:, resources: mem_mb), so a cluster profile can size it and benchmarks/stage_cost.py can read it.
Snakemake gives every rule a thread count, so a missing threads: cannot be told. Read from the workflow Snakemake
loads (the rules as parsed, the loops that make a rule per table and figure included), not from the .smk text."""

from __future__ import annotations

from helpers import REPO


def load_rules():
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings, StorageSettings

    with SnakemakeApi(OutputSettings()) as api:
        workflow = api.workflow(resource_settings=ResourceSettings(cores=1), config_settings=ConfigSettings(),
                                storage_settings=StorageSettings(), snakefile=REPO / "Snakefile", workdir=REPO)
        return list(workflow._workflow.rules)


def test_every_rule_that_runs_something_has_a_log_a_benchmark_and_its_memory():
    rules = load_rules()
    # the named targets (all, table1, figure2, ...) only gather files: they have neither output nor a command
    working = [rule for rule in rules if rule.output]
    assert len(working) > 40, [rule.name for rule in working]
    problems = []
    for rule in working:
        missing = [name for name, present in (("log", bool(rule.log)), ("benchmark", rule.benchmark is not None),
                                              ("resources: mem_mb", "mem_mb" in rule.resources)) if not present]
        if missing:
            problems.append(f"{rule.name}: {', '.join(missing)}")
    assert not problems, problems
    targets = {rule.name for rule in rules if not rule.output}
    assert {"all", "table1", "figure8", "frontier"} <= targets
