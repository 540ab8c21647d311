"""What the tests share, as plain functions and constants: tiny models and tokenizer (seeded, built in memory),
the tiny edit dataset and project the workflow tests run, and small editing helpers. Fixtures are in conftest.py;
test modules import these with `from helpers import ...` (tests/ is on sys.path through its conftest)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import torch
import yaml

from goldenlayers.editing.emmet import EmmetHparams
from goldenlayers.editing.rome import RomeHparams
from goldenlayers.models import edited_module
from goldenlayers.report.tables import PaperTable

REPO = Path(__file__).resolve().parents[1]


TINY_CORPUS = [
    "The capital of France is Paris.",
    "The capital of Germany is Berlin.",
    "The capital of Italy is Rome.",
    "The Eiffel Tower is located in the city of Paris.",
    "Danielle Darrieux's mother tongue is French.",
    "Toko Yasuda plays the guitar.",
    "The mother tongue of Thomas Joannes Stieltjes is Dutch.",
    "Apple A5 was created by Apple.",
    "The official language of Spain is Spanish.",
    "Michael Jordan plays basketball for the Chicago Bulls.",
]


EOS = "<|endoftext|>"


def build_tiny_tokenizer():
    """A byte-level BPE tokenizer (so any text encodes) with pad = eos and right padding, as the project expects."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(TINY_CORPUS, trainer=trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token=EOS, pad_token=EOS)
    tok.padding_side = "right"
    return tok


def _finish(model):
    model.to(torch.float32).eval()
    model.requires_grad_(False)
    return model


def build_tiny_llama(tok, seed: int = 0, layers: int = 3):
    from transformers import AutoModelForCausalLM, LlamaConfig

    torch.manual_seed(seed)
    config = LlamaConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        vocab_size=len(tok),
        bos_token_id=tok.eos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.eos_token_id,
    )
    return _finish(AutoModelForCausalLM.from_config(config))


def build_tiny_gpt2(tok, seed: int = 0, layers: int = 3):
    from transformers import AutoModelForCausalLM, GPT2Config

    torch.manual_seed(seed)
    config = GPT2Config(
        n_embd=32,
        n_layer=layers,
        n_head=4,
        n_positions=128,
        vocab_size=len(tok),
        bos_token_id=tok.eos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.eos_token_id,
    )
    return _finish(AutoModelForCausalLM.from_config(config))


def build_tiny_gemma3(tok, seed: int = 0, layers: int = 3):
    from transformers import AutoModelForCausalLM, Gemma3TextConfig

    torch.manual_seed(seed)
    config = Gemma3TextConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        query_pre_attn_scalar=8,
        sliding_window=8,  # shorter than the test prompts, so the sliding-attention path is exercised
        max_position_embeddings=128,
        vocab_size=len(tok),
        bos_token_id=tok.eos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.eos_token_id,
    )
    return _finish(AutoModelForCausalLM.from_config(config))


FIXTURES = REPO / "tests" / "fixtures"


TINY_RECORDS = [
    {"case_id": i, "relation": rel, "subject": subj, "prompt": prompt, "ground_truth": gt, "target_new": new,
     "rephrase_prompt": rephrase, "locality": {"Relation_Specificity": [{"prompt": loc, "ground_truth": loc_gt}]},
     "portability": {"Reasoning": [{"prompt": port, "ground_truth": port_gt}]}}
    for i, (rel, subj, prompt, gt, new, rephrase, loc, loc_gt, port, port_gt) in enumerate([
        ("capital", "France", "The capital of France is", "Paris", "Rome", "France's capital is",
         "The capital of Germany is", "Berlin", "The capital of France is in", "Italy"),
        ("capital", "Germany", "The capital of Germany is", "Berlin", "Paris", "Germany's capital is",
         "The capital of Italy is", "Rome", "The capital of Germany is in", "France"),
        ("capital", "Italy", "The capital of Italy is", "Rome", "Berlin", "Italy's capital is",
         "The capital of France is", "Paris", "The capital of Italy is in", "Germany"),
        ("language", "Spain", "The official language of Spain is", "Spanish", "French",
         "Spain's official language is", "The capital of France is", "Paris", "People in Spain speak", "French"),
        ("sport", "Michael Jordan", "Michael Jordan plays", "basketball", "guitar", "Michael Jordan's sport is",
         "Toko Yasuda plays the", "guitar", "Michael Jordan is famous for his", "guitar"),
        ("instrument", "Toko Yasuda", "Toko Yasuda plays the", "guitar", "basketball",
         "The instrument of Toko Yasuda is the", "Michael Jordan plays", "basketball",
         "Toko Yasuda is famous for", "basketball"),
    ])
]



