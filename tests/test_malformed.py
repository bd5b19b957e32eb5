"""Bad input: every record is quarantined with a clear reason, or strict mode stops on it."""

import json

import pytest

from fusion_ml.errors import IngestError
from fusion_ml.ingest import ingest_files, ingest_frame, read_quarantine

GOOD_EVE = {"timestamp": "2026-03-01T10:15:16.123456+0000", "event_type": "alert",
            "src_ip": "198.51.100.23", "dest_ip": "10.20.1.15", "flow_id": 1,
            "alert": {"signature": "ET SCAN Potential SSH Scan", "severity": 2,
                      "category": "Attempted Information Leak"}}


def eve(**changes):
    record = json.loads(json.dumps(GOOD_EVE))
    for path, value in changes.items():
        node = record
        *parents, leaf = path.split("__")
        for part in parents:
            node = node[part]
        if value is ...:
            del node[leaf]
        else:
            node[leaf] = value
    return json.dumps(record).encode()


BAD_EVE_LINES = [
    # (line bytes, field, reason fragment)
    (eve()[:-20], None, "invalid JSON: unexpected end of data"),
    (eve(timestamp="yesterday at noon"), "timestamp",
     "expected an ISO 8601 timestamp or epoch number, got 'yesterday at noon'"),
    (eve(timestamp=...), "timestamp", "required timestamp is missing"),
    (eve(timestamp="1871-01-01T00:00:00Z"), "timestamp", "expected a time between 1990 and 2100"),
    (eve(alert__signature=...), "alert.signature", "required field is missing"),
    (eve(alert__signature={"nested": 1}), "alert.signature", "expected text, got dict"),
    (eve().replace(b'"flow_id": 1', b'"flow_id": NaN'), None, "invalid JSON"),
    (eve(alert__signature=["a", "list"]), "alert.signature", "expected text, got list"),
    (eve(alert__signature="x" * 5000), "alert.signature", "expected at most 4096 characters"),
    (eve(alert__severity="urgent"), "alert.severity", "expected an integer 1-4, got 'urgent'"),
    (eve(alert="scan"), "alert", "expected an object"),
    (eve(src_ip="999.1.1.1"), "src_ip", "expected an IPv4 or IPv6 address, got '999.1.1.1'"),
    (eve(src_ip={"v": 4}), "src_ip", "expected text for a ip entity, got dict"),
    (eve(alert__signature="caf\u00e9").replace(b"caf\\u00e9", b"caf\xe9"), None,
     "not valid UTF-8: byte 0xe9"),
    (b"[1, 2, 3]", None, "expected a JSON object, got list"),
]


def write_lines(path, lines):
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_each_bad_eve_record_gets_its_reason(tmp_path, catalog):
    lines = [eve()] + [line for line, _, _ in BAD_EVE_LINES] + [eve(flow_id=2)]
    path = write_lines(tmp_path / "eve.json", lines)
    out = tmp_path / "alerts.parquet"
    result = ingest_files([path], out, fmt="suricata", tenant="acme", catalog=catalog)
    stats = result.sources[0]
    assert (stats.read, stats.accepted, stats.quarantined) == (len(lines), 2, len(BAD_EVE_LINES))
    entries = read_quarantine(result.quarantine)
    assert result.quarantine == out.with_suffix(".quarantine.jsonl")
    assert [e["record"] for e in entries] == list(range(2, len(BAD_EVE_LINES) + 2))
    for entry, (line, field, reason) in zip(entries, BAD_EVE_LINES, strict=True):
        assert entry["source"] == str(path)
        assert entry["format"] == "suricata"
        assert entry["field"] == field, entry
        assert reason in entry["reason"], entry
        assert entry["raw"] == line.decode("utf-8", "backslashreplace")


def test_strict_mode_names_file_record_and_field(tmp_path, catalog):
    path = write_lines(tmp_path / "eve.json", [eve(), eve(flow_id=2), eve(src_ip="999.1.1.1")])
    out = tmp_path / "alerts.parquet"
    with pytest.raises(IngestError) as info:
        ingest_files([path], out, fmt="suricata", tenant="acme", strict=True, catalog=catalog)
    assert str(info.value) == (f"{path}, record 3, field 'src_ip': expected an IPv4 or IPv6 "
                               "address, got '999.1.1.1'")
    assert (info.value.source, info.value.record, info.value.field) == (str(path), 3, "src_ip")
    assert not out.exists()


def test_truncated_json_array(tmp_path, catalog):
    records = [{"preview": False, "result": {"_raw": json.dumps(GOOD_EVE), "team": "T1"}},
               {"preview": False, "result": {"_raw": eve(flow_id=9).decode(), "team": "T1"}}]
    text = json.dumps(records)
    path = tmp_path / "export.json"
    path.write_text(text[: len(text) - 30])
    frame, result = ingest_frame([path], fmt="splunk-suricata", catalog=catalog)
    assert len(frame) == 1
    (entry,) = result.quarantine_entries
    assert entry.record == 2
    assert entry.reason == "truncated JSON: the file ended inside this record"


