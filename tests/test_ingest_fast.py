"""The JSON-lines fast path (``Reader.fast_mapper`` and ``Ingestor._lines_to_tables``) gives
exactly what the general path gives: the same rows, counts, quarantine entries and errors."""

import gzip
import json

import numpy as np
import orjson
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fusion_ml.errors import IngestError, RecordError
from fusion_ml.ingest import ingest_files, read_quarantine
from fusion_ml.ingest.readers.suricata import SuricataEveReader
from fusion_ml.ingest.run import _Deduplicator

from .test_malformed import BAD_EVE_LINES, GOOD_EVE, eve

COMMON = [
    eve(),
    eve(flow_id=2),
    eve(src_ip="::ffff:10.0.0.1", dest_ip="2001:DB8::1"),
    eve(dest_ip="198.51.100.23"),  # the same IP twice: one entity
    eve(src_ip="", dest_ip=None),
    eve(src_ip=...),
    eve(http={"hostname": "Shop.Example.COM.", "url": "/item?id=1"}),
    eve(http={"hostname": "", "url": "/x"}),
    eve(http={"url": "http://a.example/b"}),
    eve(http={"hostname": "h.example", "url": "  -  "}),
    eve(http={"hostname": "h.example", "url": " /padded "}),
    eve(http={"hostname": "h.example", "url": 7}),
    eve(http={"hostname": "h.example"}),
    eve(http="not an object"),
    eve(timestamp="2026-03-01T10:15:16Z"),
    eve(timestamp="2026-03-01T10:15:16.5-0500"),
    eve(timestamp="2026-03-01 10:15:16"),
    eve(alert__severity=4),
    eve(alert__severity="3"),
    eve(alert__severity=None),
    eve(alert__category="Web Application Attack"),
    eve(alert__category="no such category"),
    eve(alert__metadata={"mitre_technique_id": ["t1046"], "mitre_tactic_id": ["TA0007"]}),
    eve(alert__metadata={"mitre_technique_id": ["T1078.999"]}),
    eve(tenant_id="acme-2"),
]
"""Records the fast mapper maps (with ``--tenant``)."""

UNUSUAL = [
    eve(src_ip=12),
    eve(src_ip=" 10.0.0.1 "),
    eve(http={"hostname": 5, "url": "/x"}),
    eve(http={"hostname": "h", "url": "/" + "a" * 70_000}),
    eve(http={"hostname": "h" * 70_000}),
    eve(tls={"sni": "Foo.Example.NET"}),
    eve(tls={"sni": 3}),
    eve(dns={"query": [{"rrname": "A.b."}]}),
    eve(dns={"rrname": "c.d"}),
    eve(fileinfo={"filename": " /tmp/x "}),
    eve(fileinfo={"filename": []}),
    eve(tenant_id=7),
    eve(tenant_id=" padded "),
    eve(tenant_id=""),
    eve(timestamp=1772360000),
    eve(timestamp=" 2026-03-01T10:15:16Z"),
    eve(timestamp="3/1/2026, 10:15:16.123 AM"),
    eve(timestamp="1989-12-31T23:59:59Z"),
    eve(alert__severity=0),
    eve(alert__severity=[1]),
    eve(alert__category=5),
    eve(alert__signature=" padded "),
    eve(alert__signature=17),
    eve(alert__metadata="x"),
    eve(alert__metadata={}),
    eve(event_type="flow"),
    eve(event_type=None),
    eve(event_type=...),
    eve(event_type=["alert"]),
    b'{"event_type":"alert","a":1,"a":2,"timestamp":"2026-03-01T10:15:16Z",'
    b'"alert":{"signature":"s"}}',
    b'{"event_type":"alert","timestamp":"2026-03-01T10:15:16Z","alert":{"signature":"\\ud800"}}',
    b'"just a string"',
    b"null",
    b"{}",
    b'{"x":"' + b"a" * (1 << 20) + b'"}',
]
"""Records it leaves to ``to_alert`` (skipped, bad, or forms only the general path maps)."""

MALFORMED = [line for line, _, _ in BAD_EVE_LINES]


def mapped(line, tenant="acme"):
    """(fast mapper's result, to_alert's result or the RecordError) for one line."""
    reader = SuricataEveReader(tenant)
    record = orjson.loads(line)
    try:
        expected = reader.to_alert(record, line)
    except RecordError as exc:
        expected = exc
    return reader.fast_mapper()(record, line), expected


def same_row(row, expected):
    assert type(row) is type(expected)
    assert row == expected
    assert [type(v) for v in row] == [type(v) for v in expected]


@pytest.mark.parametrize("line", COMMON)
def test_fast_mapper_maps_common_records_exactly(line):
    row, expected = mapped(line)
    assert row is not None
    same_row(row, expected)


@pytest.mark.parametrize("line", [line for line in UNUSUAL + MALFORMED if len(line) < 1 << 20])
@pytest.mark.parametrize("tenant", ["acme", None])
def test_fast_mapper_maps_exactly_or_declines(line, tenant):
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return  # never reaches a mapper
    if not isinstance(record, dict):
        return
    row, expected = mapped(line, tenant)
    if row is not None:
        same_row(row, expected)