# a tiny random model needs more v* steps, no decay/clamp and no norm bound to reach a target (its weights are
# ~1e-2; tests/editing/test_editing.py): the hparams of the `suggest` / `edit` tests
STRONG_RROME = {"alg_name": "R-ROME", "v_num_grad_steps": 60, "v_lr": 0.5, "v_weight_decay": 0.0,
                "clamp_norm_factor": 1000.0, "context_template_length_params": [[3, 2]], "layers": [0],
                "max_update_norm_ratio": None}


def write_user_project(root: Path, requests: list[dict], layers: int) -> Path:
    """A user's folder for `suggest` / `edit`: a tiny random LLaMA (seed 3) in model/, requests.json and
    strong.yaml (STRONG_RROME)."""
    tok = build_tiny_tokenizer()
    build_tiny_llama(tok, seed=3, layers=layers).save_pretrained(root / "model")
    tok.save_pretrained(root / "model")
    (root / "requests.json").write_text(json.dumps(requests))
    (root / "strong.yaml").write_text(yaml.safe_dump(STRONG_RROME))
    return root

def write_tiny_project(root: Path) -> Path:
    tok = build_tiny_tokenizer()
    model = build_tiny_llama(tok, layers=3)
    model.save_pretrained(root / "tiny-model")
    tok.save_pretrained(root / "tiny-model")
    (root / "tiny.json").write_text(json.dumps(TINY_RECORDS))
    hparams = {"alg_name": "R-ROME", "layers": [0], "v_num_grad_steps": 4, "v_lr": "5e-1", "v_weight_decay": 0.0,
               "clamp_norm_factor": 4, "kl_factor": 0.0625, "mom2_adjustment": False,
               "context_template_length_params": [[3, 1]], "max_target_tokens": 12}
    (root / "hparams" / "r-rome").mkdir(parents=True)
    (root / "hparams" / "r-rome" / "tiny.yaml").write_text(yaml.safe_dump(hparams))
    config = {
        "models": {"tiny": {"source": str(root / "tiny-model"), "num_layers": 3, "dtype": "float32",
                            "device": "cpu"}},
        "datasets": {
            "toy": {"source": str(root / "tiny.json"), "keep_unknown": True},
            # the appendix settings (Tables 12-13), on fixtures written in PeakCF's and UnKE's formats
            "peak": {"source": str(FIXTURES / "peakcf/PEAK_counter.json"), "on_invalid": "skip",
                     "keep_unknown": True, "setting": "composite", "tukey_k": 0.5},
            "unke": {"source": str(FIXTURES / "unke/final_data_v3.json"), "on_invalid": "skip",
                     "keep_unknown": True, "setting": "unstructured", "tukey_k": 0.5},
        },
        "appendix": {"max_new_tokens": 6, "bertscore_model": str(root / "absent-bertscore-model"),
                     "bertscore_layers": 2, "mmlu_file": str(FIXTURES / "mmlu/mmlu_tiny.json"), "mmlu_questions": 4},
        "editors": ["r-rome"],
        "hparams_dir": str(root / "hparams"),
        "layers": "all",
        "split": {"proxy_fraction": 0.5, "seed": 42},
        "lga": {"tukey_k": 1.0},
        "fluency": True,
        "sequential": {"enabled": True, "n_edits": 2, "seed": 42},
        "metric": "rewrite",
        "run_name": "tiny",
    }
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def snakemake(root: Path, config: Path, *args: str, timeout: int = 1200) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(root),
           "--configfile", str(config), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def workflow_copy(root: Path) -> Path:
    """The repository's Snakefile, rules and config in `root`, without its results/: a dry run there plans the
    default run from scratch whatever the repository's own results/ holds (issue #11, item 0)."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "environment.yml"):
        shutil.copy(REPO / name, root / name)
    for name in ("workflow", "config"):
        shutil.copytree(REPO / name, root / name)
    return root


# The subject ends the prompt, so δ enters the residual stream at the predicting position: a random 3-layer model
# barely routes information between positions, and the test is about the edit math, not about attention.
# " Paris" is one token of the tiny tokenizer.
REQUEST = {"id": "0", "subject": "France", "prompt": "The capital of France", "target_new": "Paris",
           "rephrase_prompts": [], "locality": [], "portability": []}


TEMPLATES = ["{}", "The day. {}", "Because I said so. {}"]


def param_hash(model) -> str:
    h = hashlib.sha256()
    for name, p in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(p.detach().cpu().numpy().tobytes())
    return h.hexdigest()


def strong_hparams(**kw):
    # tiny random models need more steps and a looser clamp than a real LM to reach the target
    # (its ‖v_init‖ is ~1e-2, so the ‖δ‖/‖v_init‖² decay would swamp the loss: switch it off)
    return RomeHparams(**{"v_num_grad_steps": 60, "v_lr": 0.5, "v_weight_decay": 0.0, "clamp_norm_factor": 1000.0,
                          **kw})


def keys_and_values(model, tok, layer, templates):
    """Edited-module input/output at the subject's last token under each template (independent of the editor)."""
    from goldenlayers.text import prompt_ids, subject_last_index

    captured = []
    handle = edited_module(model, layer).register_forward_hook(
        lambda m, i, o: captured.append((i[0].detach(), o.detach())))
    keys, values = [], []
    with torch.no_grad():
        for t in templates:
            text = t.replace("{}", REQUEST["prompt"])
            at = t.index("{}") + REQUEST["prompt"].index("France") + len("France")
            idx = subject_last_index(tok, text[:at], "France")
            model(input_ids=torch.tensor([prompt_ids(tok, text)]))
            k, v = captured.pop()
            keys.append(k[0, idx]), values.append(v[0, idx])
    handle.remove()
    return torch.stack(keys), torch.stack(values)


