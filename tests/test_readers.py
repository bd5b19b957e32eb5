"""Every reader on hand-written samples of its format (tests/data/formats, see SOURCES.md)."""

import gzip
import json
import shutil

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fusion_ml.errors import ConfigError
from fusion_ml.ingest import detect_format, ingest_frame


def entities(frame, i):
    return [(e["type"], e["value"]) for e in frame["entities"].iloc[i]]


def by_id(frame, alert_id):
    return frame.set_index("alert_id").loc[alert_id]


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("suricata_eve.jsonl", "suricata"),
        ("wazuh_alerts.json", "wazuh"),
        ("ocsf_detection_finding.json", "ocsf"),
        ("ocsf_detection_finding.jsonl", "ocsf"),
        ("sentinel_securityalert.csv", "sentinel-csv"),
        ("sentinel_securityalert.json", "sentinel"),
    ],
)
def test_detect_format(formats_dir, name, fmt):
    assert detect_format(formats_dir / name) == fmt


def test_detect_format_cptc(cptc_dir):
    assert detect_format(cptc_dir / "NationalTeam5.json.gz") == "splunk-suricata"


def test_suricata_eve(formats_dir, catalog):
    frame, result = ingest_frame([formats_dir / "suricata_eve.jsonl"], tenant="acme",
                                 catalog=catalog)
    stats = result.sources[0]
    assert (stats.read, stats.accepted, stats.quarantined) == (7, 5, 0)
    assert dict(stats.skipped) == {"event_type 'dns' is not an alert": 1,
                                   "event_type 'flow' is not an alert": 1}
    first = frame.iloc[0]
    assert first["tenant_id"] == "acme"
    assert first["alert_type"] == "ET SCAN Potential SSH Scan"
    assert first["timestamp"] == pd.Timestamp("2026-03-01T10:15:16.123456Z")
    assert first["severity"] == "medium"  # EVE severity 2
    assert first["provider"] == "suricata"
    assert list(first["techniques"]) == ["T1046"]
    assert list(first["tactics"]) == ["discovery"]
    assert entities(frame, 0) == [("ip", "198.51.100.23"), ("ip", "10.20.1.15")]
    assert frame["severity"].tolist() == ["medium", "high", "medium", "high", "medium"]
    # IPv6 addresses are canonical (compressed, lower case)
    assert entities(frame, 4) == [("ip", "2001:db8:51::a7"), ("ip", "2001:db8:10:20::15")]
    # The id is a content hash: stable across runs
    again, _ = ingest_frame([formats_dir / "suricata_eve.jsonl"], tenant="acme", catalog=catalog)
    assert again["alert_id"].tolist() == frame["alert_id"].tolist()
    assert frame["alert_id"].is_unique


def test_suricata_without_tenant_is_quarantined(formats_dir, catalog):
    frame, result = ingest_frame([formats_dir / "suricata_eve.jsonl"], fmt="suricata",
                                 catalog=catalog)
    assert len(frame) == 0
    assert {e.reason for e in result.quarantine_entries} == {"EVE has no tenant: give --tenant"}
    assert result.sources[0].quarantined == 5


def test_splunk_and_eve_give_the_same_alert(tmp_path, formats_dir, catalog):
    lines = (formats_dir / "suricata_eve.jsonl").read_text().splitlines()
    export = [{"preview": False, "result": {"_raw": line, "team": "Team A"}} for line in lines]
    path = tmp_path / "export.json.gz"
    with gzip.open(path, "wt", encoding="utf-8-sig") as out:
        json.dump(export, out)
    splunk, result = ingest_frame([path], catalog=catalog)
    assert result.sources[0].format == "splunk-suricata"
    eve, _ = ingest_frame([formats_dir / "suricata_eve.jsonl"], tenant="Team A", catalog=catalog)
    pd.testing.assert_frame_equal(splunk, eve)


def test_wazuh(formats_dir, catalog):
    frame, result = ingest_frame([formats_dir / "wazuh_alerts.json"], catalog=catalog)
    assert result.sources[0].accepted == 6
    assert set(frame["tenant_id"]) == {"wazuh-manager"}  # no --tenant: the manager's name
    assert frame["severity"].tolist() == ["medium", "informational", "informational", "low",
                                          "informational", "medium"]  # levels 10,3,3,5,2,10
    row = by_id(frame, "1772360158.1834521")
    assert row["alert_type"] == "sshd: brute force trying to get access to the system. " \
                                "Non existent user."
    assert list(row["techniques"]) == ["T1110"]
    assert list(row["tactics"]) == ["credential-access"]
    ents = [(e["type"], e["value"]) for e in row["entities"]]
    assert ents == [("host", "web-01"), ("ip", "10.20.1.15"), ("ip", "198.51.100.23"),
                    ("account", "admin")]
    no_mitre = by_id(frame, "1772431964.951377")
    assert list(no_mitre["techniques"]) == [] and list(no_mitre["tactics"]) == []
    overridden, _ = ingest_frame([formats_dir / "wazuh_alerts.json"], tenant="msp-1",
                                 catalog=catalog)
    assert set(overridden["tenant_id"]) == {"msp-1"}


