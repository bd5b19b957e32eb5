"""Accumulates mapped alerts column by column and turns them into canonical Arrow tables."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

from fusion_ml.schema import ALERT_SCHEMA, ENTITY_STRUCT, GROUND_TRUTH_SCHEMA


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


class AlertBuilder:
    """Column buffers for one chunk of alerts; :meth:`table` returns them as Arrow."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        """Drop everything buffered."""
        self._cols: dict[str, list[Any]] = {name: [] for name in ALERT_SCHEMA.names}
        self._entity_offsets: list[int] = [0]
        self._entity_types: list[str] = []
        self._entity_values: list[str] = []
        self._truth: dict[str, list[Any]] = {}
        self.keys: list[int] = []

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, row: AlertRow, tactics: list[str] | None = None) -> None:
        """Buffer one mapped alert (``tactics`` replaces the row's own, e.g. after enrichment)."""
        cols = self._cols
        cols["tenant_id"].append(row.tenant_id)
        cols["alert_id"].append(row.alert_id)
        cols["timestamp"].append(row.timestamp_us)
        cols["alert_type"].append(row.alert_type)
        cols["provider"].append(row.provider)
        cols["severity"].append(row.severity)
        cols["fidelity"].append(row.fidelity)
        cols["techniques"].append(row.techniques)
        cols["tactics"].append(row.tactics if tactics is None else tactics)
        for entity_type, value in row.entities:
            self._entity_types.append(entity_type)
            self._entity_values.append(value)
        self._entity_offsets.append(len(self._entity_types))
        if row.ground_truth is not None or self._truth:
            n = len(self.keys)
            for name in GROUND_TRUTH_SCHEMA.names:
                column = self._truth.setdefault(name, [None] * n)
                column.append((row.ground_truth or {}).get(name))
        self.keys.append(hash((row.tenant_id, row.alert_id)))

    def table(self) -> pa.Table:
        """The buffered alerts as a canonical Arrow table (ground-truth columns if any)."""
        cols = self._cols
        entities = pa.ListArray.from_arrays(
            pa.array(self._entity_offsets, type=pa.int32()),
            pa.StructArray.from_arrays(
                [
                    pa.array(self._entity_types, type=pa.string()),
                    pa.array(self._entity_values, type=pa.string()),
                ],
                fields=list(ENTITY_STRUCT),
            ),
        )
        arrays = []
        for field in ALERT_SCHEMA:
            if field.name == "entities":
                arrays.append(entities)
            elif field.name == "timestamp":
                arrays.append(pa.array(np.asarray(cols["timestamp"], dtype=np.int64),
                                       type=pa.int64()).cast(field.type))
            else:
                arrays.append(pa.array(cols[field.name], type=field.type))
        schema = ALERT_SCHEMA
        if self._truth:
            for field in GROUND_TRUTH_SCHEMA:
                arrays.append(pa.array(self._truth[field.name], type=field.type))
            schema = pa.schema(list(ALERT_SCHEMA) + list(GROUND_TRUTH_SCHEMA))
        return pa.Table.from_arrays(arrays, schema=schema)
