import pandas as pd
import pyarrow as pa
import pytest
from pandas.testing import assert_frame_equal

from fusion_ml.errors import RecordError, SchemaError
from fusion_ml.schema import (
    ALERT_SCHEMA,
    CANONICAL_COLUMNS,
    canonical_ip,
    check_alerts,
    empty_alerts,
    from_arrow,
    normalize_entity,
    normalize_severity,
    pandas_dtypes,
    read_alerts,
    to_arrow,
    validate_alerts,
    write_alerts,
)


def make_frame(n: int = 3) -> pd.DataFrame:
    rows = {
        "tenant_id": [f"t{i % 2}" for i in range(n)],
        "alert_id": [f"a{i}" for i in range(n)],
        "timestamp": pd.to_datetime([1_700_000_000 + i for i in range(n)], unit="s", utc=True),
        "alert_type": ["Scan"] * n,
        "provider": ["suricata"] * n,
        "severity": ["low"] * n,
        "fidelity": ["alert"] * n,
        "techniques": [["T1046"]] * n,
        "tactics": [["discovery"]] * n,
        "entities": [[{"type": "ip", "value": "10.0.0.1"}]] * n,
    }
    table = pa.Table.from_pydict(rows, schema=ALERT_SCHEMA)
    return from_arrow(table)


def test_columns_follow_the_design():
    assert CANONICAL_COLUMNS == (
        "tenant_id", "alert_id", "timestamp", "alert_type", "provider", "severity", "fidelity",
        "techniques", "tactics", "entities",
    )
    assert str(ALERT_SCHEMA.field("timestamp").type) == "timestamp[us, tz=UTC]"
    assert set(pandas_dtypes()) == set(CANONICAL_COLUMNS)
    assert list(empty_alerts().columns) == list(CANONICAL_COLUMNS)


def test_valid_frame_has_no_problems_and_round_trips(tmp_path):
    frame = make_frame()
    assert validate_alerts(frame) == []
    path = write_alerts(frame, tmp_path / "a.parquet")
    back = read_alerts(path)
    assert_frame_equal(back, frame)
    assert to_arrow(frame).schema.equals(ALERT_SCHEMA)


def test_validation_names_column_and_rows():
    frame = make_frame(5)
    frame.loc[3, "severity"] = "urgent"
    frame.loc[1, "alert_type"] = ""
    frame.loc[4, "alert_id"] = "a0"
    frame.loc[4, "tenant_id"] = "t0"
    problems = validate_alerts(frame)
    assert any(
        p.startswith("column 'severity', rows 3: expected one of") and p.endswith("'urgent'")
        for p in problems
    )
    assert any(p.startswith("column 'alert_type', rows 1: required") for p in problems)
    assert any("rows 4" in p and "duplicates" in p for p in problems)


def test_missing_column_and_bad_entity_type():
    frame = make_frame().drop(columns=["timestamp"])
    with pytest.raises(SchemaError, match="missing column 'timestamp'"):
        check_alerts(frame)
    frame = make_frame()
    frame["entities"] = pd.Series(
        [[{"type": "ip", "value": "1.2.3.4"}], [], [{"type": "planet", "value": "mars"}]],
        dtype=pandas_dtypes()["entities"],
    )
    assert validate_alerts(frame) == [
        "column 'entities', rows 2: expected entity types in ('host', 'account', 'ip', "
        "'resource', 'process', 'file', 'url', 'domain', 'hash', 'mailbox', 'registry'), "
        "got 'planet'"
    ]


def test_timestamp_must_be_utc():
    frame = make_frame()
    frame["timestamp"] = frame["timestamp"].dt.tz_localize(None)
    assert any("expected datetime64 with tz UTC" in p for p in validate_alerts(frame))


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("host", " WS-01.Corp.Example. ", ("host", "ws-01.corp.example")),
        ("account", "CORP\\Alice", ("account", "corp\\alice")),
        ("ip", " 10.1.2.3 ", ("ip", "10.1.2.3")),
        ("ip", "::ffff:192.0.2.1", ("ip", "192.0.2.1")),
        ("ip", "2001:DB8:0:0::1", ("ip", "2001:db8::1")),
        ("ip", "[2001:db8::2]", ("ip", "2001:db8::2")),
        ("domain", "Example.COM.", ("domain", "example.com")),
        ("process", "C:\\Windows\\System32\\CMD.exe", ("process", "C:\\Windows\\System32\\CMD.exe")),
        ("host", "  ", None),
        ("account", "-", None),
    ],
)
def test_normalize_entity(kind, value, expected):
    assert normalize_entity(kind, value) == expected


def test_normalize_entity_errors():
    with pytest.raises(RecordError, match="expected an IPv4 or IPv6 address, got 'not-an-ip'"):
        canonical_ip("not-an-ip")
    with pytest.raises(RecordError, match="expected an entity type"):
        normalize_entity("planet", "mars")


def test_normalize_severity():
    assert normalize_severity("High") == "high"
    assert normalize_severity("Informational") == "informational"
    assert normalize_severity("moderate") == "medium"
    assert normalize_severity(None) is None
    with pytest.raises(RecordError, match="expected a severity"):
        normalize_severity("urgent")