def test_ocsf(formats_dir, catalog):
    frame, result = ingest_frame([formats_dir / "ocsf_detection_finding.json"], catalog=catalog)
    assert result.sources[0].accepted == 5
    first = frame.iloc[0]
    assert first["tenant_id"] == "c3f1a2b4-5d6e-4f70-8a9b-0c1d2e3f4a5b"
    assert first["severity"] == "high"  # severity_id 4
    assert first["provider"] == "GuardDuty"
    assert first["alert_type"] == "InstanceCredentialExfiltration.OutsideAWS"
    assert frame["severity"].tolist() == ["high", "critical", "medium", "high", "medium"]
    lines, _ = ingest_frame([formats_dir / "ocsf_detection_finding.jsonl"], catalog=catalog)
    assert lines.iloc[0]["alert_type"] == "PortProbeUnprotectedPort"
    assert list(lines.iloc[0]["techniques"]) == ["T1595"]
    assert list(lines.iloc[0]["tactics"]) == ["reconnaissance"]
    assert entities(lines, 0) == [("ip", "203.0.113.200"), ("ip", "10.20.1.30"),
                                  ("host", "ip-10-20-1-30.ec2.internal"),
                                  ("resource", "i-0d4e5f60718293a4b")]


def test_ocsf_other_classes_are_skipped(tmp_path, catalog):
    path = tmp_path / "mixed.jsonl"
    path.write_text(json.dumps({"class_uid": 3002, "time": 1772444470000}) + "\n")
    frame, result = ingest_frame([path], fmt="ocsf", catalog=catalog)
    assert dict(result.sources[0].skipped) == {"class_uid 3002 is not a detection finding": 1}


def test_sentinel_csv_equals_json(formats_dir, catalog):
    csv_frame, csv_result = ingest_frame([formats_dir / "sentinel_securityalert.csv"],
                                         catalog=catalog)
    json_frame, _ = ingest_frame([formats_dir / "sentinel_securityalert.json"], catalog=catalog)
    assert csv_result.sources[0].accepted == 6
    pd.testing.assert_frame_equal(csv_frame, json_frame)
    first = csv_frame.iloc[0]
    assert first["tenant_id"] == "4f2b1c7e-8a3d-4e6f-9b0a-1c2d3e4f5a6b"
    assert first["alert_id"] == "b1f04e2a-6c3d-7e85-9a10-2f3e4d5c6b7a"
    assert first["timestamp"] == pd.Timestamp("2026-03-01T10:25:41.387Z")
    assert first["severity"] == "high"
    assert list(first["techniques"]) == ["T1110", "T1078", "T1110.001"]
    assert list(first["tactics"]) == ["initial-access", "credential-access"]
    assert entities(csv_frame, 0) == [("host", "web-01"), ("account", "deploy"),
                                      ("ip", "198.51.100.23")]
    # "Execution, DefenseEvasion" (with a space) splits too
    assert list(csv_frame.iloc[2]["tactics"]) == ["execution", "defense-evasion"]


def test_generic_csv_with_mapping_and_epoch_times(tmp_path, catalog):
    path = tmp_path / "alerts.csv"
    path.write_text(
        "time,short,host,user,src,dst,org,tech\n"
        "1772360158,Brute force,WEB-01,Alice,198.51.100.23,10.0.0.5,acme,T1110\n"
        "1772360158123,Logon,web-01,alice,,10.0.0.5,acme,\n"
        "2026-03-01T10:15:58Z,Exfil,db-01,,10.0.0.9,203.0.113.1,beta,T1048\n"
    )
    mapping = ["timestamp=time", "alert_type=short", "host=host", "account=user", "ip=src",
               "ip=dst", "tenant_id=org", "techniques=tech"]
    frame, result = ingest_frame([path], mapping=mapping, catalog=catalog)
    assert result.sources[0].format == "csv" and result.sources[0].accepted == 3
    assert frame["timestamp"].tolist() == [
        pd.Timestamp("2026-03-01T10:15:58Z"), pd.Timestamp("2026-03-01T10:15:58.123Z"),
        pd.Timestamp("2026-03-01T10:15:58Z"),
    ]
    assert frame["tenant_id"].tolist() == ["acme", "acme", "beta"]
    assert entities(frame, 0) == [("host", "web-01"), ("account", "alice"),
                                  ("ip", "198.51.100.23"), ("ip", "10.0.0.5")]
    assert list(frame.iloc[0]["tactics"]) == ["credential-access"]  # filled from T1110
    assert list(frame.iloc[2]["tactics"]) == ["exfiltration"]
    assert frame["alert_id"].is_unique  # content hashes


