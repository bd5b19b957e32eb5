"""Frequent sequential patterns with support counted in groups and in distinct tenants.

PrefixSpan compiled with numba over the flat arrays of a
:class:`~fusion_ml.mining.sequences.SequenceSet`. Without a gap constraint, projections are
physical and filtered: contiguous copies of the suffixes holding only the parent's frequent
extensions (the first level is built in parallel over runs of sequences). With a gap
constraint they are pseudo-projections (lists of (sequence, position) pairs). Extension items
are counted with a last-seen stamp per item; distinct tenants are counted in the same pass on
the last level and with a gap constraint (sequences are sorted by tenant, so a second stamp per
item suffices), and otherwise on each extension's own projection, one entry per group in tenant
order. Each first item's subtree is mined independently, in parallel threads (the compiled code
releases the GIL), the biggest first.

A pattern ``<a, b, c>`` is contained in a sequence if its items occur in that order; with
``max_gap = g``, consecutive pattern items may have at most ``g`` other items between them.
Both supports are anti-monotone, so both prune the search.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from numba import njit
from numba.typed import List

from fusion_ml.errors import NotFittedError, param_error
from fusion_ml.mining.sequences import SequenceSet

PATTERN_COLUMNS = ("pattern", "length", "support", "tenants", "support_share")
"""Columns of ``patterns_``: ``pattern`` (tuple of labels), ``length``, ``support`` (groups
containing it), ``tenants`` (distinct tenants with such a group), ``support_share``
(``support`` / number of groups)."""


@njit(nogil=True, cache=True)
def _item_supports(items, offsets, tenants, n_vocab):  # pragma: no cover - compiled
    count = np.zeros(n_vocab, np.int64)
    tcount = np.zeros(n_vocab, np.int64)
    last_seq = np.full(n_vocab, -1, np.int64)
    last_ten = np.full(n_vocab, -1, np.int64)
    for s in range(len(offsets) - 1):
        t = tenants[s]
        for p in range(offsets[s], offsets[s + 1]):
            x = items[p]
            if last_seq[x] != s:
                last_seq[x] = s
                count[x] += 1
                if last_ten[x] != t:
                    last_ten[x] = t
                    tcount[x] += 1
    return count, tcount


@njit(nogil=True, cache=True)
def _root_projections(items, offsets, n_vocab, all_occurrences):  # pragma: no cover
    """Projections by every single item at once, as CSR arrays grouped by item: the first
    occurrence per sequence (or every occurrence, for gap-constrained mining)."""
    n_seq = len(offsets) - 1
    last_seq = np.full(n_vocab, -1, np.int64)
    sizes = np.zeros(n_vocab + 1, np.int64)
    for s in range(n_seq):
        for p in range(offsets[s], offsets[s + 1]):
            x = items[p]
            if all_occurrences or last_seq[x] != s:
                last_seq[x] = s
                sizes[x + 1] += 1
    ptr = np.cumsum(sizes)
    fill = ptr[:-1].copy()
    seqs = np.empty(ptr[-1], np.int32)
    pos = np.empty(ptr[-1], np.int32)
    last_seq[:] = -1
    for s in range(n_seq):
        for p in range(offsets[s], offsets[s + 1]):
            x = items[p]
            if all_occurrences or last_seq[x] != s:
                last_seq[x] = s
                seqs[fill[x]] = s
                pos[fill[x]] = p + 1
                fill[x] += 1
    return ptr, seqs, pos


@njit(nogil=True, cache=True)
def _as_arrays(out_items, out_len, out_sup, out_ten):  # pragma: no cover - compiled
    """A subtree's patterns as arrays (typed lists are slow to read from Python): the items of
    all patterns concatenated, and each pattern's length, group and tenant supports."""
    flat = np.empty(len(out_items), np.int64)
    for i in range(len(out_items)):
        flat[i] = out_items[i]
    lengths = np.empty(len(out_len), np.int64)
    sup = np.empty(len(out_len), np.int64)
    ten = np.empty(len(out_len), np.int64)
    for i in range(len(out_len)):
        lengths[i] = out_len[i]
        sup[i] = out_sup[i]
        ten[i] = out_ten[i]
    return flat, lengths, sup, ten


