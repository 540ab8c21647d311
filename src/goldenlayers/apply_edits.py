"""`goldenlayers edit`: write your edit requests into a model at one layer and save the edited model.

R-ROME and ROME write the requests one after another (each edit is computed on the weights the previous ones
left), an editor that batches (EMMET) writes them in one update; both through `editing.apply.edit_sequentially`, the
code of the pipeline's sequential-editing table. Every request is evaluated before the first edit and after the last one
(rewrite, rephrase, locality, portability with the pipeline's metrics; locality compares with the unedited
model's predictions). `layer="auto"` asks `suggest.suggest_layer` first, with the same choices as `goldenlayers
suggest` (the default selector, or `verify`), so both recommend the same layer.

An edit that fails (non-finite or over the norm bound) is not applied; its row says why. Only the edited
layer's weight changes: every other parameter of the saved model is bit-identical to the original.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from goldenlayers.editing.evaluate import METRICS
from goldenlayers.selection.registry import TUKEY_K


@dataclass
class EditReport:
    """What `edit` did: per request its status and metrics before and after, plus the settings used."""

    editor: str
    layer: int
    layer_source: str  # "given", or what chose it for layer="auto": a selector's name or "verify"
    rows: list[dict]
    hparams: dict
    n_templates: int
    suggestion: dict | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def n_ok(self) -> int:
        return sum(row["status"] == "ok" for row in self.rows)

    def means(self, when: str) -> dict[str, float | None]:
        """Mean of each metric over the requests that have it ("before" or "after")."""
        out = {}
        for metric in METRICS:
            values = [row[when][metric] for row in self.rows if not _missing(row[when].get(metric))]
            out[metric] = sum(values) / len(values) if values else None
        return out

    def to_dict(self) -> dict:
        return {**asdict(self), "n_ok": self.n_ok, "mean_before": self.means("before"),
                "mean_after": self.means("after")}

    def markdown(self) -> str:
        lines = [f"# Edit report: {self.editor} at layer {self.layer}", "",
                 f"Layer {self.layer} ({'given' if self.layer_source == 'given' else 'chosen by ' + _chooser(self)}); "
                 f"{self.n_ok} of {len(self.rows)} edits applied; {self.n_templates} context templates.", "",
                 "| metric | before | after |", "| --- | ---: | ---: |"]
        before, after = self.means("before"), self.means("after")
        for metric in METRICS:
            if before[metric] is not None or after[metric] is not None:
                lines.append(f"| {metric} | {_fmt(before[metric])} | {_fmt(after[metric])} |")
        lines += ["", "| # | prompt | target_new | status | rewrite before → after | rephrase | locality |",
                  "| ---: | --- | --- | --- | --- | ---: | ---: |"]
        for i, row in enumerate(self.rows):
            status = row["status"] if row["status"] == "ok" else f"failed: {row['reason']}"
            lines.append(f"| {i} | {_cell(row['prompt'])} | {_cell(row['target_new'])} | {_cell(status)} | "
                         f"{_fmt(row['before']['rewrite'])} → {_fmt(row['after']['rewrite'])} | "
                         f"{_fmt(row['after']['rephrase'])} | {_fmt(row['after']['locality'])} |")
        return "\n".join(lines) + "\n"


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _fmt(value) -> str:
    return "–" if _missing(value) else f"{value:.3f}"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _chooser(report: EditReport) -> str:
    from goldenlayers.suggest import _selector_label

    return "verify" if report.layer_source == "verify" else _selector_label(report.layer_source)


def edit(model, tokenizer, requests, layer="auto", editor: str = "r-rome", hparams=None, templates=None,
         covariance=None, seed: int = 42, tukey_k: float = TUKEY_K, progress: bool = True,
         covariance_file=None, choose: dict | None = None) -> EditReport:
    """Edit `model` in place with `requests` at `layer` ("auto": `suggest_layer`'s recommendation) and evaluate
    before and after.

    requests: raw request dicts in any format the pipeline reads or normalised records. hparams: a hparams
    object, mapping or EasyEdit YAML path (default: the editor's defaults). templates: context templates
    (default: generated from the model, seeded). covariance: the layer's `KeyCovariance` for EMMET (and ROME with
    mom2_adjustment); computed from the hparams' mom2 corpus when not given, cached in `covariance_file` if named
    (`editing.covariance.for_layer`, the one policy). choose: for layer="auto", `suggest_layer`'s choice
    settings (proxy, selectors, layers, verify, verify_requests, verify_metric); editor, hparams, templates, seed
    and tukey_k are this call's, so `edit` and `suggest` with the same flags choose the same layer.
    """
    from goldenlayers.data import filter_known
    from goldenlayers.editing import get_editor
    from goldenlayers.editing.apply import edit_sequentially
    from goldenlayers.editing.templates import generate_context_templates
    from goldenlayers.editing.evaluate import evaluate_record
    from goldenlayers.editing.covariance import for_layer
    from goldenlayers.models import check_layer, num_layers
    from goldenlayers.suggest import as_records, resolve_hparams, suggest_layer

    spec = get_editor(editor)  # unknown editor: fail before any work
    hp = resolve_hparams(editor, hparams)
    hp.check_loss_layer(num_layers(model))  # hparams for another model size: before LGA runs for layer="auto"
    records = as_records(requests)
    seconds, suggestion = {}, None
    choose = {k: v for k, v in (choose or {}).items() if v is not None}  # None: suggest_layer's default
    if layer == "auto":
        started = time.perf_counter()
        if templates is None and choose.get("verify") is not None:  # verify's edits and ours share them
            templates = generate_context_templates(model, tokenizer, hp.context_template_length_params, seed=seed)
        found = suggest_layer(model, tokenizer, records, tukey_k=tukey_k, seed=seed, progress=progress,
                              editor=editor, hparams=hp, templates=templates, **choose)
        layer, layer_source, suggestion = found.layer, found.method, found.to_dict()
        seconds["suggest"] = time.perf_counter() - started
    else:
        if choose:
            raise ValueError(f"{', '.join(sorted(choose))} choose the layer: only with layer='auto'")
        layer_source = "given"
        if isinstance(layer, str):
            if not layer.lstrip("-").isdigit():
                raise ValueError(f"layer must be 'auto' or a layer number, got {layer!r}")
            layer = int(layer)
    check_layer(model, layer)
    if spec.batches:  # every request in one update
        hp = replace(hp, batch_size=len(records))
    started = time.perf_counter()
    if templates is None:
        templates = generate_context_templates(model, tokenizer, hp.context_template_length_params, seed=seed)
    covariance = for_layer(editor, hp, layer, given=covariance, cache=covariance_file, model=model, tok=tokenizer,
                           progress=progress)
    seconds["setup"] = time.perf_counter() - started
    # pre-edit predictions: locality baselines (the metric compares with them) and the "before" metrics
    records, _ = filter_known(model, tokenizer, records, keep_unknown=True, progress=False)
    before = [evaluate_record(model, tokenizer, r) for r in records]
    started = time.perf_counter()
    result = edit_sequentially(model, tokenizer, records, editor, hp, layer, templates, covariance=covariance,
                               progress=progress, restore=False)
    seconds["edit_and_evaluate"] = time.perf_counter() - started
    rows = []
    for record, pre, row in zip(records, before, result.rows):
        rows.append({"id": record["id"], "prompt": record["prompt"], "subject": record["subject"],
                     "target_new": record["target_new"], "ground_truth": record["ground_truth"],
                     "status": row["status"], "reason": row["reason"], "steps": row["steps"],
                     "edit_seconds": row["edit_seconds"],
                     "before": {m: pre[m] for m in METRICS}, "after": {m: row[m] for m in METRICS}})
    return EditReport(editor=editor, layer=int(layer), layer_source=layer_source, rows=rows,
                      hparams=asdict(hp), n_templates=len(templates), suggestion=suggestion, seconds=seconds)


# ---------------------------------------------------------------------------------------------------------------
# saving
# ---------------------------------------------------------------------------------------------------------------
def check_out_dir(out: str | os.PathLike, force: bool = False) -> Path:
    """Refuse an output directory that cannot take the edited model, before any work is done: a non-empty one
    (with `force`, only one an earlier edit wrote, recognised by its report.json: `force` replaces the whole
    directory, so a user's own files must not be in it), and one whose parent cannot be written."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise ValueError(f"--out {out} is not empty; choose another directory or pass --force to replace it")
        if not _written_by_edit(out):
            raise ValueError(f"--out {out} holds files that `goldenlayers edit` did not write (no edit "
                             "report.json in it): --force replaces only an earlier edit's directory; choose another "
                             "directory")
    _check_writable(out.parent)
    return out


def _written_by_edit(directory: Path) -> bool:
    """Whether `directory` is an earlier `save_edited` output: its report.json is an EditReport's."""
    import json

    try:
        report = json.loads((directory / "report.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(report, dict) and {"editor", "layer", "rows", "hparams"} <= set(report)


def _check_writable(directory: Path) -> None:
    """The edited model's temporary directory can be created in `directory` (`io.check_can_write`: permissions, a
    read-only filesystem or a file in the way, where os.access would say yes to root); the message names --out."""
    from goldenlayers.io import check_can_write

    try:
        check_can_write(directory / ".goldenlayers-edit")
    except ValueError as err:
        raise ValueError(f"--out: {err}; choose a writable directory") from None


@contextlib.contextmanager
def _without_stale_gguf_tag(model):
    """Let save_pretrained write a model whose config still says `quant_method: gguf` over plain float weights.

    The embedded model is dequantised from GGUF once (models.prepare_model); directories prepared before that step
    dropped the tag still carry it, and transformers then refuses to save ("quantized with gguf and is not
    serializable") although every weight is an ordinary float tensor. The tag is lifted for the save and put back.
    """
    import torch

    config = model.config
    tag = getattr(config, "quantization_config", None)
    method = tag.get("quant_method") if isinstance(tag, dict) else getattr(tag, "quant_method", None)
    plain = all(p.dtype in (torch.float32, torch.float16, torch.bfloat16) for p in model.parameters())
    if str(getattr(method, "value", method)) != "gguf" or not plain:
        yield
        return
    saved = {name: getattr(model, name) for name in ("hf_quantizer", "is_quantized", "quantization_method")
             if hasattr(model, name)}
    del config.quantization_config
    for name in saved:
        setattr(model, name, None if name != "is_quantized" else False)
    try:
        yield
    finally:
        config.quantization_config = tag
        for name, value in saved.items():
            setattr(model, name, value)


def save_edited(model, tokenizer, report: EditReport, out: str | os.PathLike, force: bool = False) -> Path:
    """Save the edited model as a Hugging Face directory (safetensors, tokenizer, config) with report.json and
    report.md, atomically: everything is written to a temporary directory beside `out`, then renamed."""
    from goldenlayers.io import write_json, write_text

    out = check_out_dir(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        try:
            with _without_stale_gguf_tag(model):
                model.save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
        except Exception as err:  # safetensors raises its own error type for a full disk or a file-size limit
            if type(err).__name__ != "SafetensorError" and not isinstance(err, OSError):
                raise
            detail = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ValueError(f"cannot write the edited model to {out}: {detail} (disk full or a file-size limit "
                             "such as `ulimit -f`?); nothing was saved") from None
        write_json(tmp / "report.json", report.to_dict())
        write_text(tmp / "report.md", report.markdown())
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out
