"""Kill-chain plausibility of a step from one alert (or tactic) to the next.

A transition from tactic ``a`` to tactic ``b`` is allowed by a 14 x 14 matrix over the
Enterprise ATT&CK kill chain. The default allows every step forward or within a tactic and up to
``max_backstep`` tactics backwards (discovery after lateral movement, credential access after
discovery); a JSON file can give the whole matrix instead:
``{"tactics": [... 14 names ...], "allowed": [[0/1, ...], ...]}`` (row = from, column = to).
A step between two alert types is plausible if any pair of their tactics is allowed; alert types
without tactics give no evidence either way and count as plausible.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from fusion_ml.attack import KILL_CHAIN, TACTIC_INDEX
from fusion_ml.errors import ConfigError, param_error


class KillChainPolicy:
    """Which tactic transitions are plausible."""

    def __init__(self, max_backstep: int = 2, allowed: np.ndarray | None = None) -> None:
        if isinstance(max_backstep, bool) or not isinstance(max_backstep, int) or max_backstep < 0:
            raise param_error("KillChainPolicy", "max_backstep", "an int >= 0", max_backstep)
        n = len(KILL_CHAIN)
        if allowed is None:
            rows, cols = np.indices((n, n))
            allowed = cols >= rows - max_backstep
        allowed = np.asarray(allowed, dtype=bool)
        if allowed.shape != (n, n):
            raise ConfigError(f"kill-chain matrix: expected {n} x {n}, got {allowed.shape}")
        self.max_backstep = max_backstep
        self.allowed = allowed

    @classmethod
    def from_json(cls, path: str | Path) -> KillChainPolicy:
        """Load ``{"tactics": [...], "allowed": [[...], ...]}`` (tactics in any order)."""
        try:
            data = json.loads(Path(path).read_text())
            tactics, rows = data["tactics"], data["allowed"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: expected a JSON object with 'tactics' and 'allowed' "
                              f"({exc})") from None
        if sorted(tactics) != sorted(KILL_CHAIN):
            raise ConfigError(f"{path}: 'tactics' must list the 14 kill-chain tactics, got "
                              f"{tactics}")
        n = len(KILL_CHAIN)
        matrix = np.zeros((n, n), dtype=bool)
        for i, row in enumerate(rows):
            for j, flag in enumerate(row):
                matrix[TACTIC_INDEX[tactics[i]], TACTIC_INDEX[tactics[j]]] = bool(flag)
        return cls(allowed=matrix)

    def to_dict(self) -> dict[str, object]:
        """The matrix as JSON-ready data (the format :meth:`from_json` reads)."""
        return {"tactics": list(KILL_CHAIN), "allowed": self.allowed.astype(int).tolist()}

    def tactic_step(self, before: str, after: str) -> bool:
        """Whether tactic ``after`` may follow tactic ``before`` (unknown tactics: yes)."""
        if before not in TACTIC_INDEX or after not in TACTIC_INDEX:
            return True
        return bool(self.allowed[TACTIC_INDEX[before], TACTIC_INDEX[after]])

    def step(self, before: Iterable[str], after: Iterable[str]) -> bool:
        """Whether an alert with tactics ``after`` may follow one with tactics ``before``."""
        first = [t for t in before if t in TACTIC_INDEX]
        second = [t for t in after if t in TACTIC_INDEX]
        if not first or not second:
            return True
        return any(self.allowed[TACTIC_INDEX[a], TACTIC_INDEX[b]] for a in first for b in second)

    def path(self, items: Sequence[str], tactics_of: Mapping[str, Iterable[str]]) -> bool:
        """Whether every consecutive step of a pattern is plausible."""
        return all(self.step(tactics_of.get(a, ()), tactics_of.get(b, ()))
                   for a, b in zip(items, items[1:], strict=False))
