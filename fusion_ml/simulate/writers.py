"""Writing simulated alerts: canonical Parquet, Sentinel SecurityAlert JSON, OCSF JSON lines.

The Sentinel and OCSF writers produce records the foundation readers take back: reading them
gives the canonical columns of the Parquet output (list order within an alert aside). Ground
truth travels in ``ExtendedProperties`` (Sentinel) and ``unmapped`` (OCSF), which the readers
ignore, so scoring code cannot see it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from fusion_ml.attack import KILL_CHAIN
from fusion_ml.errors import ConfigError
from fusion_ml.schema import OCSF_SEVERITY_ID
from fusion_ml.simulate.generator import SIM_SCHEMA, SimulationConfig, SimulationStats, Simulator

FORMATS = ("parquet", "sentinel", "ocsf")

_SENTINEL_ENTITY = {
    "host": ("host", "HostName"),
    "account": ("account", "Name"),
    "ip": ("ip", "Address"),
    "resource": ("azure-resource", "ResourceId"),
    "process": ("process", "CommandLine"),
    "file": ("file", "Name"),
    "url": ("url", "Url"),
    "domain": ("dns", "DomainName"),
}
_TRUTH = ("campaign_id", "playbook", "step", "label", "scenario")


def _pascal(tactic: str) -> str:
    return "".join(part.capitalize() for part in tactic.split("-"))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sentinel_record(row: dict[str, Any]) -> dict[str, Any]:
    """A Sentinel ``SecurityAlert`` record for one simulated alert."""
    entities = []
    for i, entity in enumerate(row["entities"], start=2):
        kind, key = _SENTINEL_ENTITY[entity["type"]]
        entities.append({"$id": str(i), "Type": kind, key: entity["value"]})
    techniques = row["techniques"]
    stamp = _iso(row["timestamp"])
    return {
        "TenantId": row["tenant_id"],
        "TimeGenerated": stamp,
        "StartTime": stamp,
        "EndTime": stamp,
        "AlertName": row["alert_type"],
        "DisplayName": row["alert_type"],
        "AlertSeverity": row["severity"].capitalize(),
        "ProviderName": row["provider"],
        "VendorName": "fusion-ml simulator",
        "SystemAlertId": row["alert_id"],
        "Tactics": ", ".join(_pascal(t) for t in row["tactics"]),
        "Techniques": orjson.dumps([t for t in techniques if "." not in t]).decode(),
        "SubTechniques": orjson.dumps([t for t in techniques if "." in t]).decode(),
        "Entities": orjson.dumps(entities).decode(),
        "Status": "New",
        "ExtendedProperties": orjson.dumps({k: row[k] for k in _TRUTH}).decode(),
        "Type": "SecurityAlert",
    }


def ocsf_record(row: dict[str, Any], tactic_names: dict[str, str]) -> dict[str, Any]:
    """An OCSF Detection Finding (class 2004) for one simulated alert."""
    evidences: list[dict[str, Any]] = []
    resources = []
    for entity in row["entities"]:
        kind, value = entity["type"], entity["value"]
        if kind == "resource":
            resources.append({"uid": value})
        elif kind == "host":
            evidences.append({"device": {"hostname": value}})
        elif kind == "ip":
            evidences.append({"src_endpoint": {"ip": value}})
        elif kind == "account":
            evidences.append({"user": {"name": value}})
        elif kind == "process":
            evidences.append({"process": {"cmd_line": value}})
        elif kind == "file":
            evidences.append({"file": {"name": value}})
        elif kind == "url":
            evidences.append({"url": {"url_string": value}})
        elif kind == "domain":
            evidences.append({"query": {"hostname": value}})
    attacks = [{"technique": {"uid": t}} for t in row["techniques"]]
    attacks += [{"tactic": {"name": tactic_names.get(t, t), "uid": t}} for t in row["tactics"]]
    millis = int(row["timestamp"].timestamp() * 1000)
    return {
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "category_uid": 2,
        "activity_id": 1,
        "type_uid": 200401,
        "time": millis,
        "severity_id": OCSF_SEVERITY_ID[row["severity"]],
        "severity": row["severity"].capitalize(),
        "finding_info": {"uid": row["alert_id"], "title": row["alert_type"], "attacks": attacks},
        "metadata": {"version": "1.1.0", "tenant_uid": row["tenant_id"],
                     "product": {"name": row["provider"], "vendor_name": "fusion-ml simulator"}},
        "resources": resources,
        "evidences": evidences,
        "unmapped": {k: row[k] for k in _TRUTH},
    }


def simulate(config: SimulationConfig, out: str | Path, fmt: str = "parquet",
             progress: bool = False) -> SimulationStats:
    """Simulate and write to ``out`` in ``fmt`` (parquet, sentinel or ocsf); returns counts."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format: expected one of {FORMATS}, got {fmt!r}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    simulator = Simulator(config)
    chunks = simulator.chunks()
    bar = tqdm(total=config.tenants, unit="tenant", desc="simulate", disable=not progress,
               mininterval=0.5)
    tactic_names = {t: t.replace("-", " ").title() for t in KILL_CHAIN}
    done = 0

    def advance() -> None:
        nonlocal done
        bar.update(simulator.stats.tenants - done)
        done = simulator.stats.tenants

    tmp = out.with_name(f".{out.name}.tmp")
    try:
        if fmt == "parquet":
            with pq.ParquetWriter(tmp, SIM_SCHEMA, compression="zstd") as writer:
                for table in chunks:
                    writer.write_table(table)
                    advance()
        else:
            with open(tmp, "wb") as handle:
                if fmt == "sentinel":
                    handle.write(b"[")
                first = True
                for table in chunks:
                    for row in table.to_pylist():
                        if fmt == "sentinel":
                            handle.write((b"\n" if first else b",\n") +
                                         orjson.dumps(sentinel_record(row)))
                        else:
                            handle.write(orjson.dumps(ocsf_record(row, tactic_names)) + b"\n")
                        first = False
                    advance()
                if fmt == "sentinel":
                    handle.write(b"\n]\n")
        tmp.replace(out)
    finally:
        bar.close()
        tmp.unlink(missing_ok=True)
    return simulator.stats
