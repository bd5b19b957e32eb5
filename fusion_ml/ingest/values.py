"""Field-level helpers shared by the readers: paths into nested records, timestamps, limits.

Each helper raises :class:`~fusion_ml.errors.RecordError` naming the field it was given, so a
quarantine entry or a strict-mode error says exactly what was wrong and where.
"""

from __future__ import annotations

import functools
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from fusion_ml.attack import normalize_tactic, normalize_technique
from fusion_ml.errors import RecordError
from fusion_ml.schema import normalize_entity

MAX_RECORD_BYTES = 1 << 20
"""Records larger than this (1 MiB) are quarantined rather than parsed."""

FIELD_LIMITS = {
    "tenant_id": 256,
    "alert_id": 512,
    "alert_type": 4096,
    "provider": 256,
    "entity": 65_536,
}
"""Longest accepted text per canonical field; longer values are quarantined, not truncated."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_MIN_US = int((datetime(1990, 1, 1, tzinfo=UTC) - _EPOCH) / _ONE_US)
_MAX_US = int((datetime(2100, 1, 1, tzinfo=UTC) - _EPOCH) / _ONE_US)
_NUMERIC_RE = re.compile(r"^\d+(\.\d+)?$")
_US_FORMATS = ("%m/%d/%Y, %I:%M:%S.%f %p", "%m/%d/%Y, %I:%M:%S %p", "%m/%d/%Y %I:%M:%S %p")


def fidelity_for(severity: str | None) -> str:
    """``signal`` for alerts their source rates informational, else ``alert``.

    Sources rarely say how much to trust an alert; the one signal they all give is an
    informational rating, which marks exactly the low-fidelity signals that should never make
    an incident on their own.
    """
    return "signal" if severity == "informational" else "alert"


def get_path(record: dict, path: str) -> Any:
    """Value at a dotted path in nested dicts (``"alert.signature"``), or ``None``.

    A key that itself contains dots (Splunk's flattened ``"alert.signature"``) is found too.
    """
    if path in record:
        return record[path]
    node: Any = record
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
        if node is None:
            return None
    return node


def epoch_to_us(value: float, field: str) -> int:
    """Epoch seconds, milliseconds, microseconds or nanoseconds (told apart by magnitude) -> µs."""
    if isinstance(value, float) and not math.isfinite(value):
        raise RecordError(f"expected a finite epoch time, got {value!r}", field)
    magnitude = abs(value)
    if magnitude < 1e11:
        us = value * 1_000_000
    elif magnitude < 1e14:
        us = value * 1_000
    elif magnitude < 1e17:
        us = value
    else:
        us = value / 1_000
    return _in_range(int(round(us)), value, field)


def _in_range(us: int, original: Any, field: str) -> int:
    if not _MIN_US <= us < _MAX_US:
        raise RecordError(
            f"expected a time between 1990 and 2100, got {str(original)[:80]!r}", field
        )
    return us


def iso_time_us(text: str) -> int | None:
    """:func:`parse_timestamp`'s common case: microseconds since the epoch for text that
    ``datetime.fromisoformat`` reads and that lies between 1990 and 2100, else ``None``
    (then :func:`parse_timestamp` tries the other forms, or says what is wrong)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    us = (moment - _EPOCH) // _ONE_US
    return us if _MIN_US <= us < _MAX_US else None


def parse_timestamp(value: Any, field: str) -> int:
    """Microseconds since the Unix epoch (UTC) from ISO 8601 text, epoch numbers or numeric text.

    ISO 8601 without an offset is taken as UTC; ``+0000``, ``+00:00`` and ``Z`` offsets are
    honoured; the US-style ``3/1/2026, 10:15:16.123 AM`` of Log Analytics exports is accepted.
    """
    if type(value) is str:  # the common case first; anything else gets the full treatment
        us = iso_time_us(value)
        if us is not None:
            return us
    if value is None or value == "":
        raise RecordError("required timestamp is missing", field)
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return _in_range((moment - _EPOCH) // _ONE_US, value, field)
    if isinstance(value, bool):
        raise RecordError(f"expected a timestamp, got {value!r}", field)
    if isinstance(value, int | float):
        return epoch_to_us(value, field)
    if not isinstance(value, str):
        raise RecordError(f"expected a timestamp, got {type(value).__name__}", field)
    text = value.strip()
    if _NUMERIC_RE.match(text):
        return epoch_to_us(float(text) if "." in text else int(text), field)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
        for fmt in _US_FORMATS:
            try:
                moment = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        if moment is None:
            raise RecordError(
                f"expected an ISO 8601 timestamp or epoch number, got {text[:80]!r}", field
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _in_range((moment - _EPOCH) // _ONE_US, text, field)


def required_text(value: Any, field: str, limit_key: str | None = None) -> str:
    """Non-empty text (numbers are turned into text) within the field's length limit."""
    if type(value) is str and value and value[0] != " " and value[-1] != " ":
        return check_length(value, field, limit_key)
    if value is None:
        raise RecordError("required field is missing", field)
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        text = str(value)
    else:
        raise RecordError(f"expected text, got {type(value).__name__}", field)
    if not text:
        raise RecordError("required field is empty", field)
    return check_length(text, field, limit_key)


def optional_text(value: Any, field: str, limit_key: str | None = None) -> str | None:
    """Like :func:`required_text` but ``None`` for a missing or empty value."""
    if value is None or value == "":
        return None
    return required_text(value, field, limit_key)


def check_length(text: str, field: str, limit_key: str | None = None) -> str:
    """``text`` unchanged if within :data:`FIELD_LIMITS`; else a :class:`RecordError`."""
    limit = FIELD_LIMITS.get(limit_key or field)
    if limit is not None and len(text) > limit:
        raise RecordError(f"expected at most {limit} characters, got {len(text)}", field)
    return text


def text_list(value: Any, field: str) -> list[str]:
    """A list of strings from a list, a JSON-array string or a comma-separated string."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError:
                raise RecordError(f"expected a JSON array, got {text[:80]!r}", field) from None
        else:
            return [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(value, list | tuple):
        raise RecordError(f"expected a list of strings, got {type(value).__name__}", field)
    out = []
    for item in value:
        if not isinstance(item, str):
            raise RecordError(f"expected a list of strings, got an item {item!r}", field)
        if item.strip():
            out.append(item.strip())
    return out


def technique_list(value: Any, field: str) -> list[str]:
    """Technique ids from any :func:`text_list` form, upper-cased."""
    return [normalize_technique(t) for t in text_list(value, field)]


def tactic_list(value: Any, field: str) -> list[str]:
    """Tactic short names from any :func:`text_list` form (names, CamelCase or TA ids);
    placeholders such as ``Unknown`` are dropped."""
    tactics = (normalize_tactic(t) for t in text_list(value, field))
    return [t for t in tactics if t not in _NO_TACTIC]


_NO_TACTIC = frozenset({"unknown", "none", "n-a", "null"})


@functools.lru_cache(maxsize=1 << 17)
def cached_entity(entity_type: str, value: str) -> tuple[str, str] | None:
    """:func:`~fusion_ml.schema.normalize_entity` of a text value within the entity length
    limit, memoized (for types whose values repeat: IPs, hosts, accounts, domains)."""
    check_length(value, "", "entity")
    return normalize_entity(entity_type, value)


_CACHED_TYPES = frozenset({"ip", "host", "account", "domain", "resource", "mailbox"})


class EntityList:
    """Collects an alert's entities: normalized, de-duplicated, first-seen order.

    ``add`` names the source field in any error, e.g. ``field 'src_ip': expected an IPv4 ...``.
    Normalizing repeated values (IPs, hosts, accounts) is memoized.
    """

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, entity_type: str, value: Any, field: str) -> None:
        """Add one entity if ``value`` is non-empty."""
        if value is None or value == "":
            return
        if type(value) is not str:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise RecordError(f"expected text for a {entity_type} entity, got "
                                  f"{type(value).__name__}", field)
            value = str(value)
        try:
            if entity_type in _CACHED_TYPES:
                entity = cached_entity(entity_type, value)
            else:
                check_length(value, field, "entity")
                entity = normalize_entity(entity_type, value)
        except RecordError as exc:
            raise RecordError(exc.reason, field) from None
        if entity is not None and entity not in self.items:
            self.items.append(entity)
