"""The canonical alert table: Arrow schema, pandas dtypes, entity normalization and validation.

One row per alert (see ``shared/DESIGN.md``):

========== =============================== ====================================================
column     type                            notes
========== =============================== ====================================================
tenant_id  string, required                the subscription / organisation
alert_id   string, required                unique within a tenant
timestamp  timestamp[us, UTC], required
alert_type string, required                the product's alert name or rule id
provider   string                          product that raised it (suricata, wazuh, ...)
severity   string                          informational / low / medium / high / critical
fidelity   string                          ``alert`` or ``signal`` (low-fidelity)
techniques list<string>                    ATT&CK technique ids (``T1059.001``)
tactics    list<string>                    ATT&CK tactic short names (``initial-access``)
entities   list<struct<type, value>>       typed, normalized entities
========== =============================== ====================================================

Ground truth, where a source has it, rides along in the optional columns
:data:`GROUND_TRUTH_COLUMNS`; scoring code never reads them.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from fusion_ml.errors import RecordError, SchemaError

SEVERITIES: tuple[str, ...] = ("informational", "low", "medium", "high", "critical")
"""Severity levels, lowest first."""
OCSF_SEVERITY_ID = {name: i + 1 for i, name in enumerate(SEVERITIES)}
"""OCSF ``severity_id`` of each level (1 informational ... 5 critical)."""

FIDELITIES: tuple[str, ...] = ("alert", "signal")
"""``signal`` marks a low-fidelity signal that is never an incident on its own."""

ENTITY_TYPES: tuple[str, ...] = (
    "host",
    "account",
    "ip",
    "resource",
    "process",
    "file",
    "url",
    "domain",
    "hash",
    "mailbox",
    "registry",
)
"""Entity types an alert may carry."""

ENTITY_STRUCT = pa.struct([("type", pa.string()), ("value", pa.string())])

ALERT_SCHEMA = pa.schema(
    [
        pa.field("tenant_id", pa.string(), nullable=False),
        pa.field("alert_id", pa.string(), nullable=False),
        pa.field("timestamp", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("alert_type", pa.string(), nullable=False),
        pa.field("provider", pa.string()),
        pa.field("severity", pa.string()),
        pa.field("fidelity", pa.string()),
        pa.field("techniques", pa.list_(pa.string())),
        pa.field("tactics", pa.list_(pa.string())),
        pa.field("entities", pa.list_(ENTITY_STRUCT)),
    ]
)
"""Arrow schema of the canonical alert table (column order is part of the contract)."""

CANONICAL_COLUMNS: tuple[str, ...] = tuple(ALERT_SCHEMA.names)
REQUIRED_COLUMNS: tuple[str, ...] = ("tenant_id", "alert_id", "timestamp", "alert_type")

GROUND_TRUTH_SCHEMA = pa.schema(
    [
        pa.field("campaign_id", pa.string()),
        pa.field("playbook", pa.string()),
        pa.field("step", pa.int32()),
        pa.field("label", pa.int8()),
        pa.field("scenario", pa.string()),
    ]
)
"""``label`` is 1 for attack alerts; ``scenario`` says where an alert came from where the source
knows (the simulator: ``background``, ``incidental`` or ``attack``)."""
GROUND_TRUTH_COLUMNS: tuple[str, ...] = tuple(GROUND_TRUTH_SCHEMA.names)
"""Optional ground-truth columns (simulator, labelled data sets); never read by scoring code."""


def pandas_dtypes() -> dict[str, object]:
    """The pandas dtype of every canonical column (Arrow-backed strings and lists)."""
    dtypes: dict[str, object] = {}
    for field in ALERT_SCHEMA:
        if pa.types.is_timestamp(field.type):
            dtypes[field.name] = pd.DatetimeTZDtype(unit="us", tz="UTC")
        elif pa.types.is_string(field.type):
            dtypes[field.name] = pd.StringDtype("pyarrow")
        else:
            dtypes[field.name] = pd.ArrowDtype(field.type)
    return dtypes


_NULLABLE_INTS = {pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(),
                  pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype()}


def _types_mapper(arrow_type: pa.DataType) -> object | None:
    if arrow_type in _NULLABLE_INTS:
        return _NULLABLE_INTS[arrow_type]
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return pd.StringDtype("pyarrow")
    if pa.types.is_list(arrow_type) or pa.types.is_struct(arrow_type):
        return pd.ArrowDtype(arrow_type)
    return None


# --------------------------------------------------------------------------------------------
# Entities


@functools.lru_cache(maxsize=1 << 16)
def canonical_ip(value: str) -> str:
    """Canonical text of an IPv4/IPv6 address; IPv4-mapped IPv6 becomes IPv4.

    Raises :class:`RecordError` when ``value`` is not an address.
    """
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        raise RecordError(f"expected an IPv4 or IPv6 address, got {value[:80]!r}") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.compressed


def normalize_entity(entity_type: str, value: object) -> tuple[str, str] | None:
    """Normalize one entity; ``None`` for an empty value.

    Host, account, domain, resource, mailbox and hash values are case-folded; IPs are
    canonical (:func:`canonical_ip`); host and domain names lose a trailing dot.
    Raises :class:`RecordError` for an unknown type or an invalid IP.
    """
    if entity_type not in _ENTITY_TYPE_SET:
        raise RecordError(f"expected an entity type in {ENTITY_TYPES}, got {entity_type!r}")
    if value is None:
        return None
    text = str(value).strip()
    if not text or text == "-":
        return None
    if entity_type == "ip":
        return "ip", canonical_ip(text)
    if entity_type in ("host", "domain"):
        text = text.rstrip(".").casefold()
    elif entity_type in ("account", "resource", "mailbox", "hash"):
        text = text.casefold()
    return entity_type, text


_ENTITY_TYPE_SET = frozenset(ENTITY_TYPES)

_SEVERITY_ALIASES = {
    "info": "informational",
    "informational": "informational",
    "information": "informational",
    "none": "informational",
    "low": "low",
    "medium": "medium",
    "moderate": "medium",
    "med": "medium",
    "high": "high",
    "critical": "critical",
    "crit": "critical",
    "fatal": "critical",
}


def normalize_severity(value: object) -> str | None:
    """Map a severity word (any case, common synonyms) to one of :data:`SEVERITIES`."""
    if value is None:
        return None
    text = str(value).strip().casefold()
    if not text:
        return None
    try:
        return _SEVERITY_ALIASES[text]
    except KeyError:
        raise RecordError(f"expected a severity in {SEVERITIES}, got {value!r}") from None


# --------------------------------------------------------------------------------------------
# Tables


def empty_alerts() -> pd.DataFrame:
    """An empty canonical alert frame with the canonical dtypes."""
    return from_arrow(ALERT_SCHEMA.empty_table())


def from_arrow(table: pa.Table) -> pd.DataFrame:
    """Arrow table -> pandas frame with the canonical dtypes (extra columns kept)."""
    return table.to_pandas(types_mapper=_types_mapper)


def to_arrow(frame: pd.DataFrame) -> pa.Table:
    """Pandas frame -> Arrow table in the canonical schema; extra columns follow it.

    Raises :class:`SchemaError` (with the column and rows) when the frame does not conform.
    """
    check_alerts(frame)
    arrays = []
    fields = []
    for field in ALERT_SCHEMA:
        arrays.append(pa.array(frame[field.name], type=field.type, from_pandas=True))
        fields.append(field)
    for name in frame.columns:
        if name in CANONICAL_COLUMNS:
            continue
        target = GROUND_TRUTH_SCHEMA.field(name).type if name in GROUND_TRUTH_COLUMNS else None
        array = pa.array(frame[name], type=target, from_pandas=True)
        arrays.append(array)
        fields.append(pa.field(name, array.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def write_alerts(frame: pd.DataFrame | pa.Table, path: str | Path) -> Path:
    """Write a canonical alert table to Parquet (validated first)."""
    if isinstance(frame, pa.Table):
        check_alerts(from_arrow(frame))
        table = frame
    else:
        table = to_arrow(frame)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
    return path


def read_alerts(path: str | Path, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Read a canonical alert Parquet file into a validated frame."""
    path = Path(path)
    if not path.exists():
        raise SchemaError(f"{path}: expected a canonical alert Parquet file, found nothing there")
    table = pq.read_table(path, columns=list(columns) if columns is not None else None)
    frame = from_arrow(table)
    if columns is None:
        check_alerts(frame, source=str(path))
    return frame


