"""Tokenisation conventions shared by gradients, editors and metrics.

An answer is always encoded on its own as `" " + answer` and appended to the prompt's ids (EasyEdit's convention
for `prompt + " " + target`); encoding the two parts separately keeps the answer's tokens identical whatever
the prompt, so "the target tokens" mean the same thing in every stage.
"""

from __future__ import annotations

import torch


def answer_ids(tok, answer: str) -> list[int]:
    ids = tok(" " + answer.strip(), add_special_tokens=False)["input_ids"]
    if not ids:
        raise ValueError(f"answer {answer!r} encodes to no tokens")
    return ids


def prompt_ids(tok, prompt: str) -> list[int]:
    return tok(prompt, add_special_tokens=True)["input_ids"]


def encode_prompt_answer(tok, prompt: str, answer: str) -> tuple[list[int], int]:
    """Token ids of prompt + " " + answer, and the index where the answer's tokens start."""
    p = prompt_ids(tok, prompt)
    return p + answer_ids(tok, answer), len(p)


def pad_batch(sequences: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists into (input_ids, attention_mask)."""
    width = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for i, s in enumerate(sequences):
        input_ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, : len(s)] = 1
    return input_ids, mask


def batch_prompt_answers(tok, pairs: list[tuple[str, str]]):
    """Encode (prompt, answer) pairs into one right-padded batch.

    Returns input_ids, attention_mask and `labels` (the answer token at each position that predicts it, -100
    elsewhere), so `logits[i, t]` is scored against `labels[i, t]` with no further shifting.
    """
    encoded = [encode_prompt_answer(tok, p, a) for p, a in pairs]
    input_ids, mask = pad_batch([ids for ids, _ in encoded], tok.pad_token_id)
    labels = torch.full_like(input_ids, -100)
    for i, (ids, start) in enumerate(encoded):
        # position t predicts token t+1: the answer tokens ids[start:] are predicted from positions start-1..
        labels[i, start - 1 : len(ids) - 1] = torch.tensor(ids[start:], dtype=torch.long)
    return input_ids, mask, labels


def subject_last_index(tok, prompt: str, subject: str) -> int:
    """Index of the last token of `subject` inside the tokenised `prompt` (EasyEdit's `subject_last`)."""
    at = prompt.find(subject)
    if at < 0:
        raise ValueError(f"subject {subject!r} does not occur in prompt {prompt!r}")
    prefix = prompt[: at + len(subject)]
    return len(prompt_ids(tok, prefix)) - 1