def test_splunk_record_with_bad_inner_eve(tmp_path, catalog):
    path = tmp_path / "export.json"
    path.write_text(json.dumps([{"result": {"_raw": "{not json", "team": "T1"}},
                                {"result": {"_raw": 17, "team": "T1"}}]))
    _, result = ingest_frame([path], fmt="splunk-suricata", catalog=catalog)
    assert [(e.field, e.reason.split(" (")[0]) for e in result.quarantine_entries] == [
        ("result._raw", "expected EVE JSON, got invalid JSON"),
        ("result._raw", "expected the EVE record as a JSON string"),
    ]


def test_csv_problems(tmp_path, catalog):
    path = tmp_path / "alerts.csv"
    path.write_bytes(
        b"time,rule,org\n"
        b"2026-03-01T10:00:00Z,Logon,acme\n"
        b"2026-03-01T10:00:01Z,Logon\n"                       # too few cells
        b"2026-03-01T10:00:02Z,Caf\xe9,acme\n"                # Latin-1 byte
        b"31/02/2026,Logon,acme\n"                            # not a date
        b"2026-03-01T10:00:03Z,,acme\n"                       # missing alert type
        b"2026-03-01T10:00:04Z,Logon," + b"t" * 300 + b"\n"   # tenant too long
    )
    frame, result = ingest_frame([path], mapping=["timestamp=time", "alert_type=rule",
                                                  "tenant_id=org"], catalog=catalog)
    assert len(frame) == 1
    reasons = [(e.record, e.line, e.field, e.reason) for e in result.quarantine_entries]
    assert reasons == [
        (2, 3, None, "expected 3 cells as in the header, got 2"),
        (3, 4, None, "not valid UTF-8"),
        (4, 5, "time", "expected an ISO 8601 timestamp or epoch number, got '31/02/2026'"),
        (5, 6, "rule", "required field is empty"),
        (6, 7, "org", "expected at most 256 characters, got 300"),
    ]
    assert result.quarantine_entries[1].raw["rule"] == "Caf\\xe9"


def test_wrong_types_in_sentinel_and_ocsf(tmp_path, catalog):
    sentinel = tmp_path / "sentinel.json"
    sentinel.write_text(json.dumps([
        {"TenantId": "t", "SystemAlertId": "1", "TimeGenerated": "2026-03-01T10:00:00Z",
         "AlertName": "X", "AlertSeverity": "High", "Entities": "{oops"},
        {"TenantId": "t", "SystemAlertId": "2", "TimeGenerated": "2026-03-01T10:00:00Z",
         "AlertName": "X", "AlertSeverity": "Severe"},
        {"TenantId": "t", "SystemAlertId": "3", "TimeGenerated": "2026-03-01T10:00:00Z",
         "AlertName": "X", "Techniques": "[1, 2]"},
    ]))
    _, result = ingest_frame([sentinel], catalog=catalog)
    assert [(e.field, e.reason.split(" (unexpected")[0]) for e in result.quarantine_entries] == [
        ("Entities", "expected a JSON array, got invalid JSON"),
        ("AlertSeverity", "expected a severity in ('informational', 'low', 'medium', 'high', "
                          "'critical'), got 'Severe'"),
        ("Techniques", "expected a list of strings, got an item 1"),
    ]
    ocsf = tmp_path / "ocsf.jsonl"
    ocsf.write_text("\n".join(json.dumps(r) for r in [
        {"class_uid": 2004, "time": 1772444470000, "severity_id": 9,
         "finding_info": {"uid": "f1", "title": "T"}, "metadata": {"tenant_uid": "t"}},
        {"class_uid": 2004, "time": "soon", "finding_info": {"uid": "f2", "title": "T"},
         "metadata": {"tenant_uid": "t"}},
        {"class_uid": 2004, "time": 1772444470000, "finding_info": "f3",
         "metadata": {"tenant_uid": "t"}},
        {"class_uid": "2004"},
    ]))
    _, result = ingest_frame([ocsf], catalog=catalog)
    assert [(e.field, e.reason) for e in result.quarantine_entries] == [
        ("severity_id", "expected an integer 0-6 or 99, got 9"),
        ("time", "expected an ISO 8601 timestamp or epoch number, got 'soon'"),
        ("finding_info", "expected an object"),
        ("class_uid", "expected an integer class id, got '2004'"),
    ]


def test_oversized_record(tmp_path, catalog):
    path = write_lines(tmp_path / "eve.json", [eve(payload="A" * (1 << 20)), eve()])
    _, result = ingest_frame([path], fmt="suricata", tenant="acme", catalog=catalog)
    (entry,) = result.quarantine_entries
    assert entry.reason.startswith("record is 10") and "byte limit" in entry.reason


def test_unknown_format_and_missing_file(tmp_path):
    from fusion_ml.errors import ConfigError

    with pytest.raises(IngestError, match="no such file"):
        ingest_frame([tmp_path / "missing.json"])
    path = tmp_path / "x.json"
    path.write_text("{}")
    with pytest.raises(ConfigError, match="--format: expected auto or one of"):
        ingest_frame([path], fmt="syslog")
    junk = tmp_path / "junk.txt"
    junk.write_text("hello world")
    with pytest.raises(IngestError, match="cannot detect the format"):
        ingest_frame([junk])