def arrow_array(column: pd.Series, arrow_type: pa.DataType) -> pa.Array:
    """A pandas column as one contiguous Arrow array of ``arrow_type``."""
    values = pa.array(column, type=arrow_type, from_pandas=True)
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def timestamps_us(column: pd.Series) -> np.ndarray:
    """A timestamp column as int64 microseconds since the epoch."""
    return column.dt.as_unit("us").array.asi8


def _rows(mask: pd.Series, limit: int = 5) -> str:
    rows = [str(i) for i in mask[mask].index[:limit]]
    more = int(mask.sum()) - len(rows)
    return ", ".join(rows) + (f" and {more} more" if more > 0 else "")


def validate_alerts(frame: pd.DataFrame) -> list[str]:
    """Every way ``frame`` departs from the canonical schema, one message per problem.

    Each message names the column and the rows (frame index labels) concerned, e.g.
    ``"column 'severity', rows 3, 7: expected one of (...), got 'urgent'"``. An empty list
    means the frame conforms.
    """
    problems: list[str] = []
    missing = [c for c in CANONICAL_COLUMNS if c not in frame.columns]
    for name in missing:
        problems.append(f"missing column '{name}'")
    for name in REQUIRED_COLUMNS:
        if name in missing:
            continue
        column = frame[name]
        null = column.isna()
        if name != "timestamp":
            null |= column.astype("string").str.strip().fillna("") == ""
        if null.any():
            problems.append(f"column '{name}', rows {_rows(null)}: required, got an empty value")
    if "timestamp" not in missing:
        dtype = frame["timestamp"].dtype
        if not isinstance(dtype, pd.DatetimeTZDtype) or str(dtype.tz) != "UTC":
            problems.append(f"column 'timestamp': expected datetime64 with tz UTC, got {dtype}")
    for name, allowed in (("severity", SEVERITIES), ("fidelity", FIDELITIES)):
        if name in missing:
            continue
        column = frame[name]
        bad = column.notna() & ~column.isin(allowed)
        if bad.any():
            first = column[bad].iloc[0]
            problems.append(
                f"column '{name}', rows {_rows(bad)}: expected one of {allowed}, got {first!r}"
            )
    if "tenant_id" not in missing and "alert_id" not in missing:
        dup = frame.duplicated(["tenant_id", "alert_id"], keep="first")
        if dup.any():
            problems.append(
                f"columns 'tenant_id', 'alert_id', rows {_rows(dup)}: "
                "expected unique (tenant_id, alert_id), got duplicates"
            )
    if "entities" not in missing:
        problems.extend(_validate_entities(frame["entities"]))
    return problems


def _validate_entities(column: pd.Series) -> list[str]:
    problems: list[str] = []
    try:
        values = arrow_array(column, pa.list_(ENTITY_STRUCT))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        return [f"column 'entities': expected a list of {{type, value}} structs ({exc})"]
    flat_types = values.flatten().field("type")
    parents = values.value_parent_indices().to_numpy()
    types = flat_types.to_numpy(zero_copy_only=False)
    bad = [i for i, t in enumerate(types) if t not in _ENTITY_TYPE_SET]
    if bad:
        rows = sorted({column.index[parents[i]] for i in bad})[:5]
        problems.append(
            f"column 'entities', rows {', '.join(map(str, rows))}: expected entity types in "
            f"{ENTITY_TYPES}, got {types[bad[0]]!r}"
        )
    return problems


def check_alerts(frame: pd.DataFrame, source: str | None = None) -> None:
    """Raise :class:`SchemaError` listing every problem :func:`validate_alerts` finds."""
    problems = validate_alerts(frame)
    if problems:
        where = f"{source}: " if source else ""
        raise SchemaError(where + "not a canonical alert table: " + "; ".join(problems))
