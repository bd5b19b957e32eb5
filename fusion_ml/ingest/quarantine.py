"""The quarantine: every rejected record with its source, number, field, reason and raw form."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import orjson


@dataclass(frozen=True)
class QuarantineEntry:
    """One rejected record. ``record`` counts records from 1 within ``source``; ``line`` is the
    line it starts on, where the container has lines."""

    source: str
    format: str
    record: int
    line: int | None
    field: str | None
    reason: str
    raw: Any


class Quarantine:
    """Writes entries as JSON lines to ``path`` (opened on the first entry), or keeps them in
    ``entries`` when no path is given."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.entries: list[QuarantineEntry] = []
        self.count = 0
        self._file: IO[bytes] | None = None

    def add(self, entry: QuarantineEntry) -> None:
        """Record one rejected record."""
        self.count += 1
        if self.path is None:
            self.entries.append(entry)
            return
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._file.write(orjson.dumps(asdict(entry), default=str) + b"\n")

    def close(self) -> None:
        """Flush and close the file, if one was opened."""
        if self._file is not None:
            self._file.close()
            self._file = None


def read_quarantine(path: str | Path) -> list[dict[str, Any]]:
    """The entries of a quarantine file, as dicts."""
    with open(path, "rb") as handle:
        return [orjson.loads(line) for line in handle if line.strip()]
