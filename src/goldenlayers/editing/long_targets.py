"""Long answers as edit targets: R-ROME/ROME/EMMET optimise v* for at most `max_target_tokens` answer tokens.

An unstructured edit (UnKE) asks for a paragraph. v*'s loss is the mean NLL over the target's tokens, so the whole
paragraph can be the target; the cap bounds the cost (and the sequence length) of every v* step. The capped target
is the text of the answer's first N tokens (as `text.vstar_target_ids` encodes a v* target), shortened token by token
until it encodes back to exactly those tokens, so "the first N tokens" means the same ids in every stage.
"""

from __future__ import annotations

from goldenlayers.text import vstar_target_ids


def capped_target(tok, target: str, max_tokens: int | None) -> str:
    """`target` cut to its first `max_tokens` answer tokens (unchanged when it is not longer, or no cap)."""
    if max_tokens is None:
        return target
    ids = vstar_target_ids(tok, target)
    if len(ids) <= max_tokens:
        return target
    for n in range(max_tokens, 0, -1):
        text = tok.decode(ids[:n]).strip()
        if text and vstar_target_ids(tok, text) == ids[:n]:
            return text
    raise ValueError(f"cannot cut target {target[:60]!r}... to {max_tokens} tokens that re-encode identically")


def capped_requests(tok, requests: list[dict], hparams) -> list[dict]:
    cap = getattr(hparams, "max_target_tokens", None)
    if cap is None:
        return requests
    return [{**r, "target_new": capped_target(tok, r["target_new"], cap)} for r in requests]
