"""`goldenlayers <subcommand>`: one subcommand per pipeline stage.

Snakemake rules call these; each also works on its own. Inputs and outputs are files; every output is written
atomically. Run `goldenlayers <subcommand> --help` for the arguments.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
import time

# OpenMP threads that spin while waiting make every op of a small model many times slower as soon as another
# process shares the cores (measured: 6x for a 135M-parameter forward on 2 busy cores). Passive waiting costs
# nothing measurable when the cores are free. Set before torch is first imported; a user's setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

log = logging.getLogger("goldenlayers")
# columns a sweep table must have for BF, merging and aggregation (see goldenlayers.sweep.COLUMNS); checked on read
SWEEP_KEYS = ("sample_id", "split", "layer")


def _set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(max(threads, 1))


def _startup_done() -> None:
    """End of start-up (imports, model loading): collect garbage again, but never look at what exists now.

    torch and transformers create hundreds of thousands of objects while importing; the cyclic collector runs
    over and over during that and finds nothing to free (measured: 1.3-2 s of a gradient job's start-up on 2
    busy cores, docs/benchmarks.md). `main` switches it off for commands that load a model; here it comes back
    with the start-up objects moved out of its sight (gc.freeze)."""
    gc.freeze()
    gc.enable()


def _load_model(args):
    from goldenlayers.models import load_prepared

    _set_threads(args.threads)
    loaded = load_prepared(args.model, dtype=args.dtype, device=args.device)
    _startup_done()
    return loaded


def _records_in(records, ids):
    wanted = set(ids)
    return [r for r in records if r["id"] in wanted]


def cmd_check_config(args):
    from goldenlayers.config import SCHEMA, load_config

    for path in args.configs:
        load_config(path, args.schema or SCHEMA)
        log.info("%s: ok", path)


def cmd_prepare_model(args):
    from goldenlayers.models import prepare_model

    ref = prepare_model(args.source, args.out_dir, num_layers=args.num_layers)
    log.info("model ready at %s (%s)", ref["path"], ref["model_type"])


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
    model, tok = _load_model(args)
    kept, report = filter_dataset(model, tok, records, keep_unknown=args.keep_unknown, progress=not args.quiet,
                                  path=args.dataset)
    write_json(args.out_report, report)
    write_json(args.out_records, kept)
    log.info("the model predicts %d of %d records; kept %d%s", report["n_known"], report["n_records"],
             report["n_kept"], " (keep_unknown: the unknown ones too)" if args.keep_unknown else "")


def cmd_split(args):
    from goldenlayers.data import split_ids
    from goldenlayers.io import read_json, write_json

    ids = [r["id"] for r in read_json(args.records)]
    split = split_ids(ids, args.proxy_fraction, seed=args.seed, max_samples=args.max_samples)
    write_json(args.out, split)
    log.info("split: %d proxy, %d test", len(split["proxy"]), len(split["test"]))


def cmd_templates(args):
    from goldenlayers.editing import load_hparams
    from goldenlayers.editing.templates import generate_context_templates
    from goldenlayers.io import write_json

    hparams = load_hparams(args.editor, args.hparams)
    model, tok = _load_model(args)
    templates = generate_context_templates(model, tok, hparams.context_template_length_params, seed=args.seed)
    write_json(args.out, {"seed": args.seed, "length_params": hparams.context_template_length_params,
                          "templates": templates})


def _subset_parts(split: dict, subset: str) -> list[tuple[str, list]]:
    """(name, ids) of the parts to process in order: the proxy first with `all`, so its time can be told apart."""
    if subset == "all":
        return [("proxy", split["proxy"]), ("test", split["test"])]
    return [(subset, split[subset])]


def cmd_gradients(args):
    import pandas as pd

    from goldenlayers.evidence import NewGradientFactors
    from goldenlayers.gradients import NewGradientSum, extract_layer_gradients
    from goldenlayers.io import read_json, write_json, write_parquet
    from goldenlayers.walltime import with_evidence_seconds

    dataset = read_json(args.records)
    parts = _subset_parts(read_json(args.split), args.subset)
    model, tok = _load_model(args)
    # SaLEM's summed new-knowledge gradient rides on the same pass (it needs the same keys and output gradients);
    # it sums the first part only (the proxy split with --subset all), which is what SaLEM's choice uses.
    summed = NewGradientSum() if args.out_saliency else None
    factors = NewGradientFactors() if args.out_factors else None
    frames, sources, timing = [], {}, {"subset": args.subset}
    for i, (name, ids) in enumerate(parts):
        started = time.perf_counter()
        frame = extract_layer_gradients(model, tok, _records_in(dataset, ids), progress=not args.quiet,
                                        new_gradient_sum=summed if i == 0 else None, new_factors=factors)
        timing[f"{name}_seconds"] = time.perf_counter() - started
        timing[f"n_{name}"] = len(frame["sample_id"].unique())
        sources.update(frame.attrs.get("old_answer_source", {}))
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True)
    frame.attrs["old_answer_source"] = sources
    write_parquet(args.out, frame)
    if summed is not None:
        write_parquet(args.out_saliency, summed.saliency_frame())
    if factors is not None:
        started = time.perf_counter()
        factors.save(args.out_factors, provenance={"records": args.records, "split": args.split,
                                                   "model": args.model, "dtype": args.dtype})
        timing["factors_save_seconds"] = time.perf_counter() - started
    if args.out_timing:
        write_json(args.out_timing, with_evidence_seconds(timing))


def cmd_select(args):
    """One selector of the registry: read its evidence (restricted to the proxy split), choose, add its wall time."""
    import pandas as pd

    from goldenlayers import selectors, walltime
    from goldenlayers.io import read_json, read_parquet, write_json

    spec = selectors.SELECTORS[args.method]
    started = time.perf_counter()
    tables = {}
    for need in spec.needs:
        paths = getattr(args, need)
        if not paths:
            raise ValueError(f"selector {args.method!r} needs --{need} ({selectors.EVIDENCE[need]})")
        if need == "sweep":
            frames = [read_parquet(p, columns=SWEEP_KEYS) for p in paths]
            tables["sweep"] = pd.concat(frames, ignore_index=True)
            if args.benchmarks:
                tables["sweep_job_seconds"] = walltime.sweep_job_seconds([f["layer"].unique() for f in frames],
                                                                         args.benchmarks)
        else:
            tables[need] = read_parquet(paths, columns=("sample_id", "layer") if need != "saliency" else ("layer",))
    evidence = selectors.proxy_evidence(tables, read_json(args.split)["proxy"] if args.split else None)
    params = {name: getattr(args, name) for name in spec.params if getattr(args, name) is not None}
    record = selectors.run(args.method, evidence, args.layers, params)
    # the tables key a selection by these, not by where its file happens to lie
    record.update({k: getattr(args, k) for k in ("model", "dataset") if getattr(args, k)})
    if spec.stage in ("gradient", "trace"):
        benchmark = args.benchmarks[0] if args.benchmarks else None
        walltime.add_wall_time(record, time.perf_counter() - started, spec.stage, benchmark, args.timing)
    write_json(args.out, record)
    chosen = record.get("chosen_layers") or record["chosen_layer"]
    log.info("%s chose layer%s %s", args.method, "s" if record.get("chosen_layers") else "", chosen)


def cmd_causal_trace(args):
    import pandas as pd

    from goldenlayers.causal_trace import TraceSettings, subject_embedding_std, trace_records, traceable
    from goldenlayers.io import read_json, write_json, write_parquet
    from goldenlayers.walltime import with_evidence_seconds

    dataset = read_json(args.records)
    usable = traceable(dataset)
    if len(usable) < len(dataset):
        log.warning("%d of %d records have no subject inside their prompt; causal tracing skips them",
                    len(dataset) - len(usable), len(dataset))
    parts = [(name, traceable(_records_in(dataset, ids)))
             for name, ids in _subset_parts(read_json(args.split), args.subset)]
    if not parts[0][1]:
        raise ValueError(f"no {parts[0][0]} record has its subject inside its prompt: nothing to trace")
    settings = TraceSettings(noise_multiplier=args.noise_multiplier, n_noise=args.n_noise, window=args.window,
                             seed=args.seed)
    model, tok = _load_model(args)
    # ROME: noise = noise_multiplier x the std of the subject-token embeddings (over the whole dataset)
    sigma = subject_embedding_std(model, tok, usable)
    frames, timing = [], {"subset": args.subset}
    for name, records in parts:
        started = time.perf_counter()
        if records:
            frames.append(trace_records(model, tok, records, settings.noise_multiplier * sigma, settings=settings,
                                        progress=not args.quiet))
        timing[f"{name}_seconds"] = time.perf_counter() - started
        timing[f"n_{name}"] = len(records)
    effects = pd.concat(frames, ignore_index=True)
    effects.attrs["trace"] = {**frames[0].attrs["trace"], "embedding_std": sigma}  # so the noise can be checked
    write_parquet(args.out, effects)
    if args.out_timing:
        write_json(args.out_timing, with_evidence_seconds(timing))


def cmd_plot_causal_trace(args):
    from goldenlayers.io import read_json, read_parquet
    from goldenlayers.plots import plot_causal_trace

    effects = read_parquet(args.effects, columns=("sample_id", "layer"))
    if args.split:  # the proxy rows: the plot's mean panel is the score CMA maximised
        proxy = set(map(str, read_json(args.split)["proxy"]))
        effects = effects[effects["sample_id"].astype(str).isin(proxy)]
    plot_causal_trace(effects, args.out_prefix)


def cmd_sweep_plan(args):
    from goldenlayers.io import read_json, write_json
    from goldenlayers.selection import sweep_plan

    plan = sweep_plan(args.grid, [read_json(path) for path in args.selections])
    write_json(args.out, plan)
    log.info("sweep layers %s (grid %s, added for the selectors: %s)", plan["layers"], plan["grid"], plan["added"])


def cmd_figure3(args):
    from goldenlayers.report import build_figure3

    build_figure3(args.selections, args.out_prefix, config_file=args.config)


def _chunk(text: str) -> tuple[int, int]:
    """'K/N' -> (K, N): the K-th (0-based) of N slices of the samples."""
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected K/N (e.g. 0/4), got {text!r}") from None
    if not 0 <= k < n:
        raise argparse.ArgumentTypeError(f"chunk {k}/{n}: need 0 <= K < N")
    return k, n


def cmd_merge_chunks(args):
    import pandas as pd

    from goldenlayers.io import read_parquet, write_parquet, write_text
    from goldenlayers.walltime import read_benchmark_seconds

    frames = [read_parquet(p, columns=SWEEP_KEYS) for p in args.chunks]
    write_parquet(args.out, pd.concat(frames, ignore_index=True))
    if args.benchmarks:
        # one layer's cost = the sum of its chunk jobs (what BF pays for that layer)
        seconds = sum(read_benchmark_seconds(p) for p in args.benchmarks)
        write_text(args.out_benchmark, f"s\n{seconds:.4f}\n")


def _sweep_inputs(args) -> tuple:
    """What both sweep drivers read: (model, tok, records, split, hparams, templates, covariance)."""
    from goldenlayers.editing import load_hparams
    from goldenlayers.io import read_json
    from goldenlayers.models import edited_module_name

    hparams = load_hparams(args.editor, args.hparams)
    records = read_json(args.records)
    split = read_json(args.split)
    templates = read_json(args.templates)["templates"]
    model, tok = _load_model(args)
    edited_module_name(model, args.layer)  # a layer out of range fails here, before anything is written
    return model, tok, records, split, hparams, templates, _layer_covariance(args, hparams)


def cmd_sweep(args):
    from goldenlayers.io import read_json
    from goldenlayers.sweep import run_sweep

    model, tok, records, split, hparams, templates, covariance = _sweep_inputs(args)
    frame = run_sweep(model, tok, records, split, args.editor, hparams, args.layer, templates, args.out,
                      fluency=args.fluency, progress=not args.quiet, covariance=covariance, chunk=args.chunk,
                      model_ref=read_json(args.model))
    log.info("layer %d: mean rewrite %.3f over %d samples", args.layer, frame["rewrite"].mean(), len(frame))


def _layer_covariance(args, hparams):
    """The layer's key covariance from --key-covariance when the editor uses it (`editing.needs_covariance`)."""
    from goldenlayers.editing import KeyCovariance, needs_covariance
    from goldenlayers.editing.covariance import mom2_disagreements

    if not needs_covariance(args.editor, hparams):
        return None
    if not args.key_covariance:
        raise ValueError(f"{args.editor} with {args.hparams} needs the layer's key covariance: pass "
                         "--key-covariance (a file written by `goldenlayers key-covariance`)")
    stats = KeyCovariance.load(args.key_covariance)
    if stats.metadata.get("layer", str(args.layer)) != str(args.layer):
        raise ValueError(f"{args.key_covariance} holds layer {stats.metadata['layer']}, not layer {args.layer}")
    log.info("key covariance of layer %d: %d tokens of %s", args.layer, stats.n_tokens, stats.corpus)
    for difference in mom2_disagreements(hparams, stats):
        # one covariance per (model, layer) serves every editor (config key_covariance), so it wins; say so
        log.warning("%s sets %s; the config's key_covariance section decides the covariance", args.hparams,
                    difference)
    return stats


