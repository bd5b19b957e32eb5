"""A brute-force enumerator of frequent sequential patterns: the test oracle of the miners.

It enumerates every candidate pattern over the vocabulary up to ``max_length`` and checks
containment in every sequence directly; exponential, for small inputs only.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product


def contains(sequence: Sequence[str], pattern: Sequence[str], max_gap: int | None = None) -> bool:
    """Whether ``pattern`` occurs in ``sequence`` in order, with at most ``max_gap`` other items
    between consecutive pattern items (any number if ``None``)."""
    def search(start: int, k: int, previous: int | None) -> bool:
        if k == len(pattern):
            return True
        stop = len(sequence) if max_gap is None or previous is None else min(
            len(sequence), previous + max_gap + 2)
        return any(sequence[i] == pattern[k] and search(i + 1, k + 1, i)
                   for i in range(start, stop))

    return search(0, 0, None)


def brute_force_patterns(sequences: Sequence[Sequence[str]], tenants: Sequence[str],
                         min_count: int, min_tenants: int, max_length: int,
                         max_gap: int | None = None) -> dict[tuple[str, ...], tuple[int, int]]:
    """``{pattern: (groups, distinct tenants)}`` for every pattern meeting both thresholds.

    Consecutive duplicates in the sequences are collapsed first, as the miners do.
    """
    collapsed = [[x for i, x in enumerate(s) if i == 0 or s[i - 1] != x] for s in sequences]
    vocabulary = sorted({x for s in collapsed for x in s})
    found: dict[tuple[str, ...], tuple[int, int]] = {}
    for length in range(1, max_length + 1):
        for pattern in product(vocabulary, repeat=length):
            holders = [i for i, s in enumerate(collapsed) if contains(s, pattern, max_gap)]
            groups, distinct = len(holders), len({tenants[i] for i in holders})
            if groups >= min_count and distinct >= min_tenants:
                found[pattern] = (groups, distinct)
    return found
