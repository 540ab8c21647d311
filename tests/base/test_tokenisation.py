"""Answer spans, subject indices and v* target ids against EasyEdit's rules, on real SentencePiece tokenizers.

A small SentencePiece BPE model is trained here, LLaMA-style (byte fallback, no whitespace clean-up, whole words
such as '▁Paris' in its vocabulary), and loaded three ways: through transformers' `LlamaTokenizer` from its
`tokenizer.model` with legacy True and False (transformers 5 converts the model into a `tokenizers` BPE with a
Metaspace pre-tokenizer), and with LLaMA-2's shipped `tokenizer.json` pipeline (normaliser: prepend '▁', spaces to
'▁'), which is what makes `" Paris"` alone encode to `['▁', '▁Paris']`; that one is checked against
sentencepiece's own encoding. The byte-level BPE of the other tests is the fourth.

EasyEdit's rules are re-implemented here from its source, independently of goldenlayers.text:
- answer (evaluate_utils.test_prediction_acc): the tokens of `prompt + ' ' + answer` after the prompt's own count;
- subject index (find_fact_lookup_idx → get_words_idxs_in_templates, subject_last): with the prompt written as a
  template `prefix{}suffix`, len(encode(prefix + subject)) − 1;
- v* target (compute_v): `tok(" " + target)` with a leading BOS/unk dropped.
"""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
import torch

from helpers import build_tiny_tokenizer
from goldenlayers.data import filter_known
from goldenlayers.editing.vstar import rewriting_batch
from goldenlayers.editing.evaluate import evaluate_record
from goldenlayers.measure.gradients import old_and_new_sequences
from goldenlayers.text import answer_span_ids, batch_prompt_answers, subject_last_index, vstar_target_ids

# (prompt, answer, subject): subject at the start, in the middle, next to punctuation, repeated
PAIRS = [
    ("The capital of France is", "Paris", "France"),
    ("France's capital city is", "Paris", "France"),
    ("The capital of Germany is", "Berlin", "Germany"),
    ("Germany, whose capital is", "Berlin", "Germany"),
    ("The capital of Italy is", "Rome", "Italy"),
    ("In Italy (the country), the capital is", "Rome", "Italy"),
    ("The mother tongue of Danielle Darrieux is", "French", "Danielle Darrieux"),
    ("Danielle Darrieux's mother tongue is", "French", "Danielle Darrieux"),
    ("Toko Yasuda plays the", "guitar", "Toko Yasuda"),
    ("The instrument of Toko Yasuda is the", "guitar", "Toko Yasuda"),
    ("Michael Jordan plays", "basketball", "Michael Jordan"),
    ("The sport of Michael Jordan is", "basketball", "Michael Jordan"),
    ("The Eiffel Tower is located in", "Paris", "Eiffel Tower"),
    ("Where is the Eiffel Tower? It is in", "Paris", "Eiffel Tower"),
    ("The mother tongue of Thomas Joannes Stieltjes is", "Dutch", "Thomas Joannes Stieltjes"),
    ("The official language of Spain is", "Spanish", "Spain"),
    ("Spain's official language is", "Spanish", "Spain"),
    ("France borders Spain, and the capital of France is", "Paris", "France"),
    ("iPhone is made by", "Apple", "iPhone"),
    ("The iPhone is produced by", "Apple", "iPhone"),
    ("Japan: its capital is", "Tokyo", "Japan"),
    ("The capital of England is", "London", "England"),
    ("The capital of Spain is", "Madrid", "Spain"),
    ("Italy, and Italy's capital, is called", "Rome", "Italy"),
    ("The capital of France is", "the city of Paris", "France"),
]
WORDS = sorted({w for p, a, s in PAIRS for w in (p + " " + a).replace("'s", " ").replace(",", " ").replace("?", " ")
                .replace(":", " ").replace("(", " ").replace(")", " ").split()})


@pytest.fixture(scope="module")
def sp_model(tmp_path_factory):
    spm = pytest.importorskip("sentencepiece")
    pytest.importorskip("google.protobuf")  # transformers reads a tokenizer.model through protobuf (dev extra)
    # every word many times over, so BPE learns each as one piece ('▁Paris', '▁Darrieux', ...)
    lines = [" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))] * 8 + [p + " " + a + "." for p, a, _ in PAIRS]
    proto = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=proto, model_type="bpe", vocab_size=700, hard_vocab_limit=False,
        byte_fallback=True, split_digits=True, remove_extra_whitespaces=False, normalization_rule_name="identity",
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, minloglevel=2,
    )
    folder = tmp_path_factory.mktemp("sp")
    (folder / "tokenizer.model").write_bytes(proto.getvalue())
    processor = spm.SentencePieceProcessor(model_proto=proto.getvalue())
    missing = [w for w in WORDS if processor.piece_to_id("▁" + w) == processor.unk_id()]
    assert not missing, f"whole-word pieces missing from the vocabulary: {missing}"
    return folder, processor


