"""Generic CSV, JSON (lines or array) and Parquet alerts with a column mapping.

A mapping names, for each canonical field, the source column (a dotted path in JSON records):
``--map timestamp=time --map alert_type=short --map host=host --map ip=src --map ip=dst``.
Keys are the canonical fields (``tenant_id``, ``alert_id``, ``timestamp``, ``alert_type``,
``provider``, ``severity``, ``fidelity``, ``techniques``, ``tactics``, ``entities``), entity
types (``host``, ``account``, ``ip``, ... , repeatable) and ground-truth columns (``campaign_id``,
``playbook``, ``step``, ``label``). Without a mapping the canonical names themselves are used,
so canonical Parquet written by fusion-ml reads back unchanged.

Timestamps may be ISO 8601 text or epoch seconds / milliseconds / microseconds (told apart by
magnitude). Without an ``alert_id`` column the id is a hash of the record's content.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import orjson

from fusion_ml.errors import ConfigError, RecordError
from fusion_ml.ingest.builder import AlertRow
from fusion_ml.ingest.readers.base import Reader, content_id
from fusion_ml.ingest.values import (
    EntityList,
    fidelity_for,
    get_path,
    optional_text,
    parse_timestamp,
    required_text,
    tactic_list,
    technique_list,
)
from fusion_ml.schema import (
    CANONICAL_COLUMNS,
    ENTITY_TYPES,
    FIDELITIES,
    GROUND_TRUTH_COLUMNS,
    normalize_severity,
)

MAPPABLE = tuple(CANONICAL_COLUMNS) + tuple(GROUND_TRUTH_COLUMNS)
_LABEL_WORDS = {"1": 1, "true": 1, "attack": 1, "malicious": 1, "tp": 1, "true_positive": 1,
                "0": 0, "false": 0, "benign": 0, "fp": 0, "false_positive": 0, "clean": 0}


def parse_mapping(pairs: Iterable[str] | Mapping[str, Any] | None) -> dict[str, list[str]]:
    """``["timestamp=time", "ip=src", "ip=dst"]`` -> ``{"timestamp": ["time"], "ip": [...]}``.

    Raises :class:`ConfigError` for a pair without ``=`` or an unknown key.
    """
    if pairs is None:
        return {}
    items = (
        [(k, v) for k, vs in pairs.items() for v in ([vs] if isinstance(vs, str) else vs)]
        if isinstance(pairs, Mapping)
        else [_split_pair(p) for p in pairs]
    )
    mapping: dict[str, list[str]] = {}
    for key, column in items:
        if key not in MAPPABLE and key not in ENTITY_TYPES:
            raise ConfigError(
                f"--map key {key!r}: expected one of {MAPPABLE + ENTITY_TYPES}, got {key!r}"
            )
        if key in MAPPABLE and key in mapping:
            raise ConfigError(f"--map key {key!r} is given twice; only entity types may repeat")
        mapping.setdefault(key, []).append(column)
    return mapping


def _split_pair(pair: str) -> tuple[str, str]:
    key, sep, column = pair.partition("=")
    if not sep or not key.strip() or not column.strip():
        raise ConfigError(f"--map: expected KEY=COLUMN, got {pair!r}")
    return key.strip(), column.strip()


def _label(value: Any, field: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float) and value in (0, 1):
        return int(value)
    word = str(value).strip().casefold()
    if word in _LABEL_WORDS:
        return _LABEL_WORDS[word]
    raise RecordError(f"expected 0/1, true/false or attack/benign, got {value!r}", field)


class GenericReader(Reader):
    """Alerts in any tabular shape, through a column mapping."""

    name: ClassVar[str] = "json"
    description: ClassVar[str] = "generic JSON lines / JSON array with --map"

    def __init__(self, tenant: str | None = None,
                 mapping: Iterable[str] | Mapping[str, Any] | None = None) -> None:
        super().__init__(tenant)
        parsed = parse_mapping(mapping)
        if not parsed:
            parsed = {key: [key] for key in MAPPABLE}
        self.mapping = parsed
        self._single = {k: v[0] for k, v in parsed.items() if k in MAPPABLE}
        self._entities = [(k, c) for k, cols in parsed.items() if k in ENTITY_TYPES for c in cols]
        self._truth = [k for k in GROUND_TRUTH_COLUMNS if k in self._single]

    @property
    def has_ground_truth(self) -> bool:
        return bool(self._truth)

    def restrict_to(self, columns: set[str]) -> None:
        """Without a mapping: read ground truth only where the file has those columns."""
        self._truth = [k for k in self._truth if self._single[k] in columns]

    def _get(self, record: dict[str, Any], key: str) -> tuple[Any, str]:
        column = self._single.get(key, key)
        return get_path(record, column), column

    def to_alert(self, record: dict[str, Any], raw: bytes | None) -> AlertRow:
        value, column = self._get(record, "tenant_id")
        tenant_id = required_text(self.tenant_or(value), column if self.tenant is None else
                                  "--tenant", "tenant_id")
        value, column = self._get(record, "timestamp")
        timestamp = parse_timestamp(value, column)
        value, column = self._get(record, "alert_type")
        alert_type = required_text(value, column, "alert_type")
        value, column = self._get(record, "alert_id")
        if "alert_id" in self._single and value not in (None, ""):
            alert_id = required_text(value, column, "alert_id")
        else:
            alert_id = content_id("rec", raw if raw is not None else
                                  orjson.dumps(record, option=orjson.OPT_SORT_KEYS, default=str))
        value, column = self._get(record, "provider")
        provider = optional_text(value, column, "provider")
        value, column = self._get(record, "severity")
        try:
            severity = normalize_severity(value)
        except RecordError as exc:
            raise RecordError(exc.reason, column) from None
        value, column = self._get(record, "fidelity")
        fidelity = fidelity_for(severity) if value in (None, "") else str(value).strip().casefold()
        if fidelity not in FIDELITIES:
            raise RecordError(f"expected one of {FIDELITIES}, got {value!r}", column)
        value, column = self._get(record, "techniques")
        techniques = technique_list(_listish(value), column)
        value, column = self._get(record, "tactics")
        tactics = tactic_list(_listish(value), column)
        entities = EntityList()
        value, column = self._get(record, "entities")
        _add_entity_structs(entities, value, column)
        for entity_type, col in self._entities:
            entities.add(entity_type, get_path(record, col), col)
        truth = None
        if self._truth:
            truth = {}
            for key in self._truth:
                value, column = self._get(record, key)
                if key == "label":
                    truth[key] = _label(value, column)
                elif key == "step":
                    truth[key] = None if value in (None, "") else _int(value, column)
                else:
                    truth[key] = optional_text(value, column)
        return AlertRow(tenant_id, alert_id, timestamp, alert_type, provider, severity, fidelity,
                        techniques, tactics, entities.items, truth)


def _int(value: Any, field: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise RecordError(f"expected an integer, got {value!r}", field) from None


def _listish(value: Any) -> Any:
    """Arrow list columns arrive as lists; numpy arrays as well; pass everything else through."""
    return list(value) if hasattr(value, "tolist") and not isinstance(value, str) else value


def _add_entity_structs(entities: EntityList, value: Any, column: str) -> None:
    if value is None or value == "":
        return
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise RecordError("expected a JSON array of {type, value} objects", column) from None
    if not isinstance(value, list):
        raise RecordError(f"expected a list of {{type, value}}, got {type(value).__name__}", column)
    for i, item in enumerate(value):
        if isinstance(item, dict):
            kind, text = item.get("type"), item.get("value")
        elif isinstance(item, list | tuple) and len(item) == 2:
            kind, text = item
        else:
            raise RecordError(f"expected a {{type, value}} entity, item {i} is {item!r}", column)
        if not isinstance(kind, str) or kind not in ENTITY_TYPES:
            raise RecordError(f"expected an entity type in {ENTITY_TYPES}, got {kind!r}",
                              f"{column}.{i}.type")
        entities.add(kind, text, f"{column}.{i}.value")


class GenericCsvReader(GenericReader):
    """Generic CSV with a header row."""

    name: ClassVar[str] = "csv"
    container: ClassVar[str] = "csv"
    description: ClassVar[str] = "generic CSV with a header row and --map"


class GenericParquetReader(GenericReader):
    """Generic Parquet (canonical fusion-ml Parquet needs no mapping)."""

    name: ClassVar[str] = "parquet"
    container: ClassVar[str] = "parquet"
    description: ClassVar[str] = "Parquet (canonical columns, or any columns with --map)"
