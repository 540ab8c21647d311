"""Context templates for ROME-family editors: "{}" plus short model-generated prefixes.

ROME averages the key of the subject over a few random contexts so the edit does not depend on the exact prompt.
EasyEdit samples them with top-5 sampling from five start words; we do the same, seeded, once per model, and cache
the result as a file that every edit reads.
"""

from __future__ import annotations

import torch

START_WORDS = ("The", "Therefore", "Because", "I", "You")


@torch.no_grad()
def generate_context_templates(model, tok, length_params: list[list[int]], seed: int = 42) -> list[str]:
    """`length_params` = [[n_tokens, n_templates], ...] as in EasyEdit's `context_template_length_params`."""
    generator = torch.Generator().manual_seed(seed)
    templates = ["{}"]
    for length, count in length_params:
        per_word = max(count // len(START_WORDS), 1)
        words = [w for w in START_WORDS for _ in range(per_word)][: max(count, 1)]
        for word in words:
            text = _sample_top_k(model, tok, word, length, generator)
            templates.append(text.replace("{", " ").replace("}", " ") + ". {}")
    return templates


def _sample_top_k(model, tok, start: str, length: int, generator: torch.Generator, k: int = 5) -> str:
    ids = tok(start, add_special_tokens=True, return_tensors="pt")["input_ids"].to(model.device)
    n_new = max(length - ids.shape[1], 1)  # EasyEdit's length counts the start word's tokens too
    for _ in range(n_new):
        logits = model(input_ids=ids).logits[0, -1].float().cpu()
        top = logits.topk(k)
        probs = torch.softmax(top.values, -1)
        choice = top.indices[torch.multinomial(probs, 1, generator=generator)]
        ids = torch.cat([ids, choice.view(1, 1).to(ids.device)], dim=1)
    return tok.decode(ids[0], skip_special_tokens=True)
