"""The ingest run: accounting, duplicates, append, quarantine file, the real CPTC set, the CLI."""

import gzip
import json
import shutil
from collections import Counter

import orjson
import pandas as pd
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fusion_ml.cli import main
from fusion_ml.ingest import ingest_files, ingest_frame, read_quarantine
from fusion_ml.ingest.source import iter_json_records
from fusion_ml.schema import read_alerts

from .test_malformed import BAD_EVE_LINES, eve


def test_duplicates_are_dropped_and_counted(tmp_path, formats_dir, catalog):
    sample = formats_dir / "sentinel_securityalert.json"
    copy = tmp_path / "again.json"
    shutil.copy(sample, copy)
    out = tmp_path / "alerts.parquet"
    result = ingest_files([sample, copy], out, catalog=catalog)
    first, second = result.sources
    assert (first.accepted, first.duplicates) == (6, 0)
    assert (second.read, second.accepted, second.duplicates) == (6, 0, 6)
    assert len(read_alerts(out)) == 6
    # --append: re-ingesting into the same output changes nothing
    again = ingest_files([sample], out, append=True, catalog=catalog)
    assert (again.total("accepted"), again.total("duplicates")) == (0, 6)
    assert len(read_alerts(out)) == 6
    # a new file appends to what is there
    more = ingest_files([formats_dir / "wazuh_alerts.json"], out, append=True, catalog=catalog)
    assert more.total("accepted") == 6
    assert len(read_alerts(out)) == 12


def test_duplicates_across_chunks(tmp_path, catalog):
    lines = [eve(flow_id=i) for i in range(10)] + [eve(flow_id=i) for i in range(5)]
    path = tmp_path / "eve.json"
    path.write_bytes(b"\n".join(lines))
    out = tmp_path / "a.parquet"
    result = ingest_files([path], out, fmt="suricata", tenant="t", chunk_rows=3, catalog=catalog)
    assert (result.total("accepted"), result.total("duplicates")) == (10, 5)
    assert read_alerts(out)["alert_id"].is_unique


def test_no_quarantine_file_without_rejects(tmp_path, formats_dir, catalog):
    out = tmp_path / "a.parquet"
    result = ingest_files([formats_dir / "wazuh_alerts.json"], out, catalog=catalog)
    assert result.quarantine is None
    assert not out.with_suffix(".quarantine.jsonl").exists()


GOOD = st.integers(0, 10_000).map(lambda i: ("good", eve(flow_id=i)))
BAD = st.sampled_from([line for line, _, _ in BAD_EVE_LINES]).map(lambda b: ("bad", b))
SKIP = st.integers(0, 50).map(lambda i: ("skip", orjson.dumps(
    {"event_type": "flow", "flow_id": i, "timestamp": "2026-03-01T00:00:00Z"})))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(st.one_of(GOOD, BAD, SKIP), max_size=40),
       layout=st.sampled_from(["lines", "array"]))
def test_every_record_is_accounted_for(tmp_path_factory, catalog, records, layout):
    path = tmp_path_factory.mktemp("prop") / "input.json"
    # A one-line file "[1, 2]" is both a JSON array and JSON lines; a first good record makes
    # the layout unambiguous.
    records = [("good", eve(flow_id=-1)), *records]
    payloads = [payload for _, payload in records]
    if layout == "lines":
        path.write_bytes(b"\n".join(payloads))
    else:
        path.write_bytes(b"[" + b",\n".join(payloads) + b"]")
    frame, result = ingest_frame([path], fmt="suricata", tenant="t", catalog=catalog)
    stats = result.sources[0]
    kinds = Counter(kind for kind, _ in records)
    distinct_good = len({p for k, p in records if k == "good"})
    assert stats.balanced
    assert stats.quarantined == len(result.quarantine_entries)
    if layout == "lines":
        assert stats.read == len(records)
        assert stats.skipped_total == kinds["skip"]
        assert stats.accepted == len(frame) == distinct_good
        assert stats.duplicates == kinds["good"] - distinct_good
        assert stats.quarantined == kinds["bad"]
    else:
        # A truncated element cannot be delimited from the ones after it: they reach the
        # quarantine together, as one record. Nothing is lost all the same.
        quarantined_text = " ".join(e.raw for e in result.quarantine_entries)
        for kind, payload in records:
            if kind == "good" and payload.decode() not in quarantined_text:
                assert payload in accepted_payloads(frame, payload)


