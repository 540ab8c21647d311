"""Key covariance (ROME's "mom2" statistics): the uncentred second moment C = E[k kᵀ] of the edited module's input.

k runs over every token of N texts of a corpus. ROME/R-ROME use C when `mom2_adjustment` is true (u = C⁻¹k̄,
normalised) and EMMET always does. C is computed once per (model, layer), accumulated in float32 (float64 on
request) and cached as safetensors with the sample count and the corpus id in the metadata, so one file serves
every edit and every editor of that layer; the factorisation of C is computed once per loaded file and reused.

Corpora:
- `embedded:mom2_corpus` (the offline default): `goldenlayers/data/mom2_corpus.json`, a few thousand words of
  general encyclopedic English prose written for this project (geography, history, science, arts, sport,
  technology, everyday life). ROME and EasyEdit use 100,000 Wikipedia articles; this corpus is far smaller, so
  C is a noisier estimate (state it when reporting mom2-adjusted results). Not drawn from any edit dataset, so
  no evaluation prompt leaks into the editor.
- a file: `.txt` (paragraphs separated by blank lines), `.jsonl` (one string or {"text": ...} per line),
  `.json` (a list of strings or {"text": ...}, or {"texts": [...]}) or `.parquet` (a `text` column);
- otherwise a Hugging Face dataset id, optionally `id:config` (needs network and the `datasets` package);
  EasyEdit's names `wikipedia`, `wikitext` and `wikitext2` map to the datasets EasyEdit loads. The first N texts
  of the train split are used (EasyEdit draws a seeded random subset; streaming keeps this offline-cheap).
"""

from __future__ import annotations

import hashlib
import json
import logging
from importlib import resources
from pathlib import Path

import torch
from tqdm import tqdm

from goldenlayers.editing.edits import EditError
from goldenlayers.editing.hparams import DEFAULT_CORPUS
from goldenlayers.io import atomic_path
from goldenlayers.models import edited_module, edited_module_name

log = logging.getLogger(__name__)

EASYEDIT_DATASETS = {
    "wikipedia": ("wikimedia/wikipedia", "20231101.en"),
    "wikitext": ("Salesforce/wikitext", "wikitext-103-raw-v1"),
    "wikitext2": ("Salesforce/wikitext", "wikitext-2-raw-v1"),
}
ACCUMULATION_DTYPES = {"float32": torch.float32, "float64": torch.float64}


# ----------------------------------------------------------------------------------------------- corpora


