"""Suricata EVE JSON alerts, as written by Suricata or as exported from Splunk.

EVE (https://docs.suricata.io/en/latest/output/eve/eve-json-format.html): one JSON object per
line; only ``event_type == "alert"`` records are alerts, every other event type is skipped by
design and counted. EVE has no alert id, so the id is a hash of the record's bytes: the same
record always gets the same id (re-ingesting is harmless) whether it comes from the EVE file or
from a Splunk export of it.

Severity: EVE ``alert.severity`` 1 -> high, 2 -> medium, 3 -> low, 4 and above -> informational.
Techniques and tactics come from the rule's ``alert.metadata.mitre_*`` keys (Emerging Threats
rules carry them); without them the tactic is taken from the rule's category through the table
in ``fusion_ml/data/suricata_category_tactics.json`` (a documented heuristic).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from hashlib import sha256
from pathlib import Path
from typing import Any, ClassVar

import orjson

from fusion_ml.errors import RecordError
from fusion_ml.ingest.builder import AlertRow
from fusion_ml.ingest.readers.base import Reader, content_id
from fusion_ml.ingest.values import (
    FIELD_LIMITS,
    EntityList,
    cached_entity,
    fidelity_for,
    iso_time_us,
    parse_timestamp,
    required_text,
    tactic_list,
    technique_list,
)
from fusion_ml.schema import canonical_ip

SEVERITY_BY_SURICATA = {1: "high", 2: "medium", 3: "low"}
CATEGORY_TACTICS_PATH = Path(__file__).resolve().parents[2] / "data" / "suricata_category_tactics.json"


@functools.lru_cache(maxsize=1)
def category_tactics() -> dict[str, list[str]]:
    """Suricata classtype description (case-folded) -> default tactics."""
    table = json.loads(CATEGORY_TACTICS_PATH.read_text(encoding="utf-8"))
    return {k.casefold(): v for k, v in table.items() if not k.startswith("_")}


def _severity(value: Any) -> str | None:
    if value is None or value == "":
        return None
    try:
        level = int(value)
    except (TypeError, ValueError):
        raise RecordError(f"expected an integer 1-4, got {value!r}", "alert.severity") from None
    if level < 1:
        raise RecordError(f"expected an integer 1-4, got {value!r}", "alert.severity")
    return SEVERITY_BY_SURICATA.get(level, "informational")


def _rule(alert: dict[str, Any]) -> tuple[str, str | None, list[str], list[str]]:
    """Alert type, severity, techniques and tactics of an EVE ``alert`` object."""
    alert_type = required_text(alert.get("signature"), "alert.signature", "alert_type")
    severity = _severity(alert.get("severity"))
    metadata = alert.get("metadata")
    techniques: list[str] = []
    tactics: list[str] = []
    if metadata:
        if not isinstance(metadata, dict):
            raise RecordError("expected an object", "alert.metadata")
        techniques = technique_list(metadata.get("mitre_technique_id"),
                                    "alert.metadata.mitre_technique_id")
        tactics = tactic_list(metadata.get("mitre_tactic_id") or
                              metadata.get("mitre_tactic_name"), "alert.metadata.mitre_tactic_id")
    if not techniques and not tactics:
        category = alert.get("category")
        if isinstance(category, str):
            tactics = category_tactics().get(category.casefold(), [])
    return alert_type, severity, techniques, tactics


_RULE_MEMO: dict[tuple[Any, Any, Any], tuple[str, str | None, list[str], list[str]]] = {}


def _rule_memoized(alert: dict[str, Any]) -> tuple[str, str | None, list[str], list[str]]:
    """:func:`_rule`, memoized for rules without metadata (most of a real EVE stream)."""
    if "metadata" in alert:
        return _rule(alert)
    key = (alert.get("signature"), alert.get("severity"), alert.get("category"))
    try:
        return _RULE_MEMO[key]
    except KeyError:
        pass
    except TypeError:  # unhashable values: let _rule explain what is wrong
        return _rule(alert)
    found = _rule(alert)
    if len(_RULE_MEMO) < 100_000:
        _RULE_MEMO[key] = found
    return found


_new_row = tuple.__new__  # AlertRow without its keyword-handling constructor (hot path)


def eve_to_alert(eve: dict[str, Any], tenant: Any, alert_id: str, tenant_field: str) -> AlertRow:
    """Map one EVE alert object (already known to be ``event_type == "alert"``)."""
    alert = eve.get("alert")
    if not isinstance(alert, dict):
        raise RecordError("expected an object", "alert")
    tenant_id = required_text(tenant, tenant_field, "tenant_id")
    timestamp = parse_timestamp(eve.get("timestamp"), "timestamp")
    alert_type, severity, techniques, tactics = _rule_memoized(alert)
    entities = EntityList()
    items = entities.items
    for name in ("src_ip", "dest_ip"):
        value = eve.get(name)
        if type(value) is str and value:  # the common case, without EntityList's checks
            try:
                ip = ("ip", canonical_ip(value))
            except RecordError as exc:
                raise RecordError(exc.reason, name) from None
            if ip not in items:
                items.append(ip)
        else:
            entities.add("ip", value, name)
    http = eve.get("http")
    if isinstance(http, dict):
        hostname = http.get("hostname")
        entities.add("domain", hostname, "http.hostname")
        url = http.get("url")
        if isinstance(url, str) and url:
            entities.add("url", f"{hostname}{url}" if hostname and url.startswith("/") else url,
                         "http.url")
    tls = eve.get("tls")
    if isinstance(tls, dict):
        entities.add("domain", tls.get("sni"), "tls.sni")
    dns = eve.get("dns")
    if isinstance(dns, dict):
        query = dns.get("query")
        if isinstance(query, list) and query and isinstance(query[0], dict):
            entities.add("domain", query[0].get("rrname"), "dns.query.rrname")
        else:
            entities.add("domain", dns.get("rrname"), "dns.rrname")
    fileinfo = eve.get("fileinfo")
    if isinstance(fileinfo, dict):
        entities.add("file", fileinfo.get("filename"), "fileinfo.filename")
    return _new_row(AlertRow, (tenant_id, alert_id, timestamp, alert_type, "suricata", severity,
                               fidelity_for(severity), techniques, tactics, items, None))


_MEMO_LIMIT = 100_000
_IP_ENTITY: dict[str, tuple[str, str]] = {}
_DOMAIN_ENTITY: dict[str, tuple[str, str] | None] = {}
_ENTITY_CHARS = FIELD_LIMITS["entity"]
_UNSEEN = object()
_FIDELITY = {severity: fidelity_for(severity)
             for severity in (None, "informational", *SEVERITY_BY_SURICATA.values())}
"""fidelity_for of every severity :func:`_severity` returns."""


def _ip_entity(value: str) -> tuple[str, str]:
    """``("ip", canonical_ip(value))``, remembered in ``_IP_ENTITY`` (raises
    :class:`RecordError` as :func:`canonical_ip` does)."""
    entity = ("ip", canonical_ip(value))
    if len(_IP_ENTITY) < _MEMO_LIMIT:
        _IP_ENTITY[value] = entity
    return entity


def _domain_entity(value: str) -> tuple[str, str] | None:
    """``cached_entity("domain", value)``, remembered in ``_DOMAIN_ENTITY``, which a caller
    reads without building the two-part key of the LRU cache."""
    entity = cached_entity("domain", value)
    if len(_DOMAIN_ENTITY) < _MEMO_LIMIT:
        _DOMAIN_ENTITY[value] = entity
    return entity


def _map_common_eve(tenant_id: str | None, eve: dict[str, Any], raw: bytes) -> AlertRow | None:
    """What :meth:`SuricataEveReader.to_alert` returns for an EVE alert of the common shape,
    with less work per record; ``None`` for any other record.

    The common shape: ``event_type`` ``"alert"``, an ``alert`` object, a text timestamp that
    ``datetime.fromisoformat`` reads, text (or absent) IPs and HTTP host name, no ``tls``,
    ``dns`` or ``fileinfo``. Values go through the same helpers as in :func:`eve_to_alert`
    (some memoized); anything unusual, and any value a helper rejects, gives ``None``, and the
    caller hands the record to ``to_alert``, which maps it or says exactly what is wrong.
    ``tenant_id`` is the checked ``--tenant`` (``None``: the record's own ``tenant_id``).
    Entities of different types never compare equal, so only the two IPs need de-duplicating.
    """
    if eve.get("event_type") != "alert":
        return None
    alert = eve.get("alert")
    stamp = eve.get("timestamp")
    if type(alert) is not dict or type(stamp) is not str or (
            "tls" in eve or "dns" in eve or "fileinfo" in eve):
        return None
    timestamp = iso_time_us(stamp)
    if timestamp is None:
        return None  # parse_timestamp's other forms, or out of range
    try:
        if tenant_id is None:
            tenant = eve.get("tenant_id")
            if tenant is None:
                return None
            tenant_id = required_text(tenant, "tenant_id", "tenant_id")
        try:
            rule = None if "metadata" in alert else _RULE_MEMO.get(
                (alert.get("signature"), alert.get("severity"), alert.get("category")))
        except TypeError:  # unhashable values: _rule_memoized says what is wrong
            rule = None
        alert_type, severity, techniques, tactics = rule or _rule_memoized(alert)
        value = eve.get("src_ip")
        if type(value) is str:
            items = [_IP_ENTITY.get(value) or _ip_entity(value)] if value else []
        elif value is None:
            items = []
        else:
            return None
        value = eve.get("dest_ip")
        if type(value) is str:
            if value:
                ip = _IP_ENTITY.get(value) or _ip_entity(value)
                if ip not in items:
                    items.append(ip)
        elif value is not None:
            return None
        http = eve.get("http")
        if type(http) is dict:
            hostname = http.get("hostname")
            if type(hostname) is str:
                if hostname:
                    entity = _DOMAIN_ENTITY.get(hostname, _UNSEEN)
                    if entity is _UNSEEN:
                        entity = _domain_entity(hostname)
                    if entity is not None:
                        items.append(entity)
            elif hostname is not None:
                return None
            url = http.get("url")
            if type(url) is str and url:
                if hostname and url.startswith("/"):
                    url = f"{hostname}{url}"
                if len(url) > _ENTITY_CHARS:
                    return None
                url = url.strip()  # normalize_entity("url", url), inlined
                if url and url != "-":
                    items.append(("url", url))
    except RecordError:
        return None
    return _new_row(AlertRow, (tenant_id, "eve-" + sha256(raw).hexdigest()[:24], timestamp,
                               alert_type, "suricata", severity,
                               _FIDELITY.get(severity) or fidelity_for(severity),
                               techniques, tactics, items, None))


class SuricataEveReader(Reader):
    """Suricata EVE JSON lines; the tenant comes from ``--tenant`` (EVE has none)."""

    name: ClassVar[str] = "suricata"
    description: ClassVar[str] = "Suricata EVE JSON (lines); non-alert events are skipped"

    @classmethod
    def sniff(cls, first: dict[str, Any]) -> bool:
        return "event_type" in first and ("flow_id" in first or "src_ip" in first)

    def to_alert(self, record: dict[str, Any], raw: bytes | None) -> AlertRow | str:
        event_type = record.get("event_type")
        if event_type != "alert":
            return f"event_type {event_type!r} is not an alert"
        tenant = self.tenant_or(record.get("tenant_id"))
        if tenant is None:
            raise RecordError("EVE has no tenant: give --tenant", "tenant_id")
        alert_id = "eve-" + sha256(raw).hexdigest()[:24] if raw else content_id("eve", b"")
        return eve_to_alert(record, tenant, alert_id, "tenant_id")

    def fast_mapper(self) -> Callable[[dict[str, Any], bytes], AlertRow | None] | None:
        """:func:`_map_common_eve` with the ``--tenant`` checked once (``None`` if it is bad:
        then every alert goes to :meth:`to_alert`, which says so)."""
        if self.tenant is None:
            return functools.partial(_map_common_eve, None)
        try:
            tenant_id = required_text(self.tenant, "tenant_id", "tenant_id")
        except RecordError:
            return None  # to_alert says so for every alert
        return functools.partial(_map_common_eve, tenant_id)


class SplunkSuricataReader(Reader):
    """Suricata alerts exported from Splunk: a JSON list (or lines) of ``{"result": {...}}``
    records whose ``result._raw`` holds the EVE record and ``result.team`` (or ``--tenant``)
    the tenant."""

    name: ClassVar[str] = "splunk-suricata"
    description: ClassVar[str] = "Splunk export of Suricata alerts (result._raw holds EVE)"

    @classmethod
    def sniff(cls, first: dict[str, Any]) -> bool:
        result = first.get("result")
        return isinstance(result, dict) and "_raw" in result

    def to_alert(self, record: dict[str, Any], raw: bytes | None) -> AlertRow | str:
        result = record.get("result")
        if not isinstance(result, dict):
            raise RecordError("expected an object", "result")
        eve_text = result.get("_raw")
        if not isinstance(eve_text, str):
            raise RecordError("expected the EVE record as a JSON string", "result._raw")
        try:
            eve = orjson.loads(eve_text)
        except orjson.JSONDecodeError as exc:
            raise RecordError(f"expected EVE JSON, got invalid JSON ({exc})", "result._raw") from None
        if not isinstance(eve, dict):
            raise RecordError("expected an EVE object", "result._raw")
        event_type = eve.get("event_type")
        if event_type != "alert":
            return f"event_type {event_type!r} is not an alert"
        tenant = self.tenant_or(result.get("team"))
        alert_id = content_id("eve", eve_text.encode("utf-8", "surrogatepass"))
        return eve_to_alert(eve, tenant, alert_id, "result.team")