@njit(nogil=True, cache=True)
def _mine_subtree(first, root_s, root_p, items, offsets, tenants, n_vocab, min_count,
                  min_tenants, max_length, max_gap):  # pragma: no cover - compiled
    """All frequent patterns that start with ``first`` and have length >= 2, from the
    projection ``(root_s, root_p)`` of ``<first>``.

    Each node costs two passes over its projection: one counts the extension items (groups
    and tenants), one writes the projections of all frequent extensions at once (CSR).
    """
    out_items = List()
    out_len = List()
    out_sup = List()
    out_ten = List()
    stack_prefix = List()
    stack_s = List()
    stack_p = List()
    stack_prefix.append(np.array([first], np.int64))
    stack_s.append(root_s)
    stack_p.append(root_p)
    count = np.zeros(n_vocab, np.int64)
    tcount = np.zeros(n_vocab, np.int64)
    occurrences = np.zeros(n_vocab, np.int64)
    last_seq = np.full(n_vocab, -1, np.int64)
    last_ten = np.full(n_vocab, -1, np.int64)
    slot = np.full(n_vocab, -1, np.int64)
    touched = np.empty(n_vocab, np.int64)
    while len(stack_prefix) > 0:
        prefix = stack_prefix.pop()
        seqs = stack_s.pop()
        starts = stack_p.pop()
        n_touched = 0
        for e in range(len(seqs)):
            s = seqs[e]
            t = tenants[s]
            start = starts[e]
            end = offsets[s + 1]
            if max_gap >= 0 and start + max_gap + 1 < end:
                end = start + max_gap + 1
            for p in range(start, end):
                x = items[p]
                if last_seq[x] != s:
                    if count[x] == 0:
                        touched[n_touched] = x
                        n_touched += 1
                    last_seq[x] = s
                    count[x] += 1
                    if last_ten[x] != t:
                        last_ten[x] = t
                        tcount[x] += 1
                if max_gap >= 0:
                    occurrences[x] += 1
        frequent = np.sort(touched[:n_touched])
        grow = len(prefix) + 1 < max_length
        n_keep = 0
        for i in range(len(frequent)):
            x = frequent[i]
            if count[x] >= min_count and tcount[x] >= min_tenants:
                for v in prefix:
                    out_items.append(v)
                out_items.append(x)
                out_len.append(len(prefix) + 1)
                out_sup.append(count[x])
                out_ten.append(tcount[x])
                slot[x] = n_keep
                frequent[n_keep] = x
                n_keep += 1
        sizes = np.zeros(n_keep + 1, np.int64)
        for i in range(n_keep):
            x = frequent[i]
            sizes[i + 1] = occurrences[x] if max_gap >= 0 else count[x]
        for i in range(n_touched):
            x = touched[i]
            count[x] = 0
            tcount[x] = 0
            occurrences[x] = 0
            last_seq[x] = -1
            last_ten[x] = -1
        if not grow or n_keep == 0:
            for i in range(n_keep):
                slot[frequent[i]] = -1
            continue
        ptr = np.cumsum(sizes)
        fill = ptr[:-1].copy()
        child_s = np.empty(ptr[-1], np.int32)
        child_p = np.empty(ptr[-1], np.int32)
        for e in range(len(seqs)):
            s = seqs[e]
            start = starts[e]
            end = offsets[s + 1]
            if max_gap >= 0 and start + max_gap + 1 < end:
                end = start + max_gap + 1
            for p in range(start, end):
                x = items[p]
                k = slot[x]
                if k >= 0 and (max_gap >= 0 or last_seq[x] != s):
                    last_seq[x] = s
                    child_s[fill[k]] = s
                    child_p[fill[k]] = p + 1
                    fill[k] += 1
        for i in range(n_keep - 1, -1, -1):
            x = frequent[i]
            slot[x] = -1
            last_seq[x] = -1
            pattern = np.empty(len(prefix) + 1, np.int64)
            pattern[:-1] = prefix
            pattern[-1] = x
            stack_prefix.append(pattern)
            stack_s.append(child_s[ptr[i]:ptr[i + 1]])
            stack_p.append(child_p[ptr[i]:ptr[i + 1]])
    return _as_arrays(out_items, out_len, out_sup, out_ten)