def cmd_key_covariance(args):
    from goldenlayers.editing.covariance import load_or_compute_key_covariance
    from goldenlayers.models import edited_module_name

    model, tok = _load_model(args)
    edited_module_name(model, args.layer)  # a layer out of range fails here, before anything is computed
    stats = load_or_compute_key_covariance(model, tok, args.layer, args.out, corpus=args.corpus,
                                        n_samples=args.n_samples, dtype=args.precision, max_length=args.max_length,
                                        progress=not args.quiet)
    log.info("layer %d: E[kk^T] over %d tokens of %s -> %s", args.layer, stats.n_tokens, stats.corpus, args.out)


def cmd_sequential(args):
    from goldenlayers.sequential import run_sequential_sweep

    model, tok, records, split, hparams, templates, covariance = _sweep_inputs(args)
    frame = run_sequential_sweep(model, tok, records, split, args.editor, hparams, args.layer, templates, args.out,
                                 n_edits=args.n_edits, seed=args.seed, subset=args.subset, covariance=covariance,
                                 fluency=args.fluency, progress=not args.quiet)
    log.info("layer %d: %d sequential edits, mean rewrite %.3f after the last", args.layer, len(frame),
             frame["rewrite"].mean())


def cmd_aggregate(args):
    import pandas as pd

    from goldenlayers.analysis import layer_stats, summarise_sweep
    from goldenlayers.io import read_json, read_parquet, write_json, write_parquet

    sweep = pd.concat([read_parquet(p, columns=SWEEP_KEYS) for p in args.sweeps], ignore_index=True)
    sweep = sweep.sort_values(["layer", "split", "sample_id"], kind="stable").reset_index(drop=True)
    from goldenlayers.selectors import mean_of_selected, selected_layers

    # Random: several layers, reported as the mean of their metrics
    selected, multi = selected_layers([read_json(path) for path in args.selection or []])
    # the report keys its tables and figures by these, not by where the file happens to lie
    summary = {"model": args.model, "dataset": args.dataset, "editor": args.editor,
               **summarise_sweep(sweep, metric=args.metric, selected_layers=selected)}
    for name, keys in multi.items():
        summary["selected"] = mean_of_selected(summary["selected"], name, keys)
    write_parquet(args.out_sweep, sweep)
    write_parquet(args.out_stats, layer_stats(sweep))
    write_json(args.out_summary, summary)


