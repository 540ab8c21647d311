"""Tokenisation conventions shared by gradients, editors and metrics (EasyEdit's, see docs/methods.md).

- An answer is scored in context: `prompt + " " + answer` is tokenised as one string and the answer is every token
  after the prompt's own token count (EasyEdit's `test_prediction_acc`). Encoding `" " + answer` on its own and
  appending it would give a different answer with SentencePiece tokenizers that add a dummy prefix (LLaMA-2:
  `" Paris"` alone is `['▁', '▁Paris']`, a spurious lone '▁' first).
- v* follows EasyEdit's `compute_v` instead, quirk included (`vstar_target_ids`): the target is encoded alone as
  `" " + target`, a leading BOS/unk dropped.
- The subject's lookup token is the last token of `prompt[:end of subject]` encoded with special tokens
  (EasyEdit's `get_words_idxs_in_templates` with `subject_last`).
"""

from __future__ import annotations

import torch


def prompt_ids(tok, prompt: str) -> list[int]:
    return tok(prompt, add_special_tokens=True)["input_ids"]


def encode_prompt_answer(tok, prompt: str, answer: str) -> tuple[list[int], int]:
    """Token ids of `prompt + " " + answer` as one string, and the index where the answer's tokens start."""
    ids = prompt_ids(tok, prompt + " " + answer.strip())
    start = len(prompt_ids(tok, prompt))
    if start >= len(ids):
        raise ValueError(f"answer {answer!r} adds no tokens to prompt {prompt!r}")
    return ids, start


def answer_span_ids(tok, prompt: str, answer: str) -> list[int]:
    """The answer's tokens as they occur after `prompt` (see `encode_prompt_answer`)."""
    ids, start = encode_prompt_answer(tok, prompt, answer)
    return ids[start:]


def vstar_target_ids(tok, target: str, add_special_tokens: bool = True) -> list[int]:
    """EasyEdit's v* target ids: `" " + target` encoded alone, a leading BOS or unk token dropped.

    ROME/R-ROME's `compute_v` encodes with special tokens, EMMET's `compute_z` without (`add_special_tokens`).
    """
    ids = tok(" " + target.strip(), add_special_tokens=add_special_tokens)["input_ids"]
    if ids and ids[0] in (tok.bos_token_id, tok.unk_token_id):
        ids = ids[1:]
    if not ids:
        raise ValueError(f"target {target!r} encodes to no tokens")
    return ids


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
    """Index of the last token of the first occurrence of `subject` in the tokenised `prompt` (EasyEdit's
    `subject_last`: the length of the encoded text up to the subject's end, minus one)."""
    at = prompt.find(subject)
    if at < 0:
        raise ValueError(f"subject {subject!r} does not occur in prompt {prompt!r}")
    prefix = prompt[: at + len(subject)]
    return len(prompt_ids(tok, prefix)) - 1
