"""Incidents as OCSF 1.x Incident Finding events (class_uid 2005, category_uid 2).

Mapped fields: ``activity_id`` (1 Create, 3 Close for closed incidents), ``type_uid``
(``class_uid * 100 + activity_id``), ``severity_id`` (1 informational .. 5 critical),
``status_id`` (1 New, 5 Closed), ``time`` / ``start_time`` / ``end_time`` (ms since the epoch),
``finding_info_list`` (one FindingInfo per chain alert: ``uid``, ``title``, ``first_seen_time``,
``attacks``, ``analytic``), ``desc``, ``confidence_score`` (score x 100), ``priority_id`` and
``impact_id`` (from severity), ``is_suspected_breach``, ``observables`` (the entities),
``metadata`` (product, version, ``profiles: ["incident"]``, ``uid`` = incident id) and the
rest of the incident under ``unmapped``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from fusion_ml.incidents import FINAL_STAGES, Incident
from fusion_ml.schema import OCSF_SEVERITY_ID

CLASS_UID = 2005
CATEGORY_UID = 2
OCSF_VERSION = "1.3.0"
_OBSERVABLE_TYPE = {"host": (1, "Hostname"), "ip": (2, "IP Address"), "url": (6, "URL String"),
                    "account": (4, "User Name"), "mailbox": (5, "Email Address"),
                    "file": (7, "File Name"), "hash": (8, "Hash"),
                    "process": (9, "Process Name"), "domain": (1, "Hostname"),
                    "resource": (10, "Resource UID"), "registry": (99, "Other")}


def _ms(text: str) -> int:
    return int(pd.Timestamp(text).value // 1_000_000)


def to_ocsf(incident: Incident, product_version: str | None = None) -> dict[str, Any]:
    """One OCSF Incident Finding (see the module docstring)."""
    closed = incident.status == "closed"
    activity_id = 3 if closed else 1
    severity_id = OCSF_SEVERITY_ID.get(incident.severity, 0)
    level = max(min(severity_id - 1, 4), 1)
    findings = []
    for alert in incident.alerts:
        findings.append({
            "uid": alert["alert_id"], "title": alert["alert_type"],
            "first_seen_time": _ms(alert["timestamp"]),
            "last_seen_time": _ms(alert["timestamp"]),
            "product_uid": alert["provider"],
            "analytic": {"name": alert["alert_type"], "type_id": 99, "type": "Other"},
            "attacks": [{"tactic": {"name": t}} for t in alert["tactics"]]
            + [{"technique": {"uid": t}} for t in alert["techniques"]],
        })
    observables = []
    for entity in incident.entities + incident.artifacts:
        type_id, type_name = _OBSERVABLE_TYPE.get(entity["type"], (99, "Other"))
        observables.append({"name": entity["type"], "type_id": type_id, "type": type_name,
                            "value": entity["value"]})
    return {
        "class_uid": CLASS_UID, "class_name": "Incident Finding",
        "category_uid": CATEGORY_UID, "category_name": "Findings",
        "activity_id": activity_id, "activity_name": "Close" if closed else "Create",
        "type_uid": CLASS_UID * 100 + activity_id,
        "severity_id": severity_id, "severity": incident.severity.capitalize(),
        "status_id": 5 if closed else 1, "status": "Closed" if closed else "New",
        "time": _ms(incident.last_seen), "start_time": _ms(incident.first_seen),
        "end_time": _ms(incident.last_seen),
        "desc": incident.title,
        "confidence_score": int(round(incident.score * 100)),
        "priority_id": level, "impact_id": level,
        "is_suspected_breach": bool(FINAL_STAGES & set(incident.tactics)),
        "finding_info_list": findings,
        "observables": observables,
        "metadata": {"version": OCSF_VERSION, "uid": incident.incident_id,
                     "profiles": ["incident"], "tenant_uid": incident.tenant_id,
                     "product": {"name": "fusion-ml", "vendor_name": "fusion-ml",
                                 "version": product_version or "0"},
                     "labels": incident.tags},
        "unmapped": {"timeline": incident.timeline, "links": incident.links,
                     "patterns": incident.patterns, "response": incident.response,
                     "related_alerts": incident.related_alerts,
                     "related_signals": incident.related_signals,
                     "group_id": incident.group_id},
    }