def _llama(folder, legacy: bool):
    from transformers import LlamaTokenizer

    tok = LlamaTokenizer.from_pretrained(str(folder), legacy=legacy, add_bos_token=True)
    tok.pad_token = tok.eos_token
    tok.padding_side = "right"
    return tok


def _llama2_pipeline(folder, processor):
    """The same vocabulary and merges behind LLaMA-2's tokenizer.json pipeline (as transformers 4 loads it)."""
    from tokenizers import decoders, normalizers

    tok = _llama(folder, legacy=True)
    backend = tok.backend_tokenizer
    backend.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    backend.pre_tokenizer = None
    backend.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                         decoders.Strip(" ", 1, 0)])
    for text in [" Paris", "Paris"] + [p + " " + a for p, a, _ in PAIRS] + [p for p, _, _ in PAIRS]:
        assert tok(text)["input_ids"] == [1] + processor.encode(text), text
    assert tok.convert_ids_to_tokens(tok(" Paris", add_special_tokens=False)["input_ids"]) == ["▁", "▁Paris"]
    return tok


@pytest.fixture(scope="module", params=["byte-level BPE", "LlamaTokenizer legacy", "LlamaTokenizer non-legacy",
                                        "LLaMA-2 tokenizer.json", "Gemma-3-270M (real)"])
def tok(request, sp_model):
    folder, processor = sp_model
    if request.param == "byte-level BPE":
        return build_tiny_tokenizer()
    if request.param == "Gemma-3-270M (real)":
        # the real SentencePiece tokenizer of the embedded Gemma-3-270M (262k pieces, add_space_prefix false)
        from transformers import AutoTokenizer

        from goldenlayers.models import prepare_tokenizer

        gemma = AutoTokenizer.from_pretrained(request.getfixturevalue("gemma3_270m_dir"))
        prepare_tokenizer(gemma)
        assert "▁Paris" in gemma.get_vocab()  # whole words are pieces, so a wrong span would show
        return gemma
    if request.param == "LLaMA-2 tokenizer.json":
        return _llama2_pipeline(folder, processor)
    return _llama(folder, legacy=request.param == "LlamaTokenizer legacy")


# --- EasyEdit's rules, re-implemented ------------------------------------------------------------------------

def easyedit_answer(tok, prompt, answer):
    full = tok(prompt + " " + answer)["input_ids"]
    return full, full[len(tok(prompt)["input_ids"]):]


def easyedit_lookup(tok, template, subject):
    prefix, _ = template.split("{}")
    return len(tok.encode(prefix + subject)) - 1


def easyedit_target(tok, target):
    ids = tok(" " + target)["input_ids"]
    return ids[1:] if ids[0] in (tok.bos_token_id, tok.unk_token_id) else ids


def lone_prefix(tok, ids) -> bool:
    return tok.convert_ids_to_tokens(ids[:1]) == ["▁"]


# --- the checks -----------------------------------------------------------------------------------------------

def test_answer_spans_follow_easyedit(tok):
    input_ids, mask, labels = batch_prompt_answers(tok, [(p, a) for p, a, _ in PAIRS])
    for i, (prompt, answer, _) in enumerate(PAIRS):
        full, expected = easyedit_answer(tok, prompt, answer)
        assert expected and not lone_prefix(tok, expected), (prompt, answer)
        assert answer_span_ids(tok, prompt, answer) == expected
        n = int(mask[i].sum())
        assert input_ids[i, :n].tolist() == full
        assert labels[i][labels[i] != -100].tolist() == expected
        # the label at position t is the token at t + 1 (so logits[t] is scored against it)
        positions = (labels[i] != -100).nonzero().squeeze(1)
        assert input_ids[i, positions + 1].tolist() == expected


def test_gradient_sequences_are_one_text_each(tok):
    for prompt, answer, subject in PAIRS:
        record = {"prompt": prompt, "subject": subject, "target_new": answer, "ground_truth": "Madrid"}
        old, new, source = old_and_new_sequences(None, tok, record)  # the model is used only without a ground truth
        assert source == "ground_truth"
        for seq, text in ((old, "Madrid"), (new, answer)):
            full, expected = easyedit_answer(tok, prompt, text)
            assert list(seq.input_ids) == full and list(seq.input_ids[seq.answer_start:]) == expected
            assert not lone_prefix(tok, expected)


def test_subject_index_follows_find_fact_lookup_idx(tok):
    for prompt, _, subject in PAIRS:
        # EasyEdit writes the prompt as a template by replacing the subject with "{}"; with a repeated subject it
        # then refuses the prompt (two "{}"), where we take the first occurrence
        template = prompt.replace(subject, "{}", 1)
        assert subject_last_index(tok, prompt, subject) == easyedit_lookup(tok, template, subject), prompt
        assert tok.decode(tok(prompt)["input_ids"][: easyedit_lookup(tok, template, subject) + 1]).endswith(subject)