def cmd_resample(args):
    from goldenlayers.resampling_report import run_resampling

    _set_threads(args.threads)
    summary = run_resampling(args.sweep, args.split, args.out_dir, gradients_path=args.gradients,
                             factors_path=args.factors, effects_path=args.effects, metric=args.metric,
                             tukey_k=args.tukey_k, n_draws=args.draws, curve_draws=args.curve_draws,
                             sizes=args.proxy_sizes, seed=args.seed, plan_path=args.plan, candidates=args.candidates,
                             aggregate_path=args.aggregate, fact_replicates=args.fact_bootstrap[0],
                             fact_draws=args.fact_bootstrap[1],
                             key={k: getattr(args, k) for k in ("model", "dataset", "editor") if getattr(args, k)})
    log.info("%d draws of %d proxy samples out of %d, curve sizes %s: %s", args.draws, summary["n_proxy"],
             summary["n_samples"], summary["curve_sizes"],
             ", ".join(f"{k} {v:.1f} s" for k, v in summary["seconds"].items()))


def cmd_report(args):
    from goldenlayers.report import write_report

    frames = write_report(args.tables, args.figures, args.inputs, args.out_dir, metric=args.metric,
                          config_file=args.config)
    for name, frame in frames.items():
        log.info("%s: %d rows", name, len(frame))