def _digest(texts: list[str]) -> str:
    h = hashlib.sha256()
    for text in texts:
        h.update(text.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def _texts_from_json_value(value, path) -> list[str]:
    if isinstance(value, dict) and "texts" in value:
        value = value["texts"]
    if not isinstance(value, list):
        raise ValueError(f"{path}: expected a list of texts or {{'texts': [...]}}")
    return [item["text"] if isinstance(item, dict) else str(item) for item in value]


def _read_text_file(path: Path) -> list[str]:
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return [p.strip() for p in path.read_text().split("\n\n")]
    if suffix == ".jsonl":
        texts = []
        for line in path.read_text().splitlines():
            if line.strip():
                item = json.loads(line)
                texts.append(item["text"] if isinstance(item, dict) else str(item))
        return texts
    if suffix == ".json":
        return _texts_from_json_value(json.loads(path.read_text()), path)
    if suffix == ".parquet":
        import pandas as pd

        return [str(t) for t in pd.read_parquet(path, columns=["text"])["text"]]
    raise ValueError(f"{path}: unsupported corpus file type {suffix!r} (use .txt, .jsonl, .json or .parquet)")


def _read_hub_dataset(source: str, n_samples: int) -> list[str]:
    name, config = EASYEDIT_DATASETS.get(source, (source, None))
    if ":" in name and config is None:
        name, config = name.split(":", 1)
    try:
        import datasets
    except ImportError:
        raise ValueError(
            f"corpus {source!r} is not a file, so it is read as a Hugging Face dataset id, which needs the "
            f"`datasets` package (pip install datasets) and network; offline, use {DEFAULT_CORPUS} or a text file"
        ) from None
    stream = datasets.load_dataset(name, config, split="train", streaming=True)
    texts = []
    for item in stream:
        if item.get("text", "").strip():
            texts.append(item["text"])
        if len(texts) >= n_samples:
            break
    return texts


def load_corpus(source: str = DEFAULT_CORPUS, n_samples: int | None = None) -> tuple[list[str], str]:
    """The first `n_samples` non-empty texts of `source` and an id that changes when the texts do."""
    if source == DEFAULT_CORPUS:
        path = Path(str(resources.files("goldenlayers") / "data" / "mom2_corpus.json"))
        texts = _read_text_file(path)
    elif Path(source).exists():
        texts = _read_text_file(Path(source))
    else:
        texts = _read_hub_dataset(source, n_samples or 100000)
        texts = [t for t in texts if t.strip()][:n_samples]
        return texts, f"hf:{source}"
    texts = [t for t in texts if t.strip()][:n_samples]
    if not texts:
        raise ValueError(f"corpus {source}: no texts")
    return texts, f"{source}#sha256:{_digest(texts)}"


# -------------------------------------------------------------------------------------------- collection


class _StopForward(Exception):
    """Raised by the key hook: layers after the edited module do not change its input, so skip them."""


def _token_batches(lengths: list[int], batch_tokens: int) -> list[list[int]]:
    """Indices grouped so each padded batch holds at most `batch_tokens` tokens (longest first, less padding)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches, current = [], []
    for i in order:
        width = lengths[current[0]] if current else lengths[i]
        if current and width * (len(current) + 1) > batch_tokens:
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def model_max_length(model, cap: int = 2048) -> int:
    config = model.config.get_text_config()
    for name in ("n_positions", "max_position_embeddings", "max_sequence_length"):
        value = getattr(config, name, None)
        if value:
            return min(int(value), cap)
    return cap


@torch.no_grad()
def collect_key_second_moment(model, tok, layer: int, texts: list[str], max_length: int | None = None,
                              dtype: str = "float32", batch_tokens: int = 4096,
                              progress: bool = True) -> tuple[torch.Tensor, int]:
    """E[k kᵀ] of the edited module's input over every (non-padding) token of `texts`, and the token count."""
    if dtype not in ACCUMULATION_DTYPES:
        raise ValueError(f"mom2 dtype must be one of {', '.join(ACCUMULATION_DTYPES)}, got {dtype!r}")
    acc_dtype = ACCUMULATION_DTYPES[dtype]
    max_length = max_length or model_max_length(model)
    encoded = [tok(t, add_special_tokens=True, truncation=True, max_length=max_length)["input_ids"] for t in texts]
    encoded = [ids for ids in encoded if ids]
    lengths = [len(ids) for ids in encoded]
    device = model.device
    captured = {}

    def capture_and_stop(module, inputs):
        captured["keys"] = inputs[0]
        raise _StopForward

    module = edited_module(model, layer)
    total = None
    n_tokens = 0
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
    handle = module.register_forward_pre_hook(capture_and_stop)
    try:
        with tqdm(total=sum(lengths), unit="tok", unit_scale=True, desc=f"mom2 layer {layer}",
                  disable=not progress) as bar:
            for batch in _token_batches(lengths, batch_tokens):
                width = max(lengths[i] for i in batch)
                input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, i in enumerate(batch):
                    input_ids[row, : lengths[i]] = torch.tensor(encoded[i])
                    mask[row, : lengths[i]] = 1
                try:
                    model(input_ids=input_ids.to(device), attention_mask=mask.to(device), use_cache=False)
                except _StopForward:
                    pass
                keys = captured.pop("keys")[mask.to(device).bool()].to(acc_dtype)
                if total is None:
                    total = torch.zeros(keys.shape[1], keys.shape[1], dtype=acc_dtype, device=device)
                total.addmm_(keys.T, keys)
                n_tokens += keys.shape[0]
                bar.update(keys.shape[0])
    finally:
        handle.remove()
    if not n_tokens:
        raise ValueError("covariance: the corpus has no tokens")
    return (total / n_tokens).cpu(), n_tokens


# ---------------------------------------------------------------------------------------- the statistic


class KeyCovariance:
    """C = E[k kᵀ] of one layer, with its factorisation computed once and reused by every solve.

    `solve(rhs, ridge)` returns (C + ridge·I)⁻¹ rhs in float64. C is symmetric positive semi-definite, so a
    Cholesky factor is used; a C that is not numerically positive definite (too few tokens for its dimension)
    falls back to an LU factorisation, which is what EasyEdit's `torch.inverse` amounts to.
    """

    def __init__(self, mom2: torch.Tensor, n_tokens: int = 0, corpus: str = "", metadata: dict | None = None):
        if mom2.ndim != 2 or mom2.shape[0] != mom2.shape[1]:
            raise ValueError(f"covariance must be a square matrix, got shape {tuple(mom2.shape)}")
        if not torch.isfinite(mom2).all():
            raise ValueError(f"covariance of {corpus or 'unknown corpus'} contains NaN or inf values")
        self.mom2 = mom2
        self.n_tokens = n_tokens
        self.corpus = corpus
        self.metadata = metadata or {}
        self._factors: dict[float, tuple[str, tuple]] = {}

    @property
    def dim(self) -> int:
        return self.mom2.shape[0]

    def _factor(self, ridge: float, device) -> tuple[str, tuple]:
        if ridge not in self._factors:
            matrix = self.mom2.to(device=device, dtype=torch.float64)
            if ridge:
                matrix = matrix + ridge * torch.eye(self.dim, dtype=torch.float64, device=device)
            chol, info = torch.linalg.cholesky_ex(matrix)
            if int(info) == 0:
                self._factors[ridge] = ("cholesky", (chol,))
            else:
                log.warning("covariance is not positive definite (%d tokens for dimension %d); using LU",
                            self.n_tokens, self.dim)
                lu, pivots, info = torch.linalg.lu_factor_ex(matrix)
                if int(info) != 0:
                    raise EditError("covariance matrix is singular")
                self._factors[ridge] = ("lu", (lu, pivots))
        return self._factors[ridge]

    def solve(self, rhs: torch.Tensor, ridge: float = 0.0) -> torch.Tensor:
        """(C + ridge·I)⁻¹ rhs for a vector [d] or a matrix [d, n], in float64."""
        vector = rhs.ndim == 1
        b = rhs.to(torch.float64)[:, None] if vector else rhs.to(torch.float64)
        kind, factors = self._factor(float(ridge), rhs.device)
        if kind == "cholesky":
            x = torch.cholesky_solve(b, factors[0])
        else:
            x = torch.linalg.lu_solve(*factors, b)
        return x[:, 0] if vector else x

    # ----------------------------------------------------------------------------------------- files

    def save(self, path) -> None:
        from safetensors.torch import save_file

        meta = {**{k: str(v) for k, v in self.metadata.items()}, "n_tokens": str(self.n_tokens),
                "corpus": self.corpus}
        with atomic_path(path) as tmp:
            save_file({"mom2": self.mom2.contiguous()}, str(tmp), metadata=meta)

    @classmethod
    def load(cls, path) -> "KeyCovariance":
        """Read a cached covariance; a file that is not a readable, finite square matrix raises ValueError."""
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                metadata = dict(f.metadata() or {})
                mom2 = f.get_tensor("mom2")
            return cls(mom2, n_tokens=int(metadata.get("n_tokens", 0)), corpus=metadata.get("corpus", ""),
                       metadata=metadata)
        except OSError:
            raise
        except Exception as err:  # safetensors raises its own error types for truncated or foreign files
            from goldenlayers.io import rebuild_hint

            # a pipeline file is rebuilt by naming it (Snakemake does not rebuild a deleted intermediate)
            fix = rebuild_hint(path) if "results" in Path(path).parts else "delete it to recompute"
            raise ValueError(f"{path}: not a usable covariance file ({err}); {fix}") from None


def load_or_compute_key_covariance(model, tok, layer: int, path, corpus: str = DEFAULT_CORPUS,
                                n_samples: int = 100000, dtype: str = "float32", max_length: int | None = None,
                                progress: bool = True) -> KeyCovariance:
    """The cached covariance at `path` if it was made with the same settings; otherwise compute and cache it."""
    path = Path(path)
    from_hub = corpus != DEFAULT_CORPUS and not Path(corpus).exists()
    # a hub corpus is named by its id, so a cached file is recognised without downloading anything
    texts, corpus_id = (None, f"hf:{corpus}") if from_hub else load_corpus(corpus, n_samples)
    max_length = max_length or model_max_length(model)
    wanted = {"module": edited_module_name(model, layer), "layer": str(layer), "corpus": corpus_id,
              "n_samples": str(n_samples), "dtype": dtype, "max_length": str(max_length)}
    if path.exists():
        try:
            cached = KeyCovariance.load(path)
        except ValueError as err:
            log.warning("%s; recomputing", err)
        else:
            if all(cached.metadata.get(k) == v for k, v in wanted.items()):
                return cached
            log.info("%s was made with other settings; recomputing", path)
    if texts is None:
        texts, corpus_id = load_corpus(corpus, n_samples)
    mom2, n_tokens = collect_key_second_moment(model, tok, layer, texts, max_length=max_length, dtype=dtype,
                                               progress=progress)
    if n_tokens < mom2.shape[0]:
        log.warning("layer %d: only %d tokens for a %d-dimensional covariance, so it is singular; use a larger "
                    "corpus (e.g. wikipedia) for this model", layer, n_tokens, mom2.shape[0])
    stats = KeyCovariance(mom2, n_tokens=n_tokens, corpus=corpus_id,
                          metadata={**wanted, "n_texts": str(len(texts)), "statistic": "uncentred E[k k^T]"})
    stats.save(path)
    log.info("layer %d: covariance over %d tokens of %d texts (%s) -> %s", layer, n_tokens, len(texts),
             corpus_id, path)
    return KeyCovariance.load(path)


def mom2_disagreements(hparams, covariance: KeyCovariance) -> list[str]:
    """Where the hparams' EasyEdit covariance settings (mom2_dataset, mom2_n_samples, mom2_dtype) differ from how
    `covariance` was computed (its file's metadata); empty when they agree or the file does not say."""
    meta = covariance.metadata
    corpus = (covariance.corpus or meta.get("corpus", "")).split("#sha256:")[0].removeprefix("hf:")
    made = {"mom2_dataset": corpus, "mom2_n_samples": meta.get("n_samples"), "mom2_dtype": meta.get("dtype")}
    return [f"{key} {getattr(hparams, key)!r} (the covariance used was made with {value!r})"
            for key, value in made.items() if value and str(getattr(hparams, key)) != value]


def for_layer(editor: str, hparams, layer: int, given=None, cache=None, model=None, tok=None,
              what: str = "this edit", progress: bool = False) -> KeyCovariance | None:
    """The one key-covariance policy (the pipeline's sweeps, `edit()` and the appendix all call it).

    * An editor that does not use it (`editing.needs_covariance`: EMMET always, ROME/R-ROME with mom2_adjustment)
      gets None.
    * `given` (a KeyCovariance or its file; the pipeline's --key-covariance) decides: one covariance per (model,
      layer) serves every editor (config key_covariance), so hparams' mom2_* that differ are logged, not obeyed.
      A file of another layer is refused.
    * Otherwise it is computed from the hparams' mom2_dataset / mom2_n_samples / mom2_dtype: cached at `cache`
      (reused when made with the same settings) or in memory. That needs the model; `what` names the caller in
      the error when there is none."""
    from goldenlayers.editing import needs_covariance

    if not needs_covariance(editor, hparams):
        return None
    if given is not None:
        stats = given if isinstance(given, KeyCovariance) else KeyCovariance.load(given)
        if stats.metadata.get("layer", str(layer)) != str(layer):
            raise ValueError(f"{given} holds layer {stats.metadata['layer']}, not layer {layer}")
        for difference in mom2_disagreements(hparams, stats):
            log.warning("the hparams set %s; the covariance given decides", difference)
        return stats
    if model is None:
        raise ValueError(f"{editor} with these hparams needs the key covariance of layer {layer}, which {what} "
                         "does not compute: pass --key-covariance (a file written by `goldenlayers "
                         "key-covariance`), or use r-rome/rome with mom2_adjustment: false")
    corpus = hparams.mom2_dataset
    if cache is not None:
        return load_or_compute_key_covariance(model, tok, layer, cache, corpus=corpus,
                                              n_samples=hparams.mom2_n_samples, dtype=hparams.mom2_dtype,
                                              progress=progress)
    if corpus != DEFAULT_CORPUS and not Path(corpus).exists():
        raise ValueError(f"{editor} needs the key covariance of layer {layer}, and mom2_dataset {corpus!r} is "
                         f"neither {DEFAULT_CORPUS} nor a local file: pass a covariance (`goldenlayers "
                         "key-covariance`, then --key-covariance) or set mom2_dataset")
    texts, corpus_id = load_corpus(corpus, hparams.mom2_n_samples)
    mom2, n_tokens = collect_key_second_moment(model, tok, layer, texts, dtype=hparams.mom2_dtype, progress=progress)
    return KeyCovariance(mom2, n_tokens=n_tokens, corpus=corpus_id)
