"""Subcommands of workflow/rules/data.smk: prepare-model, prepare-dataset, filter-dataset, samples, split."""

from __future__ import annotations

from pathlib import Path

from goldenlayers.cli.common import load_model, log, model_args


def cmd_prepare_model(args):
    from goldenlayers.models import prepare_model

    from goldenlayers.io import recorded_model_dir

    ref = prepare_model(args.source, args.out_dir, num_layers=args.num_layers)
    log.info("model ready at %s (%s)", recorded_model_dir(Path(args.out_dir) / "model.json", ref), ref["model_type"])


def cmd_prepare_dataset(args):
    from goldenlayers.data import prepare_dataset
    from goldenlayers.io import write_json

    records, report = prepare_dataset(args.source, args.hf_dataset, args.hf_file, args.hf_revision,
                                      format=args.format, on_invalid=args.on_invalid)
    for bad in report["invalid"]:
        log.warning("skipped invalid record %d: field %r %s", bad["index"], bad["field"], bad["problem"])
    write_json(args.out_report, report)
    write_json(args.out_records, records)
    log.info("%s (%s format): %d valid records, %d invalid skipped, %d empty-answer locality/portability items "
             "dropped; metrics supported: %s", report["path"], report["format"], report["n_records"],
             report["n_invalid"], report["dropped_empty_answer_items"], report["supported_metrics"])


def cmd_filter_dataset(args):
    from goldenlayers.data import filter_dataset, load_records
    from goldenlayers.io import write_json

    records = load_records(args.dataset)
    model, tok = load_model(args)
    kept, report = filter_dataset(model, tok, records, keep_unknown=args.keep_unknown, progress=not args.quiet,
                                  path=args.dataset)
    write_json(args.out_report, report)
    write_json(args.out_records, kept)
    log.info("the model predicts %d of %d records; kept %d%s", report["n_known"], report["n_records"],
             report["n_kept"], " (keep_unknown: the unknown ones too)" if args.keep_unknown else "")


def cmd_samples(args):
    from goldenlayers.data.split import sample_set
    from goldenlayers.io import read_json, write_json

    samples = sample_set([r["id"] for r in read_json(args.records)], seed=args.seed, max_samples=args.max_samples)
    write_json(args.out, samples)
    log.info("sample set: %d samples", len(samples["ids"]))


def cmd_split(args):
    from goldenlayers.data import split_ids
    from goldenlayers.io import read_json, write_json

    ids = [r["id"] for r in read_json(args.records)]
    split = split_ids(ids, args.proxy_fraction, seed=args.seed, max_samples=args.max_samples)
    write_json(args.out, split)
    log.info("split: %d proxy, %d test", len(split["proxy"]), len(split["test"]))


def add_parsers(sub):
    from goldenlayers.data import ON_INVALID  # no torch: the data package imports it only for the known-fact filter

    p = sub.add_parser("prepare-model", help="make a model loadable offline; writes <out-dir>/model.json")
    p.add_argument("--source", required=True, help="embedded:smollm2-135m, a local model directory or a HF id")
    p.add_argument("--num-layers", type=int, help="the config's num_layers, checked against the model")
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_prepare_model)

    p = sub.add_parser("prepare-dataset", help="fetch a dataset file, validate it, write normalised records")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--source", help="embedded:default_edits or a local JSON file")
    where.add_argument("--hf-dataset", help="Hugging Face dataset repo id, e.g. zjunlp/KnowEdit")
    p.add_argument("--hf-file", help="file inside the hub repo, e.g. benchmark/ZsRE/ZsRE-test-all.json")
    p.add_argument("--hf-revision", help="branch, tag or commit of the hub repo (default: main)")
    p.add_argument("--format", help="dataset format (default: detected from the first record); the formats are "
                   "listed in goldenlayers.data.formats")
    p.add_argument("--on-invalid", default="error", choices=ON_INVALID,
                   help="stop at the first invalid record (default) or skip invalid records and list them")
    p.add_argument("--out-records", required=True)
    p.add_argument("--out-report", required=True)
    p.set_defaults(func=cmd_prepare_dataset)

    p = sub.add_parser("filter-dataset", help="keep the records whose ground truth the model predicts")
    model_args(p)
    p.add_argument("--dataset", required=True, help="prepare-dataset's records.json (or any dataset file in a known "
                   "format, e.g. embedded:default_edits)")
    p.add_argument("--out-records", required=True)
    p.add_argument("--out-report", required=True)
    p.add_argument("--keep-unknown", action="store_true", help="keep facts the model does not predict, too")
    p.set_defaults(func=cmd_filter_dataset)

    p = sub.add_parser("samples", help="the samples the sweeps edit: the ids the split divides, whatever its "
                                       "proxy fraction")
    p.add_argument("--records", required=True)
    p.add_argument("--seed", type=int, default=42, help="the split's seed (used only with --max-samples)")
    p.add_argument("--max-samples", type=int, default=None)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_samples)

    p = sub.add_parser("split", help="seeded proxy/test split of the kept records")
    p.add_argument("--records", required=True)
    p.add_argument("--proxy-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--max-samples", type=int, default=None)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_split)
