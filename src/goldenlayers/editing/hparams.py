"""Editor hyperparameters, read from EasyEdit's YAML files as they are.

EasyEdit's files mix three kinds of keys: the method's numbers (v_lr, clamp_norm_factor, ...), which we use;
module templates and bookkeeping (rewrite_module_tmp, device, stats_dir, ...), which our `ArchSpec` and the
pipeline already provide, so we accept and ignore them; and nothing else. Any other key is a typo or a method we
do not implement, so it is an error that names the key, rather than a silently ignored number.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field, fields

# EasyEdit keys that describe where modules live or how its own runner is set up. The layer is chosen by the
# pipeline, modules come from goldenlayers.models.ArchSpec, devices from the CLI.
IGNORED_EASYEDIT_KEYS = frozenset({
    "alg_name", "model_name", "stats_dir", "device", "layers", "layer_selection",
    "rewrite_module_tmp", "layer_module_tmp", "mlp_module_tmp", "attn_module_tmp", "ln_f_module", "lm_head_module",
    "model_parallel", "fp16", "max_length", "calculate_objective_value", "enable_prompt_keys",
})


# The key covariance's offline default corpus (editing/covariance.py), also the default of `mom2_dataset`.
DEFAULT_CORPUS = "embedded:mom2_corpus"


class HparamsError(ValueError):
    """A hyperparameter file that cannot be used as it is; the message names the key."""


def _as_float(name: str, value, source: str = "hparams"):
    # PyYAML reads EasyEdit's `5e-1` (no dot) as a string; EasyEdit converts such strings, so do we.
    try:
        return float(value)
    except (TypeError, ValueError):
        raise HparamsError(f"{source}: {name}: expected a number, got {value!r}") from None


@dataclass
class VStarHparams:
    """The v* optimisation shared by ROME, R-ROME and EMMET (EasyEdit names and meanings)."""

    v_num_grad_steps: int = 20
    v_lr: float = 0.5
    v_weight_decay: float = 0.5
    clamp_norm_factor: float = 4.0
    kl_factor: float = 0.0625
    fact_token: str = "subject_last"
    # EasyEdit reads the loss at max(v_loss_layer, layer) through the final norm and LM head; its shipped files
    # always name the last layer, which is what the model's own logits are. Any other value is refused at edit
    # time (we do not know the layer count here).
    v_loss_layer: int | None = None
    mom2_adjustment: bool = False
    # EasyEdit's names for the key covariance's corpus, text count and accumulation dtype. `goldenlayers edit`
    # computes the covariance from them; the pipeline computes one covariance per (model, layer) for every editor
    # from the config's key_covariance section, and a sweep warns when these disagree with it (docs/methods.md).
    # EasyEdit's default corpus is wikipedia (online); ours is the offline one, as the config's.
    mom2_dataset: str = DEFAULT_CORPUS
    mom2_n_samples: int = 100000
    mom2_dtype: str = "float32"
    context_template_length_params: list = field(default_factory=lambda: [[5, 10], [10, 10]])
    # An update whose Frobenius norm exceeds this multiple of the edited weight's norm is recorded as a failed
    # edit and not applied (None: no bound). Not an EasyEdit key; generous enough that no sane edit reaches it.
    max_update_norm_ratio: float | None = 10.0
    # Long answers (UnKE paragraphs): v* is optimised for the first max_target_tokens tokens of the answer
    # (None: the whole answer). Not an EasyEdit key; see editing/long_targets.py and docs/methods.md.
    max_target_tokens: int | None = None
    # --- speed only: the same numbers, computed with less work (see editing/vstar.py) ---
    # run the blocks before the edited layer once and replay their output in every later step
    replay_prefix: bool = True
    # run the tokens before the subject's last token once (their states cannot see δ) and keep their attention
    # keys/values; every step then runs only the tokens from the subject's last token on
    cache_prefix_states: bool = True
    # the straightforward path kept for the benchmark: full forward of every token each step and full-vocabulary
    # logits at every position (as EasyEdit and ROME do); overrides the two flags above
    reference_forward: bool = False

    @classmethod
    def from_dict(cls, values: dict, source: str = "hparams") -> "VStarHparams":
        values = dict(values or {})
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(k for k in values if k not in known and k not in IGNORED_EASYEDIT_KEYS)
        if unknown:
            raise HparamsError(
                f"{source}: unknown key(s) {', '.join(unknown)} for {cls.__name__}; "
                f"known keys: {', '.join(sorted(known))} (EasyEdit bookkeeping keys are accepted and ignored)"
            )
        kwargs = {}
        hints = typing.get_type_hints(cls)
        for name, value in values.items():
            if name not in known:
                continue
            hint = hints[name]
            if isinstance(hint, types.UnionType):  # `float | None` and the like: None stays None
                if value is None:
                    kwargs[name] = None
                    continue
                hint = next(a for a in hint.__args__ if a is not type(None))
            if hint is float:
                value = _as_float(name, value, source)
            elif hint is int:
                number = _as_float(name, value, source)
                if number != int(number):
                    raise HparamsError(f"{source}: {name}: expected a whole number, got {value!r}")
                value = int(number)
            elif hint is bool and not isinstance(value, bool):
                raise HparamsError(f"{source}: {name}: expected true or false, got {value!r}")
            kwargs[name] = value
        hp = cls(**kwargs)
        hp.validate(source)
        return hp

    def validate(self, source: str = "hparams") -> None:
        if self.fact_token != "subject_last":
            raise HparamsError(f"{source}: fact_token {self.fact_token!r} is not supported; use 'subject_last'")
        if self.mom2_dtype not in ("float32", "float64"):
            raise HparamsError(f"{source}: mom2_dtype must be float32 or float64, got {self.mom2_dtype!r}")
        if self.v_num_grad_steps < 1:
            raise HparamsError(f"{source}: v_num_grad_steps must be at least 1")
        if self.max_target_tokens is not None and self.max_target_tokens < 1:
            raise HparamsError(f"{source}: max_target_tokens must be at least 1 (or null for the whole answer)")

    def check_loss_layer(self, n_layers: int) -> None:
        if self.v_loss_layer is not None and self.v_loss_layer != n_layers - 1:
            raise HparamsError(
                f"v_loss_layer {self.v_loss_layer} is not the last layer ({n_layers - 1}); only the model's final "
                "logits are supported (EasyEdit's shipped files always use the last layer)"
            )