def _open_user_model(args):
    """suggest/edit: --model is a HF id, a local directory, a model.json or embedded:smollm2-135m."""
    from goldenlayers.suggest import open_model

    started = time.perf_counter()
    _set_threads(args.threads or os.cpu_count() or 1)
    loaded = open_model(args.model, dtype=args.dtype, device=args.device)
    _startup_done()
    log.info("model %s loaded in %.1f s", args.model, time.perf_counter() - started)
    return loaded


def _selectors(text: str) -> list[str]:
    from goldenlayers.selectors import measured

    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in measured()]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown selector(s) {', '.join(unknown) or '(none)'}; "
                                         f"choose from {', '.join(measured())}")
    return names


def cmd_suggest(args):
    from goldenlayers.io import write_json
    from goldenlayers.suggest import read_requests, suggest_layer, write_hparams

    requests = read_requests(args.requests, format=args.format)  # bad input fails before the model loads
    if args.hparams:
        from goldenlayers.editing import load_hparams

        load_hparams(args.editor, args.hparams)
    model, tok = _open_user_model(args)
    suggestion = suggest_layer(model, tok, requests, proxy=args.proxy, tukey_k=args.tukey_k,
                               selectors=args.selectors, layers=args.layers, seed=args.seed,
                               progress=not args.quiet)
    print(suggestion.table())
    print()
    print(suggestion.summary())
    if args.json:
        write_json(args.json, {"model": args.model, "requests": str(args.requests), **suggestion.to_dict()})
        print(f"wrote {args.json}")
    if args.write_hparams:
        write_hparams(args.write_hparams, model, args.editor, suggestion.layer, model_name=args.model,
                      base=args.hparams)
        print(f"wrote {args.write_hparams} ({args.editor}, layers: [{suggestion.layer}])")


