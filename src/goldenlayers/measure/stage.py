"""The measuring stage's bodies (`goldenlayers gradients` / `causal-trace`): which samples, in which order, timed
by part, and the files written. The CLI reads the inputs, loads the model and calls these."""

from __future__ import annotations

import logging
import time

log = logging.getLogger("goldenlayers")


def records_in(records: list[dict], ids) -> list[dict]:
    wanted = set(ids)
    return [r for r in records if r["id"] in wanted]


def subset_parts(split: dict, subset: str) -> list[tuple[str, list]]:
    """(name, ids) of the parts to process in order: the proxy first with `all`, so its time can be told apart."""
    if subset == "all":
        return [("proxy", split["proxy"]), ("test", split["test"])]
    return [(subset, split[subset])]


def measure_gradients(model, tok, dataset: list[dict], split: dict, subset: str, out: str,
                      out_saliency: str | None = None, out_factors: str | None = None,
                      out_timing: str | None = None, provenance: dict | None = None, progress: bool = True) -> None:
    """Per-sample gradient scalars of `subset`, and on the same pass SaLEM's saliency and factors when asked."""
    import pandas as pd

    from goldenlayers.io import write_json, write_parquet
    from goldenlayers.measure.factors import NewGradientFactors
    from goldenlayers.measure.gradients import NewGradientSum, extract_layer_gradients
    from goldenlayers.walltime import with_evidence_seconds

    # SaLEM's summed new-knowledge gradient rides on the same pass (it needs the same keys and output gradients);
    # it sums the first part only (the proxy split with --subset all), which is what SaLEM's choice uses.
    summed = NewGradientSum() if out_saliency else None
    factors = NewGradientFactors() if out_factors else None
    frames, sources, timing = [], {}, {"subset": subset}
    for i, (name, ids) in enumerate(subset_parts(split, subset)):
        started = time.perf_counter()
        frame = extract_layer_gradients(model, tok, records_in(dataset, ids), progress=progress,
                                        new_gradient_sum=summed if i == 0 else None, new_factors=factors)
        timing[f"{name}_seconds"] = time.perf_counter() - started
        timing[f"n_{name}"] = len(frame["sample_id"].unique())
        sources.update(frame.attrs.get("old_answer_source", {}))
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True)
    frame.attrs["old_answer_source"] = sources
    write_parquet(out, frame)
    if summed is not None:
        write_parquet(out_saliency, summed.saliency_frame())
    if factors is not None:
        started = time.perf_counter()
        factors.save(out_factors, provenance=provenance or {})
        timing["factors_save_seconds"] = time.perf_counter() - started
    if out_timing:
        write_json(out_timing, with_evidence_seconds(timing))


def trace_parts(dataset: list[dict], split: dict, subset: str) -> tuple[list[dict], list[tuple[str, list[dict]]]]:
    """(every traceable record, [(part, its traceable records)]); checked before any model is loaded."""
    from goldenlayers.measure.causal_trace import traceable

    usable = traceable(dataset)
    if len(usable) < len(dataset):
        log.warning("%d of %d records have no subject inside their prompt; causal tracing skips them",
                    len(dataset) - len(usable), len(dataset))
    parts = [(name, traceable(records_in(dataset, ids))) for name, ids in subset_parts(split, subset)]
    if not parts[0][1]:
        raise ValueError(f"no {parts[0][0]} record has its subject inside its prompt: nothing to trace")
    return usable, parts


def measure_causal_trace(model, tok, usable: list[dict], parts: list, settings, subset: str, out: str,
                         out_timing: str | None = None, progress: bool = True) -> None:
    """ROME's causal trace of every part's records, noise scaled by the subject embeddings' std over `usable`."""
    import pandas as pd

    from goldenlayers.io import write_json, write_parquet
    from goldenlayers.measure.causal_trace import subject_embedding_std, trace_records
    from goldenlayers.walltime import with_evidence_seconds

    # ROME: noise = noise_multiplier x the std of the subject-token embeddings (over the whole dataset)
    sigma = subject_embedding_std(model, tok, usable)
    frames, timing = [], {"subset": subset}
    for name, records in parts:
        started = time.perf_counter()
        if records:
            frames.append(trace_records(model, tok, records, settings.noise_multiplier * sigma, settings=settings,
                                        progress=progress))
        timing[f"{name}_seconds"] = time.perf_counter() - started
        timing[f"n_{name}"] = len(records)
    effects = pd.concat(frames, ignore_index=True)
    effects.attrs["trace"] = {**frames[0].attrs["trace"], "embedding_std": sigma}  # so the noise can be checked
    write_parquet(out, effects)
    if out_timing:
        write_json(out_timing, with_evidence_seconds(timing))