def accepted_payloads(frame, payload):
    """``[payload]`` if the alert with that content is in ``frame``, else ``[]``."""
    from fusion_ml.ingest.readers.base import content_id

    return [payload] if content_id("eve", payload) in set(frame["alert_id"]) else []


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet=st.sampled_from('ab,{}[]"\\ :')),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                max_size=3),
    max_leaves=8), max_size=8), block=st.integers(1, 64))
def test_json_array_splitter_matches_json(values, block):
    import io

    from fusion_ml.ingest import source

    original = source.BLOCK_BYTES
    source.BLOCK_BYTES = block
    try:
        data = json.dumps(values).encode()
        got = [json.loads(r.payload) for r in iter_json_records(io.BytesIO(data), "array")]
    finally:
        source.BLOCK_BYTES = original
    assert got == values


def test_cptc_ingests_completely(tmp_path, cptc_dir, catalog):
    files = sorted(cptc_dir.glob("*.json.gz"))
    expected = {}
    for path in files:  # independent count: the JSON standard library on the raw files
        with gzip.open(path) as handle:
            records = json.loads(handle.read().decode("utf-8-sig"))
        expected[records[0]["result"]["team"]] = len(records)
    out = tmp_path / "cptc.parquet"
    result = ingest_files(files, out, catalog=catalog)
    assert {s.format for s in result.sources} == {"splunk-suricata"}
    assert result.total("read") == result.total("accepted") == 47_876
    assert result.total("quarantined") == result.total("duplicates") == 0
    frame = read_alerts(out)
    assert frame.groupby("tenant_id").size().to_dict() == expected
    assert len(expected) == 10
    assert frame["alert_type"].nunique() == 168
    assert frame["timestamp"].min() >= pd.Timestamp("2017-11-04", tz="UTC")


def test_cli_ingest_and_summary(tmp_path, formats_dir):
    runner = CliRunner()
    out = tmp_path / "a.parquet"
    result = runner.invoke(main, ["ingest", str(formats_dir / "suricata_eve.jsonl"),
                                  "--tenant", "acme", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "suricata" in result.output
    assert "skipped: event_type 'flow' is not an alert (1)" in result.output
    assert f"wrote 5 alerts to {out}" in result.output
    summary = runner.invoke(main, ["summary", str(out)])
    assert summary.exit_code == 0
    assert "5 alerts, 1 tenants" in summary.output
    assert "discovery" in summary.output


def test_cli_strict_error_is_one_line(tmp_path):
    path = tmp_path / "eve.json"
    path.write_bytes(eve(src_ip="999.1.1.1"))
    result = CliRunner().invoke(main, ["ingest", str(path), "--format", "suricata", "--tenant",
                                       "t", "--out", str(tmp_path / "a.parquet"), "--strict"])
    assert result.exit_code == 2
    assert result.output.strip() == (f"error: {path}, record 1, field 'src_ip': expected an IPv4 "
                                     "or IPv6 address, got '999.1.1.1'")


def test_cli_quarantine_option(tmp_path):
    path = tmp_path / "eve.json"
    path.write_bytes(eve(src_ip="999.1.1.1") + b"\n" + eve())
    q = tmp_path / "bad.jsonl"
    result = CliRunner().invoke(main, ["ingest", str(path), "--tenant", "t", "--out",
                                       str(tmp_path / "a.parquet"), "--quarantine", str(q)])
    assert result.exit_code == 0, result.output
    assert f"quarantined 1 records to {q}" in result.output
    assert read_quarantine(q)[0]["field"] == "src_ip"


def test_cli_help_is_useful():
    runner = CliRunner()
    top = runner.invoke(main, ["--help"])
    assert "ingest" in top.output and "summary" in top.output and "demo" in top.output
    ingest = runner.invoke(main, ["ingest", "--help"])
    for word in ("--format", "--map", "--tenant", "--strict", "--quarantine", "splunk-suricata",
                 "sentinel-csv", "wazuh", "ocsf", "gzip"):
        assert word in ingest.output
