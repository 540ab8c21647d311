# Helpers of appendix.smk (Tables 12-13): which datasets, which selectors, which options.
APPENDIX_METHODS = selector_registry.selectors_in("table12")
APPENDIX_EDITOR = "r-rome" if "r-rome" in EDITORS else EDITORS[0]
APPENDIX_TABLES = {"composite": "table12", "unstructured": "table13"}


def get_appendix_setting(wildcards):
    setting = config["datasets"][wildcards.dataset].get("setting")
    if not setting:
        raise ValueError(
            f"config: dataset {wildcards.dataset!r} has no `setting:` (composite or unstructured)"
        )
    return setting


def get_appendix_opts(wildcards):
    a = config["appendix"]
    opts = (
        f"--decoding {a['decoding']} --max-new-tokens {a['max_new_tokens']} "
        f"--bertscore-model {shlex.quote(a['bertscore_model'])} --mmlu-questions {a['mmlu_questions']}"
    )
    if a.get("bertscore_layers"):
        opts += f" --bertscore-layers {a['bertscore_layers']}"
    if a.get("mmlu_file"):
        opts += f" --mmlu-file {shlex.quote(a['mmlu_file'])}"
    return opts


def get_mmlu_file(wildcards):
    """The MMLU file is an input when given, so a changed file reruns the evaluation."""
    path = config["appendix"].get("mmlu_file")
    return [path] if path and Path(path).exists() else []


def get_appendix_results(setting):
    def inputs(wildcards):
        datasets = [
            d for d in DATASETS if config["datasets"][d].get("setting") == setting
        ]
        if not datasets:
            raise ValueError(
                f"{APPENDIX_TABLES[setting]} needs a dataset with `setting: {setting}` in the config "
                "(config/paper.yaml has one)"
            )
        return expand(
            "results/{model}/{dataset}/appendix/{editor}/{method}.json",
            model=MODELS,
            dataset=datasets,
            editor=APPENDIX_EDITOR,
            method=APPENDIX_METHODS,
        )

    return inputs
