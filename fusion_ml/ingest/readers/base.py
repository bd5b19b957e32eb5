"""What every reader provides: which container it reads, how to recognise it, how to map a record."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

from fusion_ml.ingest.builder import AlertRow
from fusion_ml.ingest.source import (
    RawRecord,
    compressed_position,
    iter_csv_records,
    iter_json_records,
    iter_parquet_records,
    json_layout,
    open_binary,
    sniff_bytes,
)


def content_id(prefix: str, raw: bytes | str) -> str:
    """A stable alert id from a record's content (for sources without an id of their own)."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    return f"{prefix}-{hashlib.sha256(data).hexdigest()[:24]}"


class Reader:
    """Base class of the format readers.

    A reader yields :class:`RawRecord` items from a file (:meth:`records`) and maps each decoded
    record to an :class:`AlertRow` (:meth:`to_alert`), or returns a short text saying why the
    record is skipped by design (e.g. an EVE ``flow`` event). Mapping problems raise
    :class:`~fusion_ml.errors.RecordError` naming the field.
    """

    name: ClassVar[str] = ""
    container: ClassVar[str] = "json"  # json | csv | parquet
    description: ClassVar[str] = ""

    def __init__(self, tenant: str | None = None) -> None:
        self.tenant = tenant

    @property
    def has_ground_truth(self) -> bool:
        """Whether mapped rows carry ground-truth columns."""
        return False

    @classmethod
    def sniff(cls, first: dict[str, Any]) -> bool:
        """Whether a first decoded record looks like this format."""
        return False

    def records(self, path: str | Path) -> Iterator[RawRecord]:
        """Raw records of one file, in order; :meth:`position` tells how far it has read."""
        self._stream: BinaryIO | None = None
        if self.container == "parquet":
            yield from iter_parquet_records(path)
            return
        layout = json_layout(sniff_bytes(path)) if self.container == "json" else ""
        with open_binary(path) as stream:
            self._stream = stream
            if self.container == "csv":
                yield from iter_csv_records(stream)
            else:
                yield from iter_json_records(stream, layout)
        self._stream = None

    def position(self) -> int | None:
        """Bytes of the file on disk consumed so far by :meth:`records` (``None`` if unknown)."""
        stream = getattr(self, "_stream", None)
        return compressed_position(stream) if stream is not None and not stream.closed else None

    def to_alert(self, record: dict[str, Any], raw: bytes | None) -> AlertRow | str:
        """Map one decoded record; a ``str`` return means skipped by design (the reason)."""
        raise NotImplementedError

    def fast_mapper(self) -> Callable[[dict[str, Any], bytes], AlertRow | None] | None:
        """Optional shortcut for JSON lines: a function ``(record, raw) -> AlertRow | None``.

        It must return exactly what :meth:`to_alert` returns for the records it maps, and
        ``None`` for every other record (skipped, unusual or bad), which then goes through
        :meth:`to_alert`, so that skip reasons and quarantine reasons come from one place.
        ``None`` (the default) means the reader has no shortcut.
        """
        return None

    def tenant_or(self, value: Any) -> Any:
        """The ``--tenant`` override if one was given, else ``value``."""
        return self.tenant if self.tenant is not None else value
