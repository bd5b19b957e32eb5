"""OCSF Detection Finding (``class_uid`` 2004; the older Security Finding 2001 is read too).

Fields (https://schema.ocsf.io/classes/detection_finding): ``time`` (epoch ms),
``finding_info.uid`` (the alert id), ``finding_info.analytic.name`` / ``finding_info.types`` /
``finding_info.title`` (the alert type, in that order of preference: titles often name the
instance), ``severity_id`` (1 informational .. 5 critical, 6 fatal -> critical),
``finding_info.attacks[]`` (or top-level ``attacks[]``) with ``technique.uid``,
``sub_technique.uid`` and ``tactic`` / ``tactics[]``, ``metadata.product.name`` (provider),
``metadata.tenant_uid`` or ``cloud.account.uid`` (tenant), and entities from ``device``,
``actor.user``, ``src_endpoint``, ``dst_endpoint``, ``resources[]`` and ``evidences[]``.
Records of other classes are skipped by design.
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
    normalize_tactic,
    normalize_technique,
    optional_text,
    parse_timestamp,
    required_text,
)
from fusion_ml.schema import normalize_severity

FINDING_CLASSES = (2004, 2001)
SEVERITY_BY_ID = {1: "informational", 2: "low", 3: "medium", 4: "high", 5: "critical",
                  6: "critical"}

_ENDPOINT_FIELDS = ("src_endpoint", "dst_endpoint", "device")


def _endpoint(entities: EntityList, node: Any, prefix: str) -> None:
    if not isinstance(node, dict):
        return
    entities.add("host", node.get("hostname"), f"{prefix}.hostname")
    entities.add("ip", node.get("ip"), f"{prefix}.ip")
    entities.add("domain", node.get("domain"), f"{prefix}.domain")


def _evidence(entities: EntityList, node: Any, prefix: str) -> None:
    if not isinstance(node, dict):
        return
    for name in _ENDPOINT_FIELDS:
        _endpoint(entities, node.get(name), f"{prefix}.{name}")
    user = get_path(node, "actor.user") or node.get("user")
    if isinstance(user, dict):
        entities.add("account", user.get("name"), f"{prefix}.user.name")
    process = node.get("process")
    if isinstance(process, dict):
        entities.add("process", process.get("cmd_line") or process.get("name"),
                     f"{prefix}.process")
    file = node.get("file")
    if isinstance(file, dict):
        entities.add("file", file.get("path") or file.get("name"), f"{prefix}.file")
        entities.add("hash", get_path(file, "hashes.0.value"), f"{prefix}.file.hashes")
    url = node.get("url")
    if isinstance(url, dict):
        entities.add("url", url.get("url_string"), f"{prefix}.url.url_string")
    query = node.get("query")
    if isinstance(query, dict):
        entities.add("domain", query.get("hostname"), f"{prefix}.query.hostname")


class OcsfReader(Reader):
    """OCSF Detection Finding JSON (array, single object or JSON lines)."""

    name: ClassVar[str] = "ocsf"
    description: ClassVar[str] = "OCSF Detection Finding (class_uid 2004) JSON / JSON lines"

    @classmethod
    def sniff(cls, first: dict[str, Any]) -> bool:
        return "class_uid" in first

    def to_alert(self, record: dict[str, Any], raw: bytes | None) -> AlertRow | str:
        class_uid = record.get("class_uid")
        if class_uid not in FINDING_CLASSES:
            if not isinstance(class_uid, int) or isinstance(class_uid, bool):
                raise RecordError(f"expected an integer class id, got {class_uid!r}", "class_uid")
            return f"class_uid {class_uid} is not a detection finding"
        info = record.get("finding_info")
        if not isinstance(info, dict):
            raise RecordError("expected an object", "finding_info")
        tenant = self.tenant_or(
            get_path(record, "metadata.tenant_uid") or get_path(record, "cloud.account.uid")
        )
        tenant_id = required_text(tenant, "metadata.tenant_uid", "tenant_id")
        alert_id = required_text(info.get("uid"), "finding_info.uid", "alert_id")
        timestamp = parse_timestamp(record.get("time"), "time")
        types = info.get("types")
        first_type = types[0] if isinstance(types, list) and types else None
        alert_type = required_text(
            get_path(info, "analytic.name") or first_type or info.get("title"),
            "finding_info.title",
            "alert_type",
        )
        provider = optional_text(get_path(record, "metadata.product.name"),
                                 "metadata.product.name", "provider")
        severity = self._severity(record)
        techniques: list[str] = []
        tactics: list[str] = []
        attacks = info.get("attacks", record.get("attacks")) or []
        if not isinstance(attacks, list):
            raise RecordError("expected a list", "finding_info.attacks")
        for i, attack in enumerate(attacks):
            if not isinstance(attack, dict):
                raise RecordError("expected an object", f"finding_info.attacks.{i}")
            for key in ("technique", "sub_technique"):
                uid = get_path(attack, f"{key}.uid")
                if isinstance(uid, str) and uid.strip():
                    techniques.append(normalize_technique(uid))
            tactic_nodes = attack.get("tactics") or [attack.get("tactic")]
            for node in tactic_nodes:
                if isinstance(node, dict):
                    name = node.get("name") or node.get("uid")
                    if isinstance(name, str) and name.strip():
                        tactics.append(normalize_tactic(name))
        entities = EntityList()
        for name in _ENDPOINT_FIELDS:
            _endpoint(entities, record.get(name), name)
        entities.add("account", get_path(record, "actor.user.name"), "actor.user.name")
        resources = record.get("resources") or []
        if isinstance(resources, list):
            for i, resource in enumerate(resources):
                if isinstance(resource, dict):
                    entities.add("resource", resource.get("uid") or resource.get("name"),
                                 f"resources.{i}.uid")
        evidences = record.get("evidences") or []
        if isinstance(evidences, list):
            for i, evidence in enumerate(evidences):
                _evidence(entities, evidence, f"evidences.{i}")
        return AlertRow(tenant_id, alert_id, timestamp, alert_type, provider, severity,
                        fidelity_for(severity),
                        list(dict.fromkeys(techniques)), list(dict.fromkeys(tactics)),
                        entities.items)

    @staticmethod
    def _severity(record: dict[str, Any]) -> str | None:
        severity_id = record.get("severity_id")
        if severity_id in SEVERITY_BY_ID:
            return SEVERITY_BY_ID[severity_id]
        if severity_id in (None, 0, 99):
            try:
                return normalize_severity(record.get("severity"))
            except RecordError as exc:
                raise RecordError(exc.reason, "severity") from None
        raise RecordError(f"expected an integer 0-6 or 99, got {severity_id!r}", "severity_id")
