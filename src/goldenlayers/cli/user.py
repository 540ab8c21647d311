"""Subcommands for users rather than rules: check-config, suggest (which layer to edit) and edit (apply requests
and save the model). Here --model is any model to load: a hub id, a local directory, a model.json of
prepare-model, or an embedded model."""

from __future__ import annotations

import argparse
import os
import time

from goldenlayers.cli.common import DTYPES, log, set_threads, startup_done


def cmd_check_config(args):
    from goldenlayers.config import SCHEMA, load_config
    from goldenlayers.editing import EDITORS

    for path in args.configs:
        load_config(path, args.schema or SCHEMA, editors=EDITORS)
        log.info("%s: ok", path)


def _open_user_model(args):
    """suggest/edit: --model is a HF id, a local directory, a model.json or embedded:smollm2-135m."""
    from goldenlayers.suggest import open_model

    started = time.perf_counter()
    set_threads(args.threads or os.cpu_count() or 1)
    loaded = open_model(args.model, dtype=args.dtype, device=args.device)
    startup_done()
    log.info("model %s loaded in %.1f s", args.model, time.perf_counter() - started)
    return loaded


def _selectors(text: str) -> list[str]:
    from goldenlayers.selection.registry import measured

    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in measured()]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown selector(s) {', '.join(unknown) or '(none)'}; "
                                         f"choose from {', '.join(measured())}")
    return names


def _choice(args, requests) -> dict:
    """suggest's choice settings from the flags `suggest` and `edit --layer auto` share, checked before the model
    loads; None = suggest_layer's default (the study's verify setting, `suggest.resolve_verify`)."""
    from goldenlayers.suggest import check_verify, resolve_verify

    choose = {"proxy": args.proxy, "selectors": args.selectors, "layers": args.layers, "verify": args.verify,
              "verify_requests": args.verify_requests, "verify_metric": args.verify_metric}
    k, m, metric = resolve_verify(args.verify, args.verify_requests, args.verify_metric)
    if k is not None:
        check_verify(requests, k, m, metric)
    return choose


def _read_inputs(args):
    """The requests and the hparams file, read and checked before the model loads."""
    from goldenlayers.suggest import read_requests

    requests = read_requests(args.requests, format=args.format)
    if args.hparams:
        from goldenlayers.editing import load_hparams

        load_hparams(args.editor, args.hparams)
    return requests


def cmd_suggest(args):
    from goldenlayers.io import check_can_write, write_json
    from goldenlayers.suggest import suggest_layer, write_hparams

    for out in filter(None, (args.json, args.write_hparams)):
        check_can_write(out)  # before the model loads and the scores are computed, not after
    requests = _read_inputs(args)  # bad input fails before the model loads
    choose = {k: v for k, v in _choice(args, requests).items() if v is not None}
    model, tok = _open_user_model(args)
    suggestion = suggest_layer(model, tok, requests, tukey_k=args.tukey_k, seed=args.seed, progress=not args.quiet,
                               editor=args.editor, hparams=args.hparams, **choose)
    print(suggestion.table())
    print()
    if suggestion.verify:
        print(suggestion.verify_table())
        print()
    print(suggestion.summary())
    if args.json:
        write_json(args.json, {"model": args.model, "requests": str(args.requests), **suggestion.to_dict()})
        print(f"wrote {args.json}")
    if args.write_hparams:
        write_hparams(args.write_hparams, model, args.editor, suggestion.layer, model_name=args.model,
                      base=args.hparams, chosen_by=suggestion.method_label)
        print(f"wrote {args.write_hparams} ({args.editor}, layers: [{suggestion.layer}])")


def cmd_edit(args):
    from goldenlayers.apply_edits import check_out_dir, edit, save_edited
    from goldenlayers.suggest import Suggestion

    check_out_dir(args.out, force=args.force)  # refused before anything is loaded or computed
    if args.layer != "auto" and not args.layer.lstrip("-").isdigit():
        raise ValueError(f"--layer must be auto or a layer number, got {args.layer!r}")
    if args.key_covariance and args.layer == "auto":
        raise ValueError("--key-covariance holds one layer's covariance: give --layer N with it")
    requests = _read_inputs(args)
    choose = _choice(args, requests)
    given = sorted(f"--{k.replace('_', '-')}" for k, v in choose.items() if v is not None)
    if args.layer != "auto" and given:
        raise ValueError(f"{', '.join(given)} choose the layer: only with --layer auto")
    model, tok = _open_user_model(args)
    # --key-covariance FILE: computed there from the hparams' mom2_* when missing or made otherwise
    report = edit(model, tok, requests, layer=args.layer, editor=args.editor, hparams=args.hparams,
                  covariance_file=args.key_covariance, seed=args.seed, tukey_k=args.tukey_k,
                  progress=not args.quiet, choose=choose)
    if report.suggestion:  # the same recommendation as `suggest`, with what was measured for it
        suggestion = Suggestion(**report.suggestion)
        if suggestion.verify:
            print(suggestion.verify_table())
        print(suggestion.summary().splitlines()[0])
        print(suggestion.evidence)
    out = save_edited(model, tok, report, args.out, force=args.force)
    after = report.means("after")
    print(f"{report.editor} at layer {report.layer}: {report.n_ok} of {len(report.rows)} edits applied; "
          + ", ".join(f"{m} {v:.3f}" for m, v in after.items() if v is not None))
    for i, row in enumerate(report.rows):
        if row["status"] != "ok":
            print(f"request {i} ({row['prompt']!r} -> {row['target_new']!r}) not applied: {row['reason']}")
    print(f"saved the edited model and report.json / report.md to {out}")


