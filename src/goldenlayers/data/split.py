"""The seeded proxy/test split of a dataset's record ids (the proxy set is where selectors and BF choose a layer;
the test set is where the choice is judged)."""

from __future__ import annotations

import random


def split_ids(ids: list[str], proxy_fraction: float, seed: int = 42, max_samples: int | None = None) -> dict:
    """Seeded proxy/test split of record ids (optionally of a seeded subsample of `max_samples`)."""
    if not 0 < proxy_fraction < 1:
        raise ValueError(f"proxy_fraction must be in (0, 1), got {proxy_fraction}")
    order = _sample_order(ids, seed, max_samples)
    n_proxy = round(len(order) * proxy_fraction)
    if n_proxy == 0 or n_proxy == len(order):
        raise ValueError(
            f"proxy fraction {proxy_fraction} of {len(order)} samples leaves an empty split; "
            "use more samples or another proxy_fraction"
        )
    # keep file order inside each split so outputs are easy to read and stable
    position = {rid: i for i, rid in enumerate(ids)}
    proxy = sorted(order[:n_proxy], key=position.get)
    test = sorted(order[n_proxy:], key=position.get)
    return {"seed": seed, "proxy_fraction": proxy_fraction, "proxy": proxy, "test": test}


def _sample_order(ids: list[str], seed: int, max_samples: int | None) -> list[str]:
    """The seeded order the split cuts into proxy and test: every id, or a seeded subsample of `max_samples`."""
    order = list(ids)
    random.Random(seed).shuffle(order)
    return order if max_samples is None else order[:max_samples]


def sample_set(ids: list[str], seed: int = 42, max_samples: int | None = None) -> dict:
    """The ids `split_ids` splits (in file order), whatever the proxy fraction: what the sweeps edit. The seed
    only matters (and is only recorded) with `max_samples`; so a new proxy fraction, or a new split seed over
    all samples, leaves this set and the sweeps of it as they are."""
    chosen = set(_sample_order(ids, seed, max_samples))
    return {"max_samples": max_samples, "seed": seed if max_samples is not None else None,
            "ids": [rid for rid in ids if rid in chosen]}