def test_vstar_batch_follows_compute_v(tok):
    templates = ["{}", "Some text here. {}", "Because of that. {}"]
    for prompt, answer, subject in PAIRS:
        request = {"prompt": prompt, "subject": subject, "target_new": answer}
        sequences, lookup, target_ids = rewriting_batch(tok, request, templates)
        assert target_ids == easyedit_target(tok, answer)
        assert vstar_target_ids(tok, answer, add_special_tokens=False) == [
            t for t in tok.encode(" " + answer, add_special_tokens=False)][-len(target_ids):]
        as_template = prompt.replace(subject, "{}", 1)
        rewriting = [t.format(as_template) + tok.decode(target_ids[:-1]) for t in templates] + ["{} is a"]
        assert sequences == [tok(r.format(subject))["input_ids"] for r in rewriting]
        assert lookup == [easyedit_lookup(tok, r, subject) for r in rewriting]


def test_llama2_pipeline_reproduces_the_compute_v_quirk(sp_model):
    """compute_v encodes " " + target alone, so with LLaMA-2's pipeline its target starts with a lone '▁'; v*
    keeps that (EasyEdit's behaviour), the metrics do not."""
    tok = _llama2_pipeline(*sp_model)
    target = vstar_target_ids(tok, "Paris")
    assert tok.convert_ids_to_tokens(target) == ["▁", "▁Paris"]
    assert tok.convert_ids_to_tokens(answer_span_ids(tok, "The capital of France is", "Paris")) == ["▁Paris"]


# --- metrics and the known-fact filter on hand-made logits ---------------------------------------------------

class OracleLM(torch.nn.Module):
    """A stand-in LM with hand-made logits: for the k-th row it is shown, it predicts the next token of `truth[k]`
    (EasyEdit's tokenisation of that row's text) at the positions in `truth_positions[k]`, and a wrong token
    everywhere else. A metric that reads any other positions, or compares with other tokens, scores below 1."""

    def __init__(self, truths: list[tuple[list[int], int]], vocab: int):
        super().__init__()
        self.queue = list(truths)  # (full ids, answer start) per row, in the order rows will be shown
        self.vocab = vocab
        self.config = SimpleNamespace(get_text_config=lambda: SimpleNamespace(final_logit_softcapping=None))
        self.base_model = self._backbone
        self.device = torch.device("cpu")

    def _logits(self, input_ids):
        batch, width = input_ids.shape
        rows, self.queue = self.queue[:batch], self.queue[batch:]
        logits = torch.zeros(batch, width, self.vocab)
        for r, (full, start) in enumerate(rows):
            for t in range(width):
                right = full[t + 1] if start - 1 <= t < len(full) - 1 else None
                wrong = (full[t + 1] + 1) % self.vocab if t + 1 < len(full) else 0
                logits[r, t, right if right is not None else wrong] = 1.0
        return logits

    def _backbone(self, input_ids, attention_mask=None, use_cache=False, **_):
        return SimpleNamespace(last_hidden_state=self._logits(input_ids))

    def get_output_embeddings(self):
        return torch.nn.Identity()

    def forward(self, input_ids, attention_mask=None, **_):
        return SimpleNamespace(logits=self._logits(input_ids))


def truth(tok, prompt, answer):
    full, expected = easyedit_answer(tok, prompt, answer)
    return full, len(full) - len(expected)


def test_metrics_score_exactly_the_answer_span(tok):
    prompt, answer = "The capital of France is", "the city of Paris"
    record = {"prompt": prompt, "target_new": answer, "rephrase_prompts": ["France's capital city is"],
              "portability": [{"prompt": "The Eiffel Tower is located in", "answer": "Paris"}],
              "locality": [{"prompt": "The capital of Spain is", "answer": "Madrid",
                            "pre_edit_ids": easyedit_answer(tok, "The capital of Spain is", "Madrid")[1]}]}
    rows = [(prompt, answer), ("France's capital city is", answer), ("The Eiffel Tower is located in", "Paris"),
            ("The capital of Spain is", "Madrid")]
    model = OracleLM([truth(tok, p, a) for p, a in rows], len(tok))
    assert evaluate_record(model, tok, record) == {"rewrite": 1.0, "rephrase": 1.0, "locality": 1.0,
                                                   "portability": 1.0}
    # the logits discriminate: the answer tokens read one position early or late score below 1
    full, start = truth(tok, prompt, answer)
    logits = OracleLM([(full, start)], len(tok))(torch.tensor([full])).logits[0]
    expected = torch.tensor(full[start:])
    for shift in (-1, 1):
        positions = torch.arange(start - 1, len(full) - 1) + shift
        assert (logits[positions].argmax(-1) == expected).float().mean() < 1.0


def test_known_fact_filter_uses_the_answer_span(tok):
    records = [{"id": str(i), "prompt": p, "subject": s, "ground_truth": a, "target_new": "Madrid",
                "rephrase_prompts": [], "portability": [], "locality": []} for i, (p, a, s) in enumerate(PAIRS)]
    model = OracleLM([truth(tok, r["prompt"], r["ground_truth"]) for r in records], len(tok))
    kept, report = filter_known(model, tok, records, progress=False)
    assert len(kept) == len(records) and all(row["known"] for row in report)
