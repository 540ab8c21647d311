"""The seeded proxy/test split of a dataset's record ids (the proxy set is where selectors and BF choose a layer;
the test set is where the choice is judged)."""

from __future__ import annotations

import random


def split_ids(ids: list[str], proxy_fraction: float, seed: int = 42, max_samples: int | None = None) -> dict:
    """Seeded proxy/test split of record ids (optionally of a seeded subsample of `max_samples`)."""
    if not 0 < proxy_fraction < 1:
        raise ValueError(f"proxy_fraction must be in (0, 1), got {proxy_fraction}")
    rng = random.Random(seed)
    order = list(ids)
    rng.shuffle(order)
    if max_samples is not None:
        order = order[:max_samples]
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