def cmd_edit(args):
    from goldenlayers.apply_edits import check_out_dir, edit, save_edited
    from goldenlayers.suggest import read_requests

    check_out_dir(args.out, force=args.force)  # refused before anything is loaded or computed
    if args.layer != "auto" and not args.layer.lstrip("-").isdigit():
        raise ValueError(f"--layer must be auto or a layer number, got {args.layer!r}")
    requests = read_requests(args.requests, format=args.format)
    if args.hparams:
        from goldenlayers.editing import load_hparams

        load_hparams(args.editor, args.hparams)
    model, tok = _open_user_model(args)
    covariance = None
    if args.key_covariance:
        covariance = _edit_covariance(args, model, tok)
    report = edit(model, tok, requests, layer=args.layer, editor=args.editor, hparams=args.hparams,
                  covariance=covariance, seed=args.seed, tukey_k=args.tukey_k, progress=not args.quiet)
    out = save_edited(model, tok, report, args.out, force=args.force)
    after = report.means("after")
    print(f"{report.editor} at layer {report.layer}: {report.n_ok} of {len(report.rows)} edits applied; "
          + ", ".join(f"{m} {v:.3f}" for m, v in after.items() if v is not None))
    for i, row in enumerate(report.rows):
        if row["status"] != "ok":
            print(f"request {i} ({row['prompt']!r} -> {row['target_new']!r}) not applied: {row['reason']}")
    print(f"saved the edited model and report.json / report.md to {out}")


def _edit_covariance(args, model, tok):
    """--key-covariance FILE: the covariance cached there (computed and written when missing or made otherwise),
    from the hparams' mom2_dataset / mom2_n_samples / mom2_dtype (the editor's defaults without --hparams)."""
    from goldenlayers.editing import get_editor, load_hparams
    from goldenlayers.editing.covariance import load_or_compute_key_covariance

    if args.layer == "auto":
        raise ValueError("--key-covariance holds one layer's covariance: give --layer N with it")
    hp = load_hparams(args.editor, args.hparams) if args.hparams else get_editor(args.editor).hparams_class()
    return load_or_compute_key_covariance(model, tok, int(args.layer), args.key_covariance, corpus=hp.mom2_dataset,
                                          n_samples=hp.mom2_n_samples, dtype=hp.mom2_dtype, progress=not args.quiet)