def user_model_args(p, editors, tukey_k):
    p.set_defaults(loads_model=True)
    p.add_argument("--model", default="embedded:smollm2-135m",
                   help="a Hugging Face id, a local model directory, a model.json of prepare-model, or "
                        "embedded:smollm2-135m (default; prepared once into ~/.cache/goldenlayers, no download)")
    p.add_argument("--requests", required=True,
                   help="JSON file of edit requests: KnowEdit, Counterfact, ZsRE-MEND, ... or a plain list of "
                        "{prompt, subject, target_new[, ground_truth]}")
    p.add_argument("--format", help="format of the requests file (default: detected)")
    p.add_argument("--editor", default="r-rome", choices=list(editors))
    p.add_argument("--hparams", help="EasyEdit hparams YAML to take the editor's numbers from "
                                     "(default: the editor's defaults)")
    p.add_argument("--tukey-k", type=float, default=tukey_k, help="Tukey fence constant of LGA")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--dtype", default="float32", choices=DTYPES)
    p.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:1, ...")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: all cores)")


def _default_verify(key: str, otherwise):
    """One field of the study evidence file's default verify setting, for the help text. Every subcommand's parser
    is built at start-up, so a broken evidence file must not stop `goldenlayers sweep` here: the help shows the
    built-in default, and `suggest` itself refuses the file, naming it."""
    from goldenlayers.suggest import default_verify

    try:
        return (default_verify() or {}).get(key, otherwise)
    except ValueError:
        return otherwise


def choice_args(p, auto: str = ""):
    """The flags that decide suggest's recommendation; `edit` takes the same ones for --layer auto."""
    from goldenlayers.suggest import VERIFY_METRIC, VERIFY_REQUESTS, verify_metrics

    p.add_argument("--proxy", type=int, help=f"score a seeded subsample of this many requests (default: all){auto}")
    p.add_argument("--selectors", type=_selectors, default=None,
                   help="comma-separated: lga, lga_kprime, salem (same gradient pass), cma (causal tracing, "
                        "slower); whose rankings verify's shortlist takes turns from (default: lga,cma,salem; "
                        f"with --verify 0 the selectors shown beside LGA and the default, none){auto}")
    p.add_argument("--layers", type=int, nargs="+", help=f"candidate layers (default: all){auto}")
    p.add_argument("--verify", type=int, metavar="K",
                   help="edit K layers shortlisted from the selectors' rankings on a few of the requests (the "
                        "weights restored after each edit) and recommend the measured best (default: the study's "
                        f"setting, {_default_verify('k', 'none')}; 0: no edits, the default selector's pick){auto}")
    p.add_argument("--verify-requests", type=int, metavar="M",
                   help=f"requests each shortlisted layer is edited on, a seeded subsample (default: "
                        f"{_default_verify('m', VERIFY_REQUESTS)}){auto}")
    p.add_argument("--verify-metric", choices=verify_metrics(),
                   help=f"the metric that picks the best verified layer (default: "
                        f"{_default_verify('metric', VERIFY_METRIC)}){auto}")


def add_parsers(sub):
    from goldenlayers.editing import EDITORS  # no torch
    from goldenlayers.selection.registry import TUKEY_K

    p = sub.add_parser("check-config", help="check config files: YAML syntax (file, line), unknown keys (nearest "
                       "valid one), model/dataset names, settings that contradict each other")
    p.add_argument("configs", nargs="+", help="config files (each may be partial, like config/paper.yaml)")
    p.add_argument("--schema", help="default: workflow/schemas/config.schema.yaml of this checkout")
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("suggest", help="which layer to edit on your model and requests: the layers the selectors "
                       "rank best, checked with a few edits (--verify 0: no edits, the default selector's pick)")
    user_model_args(p, EDITORS, TUKEY_K)
    choice_args(p)
    p.add_argument("--json", help="write the suggestion (scores, fences, picks, verify's measurements, evidence, "
                                  "caveats) to this JSON file")
    p.add_argument("--write-hparams", metavar="FILE",
                   help="write an EasyEdit hparams YAML for --editor with layers: [recommended layer]")
    p.set_defaults(func=cmd_suggest)

    p = sub.add_parser("edit", help="apply your edit requests at one layer and save the edited model")
    user_model_args(p, EDITORS, TUKEY_K)
    p.add_argument("--layer", default="auto", help="auto (suggest's recommendation, with the flags below) or a "
                                                   "layer number")
    choice_args(p, auto=" (--layer auto)")
    p.add_argument("--key-covariance", help="key covariance file for EMMET / mom2_adjustment (computed there from "
                                            "the hparams' mom2_* if missing; default: computed in memory)")
    p.add_argument("--out", required=True, help="directory for the edited model (must be empty or new)")
    p.add_argument("--force", action="store_true", help="replace a non-empty --out")
    p.set_defaults(func=cmd_edit)
