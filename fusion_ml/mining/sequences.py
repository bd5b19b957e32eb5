"""Integer-encoded, concatenated item sequences: the miners' input.

One sequence per candidate group: its alert types (or tactics) in time order with consecutive
duplicates collapsed. Sequences are kept sorted by tenant so that a miner can count distinct
tenants with a last-seen stamp in one pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fusion_ml.attack import TACTIC_INDEX
from fusion_ml.errors import ConfigError

LEVELS = ("alert_type", "tactic")


@dataclass(frozen=True)
class SequenceSet:
    """Sequences as flat arrays.

    ``items[offsets[i]:offsets[i + 1]]`` are the item codes of sequence ``i``;
    ``vocabulary[code]`` is the item's label; ``tenants[i]`` is the tenant code of sequence
    ``i`` (non-decreasing); ``group_ids[i]`` names the group it came from. Tenant names stay
    inside this object: nothing a miner returns carries them.
    """

    items: np.ndarray
    offsets: np.ndarray
    tenants: np.ndarray
    vocabulary: tuple[str, ...]
    group_ids: tuple[str, ...] = ()
    tenant_names: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_tenants(self) -> int:
        """Distinct tenants."""
        return len(np.unique(self.tenants))

    @classmethod
    def from_lists(
        cls,
        sequences: Sequence[Sequence[str]],
        tenants: Sequence[str],
        group_ids: Sequence[str] | None = None,
    ) -> SequenceSet:
        """Build from lists of labels, one tenant per sequence.

        Consecutive duplicates are collapsed; empty sequences are kept (they support nothing);
        sequences are re-ordered by tenant (stable), ``group_ids`` follow them.
        """
        if len(sequences) != len(tenants):
            raise ConfigError(f"expected one tenant per sequence, got {len(tenants)} tenants "
                              f"for {len(sequences)} sequences")
        tenant_names = tuple(sorted(set(tenants)))
        tenant_code = {t: i for i, t in enumerate(tenant_names)}
        codes = np.array([tenant_code[t] for t in tenants], dtype=np.int32)
        order = np.argsort(codes, kind="stable")
        vocab: dict[str, int] = {}
        items: list[int] = []
        offsets = [0]
        for i in order.tolist():
            previous = None
            for label in sequences[i]:
                if label == previous:
                    continue
                previous = label
                items.append(vocab.setdefault(label, len(vocab)))
            offsets.append(len(items))
        vocabulary = tuple(sorted(vocab, key=vocab.__getitem__))
        ids = tuple(group_ids[i] for i in order.tolist()) if group_ids is not None else ()
        return cls(np.array(items, dtype=np.int32), np.array(offsets, dtype=np.int64),
                   codes[order], vocabulary, ids, tenant_names)

    @classmethod
    def from_groups(cls, groups: pd.DataFrame, level: str = "alert_type") -> SequenceSet:
        """Build from a grouped alert frame (:func:`fusion_ml.grouping.group_alerts` output:
        ``group_id``, ``tenant_id``, ``timestamp``, ``alert_type``, ``tactics``).

        At the ``tactic`` level each alert stands for its earliest kill-chain tactic; alerts
        without one are left out.
        """
        if level not in LEVELS:
            raise ConfigError(f"level: expected one of {LEVELS}, got {level!r}")
        frame = groups.sort_values(["group_id", "timestamp", "alert_id"], kind="stable")
        if level == "alert_type":
            labels = frame["alert_type"].astype(str).tolist()
        else:
            labels = [_first_tactic(t) for t in frame["tactics"].tolist()]
        sequences: dict[str, list[str]] = {}
        tenant_of: dict[str, str] = {}
        for group, tenant, label in zip(frame["group_id"].tolist(), frame["tenant_id"].tolist(),
                                        labels, strict=True):
            seq = sequences.setdefault(group, [])
            tenant_of[group] = tenant
            if label is not None:
                seq.append(label)
        names = list(sequences)
        return cls.from_lists([sequences[g] for g in names], [tenant_of[g] for g in names],
                              names)

    def to_lists(self) -> list[list[str]]:
        """The sequences as lists of labels (in this set's order)."""
        vocab = self.vocabulary
        return [[vocab[c] for c in self.items[a:b].tolist()]
                for a, b in zip(self.offsets[:-1].tolist(), self.offsets[1:].tolist(),
                                strict=True)]

    def item_codes(self, labels: Sequence[str]) -> list[int]:
        """Codes of the given labels (``-1`` for labels not in the vocabulary)."""
        index = {label: i for i, label in enumerate(self.vocabulary)}
        return [index.get(label, -1) for label in labels]


def _first_tactic(tactics: object) -> str | None:
    known = [t for t in (list(tactics) if tactics is not None else []) if t in TACTIC_INDEX]
    return min(known, key=TACTIC_INDEX.__getitem__) if known else None