@njit(nogil=True, cache=True)
def _root_sizes(items, offsets, keep1, lo, hi):  # pragma: no cover - compiled
    """For sequences ``lo:hi``: per item, how many of them hold it (``entries``) and the total
    length of their suffixes after its first occurrence, counting only items in ``keep1``
    (``lengths``); the sizes of :func:`_root_fill`'s output."""
    n_vocab = len(keep1)
    last = np.full(n_vocab, -1, np.int64)
    entries = np.zeros(n_vocab, np.int64)
    lengths = np.zeros(n_vocab, np.int64)
    for s in range(lo, hi):
        total = 0
        for p in range(offsets[s], offsets[s + 1]):
            total += keep1[items[p]]
        seen = 0
        for p in range(offsets[s], offsets[s + 1]):
            x = items[p]
            if keep1[x]:
                seen += 1
                if last[x] != s:
                    last[x] = s
                    entries[x] += 1
                    lengths[x] += total - seen
    return entries, lengths


@njit(nogil=True, cache=True, inline="always")
def _project_entry(src, lo, hi, keep, kept, marker, last, slot, tenant, bfill, efill, out_buf,
                   out_ten, out_off):  # pragma: no cover - compiled
    """Project one entry (items ``src[lo:hi]`` of one group): keep the items flagged in
    ``keep`` (into ``kept``), and for the first occurrence of each kept item ``x`` append an
    entry to child projection ``slot[x]``: the group's tenant, and the kept suffix after ``x``
    (written at ``bfill[slot[x]]``; ``efill`` and ``bfill`` advance). ``last[x] == marker``
    marks items already projected for this entry."""
    m = 0
    for p in range(lo, hi):
        y = src[p]
        kept[m] = y
        m += keep[y]
    for i in range(m):
        x = kept[i]
        if last[x] != marker:
            last[x] = marker
            k = slot[x]
            w = bfill[k]
            for q in range(i + 1, m):
                out_buf[w] = kept[q]
                w += 1
            bfill[k] = w
            j = efill[k]
            out_ten[j] = tenant
            out_off[j + k + 1] = w
            efill[k] = j + 1


@njit(nogil=True, cache=True)
def _root_fill(items, offsets, tenants, keep1, lo, hi, efill, bfill, ten, off,
               buf):  # pragma: no cover - compiled
    """Write the root entries of sequences ``lo:hi`` (see :func:`_physical_roots`): item
    ``x``'s next entry goes to ``ten[efill[x]]`` and its suffix to ``buf[bfill[x]:]`` (both
    advanced). Each sequence is filtered by ``keep1`` once; its suffixes are plain copies."""
    n_vocab = len(keep1)
    last = np.full(n_vocab, -1, np.int64)
    widest = 0
    for s in range(lo, hi):
        widest = max(widest, offsets[s + 1] - offsets[s])
    kept = np.empty(widest + 1, buf.dtype)
    identity = np.arange(n_vocab)
    for s in range(lo, hi):
        _project_entry(items, offsets[s], offsets[s + 1], keep1, kept, s, last, identity,
                       tenants[s], bfill, efill, buf, ten, off)


def _physical_roots(items, offsets, tenants, keep1, pool, n_parts):
    """Physical projections of every item in ``keep1``: for item ``x``, one entry per sequence
    holding it (its tenant, and the suffix after its first occurrence, keeping only items in
    ``keep1``), in sequence order. Entries of item ``x`` are ``eptr[x]:eptr[x + 1]``; entry
    ``j``'s items are ``buf[off[j + x]:off[j + x + 1]]``. The sequences are cut into
    ``n_parts`` runs of about equal length, built in parallel into adjacent slices."""
    n_vocab = len(keep1)
    n_seq = len(offsets) - 1
    cuts = np.searchsorted(offsets, np.linspace(0, offsets[-1], n_parts + 1)[1:-1])
    bounds = [0, *np.minimum(cuts, n_seq).tolist(), n_seq]
    parts = list(zip(bounds[:-1], bounds[1:], strict=True))
    sizes = list(pool.map(lambda r: _root_sizes(items, offsets, keep1, r[0], r[1]), parts))
    entries = np.array([e for e, _ in sizes]).reshape(len(parts), n_vocab)
    lengths = np.array([b for _, b in sizes]).reshape(len(parts), n_vocab)
    eptr = np.zeros(n_vocab + 1, np.int64)
    bptr = np.zeros(n_vocab + 1, np.int64)
    np.cumsum(entries.sum(axis=0), out=eptr[1:])
    np.cumsum(lengths.sum(axis=0), out=bptr[1:])
    estart = eptr[:-1] + np.cumsum(entries, axis=0) - entries  # each part's first slot
    bstart = bptr[:-1] + np.cumsum(lengths, axis=0) - lengths
    ten = np.empty(eptr[-1], np.int32)
    off = np.empty(eptr[-1] + n_vocab, np.int64)
    buf = np.empty(bptr[-1], items.dtype)
    off[eptr[:-1] + np.arange(n_vocab)] = bptr[:-1]
    list(pool.map(lambda i: _root_fill(items, offsets, tenants, keep1, parts[i][0], parts[i][1],
                                       estart[i].copy(), bstart[i].copy(), ten, off, buf),
                  range(len(parts))))
    return eptr, bptr, ten, off, buf


