"""Per-sample selector evidence for every kept sample, so any proxy subset can be re-scored without a model.

LGA and LGA(K') need only the per-sample gradient scalars (`gradients.COLUMNS`), and CMA the per-sample indirect
effects (`causal_trace.EFFECT_COLUMNS`): their subset scores are sums / means of rows. SaLEM is not additive in the
samples (it is the mean |entry| of the *summed* new-knowledge gradient G_L = sum_i D_i^T X_i), so re-scoring a
subset needs each sample's gradient. Two ways to keep it:

* per-sample sums G_{i,L}: d_out x d_in floats per sample and layer (SmolLM2-135M: 576 x 1536 x 30 layers
  = 26.5 M floats = 106 MB per sample in float32);
* per-token factors X_{i,L} (tokens x d_in) and D_{i,L} (tokens x d_out) of the new-knowledge sequence:
  tokens x 2112 x 30 floats, ~1.8 MB per sample of ~7 tokens in float32.

The factors are ~50x smaller for edit-length prompts (the ratio is d_in d_out / (T (d_in + d_out))), so they are
what `NewGradientFactors` keeps; a subset's G_L is rebuilt as D_S^T X_S. `gradients.NewGradientSum` does the same
sum in float64; here it runs in float32 (the factors' own precision), which halves the cost of the resampling
stage's hottest loop and moves a saliency by ~1e-6 relative (tests compare the two at rtol 1e-5). Sizes and times:
docs/benchmarks.md, "Resampled proxy draws".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from goldenlayers.measure.gradients import SALIENCY_COLUMNS
from goldenlayers.io import atomic_path, rebuild_hint

FACTORS_FORMAT = "goldenlayers.new_gradient_factors.v1"


class NewGradientFactors:
    """Collects each sample's new-knowledge keys X [T, d_in] and output gradients D [T, d_out] for every layer.

    Pass it as `extract_layer_gradients(..., new_factors=...)`; `save(path)` writes one safetensors file.
    """

    def __init__(self):
        self.sample_ids: list[str] = []
        self._per_layer: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {}

    def add_sample(self, sample_id: str, captured: dict) -> None:
        if str(sample_id) in self.sample_ids:
            raise ValueError(f"sample {sample_id!r} was added twice")
        layers = sorted(captured)
        if self._per_layer and layers != sorted(self._per_layer):
            raise ValueError("every sample must cover the same layers")
        self.sample_ids.append(str(sample_id))
        for layer in layers:
            x, d = captured[layer]
            self._per_layer.setdefault(int(layer), []).append((x.detach().float().cpu().clone(),
                                                               d.detach().float().cpu().clone()))

    def save(self, path, provenance: dict | None = None) -> None:
        from safetensors.torch import save_file

        if not self.sample_ids:
            raise ValueError("no samples to save")
        tensors = {}
        first = next(iter(self._per_layer.values()))
        lengths = [x.shape[0] for x, _ in first]
        tensors["offsets"] = torch.tensor(np.concatenate([[0], np.cumsum(lengths)]), dtype=torch.int64)
        for layer, pairs in self._per_layer.items():
            tensors[f"x.{layer}"] = torch.cat([x for x, _ in pairs]).contiguous()
            tensors[f"d.{layer}"] = torch.cat([d for _, d in pairs]).contiguous()
        meta = {"format": FACTORS_FORMAT, "sample_ids": json.dumps(self.sample_ids),
                "layers": json.dumps(sorted(self._per_layer)), "provenance": json.dumps(provenance or {})}
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata=meta)


def load_factors(path) -> dict:
    """{sample_ids, layers, offsets (np), x: {layer: float32 tensor}, d: {...}, provenance} of a factors file."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FACTORS_FORMAT:
                raise ValueError(f"{path}: not a new-gradient factors file (format {meta.get('format')!r})"
                                 f"{_hint(path)}")
            layers = json.loads(meta["layers"])
            out = {"sample_ids": json.loads(meta["sample_ids"]), "layers": layers,
                   "provenance": json.loads(meta.get("provenance", "{}")),
                   "offsets": f.get_tensor("offsets").numpy(),
                   "x": {layer: f.get_tensor(f"x.{layer}") for layer in layers},
                   "d": {layer: f.get_tensor(f"d.{layer}") for layer in layers}}
    except (OSError, KeyError, json.JSONDecodeError, SafetensorError) as err:
        raise ValueError(f"{path}: unreadable new-gradient factors file ({err}){_hint(path)}") from None
    return out


def _hint(path) -> str:
    """A pipeline file says how to rebuild it, as every other cached input does (io.rebuild_hint)."""
    return f"; {rebuild_hint(path)}" if "results" in Path(path).parts else ""


def token_index(factors: dict, sample_ids: Sequence[str]) -> torch.Tensor:
    """Row indices into the factor tensors of `sample_ids`' tokens."""
    position = {sid: i for i, sid in enumerate(factors["sample_ids"])}
    missing = [s for s in map(str, sample_ids) if s not in position]
    if missing:
        raise KeyError(f"{len(missing)} sample ids have no gradient factors, e.g. {missing[:3]}")
    offsets = factors["offsets"]
    parts = [np.arange(offsets[position[s]], offsets[position[s] + 1]) for s in map(str, sample_ids)]
    return torch.from_numpy(np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64))


def salem_saliency(factors: dict, sample_ids: Sequence[str], layers: Sequence[int] | None = None) -> pd.DataFrame:
    """SaLEM's saliency table (`gradients.SALIENCY_COLUMNS`) over `sample_ids`, rebuilt from the factors.

    saliency_L = mean |entry| of sum_{i in S} D_i^T X_i (float32 product): the numbers `NewGradientSum` gives over
    a gradient pass of those samples alone, to float32 rounding.
    """
    ids = [str(s) for s in sample_ids]
    if not ids:
        raise ValueError("no sample ids to score")
    if len(set(ids)) != len(ids):
        raise ValueError("sample_ids contains duplicates")
    layers = factors["layers"] if layers is None else sorted({int(layer) for layer in layers})
    missing = sorted(set(layers) - set(factors["layers"]))
    if missing:
        raise ValueError(f"candidate layers {missing} are not in the gradient factors")
    rows = token_index(factors, ids)
    out = []
    for layer in layers:
        g = factors["d"][layer][rows].T @ factors["x"][layer][rows]
        # the L1 norm reduces in one pass without an |G| temporary
        out.append((int(layer), float(torch.linalg.vector_norm(g, ord=1)) / g.numel(), len(ids), int(g.numel())))
    frame = pd.DataFrame(out, columns=SALIENCY_COLUMNS)
    frame["layer"] = frame["layer"].astype(np.int64)
    return frame
