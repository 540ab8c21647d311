"""Subcommand of workflow/rules/appendix.smk: `goldenlayers appendix-eval` (the data of Tables 12-13). The tables
themselves are `goldenlayers report --tables table12` / `table13`. Heavy imports happen inside the command.
"""

from __future__ import annotations

from goldenlayers.cli.common import load_model, log, model_args


def cmd_appendix_eval(args):
    from goldenlayers.appendix.evaluate import evaluate_at_layer
    from goldenlayers.editing import load_hparams
    from goldenlayers.io import read_json, write_json
    from goldenlayers.models import check_layer

    selection = read_json(args.selection)
    layer = selection.get("chosen_layer")
    if not isinstance(layer, int):
        raise ValueError(f"{args.selection}: no chosen_layer (a selection file of lga, salem or cma)")
    hparams = load_hparams(args.editor, args.hparams)
    records = read_json(args.records)
    split = read_json(args.split)
    templates = read_json(args.templates)["templates"]
    model, tok = load_model(args)
    check_layer(model, layer)
    settings = {"max_new_tokens": args.max_new_tokens, "decoding": args.decoding,
                "bertscore_model": args.bertscore_model, "bertscore_layers": args.bertscore_layers,
                "mmlu_file": args.mmlu_file, "mmlu_questions": args.mmlu_questions}
    result = evaluate_at_layer(model, tok, records, split, args.setting, args.editor, hparams, layer, templates,
                               settings=settings, progress=not args.quiet, covariance=args.key_covariance)
    for metric, reason in result["skipped"].items():
        log.warning("%s", reason)
    result = {"model": args.model_name, "dataset": args.dataset_name, "method": selection.get("method", args.method),
              "selection": str(args.selection), **result}
    write_json(args.out, result)
    log.info("%s at layer %d: %s", args.setting, layer,
             ", ".join(f"{k} {v:.4f}" for k, v in result["metrics"].items()))


def add_parsers(sub):
    from goldenlayers.editing import EDITORS  # no torch

    p = sub.add_parser("appendix-eval", help="edit each test sample at a selector's layer; composite/unstructured "
                       "metrics (Tables 12-13)")
    model_args(p)
    p.add_argument("--setting", required=True, choices=["composite", "unstructured"])
    p.add_argument("--records", required=True)
    p.add_argument("--split", required=True)
    p.add_argument("--templates", required=True)
    p.add_argument("--selection", required=True, help="results/<model>/<dataset>/selection/<method>.json")
    p.add_argument("--method", default="", help="selector name, if the selection file does not carry it")
    p.add_argument("--editor", default="r-rome", choices=list(EDITORS))
    p.add_argument("--hparams", required=True)
    p.add_argument("--key-covariance", help="the layer's key covariance, for editors that use it")
    p.add_argument("--model-name", required=True, help="the model's short name (table rows)")
    p.add_argument("--dataset-name", required=True, help="the dataset's short name (table rows)")
    p.add_argument("--max-new-tokens", type=int, default=64, help="greedy generation length")
    p.add_argument("--decoding", default="greedy", choices=["greedy"])
    p.add_argument("--bertscore-model", default="roberta-large",
                   help="local model directory (or a name in the HF cache) for BERTScore; never downloaded")
    p.add_argument("--bertscore-layers", type=int, default=None, help="layer of the BERTScore model to use")
    p.add_argument("--mmlu-file", default=None, help="local MMLU JSON/JSONL (question, choices, answer)")
    p.add_argument("--mmlu-questions", type=int, default=20, help="MMLU questions evaluated after each edit")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_appendix_eval)
