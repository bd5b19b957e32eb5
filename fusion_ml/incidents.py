"""The incident builder: scored candidate groups in, incidents an analyst can act on out.

    batch = detect(alerts, scorer, IncidentConfig())   # prepare -> group -> score -> build
    batch.incidents                                     # list[Incident], ordered
    store = IncidentStore("state/")                     # across batches
    batch = store.update(alerts, scorer, config)

**Which alerts form an incident.** :func:`detect` first merges campaign fragments: neighbouring
groups of a tenant that share an entity within ``fragment_window`` and that the model scores
higher together (:mod:`fusion_ml.fragments`). A group whose score is at or above ``threshold``
(default: the model's ``incident_threshold_``) becomes an incident. Its *chain* is the group's
alerts whose per-alert attack probability (``alert_score``) is at least ``alert_threshold``;
when fewer than two pass, the two best by ``alert_score`` (then contribution) are taken; at
most ``max_size`` alerts (the best) are kept. Candidate groups also hold benign alerts that
merely share an entity; keeping them out of the chain keeps incidents pure. A chain that
reached lateral movement or later and, after a quiet gap of at least ``restart_gap``, goes on
with an alert no later in the kill chain than initial access is a second intrusion on the same
entities: it is split there into two incidents (each of at least two alerts, both with the
group's score). Chains of one tenant that share an entity (a busy host too) and, on it,
overlap or follow each other within ``merge_window`` (10 minutes) make one incident. The other
alerts that share an entity with the chain within
``related_window`` (in the group or not) are listed as
``related_alerts`` / ``related_signals`` (low-fidelity).

**Stable id.** ``inc-`` + SHA-256 of the tenant and the earliest chain alert
``(timestamp, alert_id)``: the same alerts give the same id, and an incident keeps its id when
later alerts join it.

**Severity.** The highest severity of the chain alerts (after per-provider overrides), at least
``medium``; one level up when the score is >= 0.95, one more when the chain reaches four or more
kill-chain tactics or any of exfiltration / impact; capped at ``critical``.

**Across batches.** :class:`IncidentStore` keeps the alerts of the last ``retention`` seconds
(the grouping's ``max_span + window``) and the incidents on disk. A new batch is de-duplicated
against the kept alerts by ``(tenant_id, alert_id)``, the union is re-grouped, re-scored and
rebuilt, and the rebuilt incidents replace every stored incident that shares an alert with the
union. Rerunning a batch therefore changes nothing, and a stream split into time-ordered batches
ends in the same incidents (and ids) as one batch, as long as a campaign fits in the retention.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fusion_ml.attack import KILL_CHAIN, TACTIC_INDEX
from fusion_ml.errors import ConfigError, SchemaError
from fusion_ml.grouping import GroupingConfig, entity_table, without_common
from fusion_ml.incident_config import IncidentConfig
from fusion_ml.schema import SEVERITIES, timestamps_us

if TYPE_CHECKING:  # pragma: no cover
    from fusion_ml.mining.catalog import PatternCatalog
    from fusion_ml.scoring import ScoredBatch, Scorer

ENTITY_KINDS = ("host", "account", "ip", "mailbox", "resource")
"""Entity types listed as ``entities``; all other types are ``artifacts``."""
TITLE_ENTITY_ORDER = ("host", "account", "ip", "mailbox", "resource", "domain", "url",
                      "process", "file", "hash", "registry")
EXCLUDED_TAG = "excluded-pattern"
SCORE_RAISE = 0.95
STAGE_RAISE = 4
FINAL_STAGES = frozenset({"exfiltration", "impact"})

RESPONSES: dict[str, tuple[str, ...]] = {
    "reconnaissance": ("Review exposure of the scanned services; block the scanning sources "
                       "at the perimeter.",),
    "resource-development": ("Block the attacker infrastructure (domains, IPs) seen in the "
                             "incident.",),
    "initial-access": ("Isolate the entry host or mailbox; reset credentials of the accounts "
                       "involved; block the delivery URL / sender.",),
    "execution": ("Kill the malicious processes; collect the command lines and binaries for "
                  "analysis.",),
    "persistence": ("Remove the persistence mechanism (services, scheduled tasks, run keys, "
                    "new accounts).",),
    "privilege-escalation": ("Revoke elevated rights granted during the incident; patch the "
                             "exploited weakness.",),
    "defense-evasion": ("Re-enable disabled security tooling and logging; check for "
                        "tampering.",),
    "credential-access": ("Reset the passwords and revoke the sessions / tokens of the "
                          "accounts involved; enforce MFA.",),
    "discovery": ("Check what the enumeration reached; watch the account for lateral "
                  "movement.",),
    "lateral-movement": ("Isolate the destination hosts; disable the remote-access paths "
                         "used.",),
    "collection": ("Identify the data staged and its owners; preserve evidence.",),
    "command-and-control": ("Block the C2 domains / IPs; isolate the beaconing hosts.",),
    "exfiltration": ("Block the exfiltration channel; scope the data lost; start the "
                     "breach-notification process.",),
    "impact": ("Isolate affected systems; restore from known-good backups; activate the "
               "incident response plan.",),
}
"""Recommended response per ATT&CK tactic."""


@dataclass
class Incident:
    """One incident (JSON-ready fields; times are ISO 8601 UTC text).

    ``alerts``: the chain, in time order (``alert_id``, ``timestamp``, ``alert_type``,
    ``provider``, ``severity``, ``fidelity``, ``tactics``, ``techniques``, ``entities``,
    ``alert_score``, ``contribution``); ``timeline``: per tactic reached, ``tactic``,
    ``first_seen`` and ``alert_ids``; ``entities`` / ``artifacts``: ``type``, ``value``,
    ``alerts`` (how many chain alerts carry it); ``related_alerts`` / ``related_signals``:
    alerts sharing an entity with the chain but not in it (``alert_id``, ``timestamp``,
    ``alert_type``, ``provider``, ``shared_entities``, ``in_group``); ``patterns``: catalog
    rules the chain matches (``level``, ``pattern``, ``confidence``, ``lift``, ``tenants``,
    ``kind``); ``links``: for each consecutive pair of chain alerts, why the second was joined
    (``from_alert``, ``to_alert``, ``shared_entities``, ``gap_seconds``, ``rule`` with
    ``confidence``/``lift``/``tenants`` or null, ``contribution``, ``alert_score``);
    ``response``: ``tactic`` and ``actions``.
    """

    incident_id: str
    tenant_id: str
    title: str
    severity: str
    score: float
    status: str
    tags: list[str]
    first_seen: str
    last_seen: str
    group_id: str
    group_size: int
    tactics: list[str]
    alerts: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    entities: list[dict[str, Any]]
    artifacts: list[dict[str, Any]]
    related_alerts: list[dict[str, Any]]
    related_signals: list[dict[str, Any]]
    patterns: list[dict[str, Any]]
    links: list[dict[str, Any]]
    response: list[dict[str, Any]]

    @property
    def alert_ids(self) -> list[str]:
        """Ids of the chain alerts, in order."""
        return [a["alert_id"] for a in self.alerts]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Incident:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)


@dataclass
class IncidentBatch:
    """Incidents built from one batch, and counts: ``alerts`` (after exclusions),
    ``excluded_provider_alerts``, ``groups``, ``scored_groups``, ``merged_groups`` (fragment
    merges), ``incidents``, ``excluded_incidents``, ``threshold``."""

    incidents: list[Incident]
    stats: dict[str, Any] = field(default_factory=dict)

    def members(self) -> pd.DataFrame:
        """One row per chain alert: ``incident_id``, ``tenant_id``, ``alert_id``."""
        rows = [(i.incident_id, i.tenant_id, a) for i in self.incidents for a in i.alert_ids]
        return pd.DataFrame(rows, columns=["incident_id", "tenant_id", "alert_id"])


# ------------------------------------------------------------------------------------------
# Preparation and the whole batch


def prepare_alerts(alerts: pd.DataFrame, config: IncidentConfig) -> tuple[pd.DataFrame, int]:
    """A copy of ``alerts`` without the excluded providers' alerts and with the per-provider
    severity overrides applied; also how many alerts were dropped."""
    frame = alerts.copy()
    dropped = 0
    if config.exclude_providers:
        excluded = frame["provider"].isin(list(config.exclude_providers)).fillna(False)
        dropped = int(excluded.sum())
        frame = frame[~excluded.to_numpy(dtype=bool)]
    if config.severity_overrides:
        mapped = frame["provider"].map(dict(config.severity_overrides))
        frame["severity"] = mapped.fillna(frame["severity"]).astype(frame["severity"].dtype)
    return frame.reset_index(drop=True), dropped


def detect(alerts: pd.DataFrame, scorer: Scorer, config: IncidentConfig | None = None,
           catalog: PatternCatalog | None = None) -> IncidentBatch:
    """Prepare, group, score and build incidents from one batch of canonical alerts."""
    config = (config or IncidentConfig()).validate()
    frame, dropped = prepare_alerts(alerts, config)
    batch = _detect_prepared(frame, scorer, config, catalog)
    batch.stats["excluded_provider_alerts"] = dropped
    return batch


def _detect_prepared(frame: pd.DataFrame, scorer: Scorer, config: IncidentConfig,
                     catalog: PatternCatalog | None) -> IncidentBatch:
    """Group, score, merge fragments and build incidents from alerts :func:`prepare_alerts`
    already prepared."""
    from fusion_ml.fragments import merge_fragments

    scored = merge_fragments(scorer.score(frame, min_group_size=config.min_group_size),
                             scorer.model, config)
    return build_incidents(scored, config, catalog=catalog,
                           transitions=getattr(scorer.model.encoder_, "transitions_", None))


# ------------------------------------------------------------------------------------------
# Building


def build_incidents(scored: ScoredBatch, config: IncidentConfig | None = None,
                    catalog: PatternCatalog | None = None,
                    transitions: pd.DataFrame | None = None) -> IncidentBatch:
    """Incidents from a :class:`~fusion_ml.scoring.ScoredBatch` (see the module docstring).

    ``catalog`` gives the patterns matched and the per-link rule evidence; without it the
    model's alert-type transition evidence (``transitions``: ``antecedent``, ``consequent``,
    ``confidence``, ``lift``, ``tenants``, ``plausible``, ``prevalent``) is used."""
    config = (config or IncidentConfig()).validate()
    threshold = scored.threshold if config.threshold is None else config.threshold
    frame = scored.alerts
    groups = scored.groups
    stats: dict[str, Any] = {"alerts": len(frame), "groups": len(groups),
                             "scored_groups": int(groups["score"].notna().sum()),
                             "threshold": float(threshold),
                             "merged_groups": scored.merged_groups}
    chosen = groups[groups["score"] >= threshold]
    if chosen.empty or frame.empty:
        stats.update(incidents=0, excluded_incidents=0)
        return IncidentBatch([], stats)
    score_of = dict(zip(chosen["group_id"], chosen["score"], strict=True))
    chain = _chains(frame, score_of, config)
    if config.restart_gap > 0:
        chain, score_of = _split_restarts(frame, chain, score_of, config)
    rules = _RuleIndex(catalog, transitions)
    entities = entity_table(frame)
    usable = _usable(frame, entities)
    if config.merge_window > 0:
        chain, score_of = _merge_chains(frame, chain, entities, score_of, config)
    related = _related(frame, chain, usable, config)
    alert_ids = frame["alert_id"].to_numpy().astype(str)
    times = timestamps_us(frame["timestamp"])
    cells = _Cells(frame, chain["row"].to_numpy())
    incidents = []
    for group_id, rows in chain.groupby("group_id", sort=False)["row"]:
        rows = rows.to_numpy()
        rows = rows[np.lexsort((alert_ids[rows], times[rows]))]
        incidents.append(_incident(cells, rows, _group_of(group_id), float(score_of[group_id]),
                                   related.get(str(group_id), ([], [])), rules, config))
    incidents.sort(key=lambda i: (i.tenant_id, i.first_seen, i.incident_id))
    stats["incidents"] = len(incidents)
    stats["excluded_incidents"] = sum(EXCLUDED_TAG in i.tags for i in incidents)
    return IncidentBatch(incidents, stats)


def _chains(frame: pd.DataFrame, score_of: dict[str, float], config: IncidentConfig
            ) -> pd.DataFrame:
    """``row`` and ``group_id`` of every chain alert of the incident groups."""
    member = frame["group_id"].isin(list(score_of)).to_numpy()
    rows = np.flatnonzero(member)
    part = pd.DataFrame({
        "row": rows, "group_id": frame["group_id"].to_numpy()[rows].astype(str),
        "alert_score": frame["alert_score"].to_numpy(dtype=float)[rows],
        "contribution": frame["contribution"].to_numpy(dtype=float)[rows],
        "alert_id": frame["alert_id"].to_numpy()[rows].astype(str)})
    part, rank = _ranked(part)
    keep = ((part["alert_score"].to_numpy() >= config.alert_threshold) | (rank < 2)) & (
        rank < config.max_size)
    return part[keep]


RESTART_AFTER = TACTIC_INDEX["lateral-movement"]
"""A chain that reached this kill-chain stage (or later) ..."""
RESTART_AT = TACTIC_INDEX["initial-access"]
"""... and goes on, after ``restart_gap``, with an alert no later than this starts over."""


def _split_restarts(frame: pd.DataFrame, chain: pd.DataFrame, score_of: dict[str, float],
                    config: IncidentConfig) -> tuple[pd.DataFrame, dict[str, float]]:
    """Chains cut where the kill chain starts over (see the module docstring); a later part
    is keyed ``<group_id>#<n>`` and scores as its group."""
    times = timestamps_us(frame["timestamp"])
    alert_ids = frame["alert_id"].to_numpy().astype(str)
    gap = int(config.restart_gap * 1e6)
    tactics = frame["tactics"].to_numpy()
    keys = chain["group_id"].to_numpy(dtype=object).copy()
    chain_rows = chain["row"].to_numpy()
    score_of = dict(score_of)
    for group_id, index in chain.groupby("group_id", sort=False).indices.items():
        rows = chain_rows[index]
        index = index[np.lexsort((alert_ids[rows], times[rows]))]  # the incident's order
        rows = chain_rows[index]
        part, start, reached = 0, 0, -1
        for i, row in enumerate(rows):
            stages = [TACTIC_INDEX[t] for t in _list(tactics[row]) if t in TACTIC_INDEX]
            if (reached >= RESTART_AFTER and stages and min(stages) <= RESTART_AT
                    and times[row] - times[rows[i - 1]] >= gap
                    and i - start >= 2 and len(rows) - i >= 2):
                part, start, reached = part + 1, i, -1
                score_of[f"{group_id}#{part}"] = score_of[group_id]
            reached = max([reached, *stages])
            if part:
                keys[index[i]] = f"{group_id}#{part}"
    return chain.assign(group_id=keys), score_of