def random_spd(dim, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(dim, dim, generator=g, dtype=torch.float64)
    return a @ a.T / dim + 0.1 * torch.eye(dim, dtype=torch.float64)


SUBJECTS = ["France", "Germany", "Italy", "Spain", "Paris", "Berlin", "Rome", "Apple", "Toko Yasuda",
            "Michael Jordan"]


TARGETS = ["Paris", "Berlin", "Rome", "guitar", "basketball", "Dutch", "French", "Spanish", "Apple", "Chicago"]


def records(n=10):
    return [{"id": f"s{i}", "subject": SUBJECTS[i], "prompt": f"The capital of {SUBJECTS[i]}",
             "target_new": TARGETS[i], "rephrase_prompts": [], "locality": [], "portability": []}
            for i in range(n)]


def emmet_hparams(**kw):
    # tiny random models: no weight decay (their ‖v_init‖ is tiny), a loose clamp, a few steps
    return EmmetHparams(**{"v_num_grad_steps": 10, "v_lr": 0.5, "v_weight_decay": 0.0, "clamp_norm_factor": 100.0,
                           "max_update_norm_ratio": None, **kw})


# a plugin selector (registered from GOLDENLAYERS_SELECTOR_PLUGINS, or exec'd by a test) and a table added to the
# tables registry
TOY_MODULE = '''
from goldenlayers.selection.registry import SelectorSpec, register


def select_toy(evidence, layers, params):
    """The first candidate layer."""
    grads = evidence["gradients"]
    candidates = sorted(int(x) for x in (grads["layer"].unique() if layers is None else layers))
    return {"method": "toy", "layers": candidates, "scores": None, "chosen_layer": candidates[0],
            "params": {"rule": "first candidate layer"}}


register(SelectorSpec(name="toy", label="Toy", color="#000000", marker="v", linestyle=":", hatch="",
                      needs=("gradients",), timed=False, planned=True, multi_layer=False, tables=("table2",),
                      select=select_toy))
'''


# ----------------------------------------------------------------------------------------------------------
# (d) a selector's own parameter reaches the resampling draws, from the CLI and from the config
# ----------------------------------------------------------------------------------------------------------
ALPHA_MODULE = '''
from goldenlayers.selection.registry import SelectorSpec, register

SEEN = []


def select_alpha(evidence, layers, params):
    """The candidate layer at position `alpha` (default 0): a parameter only this selector has."""
    grads = evidence["gradients"]
    candidates = sorted(int(x) for x in (grads["layer"].unique() if layers is None else layers))
    SEEN.append(params.get("alpha"))
    return {"method": "alpha", "layers": candidates, "scores": None,
            "chosen_layer": candidates[int(params.get("alpha", 0))], "params": dict(params)}


register(SelectorSpec(name="alpha", label="Alpha", color="#000000", marker="v", linestyle=":", hatch="",
                      needs=("gradients",), timed=False, planned=True, multi_layer=False, tables=("table2",),
                      select=select_alpha, params=("alpha",)),
         new_params={"alpha": (int, "which candidate layer the alpha selector takes")})
'''


def toy_table(summaries, metric):
    """A table the registry does not ship: each (model, dataset)'s number of layers."""
    return pd.DataFrame([{"Model": m, "Dataset": d, "Layers": len(s["layers"])} for (m, d), s in summaries.items()])


TOY = PaperTable("toy", toy_table, "Toy: layers per model and dataset.", "aggregates")
