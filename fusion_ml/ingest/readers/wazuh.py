"""Wazuh ``alerts.json`` (one alert object per line).

Fields (https://documentation.wazuh.com/current/user-manual/manager/alert-management.html):
``id`` (unique per manager), ``timestamp``, ``rule.id``, ``rule.description`` (the alert type),
``rule.level`` (0-15), ``rule.mitre.id`` / ``rule.mitre.tactic``, ``agent.name`` / ``agent.ip``,
``data.srcip`` / ``data.dstip`` / ``data.srcuser`` / ``data.dstuser``, ``syscheck.path``.

Severity from ``rule.level``: 0-3 informational, 4-7 low, 8-11 medium, 12-14 high, 15 critical.
Wazuh has no tenant field: ``--tenant`` names it, else the manager's name is used.
"""

from __future__ import annotations

from typing import Any, ClassVar

from fusion_ml.errors import RecordError
from fusion_ml.ingest.builder import AlertRow
from fusion_ml.ingest.readers.base import Reader
from fusion_ml.ingest.values import (
    EntityList,
    fidelity_for,
    get_path,
    parse_timestamp,
    required_text,
    tactic_list,
    technique_list,
)

ENTITY_FIELDS: tuple[tuple[str, str], ...] = (
    ("host", "agent.name"),
    ("ip", "agent.ip"),
    ("ip", "data.srcip"),
    ("ip", "data.dstip"),
    ("account", "data.srcuser"),
    ("account", "data.dstuser"),
    ("account", "data.win.eventdata.targetUserName"),
    ("account", "data.win.eventdata.subjectUserName"),
    ("ip", "data.win.eventdata.ipAddress"),
    ("process", "data.win.eventdata.image"),
    ("file", "syscheck.path"),
    ("url", "data.url"),
)


def level_to_severity(level: Any) -> str:
    """Wazuh ``rule.level`` (0-15) -> canonical severity."""
    if isinstance(level, bool) or not isinstance(level, int | str):
        raise RecordError(f"expected an integer 0-15, got {level!r}", "rule.level")
    try:
        value = int(level)
    except ValueError:
        raise RecordError(f"expected an integer 0-15, got {level!r}", "rule.level") from None
    if not 0 <= value <= 15:
        raise RecordError(f"expected an integer 0-15, got {level!r}", "rule.level")
    if value <= 3:
        return "informational"
    if value <= 7:
        return "low"
    if value <= 11:
        return "medium"
    return "high" if value <= 14 else "critical"


class WazuhReader(Reader):
    """Wazuh manager alerts (``alerts.json``)."""

    name: ClassVar[str] = "wazuh"
    description: ClassVar[str] = "Wazuh alerts.json (JSON lines)"

    @classmethod
    def sniff(cls, first: dict[str, Any]) -> bool:
        rule = first.get("rule")
        return isinstance(rule, dict) and "level" in rule and "agent" in first

    def to_alert(self, record: dict[str, Any], raw: bytes | None) -> AlertRow | str:
        rule = record.get("rule")
        if not isinstance(rule, dict):
            raise RecordError("expected an object", "rule")
        tenant_field = "manager.name"
        tenant = self.tenant_or(get_path(record, tenant_field))
        tenant_id = required_text(tenant, "--tenant or manager.name", "tenant_id")
        alert_id = required_text(record.get("id"), "id", "alert_id")
        timestamp = parse_timestamp(record.get("timestamp"), "timestamp")
        alert_type = required_text(rule.get("description"), "rule.description", "alert_type")
        severity = level_to_severity(rule.get("level"))
        mitre = rule.get("mitre") or {}
        if not isinstance(mitre, dict):
            raise RecordError("expected an object", "rule.mitre")
        techniques = technique_list(mitre.get("id"), "rule.mitre.id")
        tactics = tactic_list(mitre.get("tactic"), "rule.mitre.tactic")
        entities = EntityList()
        for entity_type, path in ENTITY_FIELDS:
            entities.add(entity_type, get_path(record, path), path)
        return AlertRow(tenant_id, alert_id, timestamp, alert_type, "wazuh", severity, fidelity_for(severity),
                        techniques, tactics, entities.items)