def _group_of(chain_key: str) -> str:
    """The candidate group of a chain key (a split chain's later parts end in ``#<n>``)."""
    return str(chain_key).split("#", 1)[0]


def _ranked(chain: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """``chain`` best first within each group (alert score, contribution, alert id) and each
    alert's rank in its group."""
    chain = chain.sort_values(["group_id", "alert_score", "contribution", "alert_id"],
                              ascending=[True, False, False, True], kind="stable")
    return chain, chain.groupby("group_id", sort=False).cumcount().to_numpy()


def _usable(frame: pd.DataFrame, entities: pd.DataFrame) -> pd.DataFrame:
    """Entities without those on a large share of a tenant's alerts (gateways, DNS servers),
    which relate nothing (the grouping's default common-entity cut)."""
    common = GroupingConfig()
    return without_common(entities, frame["tenant_id"], common.common_share,
                          common.common_min_alerts)


def _merge_chains(frame: pd.DataFrame, chain: pd.DataFrame, entities: pd.DataFrame,
                  score_of: dict[str, float], config: IncidentConfig
                  ) -> tuple[pd.DataFrame, dict[str, float]]:
    """Join the chains of one tenant that share an entity (``entities``: every entity, busy
    hosts included) and, on it, overlap or come within ``merge_window`` of each other (one
    intrusion's steps on a host too busy for the grouping to link). A merged chain is named by
    its earliest group, scores the highest of its groups, and keeps its ``max_size`` best
    alerts."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    times = timestamps_us(frame["timestamp"])
    keyed = entities.merge(chain[["row", "group_id"]], on="row")
    if keyed.empty:
        return chain, score_of
    keyed["t"] = times[keyed["row"].to_numpy()]
    spans = keyed.groupby(["tenant", "type", "value", "group_id"], sort=False)["t"].agg(
        ["min", "max"]).reset_index()
    spans = spans.sort_values(["tenant", "type", "value", "min", "group_id"], kind="stable")
    key = spans.groupby(["tenant", "type", "value"], sort=False).ngroup().to_numpy()
    reach = spans.groupby(key)["max"].cummax().to_numpy()
    lows = spans["min"].to_numpy()
    same = (key[1:] == key[:-1]) & (lows[1:] - reach[:-1] <= config.merge_window * 1e6)
    names = pd.Index(sorted(set(chain["group_id"])))
    codes = names.get_indexer(spans["group_id"])
    graph = coo_matrix((np.ones(int(same.sum())), (codes[:-1][same], codes[1:][same])),
                       shape=(len(names), len(names)))
    _, component = connected_components(graph, directed=False)
    first = chain.assign(t=times[chain["row"].to_numpy()]).groupby("group_id")["t"].min()
    order = pd.DataFrame({"group_id": names, "component": component,
                          "t": first.reindex(names).to_numpy()}).sort_values(
        ["component", "t", "group_id"], kind="stable")
    leader = order.groupby("component")["group_id"].first()
    rename = dict(zip(order["group_id"], leader.reindex(order["component"]).to_numpy(),
                      strict=True))
    merged = chain.assign(group_id=chain["group_id"].map(rename))
    scores: dict[str, float] = {}
    for group_id, value in score_of.items():
        target = rename.get(group_id)
        if target is not None:
            scores[target] = max(scores.get(target, 0.0), value)
    merged, rank = _ranked(merged)
    return merged[rank < config.max_size], scores


def _related(frame: pd.DataFrame, chain: pd.DataFrame, usable: pd.DataFrame,
             config: IncidentConfig) -> dict[str, tuple[list[dict], list[dict]]]:
    """Per incident group: (related alerts, related signals), closest in time first;
    ``usable``: the entities that relate alerts (:func:`_usable`)."""
    if usable.empty:
        return {}
    chain_entities = usable.merge(chain[["row", "group_id"]], on="row")
    chain_entities = chain_entities.drop_duplicates(["group_id", "type", "value"])
    pairs = chain_entities[["group_id", "tenant", "type", "value"]].merge(
        usable, on=["tenant", "type", "value"])
    if pairs.empty:
        return {}
    in_chain = set(zip(chain["group_id"], chain["row"], strict=True))
    keys = list(zip(pairs["group_id"], pairs["row"], strict=True))
    pairs = pairs[[k not in in_chain for k in keys]]
    times = timestamps_us(frame["timestamp"])
    bounds = pd.DataFrame({"row": chain["row"].to_numpy(), "group_id": chain["group_id"],
                           "t": times[chain["row"].to_numpy()]}).groupby("group_id")["t"].agg(
                               ["min", "max"])
    t = times[pairs["row"].to_numpy()]
    low = bounds["min"].reindex(pairs["group_id"]).to_numpy()
    high = bounds["max"].reindex(pairs["group_id"]).to_numpy()
    window = int(config.related_window * 1e6)
    inside = (t >= low - window) & (t <= high + window)
    pairs = pairs[inside].assign(distance=np.maximum(np.maximum(low - t, t - high), 0)[inside])
    if pairs.empty:
        return {}
    pairs["entity"] = pairs["type"] + ":" + pairs["value"]
    agg = pairs.groupby(["group_id", "row"], sort=False).agg(
        shared=("entity", lambda s: sorted(set(s))), distance=("distance", "first")
    ).reset_index()
    agg["alert_id"] = frame["alert_id"].to_numpy()[agg["row"].to_numpy()].astype(str)
    agg = agg.sort_values(["group_id", "distance", "alert_id"], kind="stable")
    signal = frame["is_signal"].to_numpy(dtype=bool)
    group_of = frame["group_id"].to_numpy().astype(str)
    cells = _Cells(frame, agg["row"].to_numpy())
    out: dict[str, tuple[list[dict], list[dict]]] = {}
    for group_id, part in agg.groupby("group_id", sort=False):
        alerts_, signals = [], []
        for row, shared in zip(part["row"].to_numpy(), part["shared"], strict=True):
            target = signals if signal[row] else alerts_
            if len(target) >= config.max_related:
                continue
            target.append({**_brief(cells, int(row)), "shared_entities": shared,
                           "in_group": bool(group_of[row] == _group_of(group_id))})
        out[str(group_id)] = (alerts_, signals)
    return out


def _iso(value: pd.Timestamp) -> str:
    return pd.Timestamp(value).tz_convert("UTC").isoformat()


def _list(value: Any) -> list:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return list(value)


def _entities(value: Any) -> list[dict[str, str]]:
    return [{"type": str(e["type"]), "value": str(e["value"])} for e in _list(value)]


def _text(value: Any) -> str | None:
    return None if value is None or value is pd.NA or (
        isinstance(value, float) and np.isnan(value)) else str(value)


class _Cells:
    """The cells of a few rows of a large frame, as Python values (reading Arrow-backed
    columns cell by cell, or converting a whole column per incident, costs far more)."""

    COLUMNS = ("alert_id", "timestamp", "alert_type", "provider", "severity", "fidelity",
               "tactics", "techniques", "entities", "alert_score", "contribution", "tenant_id",
               "group_size")

    def __init__(self, frame: pd.DataFrame, rows: np.ndarray) -> None:
        rows = np.unique(np.asarray(rows, dtype=np.int64))
        self.position = {int(r): i for i, r in enumerate(rows.tolist())}
        part = frame.iloc[rows]
        self.values = {c: part[c].tolist() for c in self.COLUMNS if c in part.columns}

    def get(self, column: str, row: int) -> Any:
        """The value of ``column`` at frame row ``row`` (one of the rows given)."""
        return self.values[column][self.position[row]]


def _brief(frame: _Cells, row: int) -> dict[str, Any]:
    return {"alert_id": str(frame.get("alert_id", row)),
            "timestamp": _iso(frame.get("timestamp", row)),
            "alert_type": str(frame.get("alert_type", row)),
            "provider": _text(frame.get("provider", row))}


def _round(value: float) -> float:
    return float(round(float(value), 6)) if np.isfinite(value) else 0.0


def _tactic_name(tactic: str) -> str:
    return tactic.replace("-", " ").capitalize()


class _RuleIndex:
    """Catalog rules by first item, and transition evidence by (antecedent, consequent)."""

    def __init__(self, catalog: PatternCatalog | None, transitions: pd.DataFrame | None):
        self.by_first: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        self.pairs: dict[tuple[str, str], dict[str, Any]] = {}
        if catalog is not None and not catalog.rules.empty:
            rules = catalog.rules
            for level, pattern, confidence, lift, tenants, kind in zip(
                    rules["level"], rules["pattern"], rules["confidence"], rules["lift"],
                    rules["tenants"], rules["kind"], strict=True):
                pattern = tuple(str(p) for p in pattern)
                entry = {"level": str(level), "pattern": list(pattern),
                         "confidence": _round(confidence), "lift": _round(lift),
                         "tenants": int(tenants), "kind": str(kind)}
                self.by_first[(str(level), pattern[0])].append(entry)
                if level == "alert_type" and len(pattern) == 2:
                    self.pairs[pattern] = entry
        elif transitions is not None and not transitions.empty:
            for row in transitions.to_dict(orient="records"):
                pattern = (str(row["antecedent"]), str(row["consequent"]))
                entry = {"level": "alert_type", "pattern": list(pattern),
                         "confidence": _round(row["confidence"]), "lift": _round(row["lift"]),
                         "tenants": int(row["tenants"]),
                         "kind": "prevalent" if row["prevalent"] else "rule"}
                self.pairs[pattern] = entry
                self.by_first[("alert_type", pattern[0])].append(entry)

    def matches(self, types: list[str], tactics: list[str], limit: int = 10
                ) -> list[dict[str, Any]]:
        """Rules whose pattern is an ordered subsequence of the chain (either level)."""
        found = []
        for level, sequence in (("alert_type", types), ("tactic", tactics)):
            seen = set(sequence)
            for first in seen:
                for entry in self.by_first.get((level, first), ()):
                    pattern = entry["pattern"]
                    if set(pattern) <= seen and _subsequence(pattern, sequence):
                        found.append(entry)
        found.sort(key=lambda e: (-len(e["pattern"]), -e["tenants"], -e["confidence"],
                                  e["level"], e["pattern"]))
        return found[:limit]


def _subsequence(pattern: Sequence[str], sequence: Sequence[str]) -> bool:
    items = iter(sequence)
    return all(any(p == s for s in items) for p in pattern)


def _tactic_sequence(alerts: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for alert in alerts:
        for tactic in alert["tactics"]:
            if not out or out[-1] != tactic:
                out.append(tactic)
    return out


def incident_id(tenant_id: str, timestamp: str, alert_id: str) -> str:
    """``inc-`` + SHA-256 of the tenant and the earliest chain alert's time and id."""
    text = f"{tenant_id}\n{timestamp}\n{alert_id}"
    return "inc-" + hashlib.sha256(text.encode()).hexdigest()[:20]


def _incident(frame: _Cells, rows: np.ndarray, group_id: str, score: float,
              related: tuple[list[dict], list[dict]], rules: _RuleIndex,
              config: IncidentConfig) -> Incident:
    tenant = str(frame.get("tenant_id", int(rows[0])))
    alerts = []
    for row in rows:
        row = int(row)
        alerts.append({
            **_brief(frame, row),
            "severity": _text(frame.get("severity", row)),
            "fidelity": _text(frame.get("fidelity", row)),
            "tactics": [str(t) for t in _list(frame.get("tactics", row))],
            "techniques": [str(t) for t in _list(frame.get("techniques", row))],
            "entities": _entities(frame.get("entities", row)),
            "alert_score": _round(frame.get("alert_score", row)),
            "contribution": _round(frame.get("contribution", row)),
        })
    # kill-chain timeline
    timeline: dict[str, dict[str, Any]] = {}
    for alert in alerts:
        for tactic in alert["tactics"]:
            entry = timeline.setdefault(tactic, {"tactic": tactic,
                                                 "first_seen": alert["timestamp"],
                                                 "alert_ids": []})
            entry["alert_ids"].append(alert["alert_id"])
    stages = sorted({t for t in timeline if t in TACTIC_INDEX}, key=TACTIC_INDEX.__getitem__)
    # entities and artifacts
    counts: Counter[tuple[str, str]] = Counter()
    for alert in alerts:
        counts.update({(e["type"], e["value"]) for e in alert["entities"]})
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    entities = [{"type": t, "value": v, "alerts": n} for (t, v), n in ranked
                if t in ENTITY_KINDS]
    artifacts = [{"type": t, "value": v, "alerts": n} for (t, v), n in ranked
                 if t not in ENTITY_KINDS]
    # title
    main = None
    for kind in TITLE_ENTITY_ORDER:
        of_kind = [(n, v) for (t, v), n in ranked if t == kind]
        if of_kind:
            main = (kind, of_kind[0][1])
            break
    if stages:
        what = _tactic_name(stages[0]) if len(stages) == 1 else \
            f"{_tactic_name(stages[0])} to {stages[-1].replace('-', ' ')}"
    else:
        what = alerts[0]["alert_type"]
    title = f"{what} on {main[0]} {main[1]}" if main else what
    # severity
    levels = [SEVERITIES.index(a["severity"]) for a in alerts if a["severity"] in SEVERITIES]
    level = max([SEVERITIES.index("medium"), *levels])
    if score >= SCORE_RAISE:
        level += 1
    if len(stages) >= STAGE_RAISE or FINAL_STAGES & set(stages):
        level += 1
    severity = SEVERITIES[min(level, len(SEVERITIES) - 1)]
    # links
    links = []
    for before, after in zip(alerts[:-1], alerts[1:], strict=True):
        shared = sorted({f"{e['type']}:{e['value']}" for e in before["entities"]}
                        & {f"{e['type']}:{e['value']}" for e in after["entities"]})
        gap = (pd.Timestamp(after["timestamp"]) - pd.Timestamp(before["timestamp"]))
        rule = rules.pairs.get((before["alert_type"], after["alert_type"]))
        links.append({"from_alert": before["alert_id"], "to_alert": after["alert_id"],
                      "shared_entities": shared, "gap_seconds": _round(gap.total_seconds()),
                      "rule": None if rule is None else {
                          k: rule[k] for k in ("confidence", "lift", "tenants", "kind")},
                      "contribution": after["contribution"],
                      "alert_score": after["alert_score"]})
    types = [a["alert_type"] for a in alerts]
    tactic_sequence = _tactic_sequence(alerts)
    tags = []
    status = "open"
    for pattern in config.exclude_patterns:
        if _subsequence(pattern, types) or _subsequence(pattern, tactic_sequence):
            tags.append(EXCLUDED_TAG)
            status = "closed"
            break
    first = alerts[0]
    return Incident(
        incident_id=incident_id(tenant, first["timestamp"], first["alert_id"]),
        tenant_id=tenant, title=title, severity=severity, score=_round(score), status=status,
        tags=tags, first_seen=first["timestamp"],
        last_seen=max(a["timestamp"] for a in alerts), group_id=group_id,
        group_size=int(frame.get("group_size", int(rows[0]))),
        tactics=stages, alerts=alerts,
        timeline=sorted(timeline.values(), key=lambda e: (e["first_seen"],
                                                          TACTIC_INDEX.get(e["tactic"], 99))),
        entities=entities, artifacts=artifacts, related_alerts=related[0],
        related_signals=related[1], patterns=rules.matches(types, tactic_sequence),
        links=links,
        response=[{"tactic": t, "actions": list(RESPONSES[t])} for t in stages
                  if t in RESPONSES])


# ------------------------------------------------------------------------------------------
# Outputs


PARQUET_JSON_COLUMNS = ("tags", "tactics", "alerts", "timeline", "entities", "artifacts",
                        "related_alerts", "related_signals", "patterns", "links", "response")
"""Nested fields stored as JSON text in the Parquet output."""


def incidents_frame(incidents: Iterable[Incident]) -> pd.DataFrame:
    """One row per incident: scalar fields as columns, nested fields
    (:data:`PARQUET_JSON_COLUMNS`) as JSON text, plus ``alert_count``."""
    rows = []
    for incident in incidents:
        data = incident.to_dict()
        for column in PARQUET_JSON_COLUMNS:
            data[column] = json.dumps(data[column], sort_keys=True)
        data["alert_count"] = len(incident.alerts)
        rows.append(data)
    columns = [f.name for f in Incident.__dataclass_fields__.values()] + ["alert_count"]
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("first_seen", "last_seen"):
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame


def to_json_line(incident: Incident) -> str:
    """One incident as one line of JSON (keys sorted)."""
    return json.dumps(incident.to_dict(), sort_keys=True)


OUTPUT_FORMATS = ("jsonl", "parquet", "ocsf")


def write_incidents(incidents: Sequence[Incident], path: str | Path, fmt: str = "jsonl"
                    ) -> Path:
    """Write incidents as JSON lines, Parquet (:func:`incidents_frame`) or OCSF Incident
    Finding JSON lines (:func:`fusion_ml.ocsf_incident.to_ocsf`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        path.write_text("".join(to_json_line(i) + "\n" for i in incidents))
    elif fmt == "parquet":
        incidents_frame(incidents).to_parquet(path, index=False)
    elif fmt == "ocsf":
        from fusion_ml.ocsf_incident import to_ocsf

        path.write_text("".join(json.dumps(to_ocsf(i), sort_keys=True) + "\n"
                                for i in incidents))
    else:
        raise ConfigError(f"incident output: expected a format in {OUTPUT_FORMATS}, got "
                          f"{fmt!r}")
    return path


def read_incidents(path: str | Path) -> list[Incident]:
    """Incidents from a JSON lines file written by :func:`write_incidents`."""
    path = Path(path)
    out = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(Incident.from_dict(json.loads(line)))
        except (ValueError, TypeError) as exc:
            raise SchemaError(f"{path}, record {number}: expected an incident ({exc})") from None
    return out


# ------------------------------------------------------------------------------------------
# State across batches


class IncidentStore:
    """Incidents and recent alerts kept in a folder across batches (see the module
    docstring): ``alerts.parquet`` (the alerts of the last ``retention`` seconds, prepared),
    ``incidents.jsonl`` and ``state.json``."""

    def __init__(self, folder: str | Path, retention: float | None = None) -> None:
        self.folder = Path(folder)
        self.retention = retention

    def _paths(self) -> tuple[Path, Path, Path]:
        return (self.folder / "alerts.parquet", self.folder / "incidents.jsonl",
                self.folder / "state.json")

    def incidents(self) -> list[Incident]:
        """Every incident in the store, ordered by tenant, first seen and id."""
        path = self._paths()[1]
        return read_incidents(path) if path.exists() else []

    def kept_alerts(self) -> pd.DataFrame | None:
        """The alerts kept from earlier batches (``None`` before the first)."""
        from fusion_ml.schema import read_alerts

        path = self._paths()[0]
        return read_alerts(path) if path.exists() else None

    def update(self, alerts: pd.DataFrame, scorer: Scorer, config: IncidentConfig | None = None,
               catalog: PatternCatalog | None = None) -> IncidentBatch:
        """Add a batch: de-duplicate against the kept alerts, rebuild the incidents of the
        union, replace the stored incidents they touch, prune old alerts. Returns the
        incidents holding at least one alert of ``alerts``."""
        from fusion_ml.schema import write_alerts

        config = (config or IncidentConfig()).validate()
        prepared, dropped = prepare_alerts(alerts, config)
        kept = self.kept_alerts()
        union = prepared if kept is None else pd.concat([kept, prepared], ignore_index=True)
        union = union.drop_duplicates(["tenant_id", "alert_id"], keep="first")
        union = union.sort_values(["tenant_id", "timestamp", "alert_id"], kind="stable")
        union = union.reset_index(drop=True)
        batch = _detect_prepared(union, scorer, config, catalog)
        batch.stats["excluded_provider_alerts"] = dropped
        keys = set(zip(union["tenant_id"].astype(str), union["alert_id"].astype(str),
                       strict=True))
        stored = [i for i in self.incidents()
                  if not any((i.tenant_id, a) in keys for a in i.alert_ids)]
        merged = {i.incident_id: i for i in stored}
        merged.update({i.incident_id: i for i in batch.incidents})
        everything = sorted(merged.values(), key=lambda i: (i.tenant_id, i.first_seen,
                                                            i.incident_id))
        self.folder.mkdir(parents=True, exist_ok=True)
        alerts_path, incidents_path, state_path = self._paths()
        retention = self.retention if self.retention is not None else (
            scorer.grouping.max_span + scorer.grouping.window)
        if len(union):
            horizon = union["timestamp"].max() - pd.Timedelta(seconds=retention)
            union = union[union["timestamp"] >= horizon].reset_index(drop=True)
        write_alerts(union, alerts_path)
        write_incidents(everything, incidents_path)
        state_path.write_text(json.dumps({"schema_version": 1, "retention": retention,
                                          "incidents": len(everything),
                                          "kept_alerts": len(union)}, indent=1))
        new_keys = set(zip(prepared["tenant_id"].astype(str),
                           prepared["alert_id"].astype(str), strict=True))
        touched = [i for i in batch.incidents
                   if any((i.tenant_id, a) in new_keys for a in i.alert_ids)]
        return IncidentBatch(touched, {**batch.stats, "incidents": len(touched),
                                       "stored_incidents": len(everything)})


__all__ = ["KILL_CHAIN", "EXCLUDED_TAG", "RESPONSES", "Incident", "IncidentBatch",
           "IncidentStore", "build_incidents", "detect", "incident_id", "incidents_frame",
           "prepare_alerts", "read_incidents", "to_json_line", "write_incidents"]
