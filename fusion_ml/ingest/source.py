"""Reading raw records out of files: gzip, byte-order marks, JSON lines, JSON arrays, CSV, Parquet.

Every container yields :class:`RawRecord` items in file order, numbered from 1 (blank lines and
CSV headers are not records). A record the container itself cannot delimit or decode (truncated
JSON array element, CSV row with the wrong number of cells, bytes that are not UTF-8) comes out
with ``error`` set, so the caller can quarantine it with its raw text: nothing is dropped.

Streaming: JSON arrays are split into elements by a small tokenizer working on 1 MiB blocks, and
JSON lines are read line by line, so memory stays proportional to one record, not the file.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import pyarrow.parquet as pq

from fusion_ml.errors import IngestError

BOM = b"\xef\xbb\xbf"
BLOCK_BYTES = 1 << 20
MAX_ELEMENT_BYTES = 64 << 20

# A complete JSON string, a structural character, or an unterminated string's opening quote.
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},]|"', re.DOTALL)
_SURROGATE = re.compile("[\udc80-\udcff]")


@dataclass(slots=True)
class RawRecord:
    """One record as it came out of its container.

    ``payload`` is the record's bytes for JSON containers and a ``dict`` for CSV and Parquet
    rows; ``line`` is the line it starts on where the container has lines; ``error`` is set when
    the container could not deliver a well-formed record.
    """

    number: int
    payload: bytes | dict[str, Any]
    line: int | None = None
    error: str | None = None


def open_binary(path: str | Path) -> BinaryIO:
    """Open a file for reading bytes, decompressing gzip transparently (by its magic bytes)."""
    path = Path(path)
    try:
        raw = open(path, "rb")  # noqa: SIM115 - returned to the caller
    except OSError as exc:
        raise IngestError(f"cannot open: {exc.strerror}", source=str(path)) from None
    if raw.peek(2)[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    return raw


def compressed_position(stream: BinaryIO) -> int:
    """Bytes consumed from the file on disk (for progress bars on gzip files too)."""
    inner = getattr(stream, "fileobj", None)
    return (inner or stream).tell()


def sniff_bytes(path: str | Path, size: int = 1 << 16) -> bytes:
    """The first ``size`` decompressed bytes of a file, byte-order mark removed."""
    with open_binary(path) as stream:
        head = stream.read(size)
    return head[len(BOM):] if head.startswith(BOM) else head


def json_layout(head: bytes) -> str:
    """``"array"``, ``"lines"`` or ``"stream"`` (pretty-printed concatenated objects).

    A file that starts with ``[`` is one JSON array, unless its first line is a complete JSON
    value with more lines after it (JSON lines whose first record is an array).
    """
    text = head.lstrip()
    first_line, _, rest = text.partition(b"\n")
    if text.startswith(b"["):
        if rest.strip():
            try:
                orjson.loads(first_line)
                return "lines"
            except orjson.JSONDecodeError:
                pass
        return "array"
    return "stream" if first_line.strip() == b"{" else "lines"


def iter_json_records(stream: BinaryIO, layout: str) -> Iterator[RawRecord]:
    """JSON values from a stream in the given :func:`json_layout` (BOM skipped)."""
    if layout == "lines":
        return _iter_lines(stream)
    return _iter_split(stream, array=layout == "array")


def json_lines(stream: BinaryIO) -> Iterator[bytes]:
    """The lines of a JSON-lines stream as they are (not stripped), byte-order mark removed.

    Line ``n`` of the file is the ``n``-th item; :func:`iter_json_records` numbers records
    from these, and the ingest loop's fast path reads them directly.
    """
    first = stream.readline()
    if first.startswith(BOM):
        first = first[len(BOM):]
    return chain((first,), stream)


def _iter_lines(stream: BinaryIO) -> Iterator[RawRecord]:
    number = 0
    for line_no, line in enumerate(json_lines(stream), 1):
        line = line.strip()
        if line:
            number += 1
            yield RawRecord(number, line, line_no)


def _iter_split(stream: BinaryIO, array: bool) -> Iterator[RawRecord]:
    """Split a JSON array (or concatenated JSON values) into its elements' bytes.

    ``base`` is the depth at which elements start: 1 inside the outer array, 0 between
    concatenated values (and after the outer array has closed, where any text is stray).
    An unfinished element is carried over and rescanned with the next block.
    """
    buf = stream.read(BLOCK_BYTES)
    if buf.startswith(BOM):
        buf = buf[len(BOM):]
    number = 0
    in_array = array
    elem_start = buf.find(b"[") + 1 if array else 0
    while True:
        block = stream.read(BLOCK_BYTES)
        eof = not block
        base = 1 if in_array else 0
        depth = base
        stopped = False
        for match in _TOKEN.finditer(buf, elem_start):
            token = match.group()
            char = token[:1]
            if char == b'"':
                if len(token) == 1:  # unterminated string: wait for more bytes
                    stopped = True
                    break
                continue
            if char in b"{[":
                if depth == 0:
                    gap = buf[elem_start:match.start()].strip()
                    if gap:
                        number += 1
                        yield RawRecord(number, gap, error="unexpected text between JSON values")
                    elem_start = match.start()
                depth += 1
            elif char in b"}]":
                depth -= 1
                if depth == 0 and in_array:  # the outer array closes
                    element = buf[elem_start:match.start()].strip()
                    if element:
                        number += 1
                        yield RawRecord(number, element)
                    elem_start, in_array = match.end(), False
                elif depth == 0:
                    number += 1
                    yield RawRecord(number, buf[elem_start:match.end()])
                    elem_start = match.end()
                elif depth < 0:
                    depth = 0
            elif char == b"," and depth == 1 and in_array:
                element = buf[elem_start:match.start()].strip()
                number += 1
                yield RawRecord(number, element, error=None if element else "empty array element")
                elem_start = match.end()
        rest = buf[elem_start:]
        if eof:
            rest = rest.strip()
            if rest:
                number += 1
                if stopped or depth > (1 if in_array else 0):
                    reason = "truncated JSON: the file ended inside this record"
                elif in_array:
                    reason = "truncated JSON: the file ended before the array was closed"
                else:
                    reason = "unexpected text after the JSON value"
                yield RawRecord(number, rest, error=reason)
            return
        if len(rest) > MAX_ELEMENT_BYTES:
            raise IngestError(f"a JSON record is larger than {MAX_ELEMENT_BYTES >> 20} MiB")
        buf, elem_start = rest + block, 0


def decode_json(payload: bytes) -> tuple[Any, str | None]:
    """Parse one JSON record; on failure return ``(None, reason)``."""
    try:
        return orjson.loads(payload), None
    except orjson.JSONDecodeError as exc:  # noqa: B014 - the reason is worked out below
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError as bad:
            byte = payload[bad.start]
            return None, f"not valid UTF-8: byte 0x{byte:02x} at offset {bad.start}"
        return None, f"invalid JSON: {exc}"


def iter_csv_records(binary: BinaryIO) -> Iterator[RawRecord]:
    """CSV rows as dicts keyed by the header row (first line)."""
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise IngestError(f"unreadable CSV header: {exc}") from None
    header = [h.strip() for h in header]
    width = len(header)
    number = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            number += 1
            yield RawRecord(number, {}, reader.line_num, f"unreadable CSV row: {exc}")
            continue
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        number += 1
        if any(_SURROGATE.search(cell) for cell in row):
            clean = [c.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                     for c in row]
            yield RawRecord(number, dict(zip(header, clean, strict=False)), reader.line_num,
                            "not valid UTF-8")
        elif len(row) != width:
            yield RawRecord(number, dict(enumerate(row)), reader.line_num,
                            f"expected {width} cells as in the header, got {len(row)}")
        else:
            yield RawRecord(number, dict(zip(header, row, strict=True)), reader.line_num)


def iter_parquet_records(path: str | Path, batch_rows: int = 65_536) -> Iterator[RawRecord]:
    """Parquet rows as dicts (read in batches)."""
    try:
        parquet = pq.ParquetFile(str(path))
    except Exception as exc:  # pyarrow raises several unrelated types here
        raise IngestError(f"not a readable Parquet file: {exc}", source=str(path)) from None
    number = 0
    for batch in parquet.iter_batches(batch_size=batch_rows):
        for row in batch.to_pylist():
            number += 1
            yield RawRecord(number, row)


def raw_text(record: RawRecord) -> Any:
    """The record as it came, in a JSON-safe form for the quarantine."""
    if isinstance(record.payload, bytes):
        return record.payload.decode("utf-8", "backslashreplace")
    return {str(k): v for k, v in record.payload.items()}