def test_generic_json_lines_nested_paths_and_tenant_option(tmp_path, catalog):
    path = tmp_path / "alerts.jsonl"
    rows = [{"ts": 1772360158000, "rule": {"name": "Odd login"}, "src": {"ip": "10.1.1.1"},
             "id": "x1", "verdict": "attack"},
            {"ts": 1772360159000, "rule": {"name": "Odd login"}, "src": {"ip": "10.1.1.2"},
             "id": "x2", "verdict": "benign"}]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    mapping = ["timestamp=ts", "alert_type=rule.name", "ip=src.ip", "alert_id=id",
               "label=verdict"]
    frame, _ = ingest_frame([path], tenant="t9", mapping=mapping, catalog=catalog)
    assert frame["alert_id"].tolist() == ["x1", "x2"]
    assert frame["tenant_id"].tolist() == ["t9", "t9"]
    assert frame["label"].tolist() == [1, 0]
    assert entities(frame, 1) == [("ip", "10.1.1.2")]


def test_canonical_parquet_reads_back_without_a_mapping(tmp_path, formats_dir, catalog):
    from fusion_ml.ingest import ingest_files

    out = tmp_path / "sentinel.parquet"
    ingest_files([formats_dir / "sentinel_securityalert.json"], out, catalog=catalog)
    frame, result = ingest_frame([out], catalog=catalog)
    assert result.sources[0].format == "parquet"
    original, _ = ingest_frame([formats_dir / "sentinel_securityalert.json"], catalog=catalog)
    pd.testing.assert_frame_equal(frame, original)
    assert "label" not in frame.columns  # no ground-truth columns in the file, none added


def test_parquet_with_mapping(tmp_path, catalog):
    table = pa.table({"when": [1772360158, 1772360160], "what": ["A", "B"], "who": ["x", "y"],
                      "machine": ["H1", "h1"]})
    pq.write_table(table, tmp_path / "raw.parquet")
    frame, _ = ingest_frame([tmp_path / "raw.parquet"], mapping=[
        "timestamp=when", "alert_type=what", "tenant_id=who", "host=machine"], catalog=catalog)
    assert entities(frame, 0) == entities(frame, 1) == [("host", "h1")]


def test_mapping_errors():
    from fusion_ml.ingest.readers.generic import parse_mapping

    with pytest.raises(ConfigError, match="expected KEY=COLUMN, got 'timestamp'"):
        parse_mapping(["timestamp"])
    with pytest.raises(ConfigError, match="--map key 'planet'"):
        parse_mapping(["planet=x"])
    with pytest.raises(ConfigError, match="given twice"):
        parse_mapping(["timestamp=a", "timestamp=b"])
    assert parse_mapping(["ip=a", "ip=b"]) == {"ip": ["a", "b"]}


def test_gzip_is_transparent(tmp_path, formats_dir, catalog):
    plain, _ = ingest_frame([formats_dir / "wazuh_alerts.json"], catalog=catalog)
    path = tmp_path / "alerts.json.gz"
    with open(formats_dir / "wazuh_alerts.json", "rb") as src, gzip.open(path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    packed, _ = ingest_frame([path], catalog=catalog)
    pd.testing.assert_frame_equal(plain, packed)


def test_sentinel_portal_csv_export(tmp_path, catalog):
    path = tmp_path / "export.csv"
    path.write_text(
        'TenantId,"TimeGenerated [UTC]",AlertName,AlertSeverity,SystemAlertId,Entities\n'
        't1,"3/1/2026, 10:15:16.123 AM",Brute force,Low,a1,"[{""Type"":""ip"",'
        '""Address"":""10.0.0.1""}]"\n'
        't1,"3/1/2026, 1:05:00 PM",Brute force,Low,a2,\n'
    )
    frame, result = ingest_frame([path], catalog=catalog)
    assert result.sources[0].format == "sentinel-csv"
    assert frame["timestamp"].tolist() == [pd.Timestamp("2026-03-01T10:15:16.123Z"),
                                           pd.Timestamp("2026-03-01T13:05:00Z")]
    assert entities(frame, 0) == [("ip", "10.0.0.1")]


def test_informational_alerts_are_low_fidelity_signals(formats_dir, catalog):
    frame, _ = ingest_frame([formats_dir / "wazuh_alerts.json"], catalog=catalog)
    assert (frame["fidelity"] == "signal").tolist() == (frame["severity"] == "informational").tolist()
    assert set(frame["fidelity"]) == {"signal", "alert"}
