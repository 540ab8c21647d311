"""v*: the output an edit site must produce at the subject's last token so the model predicts the new target.

Shared by ROME/R-ROME (site = the edited MLP output projection; EasyEdit's `compute_v`) and EMMET (site = the block
output, i.e. the residual stream; EasyEdit's MEMIT-style `compute_z`). Everything follows EasyEdit line by line
(docs/methods.md lists each convention):
- target ids: `" " + target_new` encoded alone, a leading BOS/unk dropped (text.vstar_target_ids);
- rewriting prompts: each context template around the prompt, followed by the *decoded* target minus its last
  token, re-tokenised as one string; the target ids are scored at the last len(target) positions of each;
- the KL prompt "{subject} is a", read at its lookup index (the subject's last token), not at its last token;
- δ is added to the site's output at the subject's last token of every prompt (KL prompt included) and optimised
  with Adam on

    mean over the rewriting prompts of (summed target NLL / len(target)) + kl_factor·KL(current ‖ initial)
      + v_weight_decay·‖δ‖ / ‖v_init‖²,

  clamped to ‖δ‖ ≤ clamp_norm_factor·‖v_init‖ after each step, stopping once the loss is below 5e-2.
v* = v_init + δ where v_init is the site's output at the bare prompt (template "{}").

Three ways to compute the same loss, chosen by hyperparameters (they differ in speed, not in numbers):
- reference (`reference_forward`): the whole model on every token at every step, logits over the full vocabulary
  at every position, as EasyEdit and ROME do; kept as the benchmark's baseline;
- replay (`replay_prefix`): blocks before the edited layer never see δ, so they run once and their output is
  replayed; the LM head runs only at the target positions and the KL position (and the KL prompt stops at its
  lookup token: nothing after it reaches the KL logits);
- prefix states (`cache_prefix_states`): tokens before the subject's last token never see δ either (attention is
  causal), so they run once, all layers, and their attention keys/values are kept; every step then runs only
  the few tokens from the subject's last token on. Each row's prefix is left-padded so that every row's subject
  token is the first token of the per-step batch; position ids carry the true positions.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
from dataclasses import dataclass

import torch

from goldenlayers.models import blocks, edited_module, num_layers
from goldenlayers.text import pad_batch, prompt_ids, subject_last_index, vstar_target_ids

EARLY_STOP_LOSS = 5e-2  # EasyEdit/ROME stop optimising v* once the total loss is below this
SITES = ("mlp_output", "block_output")
# EasyEdit's compute_v (ROME/R-ROME, MLP output) encodes the target with special tokens, compute_z (EMMET, block
# output) without; the two differ only for a tokenizer that appends an EOS
TARGET_SPECIAL_TOKENS = {"mlp_output": True, "block_output": False}


@dataclass
class VStar:
    """Result of one v* optimisation; keys/values are per template, row 0 the bare prompt."""

    keys: torch.Tensor  # [n_templates, d_in] edited-module input at the subject's last token (float64)
    values: torch.Tensor  # [n_templates, d_site] site output there before δ (float64)
    delta: torch.Tensor  # [d_site] the optimised δ (float32)
    steps: int
    final_loss: float

    @property
    def v_init(self) -> torch.Tensor:
        return self.values[0]

    @property
    def v_star(self) -> torch.Tensor:
        return self.v_init + self.delta.double()


def templated(template: str, prompt: str, subject: str) -> tuple[str, int]:
    """Apply a context template; return the text and the character offset where the subject ends."""
    at = template.index("{}")
    text = template[:at] + prompt + template[at + 2 :]
    return text, at + prompt.index(subject) + len(subject)


def site_module(model, layer: int, site: str) -> torch.nn.Module:
    if site == "mlp_output":
        return edited_module(model, layer)
    if site == "block_output":
        return blocks(model)[layer]
    raise ValueError(f"unknown edit site {site!r}; known: {', '.join(SITES)}")


def _hidden(output):
    """Blocks return a tensor or a tuple whose first item is the hidden state, depending on the version."""
    return output[0] if isinstance(output, tuple) else output


def _with_hidden(output, hidden):
    return (hidden, *output[1:]) if isinstance(output, tuple) else hidden


class _SiteHook:
    """Forward hook on the site: records its output at the lookup positions (first call) and adds δ there."""

    def __init__(self, rows: torch.Tensor, cols: torch.Tensor):
        self.rows, self.cols = rows, cols
        self.delta: torch.Tensor | None = None
        self.values = None

    def __call__(self, module, inputs, output):
        hidden = _hidden(output)
        if self.values is None:
            self.values = hidden[self.rows, self.cols].detach().double()
        hidden = hidden.clone()
        hidden[self.rows, self.cols] += self.delta.to(hidden.dtype)
        return _with_hidden(output, hidden)


class _KeyHook:
    """Forward hook on the edited module: records its input (the key) at the lookup positions, once."""

    def __init__(self, rows: torch.Tensor, cols: torch.Tensor):
        self.rows, self.cols = rows, cols
        self.keys = None

    def __call__(self, module, inputs, output):
        if self.keys is None:
            self.keys = inputs[0][self.rows, self.cols].detach().double()


@contextlib.contextmanager
def frozen_weights(model):
    """The model's weights with requires_grad off while v* is optimised, restored after: v* differentiates δ only.
    A model fresh from `from_pretrained` has every weight requiring grad; then the replayed prefix output and each
    step's graph would reach into the weights, and the second step's backward would run through the first step's
    freed prefix graph (a RuntimeError), besides computing gradients nobody reads."""
    thawed = [w for w in model.parameters() if w.requires_grad]
    for w in thawed:
        w.requires_grad_(False)
    try:
        yield
    finally:
        for w in thawed:
            w.requires_grad_(True)


@contextlib.contextmanager
def replay_prefix(model, layer: int):
    """Blocks before `layer` never see δ: run them once, then replay their output on every later forward.

    The replayed object is whatever block `layer - 1` returned (tensor or tuple, per transformers version), and
    every earlier block returns it too, so nothing family-specific is needed. This removes the forward of the
    first `layer` blocks from every optimisation step after the first (autograd already skips their backward).
    """
    prefix = list(blocks(model))[:layer]
    if not prefix:
        yield
        return
    saved = {}

    def replay(*args, **kwargs):
        return saved["output"]

    def capture(module, inputs, output):
        saved["output"] = output
        for block in prefix:
            block.forward = replay  # an instance attribute shadows the class's forward

    handle = prefix[-1].register_forward_hook(capture)
    try:
        yield
    finally:
        handle.remove()
        for block in prefix:
            block.__dict__.pop("forward", None)


def project_to_vocab(model, hidden: torch.Tensor) -> torch.Tensor:
    """LM head (with Gemma's final logit soft-cap) on already-normalised final hidden states."""
    logits = model.get_output_embeddings()(hidden)
    softcap = getattr(model.config.get_text_config(), "final_logit_softcapping", None)
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    return logits


@functools.cache
def _cache_argument(model_class) -> str:
    # transformers 5.x renamed `past_key_values` to `cache` (input and output); 4.x only knows the old name
    return "cache" if "cache" in inspect.signature(model_class.forward).parameters else "past_key_values"


def rewriting_batch(tok, request: dict, templates: list[str], target_special_tokens: bool = True
                    ) -> tuple[list[list[int]], list[int], list[int]]:
    """Token ids of every rewriting prompt and the KL prompt (last), their lookup indices, and the target ids.

    As EasyEdit's compute_v: each rewriting prompt is the templated prompt + `tok.decode(target_ids[:-1])`,
    tokenised as one string (so the target ids are scored at its last len(target_ids) positions even where
    re-tokenising the decoded text would not reproduce them); the subject is its first occurrence in the prompt
    (EasyEdit replaces every occurrence by "{}" and then refuses a prompt with more than one).
    """
    if not templates or templates[0] != "{}":
        raise ValueError('the first context template must be the bare prompt "{}"')
    subject, prompt = request["subject"], request["prompt"]
    if subject not in prompt:
        raise ValueError(f"subject {subject!r} does not occur in prompt {prompt!r}")
    target_ids = vstar_target_ids(tok, request["target_new"], target_special_tokens)
    target_text = tok.decode(target_ids[:-1])
    sequences, lookup = [], []
    for template in templates:
        text, subject_end = templated(template, prompt, subject)
        sequence = prompt_ids(tok, text + target_text)
        if len(sequence) < len(target_ids):
            raise ValueError(f"prompt {text!r} is shorter than its target {request['target_new']!r} in tokens")
        sequences.append(sequence)
        lookup.append(subject_last_index(tok, text[:subject_end], subject))
    kl_text = f"{subject} is a"
    sequences.append(prompt_ids(tok, kl_text))
    lookup.append(subject_last_index(tok, kl_text, subject))
    return sequences, lookup, target_ids


class _FullBatch:
    """Every token every step (reference, or with the blocks before the layer replayed)."""

    def __init__(self, model, sequences, lookup, rows, cols, pad_id, full_vocab: bool):
        self.model, self.full_vocab = model, full_vocab
        device = model.device
        input_ids, mask = pad_batch(sequences, pad_id)
        self.input_ids, self.mask = input_ids.to(device), mask.to(device)
        self.rows, self.cols = rows.to(device), cols.to(device)
        self.site_rows = torch.arange(len(sequences), device=device)
        self.site_cols = torch.tensor(lookup, device=device)

    def log_probs(self) -> torch.Tensor:
        if self.full_vocab:
            logits = self.model(input_ids=self.input_ids, attention_mask=self.mask, use_cache=False).logits
            return torch.log_softmax(logits.float(), -1)[self.rows, self.cols]
        hidden = self.model.base_model(input_ids=self.input_ids, attention_mask=self.mask,
                                       use_cache=False).last_hidden_state
        return torch.log_softmax(project_to_vocab(self.model, hidden[self.rows, self.cols]).float(), -1)


class _SuffixBatch:
    """Only the tokens from each row's subject token on; the tokens before it run once, keys/values kept."""

    def __init__(self, model, sequences, lookup, rows, cols, pad_id):
        self.model = model
        device = model.device
        width = max(lookup)  # longest prefix; each row's prefix is left-padded to it
        prefixes = [seq[:start] for seq, start in zip(sequences, lookup)]
        suffixes = [seq[start:] for seq, start in zip(sequences, lookup)]
        suffix_ids, suffix_mask = pad_batch(suffixes, pad_id)
        prefix_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
        prefix_mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for r, prefix in enumerate(prefixes):
            if prefix:
                prefix_ids[r, width - len(prefix):] = torch.tensor(prefix)
                prefix_mask[r, width - len(prefix):] = 1
        starts = torch.tensor(lookup)[:, None]
        prefix_positions = (torch.arange(width)[None, :] - (width - starts)).clamp(min=0)
        self.suffix_ids = suffix_ids.to(device)
        self.suffix_positions = (starts + torch.arange(suffix_ids.shape[1])[None, :]).to(device)
        self.mask = torch.cat([prefix_mask, suffix_mask], 1).to(device)
        self.rows = rows.to(device)
        self.cols = (cols - torch.tensor(lookup)[rows]).to(device)
        self.site_rows = torch.arange(len(sequences), device=device)
        self.site_cols = torch.zeros(len(sequences), dtype=torch.long, device=device)
        self.cache_argument = _cache_argument(type(model.base_model))
        self.cache = None
        self.finite = True
        if width:
            with torch.no_grad():
                out = model.base_model(input_ids=prefix_ids.to(device), attention_mask=prefix_mask.to(device),
                                       position_ids=prefix_positions.to(device), use_cache=True)
            self.cache = getattr(out, self.cache_argument)
            # a row that is all padding attends to nothing; an attention kernel that answers NaN there would
            # poison every later step through those (masked, but NaN) keys, so the caller falls back
            self.finite = bool(torch.isfinite(out.last_hidden_state).all())

    def log_probs(self) -> torch.Tensor:
        # each step appends its tokens to the cache it is given, so it gets a fresh copy of the prefix states
        cache = copy.deepcopy(self.cache) if self.cache is not None else None
        mask = self.mask if cache is not None else self.mask[:, -self.suffix_ids.shape[1]:]
        hidden = self.model.base_model(input_ids=self.suffix_ids, attention_mask=mask,
                                       position_ids=self.suffix_positions, use_cache=cache is not None,
                                       **{self.cache_argument: cache}).last_hidden_state
        return torch.log_softmax(project_to_vocab(self.model, hidden[self.rows, self.cols]).float(), -1)


def _choose_batch(model, tok, hparams, sequences, lookup, rows_t, cols_t, suffix_ok: bool):
    """The forward a step runs: the reference (full sequences, full vocabulary), the cached-prefix suffix when it
    may be used and stays finite, else the full sequences over the needed positions."""
    if hparams.reference_forward:
        return _FullBatch(model, sequences, lookup, rows_t, cols_t, tok.pad_token_id, full_vocab=True)
    if hparams.cache_prefix_states and suffix_ok:
        batch = _SuffixBatch(model, sequences, lookup, rows_t, cols_t, tok.pad_token_id)
        if batch.finite:
            return batch
    return _FullBatch(model, sequences, lookup, rows_t, cols_t, tok.pad_token_id, full_vocab=False)


def optimise_vstar(model, tok, request: dict, hparams, layer: int, templates: list[str],
                   site: str = "mlp_output", trace: list | None = None) -> VStar:
    """Optimise δ at `site` of `layer` for one request {prompt, subject, target_new}; see the module docstring.

    `trace`, if given, receives (loss, δ) of every step, δ as used in that step's forward (for tests).
    """
    hparams.check_loss_layer(num_layers(model))
    if site not in TARGET_SPECIAL_TOKENS:
        raise ValueError(f"unknown edit site {site!r}; known: {', '.join(SITES)}")
    sequences, lookup, target_ids = rewriting_batch(tok, request, templates, TARGET_SPECIAL_TOKENS[site])
    n_rewrite = len(templates)
    device = model.device
    if not hparams.reference_forward:  # nothing after its lookup token reaches the KL logits (causal attention)
        sequences[n_rewrite] = sequences[n_rewrite][: lookup[n_rewrite] + 1]
    # Positions whose log-probabilities are needed: the last len(target) positions of each rewriting row (each
    # scored against the target token at the same index, as EasyEdit's rewriting_targets) and the KL row's lookup
    # position.
    rows, cols, gold = [], [], []
    for r in range(n_rewrite):
        first = len(sequences[r]) - len(target_ids)
        for j, token in enumerate(target_ids):
            rows.append(r), cols.append(first + j), gold.append(token)
    rows.append(n_rewrite), cols.append(lookup[n_rewrite])
    rows_t, cols_t = torch.tensor(rows), torch.tensor(cols)
    gold_t = torch.tensor(gold, device=device)
    target_rows = rows_t[:-1].to(device)
    # a target position before its row's subject token (a target whose decoded prefix re-tokenises into the
    # prompt) is outside the per-step suffix: such a request takes the full-sequence path
    suffix_ok = all(c >= lookup[r] for r, c in zip(rows, cols))
    batch = _choose_batch(model, tok, hparams, sequences, lookup, rows_t, cols_t, suffix_ok)

    site_hook = _SiteHook(batch.site_rows, batch.site_cols)
    key_hook = _KeyHook(batch.site_rows, batch.site_cols)
    with contextlib.ExitStack() as stack:
        stack.enter_context(frozen_weights(model))
        for module, hook in ((edited_module(model, layer), key_hook), (site_module(model, layer, site), site_hook)):
            stack.callback(module.register_forward_hook(hook).remove)
        if hparams.replay_prefix and not hparams.reference_forward:
            stack.enter_context(replay_prefix(model, layer))
        d_site = model.config.get_text_config().hidden_size
        delta = torch.zeros(d_site, device=device, requires_grad=True)
        site_hook.delta = delta
        optimiser = torch.optim.Adam([delta], lr=hparams.v_lr)
        kl_init, loss_value, steps = None, float("nan"), 0
        for step in range(hparams.v_num_grad_steps):
            steps = step + 1
            log_probs = batch.log_probs()
            if step == 0:  # the hooks captured keys and values before δ had any effect
                v_init = site_hook.values[0].float()
                max_norm = hparams.clamp_norm_factor * v_init.norm()
            kl_log_probs = log_probs[-1:]
            if kl_init is None:
                kl_init = kl_log_probs.detach()
            token_nll = -log_probs[:-1].gather(1, gold_t[:, None]).squeeze(1)
            per_row = torch.zeros(n_rewrite, device=device).index_add(0, target_rows, token_nll)
            # one NLL per rewriting prompt (summed over the target, divided by its length), averaged over the
            # rewriting prompts only: the KL prompt has no target (EasyEdit's nll_loss_each.mean())
            nll = (per_row / len(target_ids)).mean()
            kl = hparams.kl_factor * torch.nn.functional.kl_div(
                kl_init, kl_log_probs, log_target=True, reduction="batchmean"
            )
            decay = hparams.v_weight_decay * (delta.norm() / v_init.norm() ** 2)
            loss = nll + kl + decay
            loss_value = loss.item()
            if trace is not None:
                trace.append((loss_value, delta.detach().clone()))
            if loss_value < EARLY_STOP_LOSS or step == hparams.v_num_grad_steps - 1:
                break
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            with torch.no_grad():
                norm = delta.norm()
                if norm > max_norm:
                    delta.mul_(max_norm / norm)
    return VStar(keys=key_hook.keys[:n_rewrite], values=site_hook.values[:n_rewrite], delta=delta.detach(),
                 steps=steps, final_loss=loss_value)
