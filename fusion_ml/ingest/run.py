"""The ingest loop: files -> readers -> canonical alerts (+ quarantine), with exact accounting.

For every source file ``read == accepted + quarantined + duplicates + skipped``: records that
map are accepted, records that do not are quarantined with the reason, records a format skips by
design (e.g. EVE ``flow`` events) are counted by reason, and alerts already seen (same tenant and
alert id, in this run or in the file appended to) are dropped as duplicates.

JSON lines read by a reader with a :meth:`~fusion_ml.ingest.readers.base.Reader.fast_mapper`
(Suricata EVE) take a shorter loop; it maps the common records itself and hands every other
record to the general code, so outcomes and reasons are the same either way.
"""

from __future__ import annotations

import gc
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from fusion_ml.attack import AttackCatalog, EnrichmentReport, TacticResolver
from fusion_ml.errors import IngestError, RecordError
from fusion_ml.ingest.builder import AlertBuilder, AlertRow
from fusion_ml.ingest.quarantine import Quarantine, QuarantineEntry
from fusion_ml.ingest.readers import make_reader
from fusion_ml.ingest.readers.base import Reader
from fusion_ml.ingest.source import (
    RawRecord,
    compressed_position,
    decode_json,
    json_layout,
    json_lines,
    open_binary,
    raw_text,
    sniff_bytes,
)
from fusion_ml.ingest.values import MAX_RECORD_BYTES
from fusion_ml.schema import ALERT_SCHEMA, GROUND_TRUTH_SCHEMA, from_arrow

CHUNK_ROWS = 65_536
PROGRESS_EVERY = 8_192


@dataclass
class SourceStats:
    """Counts for one input file; ``read`` always equals the sum of the other four."""

    source: str
    format: str
    read: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    skipped: Counter = field(default_factory=Counter)

    @property
    def skipped_total(self) -> int:
        """Records skipped by design (all reasons)."""
        return sum(self.skipped.values())

    @property
    def balanced(self) -> bool:
        """Whether every read record is accounted for."""
        return self.read == self.accepted + self.quarantined + self.duplicates + self.skipped_total


@dataclass
class IngestResult:
    """What one ingest run did."""

    sources: list[SourceStats]
    enrichment: EnrichmentReport
    output: Path | None = None
    quarantine: Path | None = None
    quarantine_entries: list[QuarantineEntry] = field(default_factory=list)

    def total(self, name: str) -> int:
        """Sum of one count (``read``, ``accepted``, ...) over all sources."""
        if name == "skipped":
            return sum(s.skipped_total for s in self.sources)
        return sum(getattr(s, name) for s in self.sources)


class _Deduplicator:
    """Remembers (tenant, alert id) keys as sorted 64-bit hashes: 8 bytes per alert."""

    def __init__(self) -> None:
        self.seen = np.empty(0, dtype=np.int64)

    def keep_mask(self, keys: list[int] | np.ndarray) -> np.ndarray:
        """Which of ``keys`` are new (first occurrence, not seen before); remembers them."""
        keys = np.asarray(keys, dtype=np.int64)
        unique, first = np.unique(keys, return_index=True)
        if len(self.seen):  # look the sorted unique keys up: cache-friendly, once per key
            pos = np.searchsorted(self.seen, unique)
            pos[pos == len(self.seen)] = 0
            new = self.seen[pos] != unique
            unique, first = unique[new], first[new]
        keep = np.zeros(len(keys), dtype=bool)
        keep[first] = True
        # two sorted runs: the stable sort (timsort) merges them in one pass
        self.seen = np.sort(np.concatenate([self.seen, unique]), kind="stable")
        return keep


def _decode(record: RawRecord) -> tuple[dict[str, Any], bytes | None]:
    """A record's decoded object and raw bytes, or a :class:`RecordError` saying why not."""
    payload = record.payload
    if record.error is None and type(payload) is bytes and len(payload) <= MAX_RECORD_BYTES:
        try:  # the common case first
            obj = orjson.loads(payload)
        except orjson.JSONDecodeError:
            obj = None
        if type(obj) is dict:
            return obj, payload
    return _decode_slowly(record)


def _decode_slowly(record: RawRecord) -> tuple[dict[str, Any], bytes | None]:
    if record.error is not None:
        raise RecordError(record.error)
    payload = record.payload
    if type(payload) is not bytes:
        return payload, None  # type: ignore[return-value]
    if len(payload) > MAX_RECORD_BYTES:
        raise RecordError(f"record is {len(payload)} bytes, more than the {MAX_RECORD_BYTES} "
                          "byte limit")
    obj, error = decode_json(payload)
    if error is not None:
        raise RecordError(error)
    if type(obj) is not dict:
        raise RecordError(f"expected a JSON object, got {type(obj).__name__}")
    return obj, payload


