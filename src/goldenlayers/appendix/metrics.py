"""Metrics on generated text for the appendix tables, computed by maintained libraries (nothing hand-rolled).

- ROUGE-1/2/L: `rouge-score` (Google's implementation of Lin 2004), its default tokeniser (lower case, runs of
  letters and digits), no stemming. We report ROUGE **recall** (reference n-grams found in the generation), as
  EasyEdit's UnKE/AKEW evaluation does (`scores['rouge-l']['r']`); `ROUGE_FIELD` names the choice.
- BLEU: `sacrebleu.sentence_bleu` (13a tokenisation, exponential smoothing of zero counts), divided by 100 so it
  lies in [0, 1] like the paper's numbers. EasyEdit calls NLTK's sentence_bleu on raw strings, which counts
  character n-grams; sacrebleu's word n-grams are the standard BLEU of Papineni et al.
- BERTScore: `bert-score`'s F1 (greedy cosine matching of contextual token embeddings). The model is configurable
  (`appendix.bertscore_model`, a local directory or a name the Hugging Face cache holds, with `bertscore_layers`).
  It is never downloaded here: when the model cannot be loaded offline the metric is *skipped* with a message that
  names the model to place locally (`MetricSkipped`), never a crash and never a zero.
- MMLU accuracy: multiple-choice questions from a local MMLU file the user gives (JSON list or JSONL of
  {question, choices: [4 strings], answer: index 0-3 or letter A-D}, the layout of the `cais/mmlu` parquet rows);
  the model's answer is the letter among " A".." D" with the highest next-token logit after a zero-shot prompt.
  No file: skipped with a message, like BERTScore.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
ROUGE_FIELD = "recall"
LETTERS = ("A", "B", "C", "D")


class MetricSkipped(Exception):
    """A metric that cannot be computed here (no model, no file); the message says what to provide."""


# --- ROUGE, BLEU ------------------------------------------------------------------------------------------------


def rouge(prediction: str, reference: str) -> dict[str, float]:
    """ROUGE-1/2/L recall of `prediction` against `reference`."""
    from rouge_score import rouge_scorer

    scores = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=False).score(reference, prediction)
    return {name: float(getattr(scores[name], ROUGE_FIELD)) for name in ROUGE_TYPES}


def bleu(prediction: str, reference: str) -> float:
    """Sentence BLEU in [0, 1] (sacrebleu defaults)."""
    import sacrebleu

    return float(sacrebleu.sentence_bleu(prediction, [reference]).score) / 100.0


# --- BERTScore --------------------------------------------------------------------------------------------------


def local_model_dir(model: str) -> str:
    """A local directory holding `model`: the path itself, or its snapshot in the Hugging Face cache. Never
    downloads; MetricSkipped (naming the model and where to put it) when neither exists."""
    path = Path(model).expanduser()
    if path.is_dir():
        return str(path)
    if model.startswith(("/", ".", "~")) or model.count("/") > 1:  # a path, not a hub id
        raise MetricSkipped(f"BERTScore skipped: model directory {model} does not exist; put the BERTScore model "
                            "(e.g. roberta-large) there")
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(model, local_files_only=True)
    except Exception as err:  # not in the cache (LocalEntryNotFoundError), or not a valid id: both mean "absent"
        raise MetricSkipped(
            f"BERTScore skipped: model {model!r} is not available locally ({type(err).__name__}); download it where "
            f"the hub is reachable (`hf download {model} --local-dir models/{model}`) and set "
            "appendix.bertscore_model to that directory"
        ) from None


def bertscore_f1(predictions: list[str], references: list[str], model: str, num_layers: int | None = None,
                 batch_size: int = 16) -> list[float]:
    """BERTScore F1 per pair. Raises MetricSkipped when `model` is not on this machine (it is never downloaded)."""
    from bert_score import score
    from bert_score.utils import model2layers

    if num_layers is None:
        if model not in model2layers:
            raise MetricSkipped(f"BERTScore skipped: set appendix.bertscore_layers for model {model!r} (bert-score "
                                "only knows the layer of the models it lists)")
        num_layers = model2layers[model]
    directory = local_model_dir(model)
    try:
        _, _, f1 = score(predictions, references, model_type=directory, num_layers=num_layers, batch_size=batch_size,
                         device=None if torch.cuda.is_available() else "cpu", verbose=False)
    except (OSError, ValueError) as err:
        raise MetricSkipped(f"BERTScore skipped: {directory} (model {model!r}) cannot be loaded as a BERTScore "
                            f"model: {err}") from None
    return [float(x) for x in f1]


# --- MMLU -------------------------------------------------------------------------------------------------------


def load_mmlu(path: str | Path | None, n_questions: int | None = None) -> list[dict]:
    """Questions of a local MMLU file as {question, choices, answer (0-3)}; MetricSkipped when none is given."""
    if not path:
        raise MetricSkipped("MMLU skipped: no appendix.mmlu_file given (a local MMLU JSON/JSONL file of "
                            "{question, choices, answer}, e.g. the cais/mmlu test split saved as JSON)")
    path = Path(path)
    if not path.exists():
        raise MetricSkipped(f"MMLU skipped: appendix.mmlu_file {path} does not exist; place the MMLU file there")
    text = path.read_text()
    try:
        rows = json.loads(text) if text.lstrip().startswith("[") else [json.loads(x) for x in text.splitlines()
                                                                      if x.strip()]
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: malformed JSON at line {err.lineno}: {err.msg}") from None
    questions = []
    for i, row in enumerate(rows):
        choices, answer = row.get("choices"), row.get("answer")
        if not isinstance(row.get("question"), str) or not isinstance(choices, list) or len(choices) != 4:
            raise ValueError(f"{path}: question {i}: needs a 'question' string and 4 'choices'")
        if isinstance(answer, str) and answer.strip().upper() in LETTERS:
            answer = LETTERS.index(answer.strip().upper())
        if answer not in range(4):
            raise ValueError(f"{path}: question {i}: 'answer' must be 0-3 or A-D, got {answer!r}")
        questions.append({"question": row["question"], "choices": [str(c) for c in choices], "answer": answer})
    if not questions:
        raise ValueError(f"{path}: no MMLU questions")
    return questions[:n_questions] if n_questions else questions


def mmlu_prompt(question: dict) -> str:
    lines = [question["question"].strip()]
    lines += [f"{letter}. {choice}" for letter, choice in zip(LETTERS, question["choices"])]
    return "\n".join(lines) + "\nAnswer:"


def accuracy(predicted: list[int], gold: list[int]) -> float:
    if len(predicted) != len(gold) or not gold:
        raise ValueError("accuracy needs equally many predictions and answers, at least one")
    return sum(p == g for p, g in zip(predicted, gold)) / len(gold)


@torch.no_grad()
def mmlu_accuracy(model, tok, questions: list[dict]) -> float:
    """Zero-shot accuracy: the letter (" A".." D") with the highest next-token logit after each prompt."""
    letter_ids = []
    for letter in LETTERS:
        ids = tok(" " + letter, add_special_tokens=False)["input_ids"]
        letter_ids.append(ids[0])
    predicted = []
    for q in questions:
        ids = tok(mmlu_prompt(q), return_tensors="pt")["input_ids"].to(model.device)
        logits = model(input_ids=ids).logits[0, -1]
        predicted.append(int(torch.stack([logits[i] for i in letter_ids]).argmax()))
    return accuracy(predicted, [q["answer"] for q in questions])


def mean_or_nan(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return sum(values) / len(values) if values else math.nan
