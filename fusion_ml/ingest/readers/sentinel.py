"""Microsoft Sentinel ``SecurityAlert`` table exports (CSV, JSON array or JSON lines).

Columns (https://learn.microsoft.com/azure/azure-monitor/reference/tables/securityalert):
``TenantId``, ``SystemAlertId`` (the alert id), ``TimeGenerated``, ``AlertName`` (or
``DisplayName``), ``AlertSeverity``, ``ProviderName`` / ``ProductName``, ``Tactics``
(comma-separated names such as ``CredentialAccess``), ``Techniques`` and ``SubTechniques`` (JSON
arrays as text), ``Entities`` (a JSON array as text, each object with a ``Type`` and ``$id``;
``$ref`` objects point at entities already listed).
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson

from fusion_ml.errors import RecordError
from fusion_ml.ingest.builder import AlertRow
from fusion_ml.ingest.readers.base import Reader
from fusion_ml.ingest.values import (
    EntityList,
    fidelity_for,
    optional_text,
    parse_timestamp,
    required_text,
    tactic_list,
    technique_list,
)
from fusion_ml.schema import normalize_severity


def _account(node: dict[str, Any]) -> str | None:
    name = node.get("Name")
    if not isinstance(name, str) or not name:
        return node.get("AadUserId") or node.get("Sid")
    if node.get("UPNSuffix"):
        return f"{name}@{node['UPNSuffix']}"
    if node.get("NTDomain"):
        return f"{node['NTDomain']}\\{name}"
    return name


def _file(node: dict[str, Any]) -> str | None:
    name = node.get("Name")
    directory = node.get("Directory")
    if name and directory:
        separator = "\\" if "\\" in directory else "/"
        return f"{directory.rstrip(separator)}{separator}{name}"
    return name


# Sentinel entity Type -> (canonical type, how to get its value)
ENTITY_MAP: dict[str, tuple[str, Any]] = {
    "host": ("host", lambda n: n.get("HostName") or n.get("NetBiosName") or n.get("FQDN")),
    "account": ("account", _account),
    "ip": ("ip", lambda n: n.get("Address")),
    "process": ("process", lambda n: n.get("CommandLine") or n.get("ProcessId")),
    "file": ("file", _file),
    "filehash": ("hash", lambda n: n.get("Value")),
    "url": ("url", lambda n: n.get("Url")),
    "dns": ("domain", lambda n: n.get("DomainName")),
    "azure-resource": ("resource", lambda n: n.get("ResourceId")),
    "cloud-application": ("resource", lambda n: n.get("Name") or n.get("AppId")),
    "mailbox": ("mailbox", lambda n: n.get("MailboxPrimaryAddress")),
    "mailmessage": ("mailbox", lambda n: n.get("Recipient")),
    "registry-key": ("registry", lambda n: n.get("Key")),
}


def parse_entities(value: Any, entities: EntityList) -> None:
    """Add the entities of a Sentinel ``Entities`` value (JSON text or an already-parsed list)."""
    if value is None or value == "":
        return
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise RecordError(f"expected a JSON array, got invalid JSON ({exc})", "Entities") from None
    if not isinstance(value, list):
        raise RecordError(f"expected a JSON array, got {type(value).__name__}", "Entities")
    for i, node in enumerate(value):
        if not isinstance(node, dict):
            raise RecordError(f"expected entity objects, item {i} is {node!r}", "Entities")
        if "$ref" in node:
            continue
        kind = node.get("Type")
        mapped = ENTITY_MAP.get(kind.casefold() if isinstance(kind, str) else "")
        if mapped is None:
            continue
        entity_type, getter = mapped
        entities.add(entity_type, getter(node), f"Entities.{i}")


class SentinelReader(Reader):
    """Sentinel SecurityAlert export as JSON (array or lines)."""

    name: ClassVar[str] = "sentinel"
    description: ClassVar[str] = "Microsoft Sentinel SecurityAlert export (JSON)"

    @classmethod
    def sniff(cls, first: dict[str, Any]) -> bool:
        return "SystemAlertId" in first or ("AlertName" in first and "TenantId" in first)

    def to_alert(self, record: dict[str, Any], raw: bytes | None) -> AlertRow | str:
        tenant_id = required_text(self.tenant_or(record.get("TenantId")), "TenantId", "tenant_id")
        alert_id = required_text(record.get("SystemAlertId"), "SystemAlertId", "alert_id")
        timestamp = parse_timestamp(record.get("TimeGenerated"), "TimeGenerated")
        alert_type = required_text(record.get("AlertName") or record.get("DisplayName"),
                                   "AlertName", "alert_type")
        provider = optional_text(record.get("ProviderName") or record.get("ProductName"),
                                 "ProviderName", "provider")
        try:
            severity = normalize_severity(record.get("AlertSeverity"))
        except RecordError as exc:
            raise RecordError(exc.reason, "AlertSeverity") from None
        techniques = technique_list(record.get("Techniques"), "Techniques")
        techniques += technique_list(record.get("SubTechniques"), "SubTechniques")
        tactics = tactic_list(record.get("Tactics"), "Tactics")
        entities = EntityList()
        parse_entities(record.get("Entities"), entities)
        return AlertRow(tenant_id, alert_id, timestamp, alert_type, provider, severity,
                        fidelity_for(severity),
                        list(dict.fromkeys(techniques)), tactics, entities.items)


class SentinelCsvReader(SentinelReader):
    """Sentinel SecurityAlert export as CSV (header row with the column names).

    The Azure portal's "Export to CSV" writes time columns as ``TimeGenerated [UTC]`` with
    ``3/1/2026, 10:15:16.123 AM`` values; both forms are read.
    """

    name: ClassVar[str] = "sentinel-csv"
    container: ClassVar[str] = "csv"
    description: ClassVar[str] = "Microsoft Sentinel SecurityAlert export (CSV)"

    def to_alert(self, record: dict[str, Any], raw: bytes | None) -> AlertRow | str:
        if "TimeGenerated" not in record:
            record = {key.removesuffix(" [UTC]"): value for key, value in record.items()}
        return super().to_alert(record, raw)