def test_fast_mapper_declines_where_general_path_rejects_or_skips():
    declined = 0
    for line in UNUSUAL + MALFORMED:
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(record, dict) and len(line) < 1 << 20:
            row, expected = mapped(line)
            if isinstance(expected, RecordError | str):
                assert row is None, line
                declined += 1
    assert declined > 20


def test_no_fast_mapper_for_a_bad_tenant():
    assert SuricataEveReader(" ").fast_mapper() is None
    assert SuricataEveReader("acme").fast_mapper() is not None


def mixed_lines():
    lines = [b"\xef\xbb\xbf" + eve(flow_id=100)]
    for i, line in enumerate(COMMON + UNUSUAL + MALFORMED + COMMON):
        lines.append(line)
        lines.append([b"", b"   ", b"\r", eve(flow_id=i % 7)][i % 4])
    return lines


def write(path, lines, sep=b"\n"):
    data = sep.join(lines) + sep
    if path.suffix == ".gz":
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def ingest_both(tmp_path, monkeypatch, paths, catalog, **options):
    """Output table, per-source counts and quarantine entries, with and without the fast path."""
    outcomes = []
    for name in ("fast", "general"):
        out = tmp_path / f"{name}.parquet"
        with monkeypatch.context() as patch:
            if name == "general":
                patch.setattr(SuricataEveReader, "fast_mapper", lambda self: None)
            result = ingest_files(paths, out, fmt="suricata", catalog=catalog, **options)
        counts = [(s.read, s.accepted, s.quarantined, s.duplicates, dict(s.skipped))
                  for s in result.sources]
        assert all(s.balanced for s in result.sources)
        entries = read_quarantine(result.quarantine) if result.quarantine else []
        outcomes.append((pq.read_table(out), counts, entries, result.enrichment))
    return outcomes


@pytest.mark.parametrize("tenant", ["acme", None])
@pytest.mark.parametrize("sep", [b"\n", b"\r\n"])
def test_same_output_with_and_without_fast_path(tmp_path, monkeypatch, catalog, tenant, sep):
    plain = write(tmp_path / "eve.json", mixed_lines(), sep)
    packed = write(tmp_path / "eve.json.gz", mixed_lines(), sep)
    (fast, counts, entries, report), (general, counts2, entries2, report2) = ingest_both(
        tmp_path, monkeypatch, [plain, packed], catalog, tenant=tenant, chunk_rows=5)
    assert fast.equals(general, check_metadata=True)
    assert counts == counts2
    assert entries == entries2
    assert report == report2
    if tenant is not None:
        assert fast.num_rows > len(COMMON)  # the fast path did map most of them
        # the second file repeats the first: what the first accepted comes back as duplicates
        assert (counts[1][1], counts[1][3]) == (0, counts[0][1] + counts[0][3])


def test_strict_mode_stops_at_the_same_record(tmp_path, monkeypatch, catalog):
    path = write(tmp_path / "eve.json", COMMON + [eve(src_ip="999.1.1.1")] + COMMON)
    errors = []
    for fast in (True, False):
        with monkeypatch.context() as patch:
            if not fast:
                patch.setattr(SuricataEveReader, "fast_mapper", lambda self: None)
            with pytest.raises(IngestError) as info:
                ingest_files([path], tmp_path / "a.parquet", fmt="suricata", tenant="acme",
                             strict=True, catalog=catalog)
        errors.append((str(info.value), info.value.record, info.value.field))
    assert errors[0] == errors[1]
    assert errors[0][1:] == (len(COMMON) + 1, "src_ip")


ODD = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=6),
                st.sampled_from(["", " ", "-", "10.0.0.1", "::1", "999.1.1.1", "a.example.",
                                 "/p", "2026-03-01T10:15:16Z", "2026-03-01T10:15:16+0000",
                                 "1871-01-01T00:00:00Z", "informational"]),
                st.lists(st.text(max_size=3), max_size=2),
                st.dictionaries(st.sampled_from(["hostname", "url", "sni", "rrname"]),
                                st.text(max_size=4), max_size=2))


@settings(max_examples=300, deadline=None)
@given(changes=st.dictionaries(
    st.sampled_from(["timestamp", "src_ip", "dest_ip", "tenant_id", "http", "tls",
                     "alert__signature", "alert__severity", "alert__category",
                     "http__hostname", "http__url"]),
    ODD, max_size=4),
    tenant=st.sampled_from(["acme", None]))
def test_fast_mapper_property(changes, tenant):
    record = json.loads(json.dumps(GOOD_EVE))
    record["http"] = {"hostname": "shop.example.com", "url": "/i?id=1"}
    for path, value in changes.items():
        node = record
        *parents, leaf = path.split("__")
        for part in parents:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[leaf] = value
    line = orjson.dumps(record)
    row, expected = mapped(line, tenant)
    if row is not None:
        same_row(row, expected)


def test_deduplicator_against_a_set():
    rng = np.random.default_rng(0)
    dedup, seen = _Deduplicator(), set()
    for _ in range(50):
        keys = rng.integers(-30, 30, rng.integers(0, 20)).tolist()
        expected = []
        for key in keys:
            expected.append(key not in seen)
            seen.add(key)
        assert dedup.keep_mask(keys).tolist() == expected
    assert dedup.seen.tolist() == sorted(seen)