def _target_schema(with_truth: bool) -> pa.Schema:
    return pa.schema(list(ALERT_SCHEMA) + list(GROUND_TRUTH_SCHEMA)) if with_truth else ALERT_SCHEMA


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    columns = [
        table.column(f.name) if f.name in table.column_names else pa.nulls(len(table), f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


class Ingestor:
    """Runs readers over files and yields canonical Arrow chunks; see :func:`ingest_files`."""

    def __init__(
        self,
        fmt: str = "auto",
        tenant: str | None = None,
        mapping: list[str] | dict[str, Any] | None = None,
        strict: bool = False,
        quarantine: Quarantine | None = None,
        catalog: AttackCatalog | None = None,
        chunk_rows: int = CHUNK_ROWS,
        progress: bool = False,
    ) -> None:
        self.fmt = fmt
        self.tenant = tenant
        self.mapping = mapping
        self.strict = strict
        self.quarantine = quarantine if quarantine is not None else Quarantine()
        self.resolver = TacticResolver(catalog or AttackCatalog.default())
        self.chunk_rows = chunk_rows
        self.progress = progress
        self.dedup = _Deduplicator()
        self.stats: list[SourceStats] = []

    def readers(self, paths: Iterable[str | Path]) -> list[tuple[Path, Reader]]:
        """One reader per file (detecting formats up front, so errors come before any work)."""
        pairs = []
        for path in map(Path, paths):
            if not path.is_file():
                raise IngestError("no such file", source=str(path))
            pairs.append((path, make_reader(self.fmt, path, self.tenant, self.mapping)))
        return pairs

    def seed(self, table: pa.Table) -> None:
        """Remember the alerts of ``table`` so that they count as duplicates (``--append``)."""
        keys = [hash((t, a)) for t, a in zip(table.column("tenant_id").to_pylist(),
                                              table.column("alert_id").to_pylist(), strict=True)]
        self.dedup.keep_mask(keys)

    def run(self, pairs: list[tuple[Path, Reader]]) -> Iterator[pa.Table]:
        """Canonical Arrow tables, chunk by chunk, for all files in order."""
        schema = _target_schema(any(r.has_ground_truth for _, r in pairs))
        total_bytes = sum(p.stat().st_size for p, _ in pairs)
        with tqdm(total=total_bytes, unit="B", unit_scale=True, desc="ingest",
                  disable=not self.progress, mininterval=0.5) as bar:
            for path, reader in pairs:
                done_before = bar.n
                for table in self._run_one(path, reader, bar, done_before):
                    yield _conform(table, schema)
                bar.update(done_before + path.stat().st_size - bar.n)

    def _run_one(self, path: Path, reader: Reader, bar: tqdm, offset: int) -> Iterator[pa.Table]:
        # The loop makes millions of short-lived containers and no reference cycles; the cyclic
        # collector would rescan the buffered chunk over and over (measured: a third of the time).
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            yield from self._records_to_tables(path, reader, bar, offset)
        finally:
            if gc_was_enabled:
                gc.enable()

    def _records_to_tables(self, path: Path, reader: Reader, bar: tqdm,
                           offset: int) -> Iterator[pa.Table]:
        fast = reader.fast_mapper() if reader.container == "json" else None
        if fast is not None and json_layout(sniff_bytes(path)) == "lines":
            yield from self._lines_to_tables(path, reader, fast, bar, offset)
            return
        stats = SourceStats(str(path), reader.name)
        self.stats.append(stats)
        builder = AlertBuilder()
        resolve = self.resolver.resolve
        to_alert = reader.to_alert
        add = builder.add
        chunk_rows = self.chunk_rows
        for record in reader.records(path):
            stats.read += 1
            if not stats.read % PROGRESS_EVERY:
                position = reader.position()
                if position is not None:
                    bar.update(offset + position - bar.n)
            try:
                row = to_alert(*_decode(record))
            except RecordError as exc:
                self._reject(stats, record, exc.reason, exc.field)
                continue
            if type(row) is str:
                stats.skipped[row] += 1
                continue
            add(row, resolve(row.techniques, row.tactics))
            if len(builder) >= chunk_rows:
                yield self._flush(builder, stats)
        if len(builder):
            yield self._flush(builder, stats)

    def _lines_to_tables(self, path: Path, reader: Reader,
                         fast: Callable[[dict[str, Any], bytes], AlertRow | None], bar: tqdm,
                         offset: int) -> Iterator[pa.Table]:
        """:meth:`_records_to_tables` for JSON lines with the reader's fast mapper.

        The same records, numbers and outcomes, without a :class:`RawRecord` per line: lines
        are numbered and stripped as :func:`~fusion_ml.ingest.source.iter_json_records` does;
        a line that decodes to an object goes to ``fast``, and to ``reader.to_alert`` where
        ``fast`` declines; any other line goes to :func:`_decode_slowly`, which says what is
        wrong with it.
        """
        stats = SourceStats(str(path), reader.name)
        self.stats.append(stats)
        skipped = stats.skipped
        builder = AlertBuilder()
        rows = builder.rows
        add_row, add_tactics = rows.append, builder.tactics.append  # builder.add, inlined
        resolve = self.resolver.resolve
        to_alert = reader.to_alert
        chunk_rows = self.chunk_rows
        loads = orjson.loads
        number = 0
        with open_binary(path) as stream:
            for line_no, line in enumerate(json_lines(stream), 1):
                line = line.strip()
                if not line:
                    continue
                number += 1
                stats.read = number
                if not number % PROGRESS_EVERY:
                    bar.update(offset + compressed_position(stream) - bar.n)
                if len(line) <= MAX_RECORD_BYTES:
                    try:
                        obj = loads(line)
                    except orjson.JSONDecodeError:
                        obj = None
                else:
                    obj = None
                try:
                    if type(obj) is dict:
                        row = fast(obj, line)
                        if row is None:
                            row = to_alert(obj, line)
                    else:
                        row = to_alert(*_decode_slowly(RawRecord(number, line, line_no)))
                except RecordError as exc:
                    self._reject(stats, RawRecord(number, line, line_no), exc.reason, exc.field)
                    continue
                if type(row) is str:
                    skipped[row] += 1
                    continue
                add_row(row)
                add_tactics(resolve(row.techniques, row.tactics))
                if len(rows) >= chunk_rows:
                    yield self._flush(builder, stats)
        if rows:
            yield self._flush(builder, stats)

    def _flush(self, builder: AlertBuilder, stats: SourceStats) -> pa.Table:
        table = builder.table()
        keep = self.dedup.keep_mask(builder.keys())
        builder.clear()
        kept = int(keep.sum())
        stats.duplicates += len(keep) - kept
        stats.accepted += kept
        return table if kept == len(keep) else table.filter(pa.array(keep))

    def _reject(self, stats: SourceStats, record: RawRecord, reason: str,
                field_name: str | None) -> None:
        if self.strict:
            raise IngestError(reason, source=stats.source, record=record.number, field=field_name)
        stats.quarantined += 1
        self.quarantine.add(QuarantineEntry(stats.source, stats.format, record.number,
                                            record.line, field_name, reason, raw_text(record)))


def ingest_files(
    paths: Iterable[str | Path],
    out: str | Path,
    fmt: str = "auto",
    tenant: str | None = None,
    mapping: list[str] | dict[str, Any] | None = None,
    quarantine: str | Path | None = None,
    strict: bool = False,
    append: bool = False,
    progress: bool = False,
    catalog: AttackCatalog | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> IngestResult:
    """Ingest files into one canonical Parquet file, streaming chunk by chunk.

    Rejected records go to ``quarantine`` (default: ``<out>.quarantine.jsonl``, written only if
    something is rejected). With ``append``, the alerts already in ``out`` are kept and records
    that repeat them count as duplicates. With ``strict``, the first bad record raises
    :class:`IngestError` naming file, record and field, and ``out`` is left as it was.
    """
    out = Path(out)
    qpath = Path(quarantine) if quarantine is not None else out.with_suffix(".quarantine.jsonl")
    ingestor = Ingestor(fmt, tenant, mapping, strict, Quarantine(qpath), catalog, chunk_rows,
                        progress)
    pairs = ingestor.readers(paths)
    previous = pq.read_table(out) if append and out.exists() else None
    if previous is not None:
        ingestor.seed(previous)
    schema = _target_schema(any(r.has_ground_truth for _, r in pairs) or (
        previous is not None and "label" in previous.column_names))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            if previous is not None:
                writer.write_table(_conform(previous, schema))
            for table in ingestor.run(pairs):
                writer.write_table(_conform(table, schema))
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
        ingestor.quarantine.close()
    return IngestResult(ingestor.stats, ingestor.resolver.report, out,
                        qpath if ingestor.quarantine.count else None)


def ingest_frame(
    paths: Iterable[str | Path],
    fmt: str = "auto",
    tenant: str | None = None,
    mapping: list[str] | dict[str, Any] | None = None,
    strict: bool = False,
    catalog: AttackCatalog | None = None,
) -> tuple[pd.DataFrame, IngestResult]:
    """Ingest files into an in-memory canonical frame; rejected records are kept in the
    result's ``quarantine_entries``."""
    ingestor = Ingestor(fmt, tenant, mapping, strict, Quarantine(None), catalog)
    pairs = ingestor.readers(paths)
    schema = _target_schema(any(r.has_ground_truth for _, r in pairs))
    tables = list(ingestor.run(pairs)) or [schema.empty_table()]
    frame = from_arrow(pa.concat_tables(tables))
    result = IngestResult(ingestor.stats, ingestor.resolver.report,
                          quarantine_entries=ingestor.quarantine.entries)
    return frame, result