@njit(nogil=True, cache=True)
def _new_arenas(max_length, dtype_of):  # pragma: no cover - compiled
    """Empty arenas for :func:`_mine_subtree_physical`, one per depth, for one thread."""
    arena_ten = List()
    arena_off = List()
    arena_buf = List()
    for _ in range(max_length + 1):
        arena_ten.append(np.empty(0, np.int32))
        arena_off.append(np.empty(0, np.int64))
        arena_buf.append(np.empty(0, dtype_of.dtype))
    return arena_ten, arena_off, arena_buf


@njit(nogil=True, cache=True)
def _mine_subtree_physical(first, ten, off, buf, n_vocab, min_count, min_tenants, max_length,
                           arena_ten, arena_off, arena_buf):  # pragma: no cover - compiled
    """:func:`_mine_subtree` without a gap constraint, on physical projections (see
    :func:`_physical_roots`): each node's suffixes sit in one contiguous buffer holding only
    the items that were frequent extensions of its parent (no longer pattern can use another),
    so scans run over short, contiguous memory instead of jumping through the whole data set.

    A node whose extensions are grown further counts groups only; an extension's distinct
    tenants are then counted on its projection (one entry per group, in tenant order), which
    is much shorter than the node's. A node of the last level counts both in its pass."""
    out_items = List()
    out_len = List()
    out_sup = List()
    out_ten = List()
    st_prefix = List()
    st_ten = List()
    st_off = List()
    st_buf = List()
    st_prefix.append(np.array([first], np.int64))
    st_ten.append(ten)
    st_off.append(off)
    st_buf.append(buf)
    widest = 0
    for e in range(len(ten)):
        widest = max(widest, off[e + 1] - off[e])
    kept = np.empty(widest + 1, buf.dtype)  # one entry's items that are frequent extensions
    count = np.zeros(n_vocab, np.int64)
    tcount = np.zeros(n_vocab, np.int64)
    last = np.full(n_vocab, -1, np.int64)
    last_ten = np.full(n_vocab, -1, np.int64)
    slot = np.full(n_vocab, -1, np.int64)
    keep = np.zeros(n_vocab, np.int64)
    touched = np.empty(n_vocab, np.int64)
    room = np.zeros(n_vocab, np.int64)  # upper bound of each child's buffer
    while len(st_prefix) > 0:
        prefix = st_prefix.pop()
        ten = st_ten.pop()
        off = st_off.pop()
        buf = st_buf.pop()
        n = len(ten)
        grow = len(prefix) + 1 < max_length
        n_touched = 0
        if grow:
            for e in range(n):
                end = off[e + 1]
                for p in range(off[e], end):
                    x = buf[p]
                    if last[x] != e:
                        if count[x] == 0:
                            touched[n_touched] = x
                            n_touched += 1
                        last[x] = e
                        count[x] += 1
                        room[x] += end - p - 1
        else:
            for e in range(n):
                t = ten[e]
                for p in range(off[e], off[e + 1]):
                    x = buf[p]
                    if last[x] != e:
                        if count[x] == 0:
                            touched[n_touched] = x
                            n_touched += 1
                        last[x] = e
                        count[x] += 1
                        if last_ten[x] != t:
                            last_ten[x] = t
                            tcount[x] += 1
        frequent = np.sort(touched[:n_touched])
        n_keep = 0
        for i in range(len(frequent)):
            x = frequent[i]
            if count[x] >= min_count and (grow or tcount[x] >= min_tenants):
                if not grow:
                    for v in prefix:
                        out_items.append(v)
                    out_items.append(x)
                    out_len.append(len(prefix) + 1)
                    out_sup.append(count[x])
                    out_ten.append(tcount[x])
                slot[x] = n_keep
                keep[x] = 1
                frequent[n_keep] = x
                n_keep += 1
        entries = np.zeros(n_keep + 1, np.int64)
        bound = np.zeros(n_keep + 1, np.int64)
        for i in range(n_keep):
            entries[i + 1] = count[frequent[i]]
            bound[i + 1] = room[frequent[i]]
        for i in range(n_touched):
            x = touched[i]
            count[x] = 0
            tcount[x] = 0
            room[x] = 0
            last[x] = -1
            last_ten[x] = -1
        if not grow or n_keep == 0:
            for i in range(n_keep):
                slot[frequent[i]] = -1
                keep[frequent[i]] = 0
            continue
        eptr = np.cumsum(entries)
        bptr = np.cumsum(bound)  # children's buffers are allocated at their upper bound
        depth = len(prefix)
        if len(arena_ten[depth]) < eptr[-1]:
            arena_ten[depth] = np.empty(eptr[-1] + eptr[-1] // 4, np.int32)
            arena_off[depth] = np.empty(eptr[-1] + eptr[-1] // 4 + n_vocab, np.int64)
        if len(arena_buf[depth]) < bptr[-1]:
            arena_buf[depth] = np.empty(bptr[-1] + bptr[-1] // 4, buf.dtype)
        c_ten = arena_ten[depth]
        c_off = arena_off[depth]  # per child: its own n+1 offsets
        c_buf = arena_buf[depth]
        efill = eptr[:-1].copy()
        bfill = bptr[:-1].copy()
        for i in range(n_keep):
            c_off[eptr[i] + i] = bptr[i]
        for e in range(n):
            _project_entry(buf, off[e], off[e + 1], keep, kept, e, last, slot, ten[e], bfill,
                           efill, c_buf, c_ten, c_off)
        for i in range(n_keep - 1, -1, -1):
            x = frequent[i]
            slot[x] = -1
            keep[x] = 0
            last[x] = -1
            n_ten = 0
            previous = -1
            for j in range(eptr[i], eptr[i + 1]):
                if c_ten[j] != previous:
                    previous = c_ten[j]
                    n_ten += 1
            if n_ten < min_tenants:
                continue
            pattern = np.empty(len(prefix) + 1, np.int64)
            pattern[:-1] = prefix
            pattern[-1] = x
            for v in pattern:
                out_items.append(v)
            out_len.append(len(pattern))
            out_sup.append(eptr[i + 1] - eptr[i])
            out_ten.append(n_ten)
            st_prefix.append(pattern)
            st_ten.append(c_ten[eptr[i]:eptr[i + 1]])
            o = c_off[eptr[i] + i:eptr[i + 1] + i + 1] - bptr[i]
            st_off.append(o)
            st_buf.append(c_buf[bptr[i]:bfill[i]])
    return _as_arrays(out_items, out_len, out_sup, out_ten)


def pattern_frame(rows: list[tuple[tuple[int, ...], int, int]], vocabulary: Sequence[str],
                  n_sequences: int) -> pd.DataFrame:
    """``patterns_`` (columns :data:`PATTERN_COLUMNS`) from ``(codes, support, tenants)`` rows,
    sorted by length, then support (descending), then pattern."""
    frame = pd.DataFrame({
        "pattern": [tuple(vocabulary[c] for c in codes) for codes, _, _ in rows],
        "length": [len(codes) for codes, _, _ in rows],
        "support": [s for _, s, _ in rows],
        "tenants": [t for _, _, t in rows],
    })
    frame["support_share"] = frame["support"] / max(n_sequences, 1)
    if len(frame):
        frame = frame.sort_values(["length", "support", "pattern"],
                                  ascending=[True, False, True], kind="stable")
    return frame.reset_index(drop=True)[list(PATTERN_COLUMNS)]


def min_count_for(min_support: int | float, n_sequences: int) -> int:
    """A support threshold as a count: ints are counts, floats in (0, 1] shares of groups."""
    if isinstance(min_support, float):
        return max(1, math.ceil(min_support * n_sequences - 1e-9))
    return int(min_support)


class SequentialPatternMiner:
    """Frequent sequential patterns over candidate groups (an estimator).

    >>> miner = SequentialPatternMiner(min_support=0.01, min_tenants=3, max_length=5)
    >>> miner.fit(sequences).patterns_        # doctest: +SKIP

    ``min_support``: an int (groups) or a float in (0, 1] (share of groups); ``min_tenants``:
    distinct tenants a pattern must be seen in (the privacy floor); ``max_length``: longest
    pattern; ``max_gap``: at most this many other items between consecutive pattern items
    (``None``: no limit); ``n_jobs``: threads.
    """

    def __init__(self, min_support: int | float = 0.01, min_tenants: int = 3,
                 max_length: int = 5, max_gap: int | None = None, n_jobs: int = 2) -> None:
        self.min_support = min_support
        self.min_tenants = min_tenants
        self.max_length = max_length
        self.max_gap = max_gap
        self.n_jobs = n_jobs

    def _validate(self) -> None:
        owner = type(self).__name__
        support = self.min_support
        if isinstance(support, bool) or not (
            (isinstance(support, int) and support >= 1)
            or (isinstance(support, float) and 0 < support <= 1)
        ):
            raise param_error(owner, "min_support", "an int >= 1 or a float in (0, 1]", support)
        for name, low in (("min_tenants", 1), ("max_length", 1), ("n_jobs", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise param_error(owner, name, f"an int >= {low}", value)
        gap = self.max_gap
        if gap is not None and (isinstance(gap, bool) or not isinstance(gap, int) or gap < 0):
            raise param_error(owner, "max_gap", "None or an int >= 0", gap)

    def fit(self, sequences: SequenceSet) -> SequentialPatternMiner:
        """Mine ``sequences``; sets ``patterns_``, ``n_sequences_``, ``min_count_``."""
        self._validate()
        n = len(sequences)
        min_count = min_count_for(self.min_support, n)
        items = np.ascontiguousarray(sequences.items, dtype=np.int32)
        offsets = np.ascontiguousarray(sequences.offsets, dtype=np.int64)
        tenants = np.ascontiguousarray(sequences.tenants, dtype=np.int32)
        n_vocab = len(sequences.vocabulary)
        count, tcount = _item_supports(items, offsets, tenants, max(n_vocab, 1))
        firsts = [x for x in range(n_vocab)
                  if count[x] >= min_count and tcount[x] >= self.min_tenants]
        rows: list[tuple[tuple[int, ...], int, int]] = [((x,), int(count[x]), int(tcount[x]))
                                                       for x in firsts]
        gap = -1 if self.max_gap is None else self.max_gap
        if self.max_length >= 2 and firsts:
            with ThreadPoolExecutor(max_workers=self.n_jobs) as pool:
                if gap < 0:
                    keep1 = ((count >= min_count) & (tcount >= self.min_tenants)).astype(np.intp)
                    eptr, bptr, root_ten, root_off, root_buf = _physical_roots(
                        items, offsets, tenants, keep1, pool, self.n_jobs)
                    # the biggest subtrees first, so that the threads finish together
                    order = sorted(firsts, key=lambda x: bptr[x] - bptr[x + 1])

                    local = threading.local()  # each thread reuses its arenas

                    def subtree(x: int):
                        if not hasattr(local, "arenas"):
                            local.arenas = _new_arenas(self.max_length, root_buf)
                        a, b = eptr[x], eptr[x + 1]
                        node_off = root_off[a + x:b + x + 1] - bptr[x]
                        return _mine_subtree_physical(x, root_ten[a:b], node_off,
                                                      root_buf[bptr[x]:bptr[x + 1]], n_vocab,
                                                      min_count, self.min_tenants,
                                                      self.max_length, *local.arenas)
                else:
                    ptr, root_s, root_p = _root_projections(items, offsets, n_vocab, True)
                    order = firsts

                    def subtree(x: int):
                        a, b = ptr[x], ptr[x + 1]
                        return _mine_subtree(x, root_s[a:b], root_p[a:b], items, offsets,
                                             tenants, n_vocab, min_count, self.min_tenants,
                                             self.max_length, gap)

                for flat, lengths, sup, ten in pool.map(subtree, order):
                    flat_items = flat.tolist()
                    position = 0
                    for length, s, t in zip(lengths.tolist(), sup.tolist(), ten.tolist(),
                                            strict=True):
                        rows.append((tuple(flat_items[position:position + length]), s, t))
                        position += length
        self.patterns_ = pattern_frame(rows, sequences.vocabulary, n)
        self.n_sequences_ = n
        self.min_count_ = min_count
        return self

    def check_fitted(self) -> None:
        """Raise :class:`NotFittedError` unless :meth:`fit` has run."""
        if not hasattr(self, "patterns_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit(sequences) "
                                 "first")

    def get_params(self) -> dict[str, object]:
        """Constructor parameters (for cloning and logging)."""
        return {"min_support": self.min_support, "min_tenants": self.min_tenants,
                "max_length": self.max_length, "max_gap": self.max_gap, "n_jobs": self.n_jobs}
