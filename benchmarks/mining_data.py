"""Synthetic candidate groups for mining benchmarks: Zipf-distributed alert types, tenants,
and planted patterns (a few sequences that recur in many groups across many tenants)."""

from __future__ import annotations

import numpy as np

from fusion_ml.mining.sequences import SequenceSet


def synthetic_groups(n_groups: int = 1_000_000, n_types: int = 300, n_tenants: int = 500,
                     mean_length: float = 10.0, n_planted: int = 20, planted_share: float = 0.02,
                     seed: int = 0) -> SequenceSet:
    """``n_groups`` sequences (already integer-encoded; consecutive duplicates collapsed)."""
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.poisson(mean_length, n_groups), 1, 40)
    weights = 1.0 / np.arange(1, n_types + 1) ** 1.1
    items = rng.choice(n_types, size=int(lengths.sum()), p=weights / weights.sum())
    offsets = np.zeros(n_groups + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    planted = [rng.choice(np.arange(n_types // 3, n_types), size=int(rng.integers(3, 7)),
                          replace=False) for _ in range(n_planted)]
    for group in np.flatnonzero(rng.random(n_groups) < planted_share * n_planted):
        pattern = planted[int(rng.integers(n_planted))]
        start, end = offsets[group], offsets[group + 1]
        if end - start >= len(pattern):
            slots = np.sort(rng.choice(end - start, size=len(pattern), replace=False))
            items[start + slots] = pattern
    # collapse consecutive duplicates
    keep = np.ones(len(items), dtype=bool)
    keep[1:] = items[1:] != items[:-1]
    starts = np.zeros(len(items), dtype=bool)
    starts[offsets[:-1][lengths > 0]] = True
    keep |= starts
    group_of = np.repeat(np.arange(n_groups), lengths)
    items = items[keep]
    new_lengths = np.bincount(group_of[keep], minlength=n_groups)
    offsets = np.zeros(n_groups + 1, dtype=np.int64)
    np.cumsum(new_lengths, out=offsets[1:])
    tenants = np.sort(rng.integers(0, n_tenants, n_groups)).astype(np.int32)
    return SequenceSet(items.astype(np.int32), offsets, tenants,
                       tuple(f"type-{i:03d}" for i in range(n_types)))
