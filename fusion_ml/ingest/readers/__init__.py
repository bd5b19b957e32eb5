"""The format readers, their registry and ``--format auto`` detection."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq

from fusion_ml.errors import ConfigError, IngestError
from fusion_ml.ingest.readers.base import Reader
from fusion_ml.ingest.readers.generic import (
    GenericCsvReader,
    GenericParquetReader,
    GenericReader,
)
from fusion_ml.ingest.readers.ocsf import OcsfReader
from fusion_ml.ingest.readers.sentinel import SentinelCsvReader, SentinelReader
from fusion_ml.ingest.readers.suricata import SplunkSuricataReader, SuricataEveReader
from fusion_ml.ingest.readers.wazuh import WazuhReader
from fusion_ml.ingest.source import iter_json_records, json_layout, sniff_bytes

READERS: dict[str, type[Reader]] = {
    cls.name: cls
    for cls in (
        SuricataEveReader,
        SplunkSuricataReader,
        WazuhReader,
        OcsfReader,
        SentinelReader,
        SentinelCsvReader,
        GenericReader,
        GenericCsvReader,
        GenericParquetReader,
    )
}
"""Format name -> reader class (the names ``--format`` accepts, besides ``auto``)."""

_JSON_SNIFFERS: tuple[type[Reader], ...] = (
    SplunkSuricataReader,
    SuricataEveReader,
    WazuhReader,
    OcsfReader,
    SentinelReader,
)


def first_json_record(head: bytes) -> dict[str, Any] | None:
    """The first JSON object in the first bytes of a file (array, lines or a single object)."""
    layout = json_layout(head)
    text = head.lstrip()
    if layout == "lines":
        candidate: bytes | None = text.split(b"\n", 1)[0]
    else:
        first = next(iter_json_records(io.BytesIO(text[1:] if layout == "array" else text),
                                       "stream"), None)
        candidate = first.payload if first is not None and first.error is None else None
    if not isinstance(candidate, bytes):
        return None
    try:
        value = orjson.loads(candidate)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def detect_format(path: str | Path) -> str:
    """Guess a file's format from its name and first record (``--format auto``)."""
    path = Path(path)
    name = path.name.casefold().removesuffix(".gz")
    if name.endswith(".parquet") or name.endswith(".pq"):
        return "parquet"
    try:
        head = sniff_bytes(path)
    except OSError as exc:
        raise IngestError(f"cannot read: {exc}", source=str(path)) from None
    if head.startswith(b"PAR1"):
        return "parquet"
    if name.endswith(".csv") or name.endswith(".tsv"):
        header = head.decode("utf-8", "replace").split("\n", 1)[0]
        return "sentinel-csv" if "SystemAlertId" in header else "csv"
    first = first_json_record(head)
    if first is None:
        raise IngestError(
            "cannot detect the format: expected JSON objects, CSV (.csv) or Parquet; "
            "give --format", source=str(path))
    for reader in _JSON_SNIFFERS:
        if reader.sniff(first):
            return reader.name
    return "json"


def available_columns(path: str | Path, reader: type[Reader]) -> set[str]:
    """Top-level column names of a tabular file (Parquet schema, CSV header, first JSON record)."""
    if reader.container == "parquet":
        return set(pq.read_schema(str(path)).names)
    head = sniff_bytes(path)
    if reader.container == "csv":
        text = head.decode("utf-8", "replace")
        return {c.strip() for c in next(csv.reader(io.StringIO(text)), [])}
    first = first_json_record(head)
    return set(first) if first else set()


def make_reader(
    fmt: str,
    path: str | Path,
    tenant: str | None = None,
    mapping: list[str] | dict[str, Any] | None = None,
) -> Reader:
    """The reader for one file: ``fmt`` may be ``auto``; a mapping needs a generic format."""
    name = detect_format(path) if fmt == "auto" else fmt
    if mapping and name not in ("json", "csv", "parquet"):
        if fmt != "auto":
            raise ConfigError(f"--map applies to the generic formats (json, csv, parquet), "
                              f"got --format {fmt}")
        name = "csv" if name == "sentinel-csv" else "json"
    cls = READERS.get(name)
    if cls is None:
        raise ConfigError(f"--format: expected auto or one of {sorted(READERS)}, got {fmt!r}")
    if issubclass(cls, GenericReader):
        reader: Reader = cls(tenant, mapping)
        if not mapping:
            reader.restrict_to(available_columns(path, cls))
        return reader
    return cls(tenant)


__all__ = ["READERS", "Reader", "detect_format", "make_reader"]