def build_parser() -> argparse.ArgumentParser:
    from goldenlayers.data import ON_INVALID  # no torch: the data package imports it only for the known-fact filter
    from goldenlayers.selectors import EVIDENCE, SELECTORS, TUKEY_K
    from goldenlayers.selectors import PARAMS as SELECTOR_PARAMS
    from goldenlayers.editing import EDITORS  # the registry imports no torch, so --help stays fast
    from goldenlayers.editing.hparams import DEFAULT_CORPUS

    parser = argparse.ArgumentParser(prog="goldenlayers", description=__doc__)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)

    def model_args(p):
        p.set_defaults(loads_model=True)
        p.add_argument("--model", required=True, help="model.json written by prepare-model")
        p.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
        p.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:1, ...")
        p.add_argument("--threads", type=int, default=1, help="CPU threads for torch")

    def evidence_args(p, what: str):
        """A measuring stage (gradients, causal-trace): the model, which samples, and how long each part took."""
        model_args(p)
        p.add_argument("--records", required=True)
        p.add_argument("--split", required=True)
        p.add_argument("--subset", default="proxy", choices=["proxy", "test", "all"],
                       help=f"samples to {what}; all = proxy then test (the proxy part is timed on its own)")
        p.add_argument("--out-timing", help="JSON with each part's seconds (proxy vs the evidence-only rest)")

    p = sub.add_parser("check-config", help="check config files: YAML syntax (file, line), unknown keys (nearest "
                       "valid one), model/dataset names, settings that contradict each other")
    p.add_argument("configs", nargs="+", help="config files (each may be partial, like config/paper.yaml)")
    p.add_argument("--schema", help="default: workflow/schemas/config.schema.yaml of this checkout")
    p.set_defaults(func=cmd_check_config)

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

    p = sub.add_parser("split", help="seeded proxy/test split of the kept records")
    p.add_argument("--records", required=True)
    p.add_argument("--proxy-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--max-samples", type=int, default=None)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_split)

    p = sub.add_parser("templates", help="generate the context templates of a model (seeded, cached)")
    model_args(p)
    p.add_argument("--editor", default="r-rome", choices=list(EDITORS))
    p.add_argument("--hparams", required=True)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_templates)

    p = sub.add_parser("gradients", help="per-sample, per-layer gradient inner products and norms")
    evidence_args(p, "measure")
    p.add_argument("--out", required=True)
    p.add_argument("--out-saliency", help="also write SaLEM's per-layer saliency (summed new-knowledge gradient, "
                                          "over the proxy samples with --subset all)")
    p.add_argument("--out-factors", help="also write every sample's new-knowledge gradient factors (SaLEM on any "
                                         "subset; goldenlayers.evidence)")
    p.set_defaults(func=cmd_gradients)

    p = sub.add_parser("select", help="choose a layer with one selector of the registry (goldenlayers.selectors)")
    p.add_argument("--method", required=True, choices=list(SELECTORS))
    p.add_argument("--model", help="model name, recorded in the selection (Figure 3's table reads it)")
    p.add_argument("--dataset", help="dataset name, recorded in the selection")
    for need, what in EVIDENCE.items():
        p.add_argument(f"--{need}", nargs="+" if need == "sweep" else None, help=what)
    p.add_argument("--split", help="split.json: choose from the proxy samples (default: every sample)")
    p.add_argument("--layers", type=int, nargs="*", help="candidate layers (default: all in the evidence; "
                                                         "required by random)")
    for name, (kind, what) in SELECTOR_PARAMS.items():
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, help=what)
    p.add_argument("--benchmarks", nargs="*", help="Snakemake benchmark files of the jobs that measured the "
                                                   "evidence (wall time; bf: one per sweep file, same order)")
    p.add_argument("--timing", help="the measuring job's --out-timing file (its evidence-only seconds are left "
                                    "out of the wall time)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_select)

    p = sub.add_parser("causal-trace", help="indirect effect of restoring each layer's MLP output (ROME's tracing)")
    evidence_args(p, "trace")
    p.add_argument("--noise-multiplier", type=float, default=3.0)
    p.add_argument("--n-noise", type=int, default=10)
    p.add_argument("--window", type=int, default=10)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_causal_trace)

    p = sub.add_parser("plot-causal-trace", help="plot a causal trace: a few samples and the mean indirect effect")
    p.add_argument("--effects", required=True)
    p.add_argument("--split", help="split.json: plot the proxy samples (the ones CMA chooses from)")
    p.add_argument("--out-prefix", required=True, help="prefix of the PNG and PDF")
    p.set_defaults(func=cmd_plot_causal_trace)

    p = sub.add_parser("sweep-plan", help="layers to sweep: the grid plus every selector's chosen layer")
    p.add_argument("--selections", nargs="+", required=True, help="selector JSON files (lga.json, ...)")
    p.add_argument("--grid", type=int, nargs="+", required=True, help="the configured sweep layers")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_sweep_plan)

    p = sub.add_parser("figure3", help="Figure 3: wall time and speed-up of each selector over BF")
    p.add_argument("--selections", nargs="+", required=True)
    p.add_argument("--config", help="the config file, hashed into the provenance sidecar")
    p.add_argument("--out-prefix", required=True)
    p.set_defaults(func=cmd_figure3)

    p = sub.add_parser("sweep", help="edit every sample at one layer and evaluate (resumable)")
    model_args(p)
    p.add_argument("--records", required=True)
    p.add_argument("--split", required=True)
    p.add_argument("--templates", required=True)
    p.add_argument("--editor", default="r-rome", choices=list(EDITORS))
    p.add_argument("--hparams", required=True)
    p.add_argument("--layer", type=int, required=True)
    p.add_argument("--fluency", action="store_true", help="also measure fluency (a 100-token generation per edit)")
    p.add_argument("--chunk", type=_chunk, default=(0, 1), metavar="K/N",
                   help="edit only the K-th (0-based) of N contiguous slices of the samples")
    p.add_argument("--key-covariance", help="the layer's key covariance (key-covariance output), for editors that "
                                            "use it")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("key-covariance", help="key covariance E[kk^T] of one layer's edited module (cached)")
    model_args(p)
    p.add_argument("--layer", type=int, required=True)
    p.add_argument("--corpus", default=DEFAULT_CORPUS,
                   help="embedded:mom2_corpus (offline default), a .txt/.jsonl/.json/.parquet file, or a HF dataset "
                        "id (wikipedia, wikitext, or id[:config]; needs network and `datasets`)")
    p.add_argument("--n-samples", type=int, default=100000, help="number of texts (EasyEdit's mom2_n_samples)")
    p.add_argument("--precision", default="float32", choices=["float32", "float64"], help="accumulation dtype")
    p.add_argument("--max-length", type=int, default=None, help="tokens per text (default: the model's context)")
    p.add_argument("--out", required=True, help="safetensors file")
    p.set_defaults(func=cmd_key_covariance)

    p = sub.add_parser("sequential", help="N edits one after another at one layer, then evaluate all N")
    model_args(p)
    p.add_argument("--records", required=True)
    p.add_argument("--split", required=True)
    p.add_argument("--subset", default="test", choices=["proxy", "test"], help="split the samples are drawn from")
    p.add_argument("--templates", required=True)
    p.add_argument("--editor", default="r-rome", choices=list(EDITORS))
    p.add_argument("--hparams", required=True)
    p.add_argument("--layer", type=int, required=True)
    p.add_argument("--n-edits", type=int, default=10)
    p.add_argument("--seed", type=int, default=42, help="seed of the sample choice (same for every layer/editor)")
    p.add_argument("--fluency", action="store_true")
    p.add_argument("--key-covariance", help="the layer's key covariance, for editors that use it")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_sequential)

    p = sub.add_parser("merge-chunks", help="concatenate the chunk files of one sweep layer")
    p.add_argument("--chunks", nargs="+", required=True)
    p.add_argument("--benchmarks", nargs="*", help="the chunk jobs' Snakemake benchmark files")
    p.add_argument("--out", required=True)
    p.add_argument("--out-benchmark", help="where to write the summed seconds (read by the BF selector)")
    p.set_defaults(func=cmd_merge_chunks)

    p = sub.add_parser("aggregate", help="per-layer statistics, golden layers and t-tests of one sweep")
    p.add_argument("--sweeps", nargs="+", required=True, help="per-layer sweep parquet files")
    p.add_argument("--selection", nargs="*", help="selector JSON files (lga.json, ...)")
    p.add_argument("--metric", default="rewrite")
    p.add_argument("--model", required=True, help="the model's name in the config (recorded in the summary)")
    p.add_argument("--dataset", required=True, help="the dataset's name in the config (recorded in the summary)")
    p.add_argument("--editor", required=True, help="the editor (recorded in the summary)")
    p.add_argument("--out-sweep", required=True)
    p.add_argument("--out-stats", required=True)
    p.add_argument("--out-summary", required=True)
    p.set_defaults(func=cmd_aggregate)

    p = sub.add_parser("resample", help="R seeded proxy/test re-splits: every selector's choice from cached "
                                        "per-sample evidence, regret and hit rate (and the proxy-size curve)")
    p.add_argument("--sweep", required=True, help="aggregated sweep (aggregate/<editor>/sweep.parquet)")
    p.add_argument("--model", help="model name, recorded in summary.json (Table 16 and Figures 5-6 read it)")
    p.add_argument("--dataset", help="dataset name, recorded in summary.json")
    p.add_argument("--editor", help="editor name, recorded in summary.json")
    p.add_argument("--split", required=True, help="split.json (its proxy size is the draws' proxy size)")
    p.add_argument("--gradients", help="per-sample gradient scalars of every swept sample (LGA, LGA(K'))")
    p.add_argument("--factors", help="new-knowledge gradient factors of every swept sample (SaLEM)")
    p.add_argument("--effects", help="per-sample causal-trace effects of every swept sample (CMA)")
    p.add_argument("--metric", default="rewrite", help="BF's metric")
    p.add_argument("--tukey-k", type=float, default=TUKEY_K)
    p.add_argument("--draws", type=int, default=200)
    p.add_argument("--curve-draws", type=int, default=50, help="draws per proxy size of the proxy-size curve")
    p.add_argument("--proxy-sizes", type=int, nargs="+", default=[3, 5, 10, 20, 50])
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--plan", help="sweep_plan.json (its grid: the draws' candidates with --candidates grid)")
    p.add_argument("--aggregate", help="aggregate summary.json (the pipeline's chosen layers: Table 17)")
    p.add_argument("--candidates", choices=["grid", "swept"], default="grid", help="layers the draws choose among")
    p.add_argument("--fact-bootstrap", type=int, nargs=2, default=[0, 1], metavar=("REPLICATES", "DRAWS"))
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch (SaLEM's re-scoring)")
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_resample)

    from goldenlayers.report import FIGURES
    from goldenlayers.tables import INPUTS, PAPER_TABLES

    kinds = "; ".join(f"{kind}: {spec.files}" for kind, spec in INPUTS.items())
    p = sub.add_parser("report", help="paper tables (CSV, Markdown, provenance sidecar) and figures from result files")
    p.add_argument("--tables", nargs="+", default=[], choices=list(PAPER_TABLES), metavar="TABLE",
                   help=f"paper tables to build ({', '.join(PAPER_TABLES)})")
    p.add_argument("--figures", nargs="+", default=[], choices=list(FIGURES), metavar="FIGURE",
                   help=f"figures to draw ({', '.join(FIGURES)})")
    p.add_argument("--inputs", nargs="+", required=True,
                   help=f"the files the tables and figures read, all of one kind ({kinds})")
    p.add_argument("--metric", default="rewrite", help="the config's metric (selected_layers, Figure 2)")
    p.add_argument("--config", help="the resolved config (YAML), hashed into the provenance sidecar")
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_report)

    def user_model_args(p):
        p.set_defaults(loads_model=True)
        p.add_argument("--model", default="embedded:smollm2-135m",
                       help="a Hugging Face id, a local model directory, a model.json of prepare-model, or "
                            "embedded:smollm2-135m (default; prepared once into ~/.cache/goldenlayers, no download)")
        p.add_argument("--requests", required=True,
                       help="JSON file of edit requests: KnowEdit, Counterfact, ZsRE-MEND, ... or a plain list of "
                            "{prompt, subject, target_new[, ground_truth]}")
        p.add_argument("--format", help="format of the requests file (default: detected)")
        p.add_argument("--editor", default="r-rome", choices=list(EDITORS))
        p.add_argument("--hparams", help="EasyEdit hparams YAML to take the editor's numbers from "
                                         "(default: the editor's defaults)")
        p.add_argument("--tukey-k", type=float, default=TUKEY_K, help="Tukey fence constant of LGA")
        p.add_argument("--seed", type=int, default=42)
        p.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
        p.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:1, ...")
        p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: all cores)")

    p = sub.add_parser("suggest", help="which layer to edit: LGA on your model and requests, as a ranked table")
    user_model_args(p)
    p.add_argument("--proxy", type=int, help="score a seeded subsample of this many requests (default: all)")
    p.add_argument("--selectors", type=_selectors, default=["lga"],
                   help="comma-separated: lga, lga_kprime, salem (same gradient pass), cma (causal tracing, slower)")
    p.add_argument("--layers", type=int, nargs="+", help="candidate layers (default: all)")
    p.add_argument("--json", help="write the suggestion (scores, fences, picks, caveats) to this JSON file")
    p.add_argument("--write-hparams", metavar="FILE",
                   help="write an EasyEdit hparams YAML for --editor with layers: [chosen layer]")
    p.set_defaults(func=cmd_suggest)

    p = sub.add_parser("edit", help="apply your edit requests at one layer and save the edited model")
    user_model_args(p)
    p.add_argument("--layer", default="auto", help="auto (LGA's choice) or a layer number")
    p.add_argument("--key-covariance", help="key covariance file for EMMET / mom2_adjustment (computed there from "
                                            "the hparams' mom2_* if missing; default: computed in memory)")
    p.add_argument("--out", required=True, help="directory for the edited model (must be empty or new)")
    p.add_argument("--force", action="store_true", help="replace a non-empty --out")
    p.set_defaults(func=cmd_edit)

    from goldenlayers.appendix_cli import add_appendix_parsers

    add_appendix_parsers(sub, model_args)  # Tables 12-13 (appendix settings)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand. Called as a program (argv None) it ends the process itself once done (`_exit_now`)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if getattr(args, "loads_model", False):
        gc.disable()  # until _startup_done(), after the model is loaded
    try:
        args.func(args)
        code = 0
    except (ValueError, OSError) as err:
        # bad input or an unwritable/full disk: one clear line, no traceback (outputs are atomic, none is left)
        detail = f"{err.strerror}: {err.filename}" if isinstance(err, OSError) and err.filename else err
        print(f"goldenlayers {args.command}: error: {detail}", file=sys.stderr)
        code = 2
    finally:
        gc.enable()
    if argv is None and getattr(args, "loads_model", False):
        _exit_now(code)
    return code


def _exit_now(code: int) -> None:
    """Leave without the interpreter's teardown. Every output is already written and renamed into place; what
    teardown would do is free the model and the torch/transformers module graph object by object, which took
    2-4 s per job on 2 busy cores (docs/benchmarks.md) and counts in every Snakemake job's wall time."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
