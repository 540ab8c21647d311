"""Cost of the paper's study (config/paper.yaml) per edit and per stage, on the paper's architectures.

Builds GPT-2 XL, LLaMA-2-7B and Gemma-3-12B from their published shapes with *random* weights (nothing is
downloaded; compute does not depend on the weight values) and runs the pipeline's own code on requests shaped like
the paper's datasets (token counts of a typical KnowEdit/Counterfact record and of a WikiBio record):

  edit      R-ROME's update (editing.EDITORS["r-rome"].edit) with config/hparams/r-rome/<model>.yaml (21 context
            templates, 20/25 v* steps; random weights never reach the early-stopping loss, so every step runs:
            an upper bound) + apply_edit + restore_weight
  eval      goldenlayers.editing.evaluate.evaluate_record (rewrite, rephrase, locality, portability prompts)
  fluency   goldenlayers.editing.evaluate.evaluate_fluency (100 greedy tokens; EOS disabled so all 100 are generated)
  gradient  goldenlayers.measure.gradients.extract_layer_gradients for one sample (LGA's stage, all layers)

Run it on one GPU of the cluster (about 5 minutes, ~30 GB of GPU memory for Gemma-3-12B in bfloat16): it prints
the seconds per edit and the GPU hours of each stage of config/paper.yaml (edits = samples x layers), and writes
them to benchmarks/results/paper_scale.json. `--depth`, `--steps` and `--device cpu` shrink it to a smoke test.

Usage: python benchmarks/bench_paper_scale.py [--models gpt2-xl llama-2-7b gemma-3-12b] [--layers-to-time 3]
       [--device cuda] [--out benchmarks/results/paper_scale.json]
Smoke test on CPU: python benchmarks/bench_paper_scale.py --device cpu --depth 2 --steps 2 --models gpt2-xl
"""

from __future__ import annotations

import argparse
import platform
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from goldenlayers.editing import load_hparams
from goldenlayers.editing import apply_edit, get_editor, restore_weight
from goldenlayers.editing.evaluate import evaluate_fluency, evaluate_record
from goldenlayers.measure.gradients import extract_layer_gradients
from goldenlayers.io import write_json

REPO = Path(__file__).resolve().parents[1]

# Dataset sizes of config/paper.yaml (KnowEdit test files as distributed; WikiBio and Counterfact capped there)
# and the request shape each one is costed with.
PAPER_DATASETS = {
    "zsre": (1301, "short"),
    "wikibio": (300, "wikibio"),
    "wikicounterfact": (885, "short"),
    "wikirecent": (1266, "short"),
    "counterfact": (1100, "short"),
}
PROXY_FRACTION = 0.1
CMA_NOISE_DRAWS = 10  # ROME's causal tracing: (1 + layers) x 10 noised copies of each proxy prompt, forward only


@dataclass(frozen=True)
class Shape:
    """Token counts of one request (word-level tokenizer: one word = one token)."""

    prompt: int  # tokens of the prompt
    subject_end: int  # the subject's last token is token `subject_end - 1` of the prompt
    target: int  # tokens of target_new
    eval_prompts: int  # rephrase + locality + portability prompts scored besides the rewrite prompt
    eval_prompt_len: int


# A KnowEdit ZsRE/WikiData or Counterfact record is ~12 prompt tokens with the subject in the middle and a 1-5
# token target; a WikiBio record is a ~90-token passage about the subject (named in its first sentence) and a
# ~30-token continuation as target.
SHAPES = {"short": Shape(12, 8, 3, 5, 12), "wikibio": Shape(90, 10, 30, 2, 10)}


