"""Accumulates mapped alerts and turns them into canonical Arrow tables, chunk by chunk."""

from __future__ import annotations

from operator import itemgetter
from typing import Any, NamedTuple

import pyarrow as pa

from fusion_ml.schema import ALERT_SCHEMA, GROUND_TRUTH_SCHEMA


class AlertRow(NamedTuple):
    """One alert as a reader maps it (timestamp in microseconds since the epoch, UTC)."""

    tenant_id: str
    alert_id: str
    timestamp_us: int
    alert_type: str
    provider: str | None
    severity: str | None
    fidelity: str
    techniques: list[str]
    tactics: list[str]
    entities: list[tuple[str, str]]
    ground_truth: dict[str, Any] | None = None


_COLUMNS = ("tenant_id", "alert_id", "timestamp", "alert_type", "provider", "severity",
            "fidelity", "techniques", "tactics", "entities", "ground_truth")


class AlertBuilder:
    """Buffers rows for one chunk; :meth:`table` transposes them into Arrow columns."""

    def __init__(self) -> None:
        self.rows: list[AlertRow] = []
        self.tactics: list[list[str]] = []

    def clear(self) -> None:
        """Drop everything buffered (``rows`` and ``tactics`` stay the same list objects, so a
        hot loop may hold on to their ``append``)."""
        self.rows.clear()
        self.tactics.clear()

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, row: AlertRow, tactics: list[str] | None = None) -> None:
        """Buffer one mapped alert (``tactics`` replaces the row's own, e.g. after enrichment)."""
        self.rows.append(row)
        self.tactics.append(row.tactics if tactics is None else tactics)

    def keys(self) -> list[int]:
        """A 64-bit hash of (tenant_id, alert_id) per buffered row, for de-duplication."""
        return list(map(hash, zip(map(itemgetter(0), self.rows), map(itemgetter(1), self.rows),
                                  strict=True)))

    def table(self) -> pa.Table:
        """The buffered alerts as a canonical Arrow table (with ground-truth columns if any row
        carries them)."""
        columns = list(zip(*self.rows, strict=True)) if self.rows else [()] * len(AlertRow._fields)
        by_name = dict(zip(_COLUMNS, columns, strict=True))
        by_name["tactics"] = self.tactics
        arrays = []
        for field in ALERT_SCHEMA:
            if field.name == "timestamp":
                arrays.append(pa.array(by_name["timestamp"], type=pa.int64()).cast(field.type))
            else:  # list columns too: pyarrow converts nested lists and (type, value) tuples
                arrays.append(pa.array(by_name[field.name], type=field.type))
        schema = ALERT_SCHEMA
        truths = columns[10]
        if truths.count(None) != len(truths):
            for field in GROUND_TRUTH_SCHEMA:
                values = [None if t is None else t.get(field.name) for t in truths]
                arrays.append(pa.array(values, type=field.type))
            schema = pa.schema(list(ALERT_SCHEMA) + list(GROUND_TRUTH_SCHEMA))
        return pa.Table.from_arrays(arrays, schema=schema)