def paper_config(name: str, depth: int | None, multimodal: bool):
    from transformers import Gemma3Config, Gemma3TextConfig, GPT2Config, LlamaConfig

    if name == "gpt2-xl":
        return GPT2Config(n_embd=1600, n_layer=depth or 48, n_head=25, n_positions=1024, vocab_size=50257)
    if name == "llama-2-7b":
        return LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=depth or 32,
                           num_attention_heads=32, num_key_value_heads=32, vocab_size=32000,
                           max_position_embeddings=4096, rms_norm_eps=1e-5)
    if name == "gemma-3-12b":
        text = Gemma3TextConfig(hidden_size=3840, intermediate_size=15360, num_hidden_layers=depth or 48,
                                num_attention_heads=16, num_key_value_heads=8, head_dim=256,
                                query_pre_attn_scalar=256, sliding_window=1024, vocab_size=262208,
                                max_position_embeddings=131072, rope_theta=1_000_000.0)
        # the checkpoint loads as Gemma3ForConditionalGeneration; its vision tower costs nothing on text
        return Gemma3Config(text_config=text.to_dict()) if multimodal else text
    raise ValueError(f"unknown model {name!r}")


FULL_DEPTH = {"gpt2-xl": 48, "llama-2-7b": 32, "gemma-3-12b": 48}
DTYPE = {"gpt2-xl": torch.float32, "llama-2-7b": torch.float16, "gemma-3-12b": torch.bfloat16}


def word_tokenizer(n_words: int = 400):
    """One token per whitespace-separated word w0..wN, plus <eos>; real tokenizers use ~1.3 tokens per word,
    which the shapes above already count in tokens."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<eos>": 0, **{f"w{i}": i + 1 for i in range(n_words)}}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<eos>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<eos>", pad_token="<eos>")
    tok.padding_side = "right"
    return tok


def words(start: int, n: int) -> str:
    return " ".join(f"w{(start + i) % 400}" for i in range(n))


def make_record(shape: Shape, seed: int) -> dict:
    prompt_words = [f"w{(seed * 37 + i) % 400}" for i in range(shape.prompt)]
    subject = " ".join(prompt_words[shape.subject_end - 2 : shape.subject_end])
    extra = [(words(seed * 11 + 100 * k, shape.eval_prompt_len), words(seed + 7 * k, 2))
             for k in range(shape.eval_prompts)]
    locality = [{"prompt": p, "answer": a} for p, a in extra[: shape.eval_prompts // 2]]
    return {"id": str(seed), "subject": subject, "prompt": " ".join(prompt_words), "ground_truth": words(seed + 3, 2),
            "target_new": words(seed + 200, shape.target), "rephrase_prompts": [extra[-1][0]],
            "locality": locality,
            "portability": [{"prompt": p, "answer": a} for p, a in extra[shape.eval_prompts // 2 : -1]]}


def templates_for(hparams) -> list[str]:
    """"{}" plus n prefixes of each length, as generate_context_templates makes them (length in tokens)."""
    out = ["{}"]
    for length, count in hparams.context_template_length_params:
        out += [words(500 + 13 * len(out), length) + ". {}" for _ in range(count)]
    return out


def timed(device: str, fn):
    """(result, wall seconds), with the GPU synchronised before and after."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    started = time.perf_counter()
    result = fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return result, time.perf_counter() - started


def measure_model(name: str, device: str, depth: int | None, steps: int | None, layers_to_time: int) -> dict:
    from transformers import AutoModelForCausalLM

    tok = word_tokenizer()
    hparams = load_hparams("r-rome", REPO / f"config/hparams/r-rome/{name}.yaml")
    if depth is not None:  # v_loss_layer names the full model's last layer
        hparams = replace(hparams, v_loss_layer=None)
    if steps is not None:
        hparams = replace(hparams, v_num_grad_steps=steps)
    templates = templates_for(hparams)
    dtype = DTYPE[name]
    config = paper_config(name, depth, multimodal=True)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.eval().requires_grad_(False)
    model.generation_config.eos_token_id = None  # always generate the full 100 tokens
    n_layers = depth or FULL_DEPTH[name]
    meter = lambda fn: timed(device, fn)  # noqa: E731
    layers = sorted({round(i * (n_layers - 1) / max(layers_to_time - 1, 1)) for i in range(layers_to_time)})
    out = {"layers_timed": layers, "dtype": str(dtype).replace("torch.", ""), "shapes": {}}
    for shape_name, shape in SHAPES.items():
        record = make_record(shape, seed=1)
        from goldenlayers.data import filter_known

        [record], _ = filter_known(model, tok, [record], keep_unknown=True, progress=False)
        meter(lambda: evaluate_record(model, tok, record))  # warm-up (kernels, allocator)
        edit_costs, eval_costs = [], []
        for layer in layers:
            edit, cost = meter(lambda: get_editor("r-rome").edit(model, tok, record, hparams, layer, templates))
            original = apply_edit(model, edit)
            metrics, eval_cost = meter(lambda: evaluate_record(model, tok, record))
            restore_weight(model, layer, original)
            edit_costs.append(cost)
            eval_costs.append(eval_cost)
        _, fluency = meter(lambda: evaluate_fluency(model, tok, record))
        _, gradient = meter(lambda: extract_layer_gradients(model, tok, [record], progress=False))
        _, forward = meter(lambda: evaluate_record(model, tok, {**record, "rephrase_prompts": [], "locality": [],
                                                                 "portability": []}))
        out["shapes"][shape_name] = {
            "edit": edit_costs, "edit_mean": sum(edit_costs) / len(edit_costs),
            "eval_mean": sum(eval_costs) / len(eval_costs), "fluency": fluency, "gradient_per_sample": gradient,
            "prompt_forward": forward, "v_steps": edit.info["steps"], "n_templates": len(templates),
        }
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return out


def stage_costs(per_model: dict) -> dict:
    """Cost of each pipeline stage of config/paper.yaml, per model: samples x layers edits for the sweep, etc."""
    table = {}
    for name, costs in per_model.items():
        n_layers = FULL_DEPTH[name]
        rows = {"sweep_edit": 0.0, "sweep_eval": 0.0, "sweep_fluency": 0.0, "gradients": 0.0, "cma": 0.0,
                "filter": 0.0, "edits": 0}
        for dataset, (n, shape) in PAPER_DATASETS.items():
            c = costs["shapes"][shape]
            n_proxy = round(n * PROXY_FRACTION)
            rows["edits"] += n * n_layers
            rows["sweep_edit"] += n * n_layers * c["edit_mean"]
            rows["sweep_eval"] += n * n_layers * c["eval_mean"]
            rows["sweep_fluency"] += n * n_layers * c["fluency"]
            rows["gradients"] += n_proxy * c["gradient_per_sample"]
            # causal tracing runs (1 + layers) x noise draws forward passes of each proxy prompt
            rows["cma"] += n_proxy * (1 + n_layers) * CMA_NOISE_DRAWS * c["prompt_forward"]
            rows["filter"] += n * c["eval_mean"]
        table[name] = {k: (v / 3600 if k != "edits" else v) for k, v in rows.items()}  # GPU hours
    return table


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(FULL_DEPTH))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--layers-to-time", type=int, default=3, help="edit layers per model, spread evenly")
    parser.add_argument("--depth", type=int, help="smoke test: build the models with this many layers only")
    parser.add_argument("--steps", type=int, help="smoke test: v* steps instead of the hparams file's")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(REPO / "benchmarks/results/paper_scale.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    per_model = {}
    for name in args.models:
        print(f"{name} ...", flush=True)
        per_model[name] = measure_model(name, args.device, args.depth, args.steps, args.layers_to_time)
    result = {
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.machine(),
        "torch": torch.__version__, "smoke_test": {"depth": args.depth, "steps": args.steps},
        "shapes": {k: vars(v) for k, v in SHAPES.items()}, "datasets": PAPER_DATASETS, "per_model": per_model,
        "gpu_hours": stage_costs(per_model),
    }
    write_json(args.out, result)
    for name, c in per_model.items():
        for shape, s in c["shapes"].items():
            print(f"{name:12s} {shape:8s} seconds per edit: v*+update {s['edit_mean']:7.3f}  eval {s['eval_mean']:6.3f}"
                  f"  fluency {s['fluency']:6.3f}   gradients per sample {s['gradient_per_sample']:6.3f}")
    for name, rows in result["gpu_hours"].items():
        parts = "  ".join(f"{k} {v:,.1f}" for k, v in rows.items() if k != "edits")
        print(f"{name:12s} {rows['edits']:,} edits; hours on {result['device']}: {parts}")
    return result


if __name__ == "__main__":
    main()
