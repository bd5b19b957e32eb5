"""Per-alert features of candidate groups for the sequence model.

:class:`FeatureEncoder` is fitted on training alerts (and optionally a pattern catalog) and
turns any grouped alert frame into :class:`EncodedGroups`: ragged per-alert arrays in group
order. Per alert:

* ``type_id``: the alert type through a fitted :class:`Vocabulary` (``PAD=0``, ``UNK=1``);
* ``provider_id``: the provider, likewise;
* ``dense`` (see :attr:`FeatureEncoder.feature_names_`): its tactics (multi-hot over the kill
  chain) and techniques (multi-hot over the fitted parent techniques, plus one bucket for the
  unknown), severity (one-hot), fidelity, log time since the previous alert of the group,
  position, the entity types it shares with earlier alerts of the group, its kill-chain stage
  and how far it moves the group's stage, and the catalog's evidence for the transition from
  the previous alert (rule confidence, lift, tenant support, plausibility, kind; also at the
  tactic level, and the best rule from any earlier alert);
* how common its entities are (see :func:`entity_prevalence`): the rarest and the commonest
  entity's count of distinct alerts of the tenant, and the largest and smallest share of an
  entity's alerts that fall in this group. An attacker's address, file or domain sits on a
  handful of alerts, nearly all in the attack's group; a busy server sits on hundreds spread
  over many groups. Also how it is linked inside its group: the share of the other alerts
  that share an entity with it, the most entities it shares with one of them and the time to
  the nearest of them (an attack's steps share the attacker's account and address, minutes
  apart; a bystander shares one busy host, hours away);
* how common its alert type is in its tenant (``type_prevalence``, ``log1p`` of the
  ``type_count`` of :func:`fusion_ml.grouping.type_counts` / 5): routine noise, a scanner
  hitting the perimeter or a password spray against the mail server, fires all month; a
  campaign's alerts are few. Encoders saved with schema version 2 predate it and keep
  scoring without it.

The counts come from the ``entity_counts`` and ``type_count`` columns that
:func:`fusion_ml.grouping.group_alerts` adds (counted over the whole grouped batch); without
them they are counted over the frame given to :meth:`FeatureEncoder.transform`, so send a
tenant's window of alerts, not one group.

An alert type never seen in training maps to ``UNK`` and is still described by every dense
feature, so it is scored through its tactics, techniques, provider and entities.

The fitted state is plain JSON (:meth:`FeatureEncoder.to_dict`); the catalog evidence it keeps
holds alert types, tactics and numbers only, like the catalog itself.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
from numba import njit

from fusion_ml.attack import KILL_CHAIN, TACTIC_INDEX
from fusion_ml.errors import NotFittedError, SchemaError, param_error
from fusion_ml.grouping import entity_counts, type_counts
from fusion_ml.schema import ENTITY_STRUCT, ENTITY_TYPES, SEVERITIES, arrow_array, timestamps_us

if TYPE_CHECKING:  # pragma: no cover
    from fusion_ml.mining.catalog import PatternCatalog

PAD, UNK = 0, 1
REQUIRED_COLUMNS = ("group_id", "alert_id", "timestamp", "alert_type", "provider", "severity",
                    "fidelity", "techniques", "tactics", "entities")
"""Columns :meth:`FeatureEncoder.transform` reads."""
EVIDENCE_COLUMNS = ("confidence", "lift", "tenants", "plausible", "prevalent")
"""Catalog evidence kept per transition."""
PREVALENCE_FEATURES = ("rarest", "commonest", "in_group_max", "in_group_min", "linked_share",
                       "link_strength", "link_gap")
"""Entity features per alert: prevalence (:func:`entity_prevalence`) and links inside the
group (``_links_in_group``)."""
SCHEMA_VERSION = 3
"""Version 3 added ``type_prevalence``; version 2 states still load (without it)."""


class Vocabulary:
    """Labels to ids with ``PAD=0`` and ``UNK=1`` reserved; fitted, JSON round-trip."""

    def __init__(self, min_count: int = 1, max_size: int | None = None) -> None:
        self.min_count = min_count
        self.max_size = max_size

    def fit(self, labels: Iterable[str]) -> Vocabulary:
        """Keep labels seen at least ``min_count`` times (the ``max_size`` most frequent;
        ties by label)."""
        if not isinstance(self.min_count, int) or self.min_count < 1:
            raise param_error("Vocabulary", "min_count", "an int >= 1", self.min_count)
        counts = Counter(str(v) for v in labels if v is not None and v is not pd.NA)
        kept = sorted((c for c in counts.items() if c[1] >= self.min_count),
                      key=lambda c: (-c[1], c[0]))
        if self.max_size is not None:
            kept = kept[:self.max_size]
        self.labels_ = ["<pad>", "<unk>"] + sorted(label for label, _ in kept)
        self._index = {label: i for i, label in enumerate(self.labels_)}
        return self

    def __len__(self) -> int:
        return len(self.labels_)

    def encode(self, labels: Sequence[object]) -> np.ndarray:
        """Ids of ``labels`` (``UNK`` for labels not in the vocabulary)."""
        if not hasattr(self, "labels_"):
            raise NotFittedError("Vocabulary is not fitted: call fit(...) first")
        index = self._index
        return np.fromiter((index.get(str(v), UNK) for v in labels), dtype=np.int64,
                           count=len(labels))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state."""
        return {"min_count": self.min_count, "max_size": self.max_size, "labels": self.labels_}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Vocabulary:
        """Inverse of :meth:`to_dict`."""
        vocab = cls(data["min_count"], data["max_size"])
        vocab.labels_ = list(data["labels"])
        vocab._index = {label: i for i, label in enumerate(vocab.labels_)}
        return vocab


@dataclass
class EncodedGroups:
    """Ragged per-alert features: alerts of group ``k`` are rows ``offsets[k]:offsets[k+1]``,
    in time order; ``alert_ids`` name the rows."""

    group_ids: np.ndarray
    offsets: np.ndarray
    type_ids: np.ndarray
    provider_ids: np.ndarray
    dense: np.ndarray
    alert_ids: np.ndarray
    rows: np.ndarray
    """Position of each encoded alert in the frame given to ``transform``."""

    def __len__(self) -> int:
        return len(self.group_ids)

    @property
    def lengths(self) -> np.ndarray:
        """Alerts per group."""
        return np.diff(self.offsets)


def _flat_lists(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Row index and value of every element of a list column (nulls hold none)."""
    values = arrow_array(column, pa.list_(pa.string()))
    rows = values.value_parent_indices().to_numpy().astype(np.int64)
    return rows, values.flatten().to_numpy(zero_copy_only=False)


def _lookup(names: np.ndarray, index: dict[str, int]) -> np.ndarray:
    """``index[name]`` per name, -1 for names not in it (looked up once per distinct name)."""
    if not len(names):
        return np.zeros(0, np.int64)
    distinct, inverse = np.unique(names.astype(str), return_inverse=True)
    return np.array([index.get(d, -1) for d in distinct], np.int64)[inverse]


def _is_public_ip(value: str) -> bool:
    try:
        return ipaddress.ip_address(value).is_global
    except ValueError:
        return False


def _parents(techniques: np.ndarray) -> list[str]:
    """Parent technique ids (``T1059.001`` -> ``T1059``), upper case."""
    return pd.Series(techniques, dtype=object).str.split(".", n=1).str[0].str.upper().tolist()


def sort_groups(alerts: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``alerts`` in the order features use (by group, time, alert id), with the
    original positions in ``_row``."""
    missing = [c for c in REQUIRED_COLUMNS if c not in alerts.columns]
    if missing:
        raise SchemaError(f"features: expected grouped alerts with columns {list(REQUIRED_COLUMNS)}"
                          f", missing {missing}")
    return alerts.assign(_row=np.arange(len(alerts))).sort_values(
        ["group_id", "timestamp", "alert_id"], kind="stable").reset_index(drop=True)


@njit(cache=True)
def _sequence_features(starts, ends, stage, tactic_bits, ent_parent_start, ent_type, ent_value,
                       n_values, n_types, pair_keys, pair_conf, type_code, n_codes, kind_code,
                       n_kinds, provider_code, n_providers):  # pragma: no cover
    """Per alert: shared entity types with earlier alerts of the group, stage delta, best
    rule confidence from any earlier alert, and distinct tactics, alert types and providers
    of the group so far."""
    n = len(stage)
    shared = np.zeros((n, n_types), np.float32)
    delta = np.zeros(n, np.float32)
    best = np.zeros(n, np.float32)
    distinct = np.zeros((n, 3), np.float32)
    last_group = np.full(n_values, -1, np.int64)
    kind_seen = np.full(n_kinds, -1, np.int64)
    provider_seen = np.full(n_providers, -1, np.int64)
    for g in range(len(starts)):
        top = -1
        bits = np.int64(0)
        kinds = 0
        providers = 0
        for i in range(starts[g], ends[g]):
            bits |= tactic_bits[i]
            if kind_seen[kind_code[i]] != g:
                kind_seen[kind_code[i]] = g
                kinds += 1
            if provider_seen[provider_code[i]] != g:
                provider_seen[provider_code[i]] = g
                providers += 1
            count = 0
            rest = bits
            while rest:
                rest &= rest - 1
                count += 1
            distinct[i, 0] = count
            distinct[i, 1] = kinds
            distinct[i, 2] = providers
            for e in range(ent_parent_start[i], ent_parent_start[i + 1]):
                if last_group[ent_value[e]] == g:
                    shared[i, ent_type[e]] = 1.0
            for e in range(ent_parent_start[i], ent_parent_start[i + 1]):
                last_group[ent_value[e]] = g
            if i > starts[g] and stage[i] >= 0:
                delta[i] = stage[i] - top if top >= 0 else 0
            if stage[i] > top:
                top = stage[i]
            b = type_code[i]
            if b >= 0 and len(pair_keys):
                for j in range(starts[g], i):
                    a = type_code[j]
                    if a < 0:
                        continue
                    key = a * n_codes + b
                    k = np.searchsorted(pair_keys, key)
                    if k < len(pair_keys) and pair_keys[k] == key and pair_conf[k] > best[i]:
                        best[i] = pair_conf[k]
    return shared, delta, best, distinct


@njit(cache=True)
def _links_in_group(starts, ends, ent_offsets, ent_value, times):  # pragma: no cover
    """Per alert: the share of the group's other alerts that share an entity with it, the
    most entities it shares with any one of them, and the seconds to the nearest of them
    (-1 if none)."""
    n = len(ent_offsets) - 1
    share = np.zeros(n, np.float32)
    strength = np.zeros(n, np.float32)
    gap = np.full(n, -1.0)
    for g in range(len(starts)):
        size = ends[g] - starts[g]
        if size < 2:
            continue
        for i in range(starts[g], ends[g]):
            linked = 0
            best = 0
            for j in range(starts[g], ends[g]):
                if j == i:
                    continue
                common = 0
                for a in range(ent_offsets[i], ent_offsets[i + 1]):
                    for b in range(ent_offsets[j], ent_offsets[j + 1]):
                        if ent_value[a] == ent_value[b]:
                            common += 1
                if common:
                    linked += 1
                    apart = abs(times[j] - times[i])
                    if gap[i] < 0 or apart < gap[i]:
                        gap[i] = apart
                if common > best:
                    best = common
            share[i] = linked / (size - 1)
            strength[i] = best
    return share, strength, gap


class FeatureEncoder:
    """Fitted vocabularies and catalog evidence (see the module docstring).

    ``min_type_count``: alert types seen fewer times in training map to ``UNK``;
    ``max_techniques``: most parent techniques one-hot encoded.
    """

    def __init__(self, min_type_count: int = 2, max_techniques: int = 128) -> None:
        self.min_type_count = min_type_count
        self.max_techniques = max_techniques

    def fit(self, alerts: pd.DataFrame, catalog: PatternCatalog | None = None) -> FeatureEncoder:
        """Fit vocabularies on ``alerts`` and keep the catalog's pair evidence."""
        self.types_ = Vocabulary(self.min_type_count).fit(alerts["alert_type"].astype(str))
        self.providers_ = Vocabulary(1).fit(alerts["provider"].astype(str))
        self.techniques_ = Vocabulary(1, self.max_techniques).fit(
            _parents(_flat_lists(alerts["techniques"])[1]))
        self.transitions_ = _transitions(catalog, "alert_type")
        self.tactic_transitions_ = _transitions(catalog, "tactic")
        self.catalog_hash_ = catalog.content_hash if catalog is not None else None
        self.type_prevalence_ = True
        self.feature_names_ = self._names()
        return self

    def _names(self) -> list[str]:
        return ([f"tactic:{t}" for t in KILL_CHAIN]
                + [f"technique:{t}" for t in self.techniques_.labels_[1:]]
                + [f"severity:{s}" for s in SEVERITIES]
                + ["signal", "log_dt", "first", "log_position"]
                + [f"shared:{t}" for t in ENTITY_TYPES] + ["shared_any"]
                + [f"has:{t}" for t in ENTITY_TYPES] + ["public_ip"]
                + ["distinct_tactics", "distinct_types", "distinct_providers"]
                + ["stage", "stage_delta", "stage_back"]
                + [f"rule:{c}" for c in EVIDENCE_COLUMNS] + ["rule_known"]
                + [f"tactic_rule:{c}" for c in EVIDENCE_COLUMNS] + ["tactic_rule_known"]
                + ["rule_best_earlier"]
                + [f"entity:{name}" for name in PREVALENCE_FEATURES]
                + (["type_prevalence"] if self.type_prevalence_ else []))

    @property
    def type_evidence_columns(self) -> list[int]:
        """Dense columns that hold the catalog's alert-type-level evidence (``rule:*``,
        ``rule_known``, ``rule_best_earlier``); zero when the catalog does not know a type."""
        self._check()
        return [i for i, name in enumerate(self.feature_names_) if name.startswith("rule")]

    @property
    def n_dense(self) -> int:
        """Width of the dense feature block."""
        self._check()
        return len(self.feature_names_)

    def _check(self) -> None:
        if not hasattr(self, "types_"):
            raise NotFittedError("FeatureEncoder is not fitted: call fit(...) first")

    def transform(self, alerts: pd.DataFrame) -> EncodedGroups:
        """Encode grouped alerts (any order; the input is not modified)."""
        self._check()
        frame = sort_groups(alerts)
        n = len(frame)
        group_codes, group_ids = pd.factorize(frame["group_id"].astype(str), sort=False)
        offsets = np.zeros(len(group_ids) + 1, np.int64)
        np.cumsum(np.bincount(group_codes, minlength=len(group_ids)), out=offsets[1:])
        starts, ends = offsets[:-1], offsets[1:]
        first = np.zeros(n, bool)
        first[starts[starts < n]] = True
        position = np.arange(n) - np.repeat(starts, np.diff(offsets))

        blocks: list[np.ndarray] = []
        rows, names = _flat_lists(frame["tactics"])
        index = _lookup(names, TACTIC_INDEX)
        rows, index = rows[index >= 0], index[index >= 0]
        tactics = np.zeros((n, len(KILL_CHAIN)), np.float32)
        tactics[rows, index] = 1.0
        tactic_bits = np.zeros(n, np.int64)
        np.bitwise_or.at(tactic_bits, rows, np.left_shift(1, index))
        stage = np.full(n, -1, np.int64)
        np.maximum.at(stage, rows, index)
        earliest = np.full(n, len(KILL_CHAIN), np.int64)
        np.minimum.at(earliest, rows, index)
        first_tactic = np.array(list(KILL_CHAIN) + [None], dtype=object)[earliest]
        blocks.append(tactics)

        rows, names = _flat_lists(frame["techniques"])
        codes = self.techniques_.encode(_parents(names)) if len(names) else np.zeros(0, np.int64)
        techniques = np.zeros((n, len(self.techniques_) - 1), np.float32)  # column 0 = unknown
        techniques[rows, codes - 1] = 1.0
        blocks.append(techniques)

        severity = frame["severity"].astype(str).to_numpy()
        blocks.append(np.stack([(severity == s) for s in SEVERITIES], axis=1).astype(np.float32))
        signal = (frame["fidelity"].astype(str) == "signal").to_numpy(np.float32)
        times = timestamps_us(frame["timestamp"]).astype(np.float64)
        dt = np.where(first, 0.0, np.diff(times, prepend=times[:1]) / 1e6).clip(min=0.0)
        blocks.append(np.stack([signal, np.log1p(dt) / 10.0, first.astype(np.float32),
                                np.log1p(position) / 4.0], axis=1).astype(np.float32))

        entities = arrow_array(frame["entities"], pa.list_(ENTITY_STRUCT))
        ent_offsets = entities.offsets.to_numpy().astype(np.int64)
        flat = entities.flatten()
        type_index = {t: i for i, t in enumerate(ENTITY_TYPES)}
        ent_type = np.fromiter((type_index.get(t, 0) for t in
                                flat.field("type").to_pylist()), np.int64, count=len(flat))
        keys = pd.Series(flat.field("type").to_pylist(), dtype=object) + "\x00" + \
            pd.Series(flat.field("value").to_pylist(), dtype=object)
        ent_value, uniques = pd.factorize(keys)
        ent_value = ent_value.astype(np.int64)
        has = np.zeros((n, len(ENTITY_TYPES)), np.float32)
        ent_parent = np.repeat(np.arange(n), np.diff(ent_offsets))
        has[ent_parent, ent_type] = 1.0
        public = np.zeros(n, np.float32)
        is_ip = ent_type == type_index["ip"]
        if is_ip.any():
            values = flat.field("value").to_numpy(zero_copy_only=False)[is_ip]
            distinct, inverse = np.unique(values.astype(str), return_inverse=True)
            public_values = np.array([_is_public_ip(v) for v in distinct], bool)[inverse]
            public[ent_parent[is_ip][public_values]] = 1.0

        type_names = frame["alert_type"].astype(str).to_numpy()
        pair_keys, pair_conf, type_code, n_codes = self._pair_index(type_names)
        kind_code, kinds = pd.factorize(type_names)
        provider_code, providers = pd.factorize(frame["provider"].astype(str).to_numpy())
        shared, delta, best, distinct = _sequence_features(
            starts, ends, stage, tactic_bits, ent_offsets, ent_type, ent_value,
            max(len(uniques), 1), len(ENTITY_TYPES), pair_keys, pair_conf, type_code, n_codes,
            kind_code.astype(np.int64), max(len(kinds), 1), provider_code.astype(np.int64),
            max(len(providers), 1))
        blocks.append(shared)
        blocks.append(shared.max(axis=1, keepdims=True) if n else np.zeros((0, 1), np.float32))
        blocks.append(has)
        blocks.append(public[:, None])
        blocks.append(np.stack([distinct[:, 0] / len(KILL_CHAIN), np.log1p(distinct[:, 1]) / 4,
                                np.log1p(distinct[:, 2]) / 3], axis=1).astype(np.float32))
        stage_f = np.where(stage >= 0, stage / (len(KILL_CHAIN) - 1), -0.1)
        blocks.append(np.stack([stage_f, delta / (len(KILL_CHAIN) - 1),
                                (delta < 0).astype(np.float32)], axis=1).astype(np.float32))

        previous = np.where(first, None, np.roll(type_names.astype(object), 1))
        blocks.append(_evidence(self.transitions_, previous, type_names.astype(object)))
        prev_tactic = np.where(first, None, np.roll(first_tactic, 1))
        blocks.append(_evidence(self.tactic_transitions_, prev_tactic, first_tactic))
        blocks.append(best[:, None])
        counts = frame["entity_counts"] if "entity_counts" in frame.columns \
            else entity_counts(frame)
        in_tenant = arrow_array(counts, pa.list_(pa.int64())).flatten().to_numpy(
            zero_copy_only=False)
        if len(in_tenant) != len(ent_parent):
            raise SchemaError(f"features: expected one entity count per entity "
                              f"({len(ent_parent)}), got {len(in_tenant)} (entity_counts does "
                              f"not match entities; regroup the alerts)")
        prevalence = entity_prevalence(ent_parent, ent_value, in_tenant, group_codes, n)
        linked, strength, gap = _links_in_group(starts, ends, ent_offsets, ent_value, times / 1e6)
        prevalence[:, 4] = linked
        prevalence[:, 5] = np.minimum(strength, 3.0) / 3.0
        prevalence[:, 6] = np.where(gap >= 0, np.log1p(np.maximum(gap, 0.0)) / 12.0, 1.0)
        blocks.append(prevalence)
        if self.type_prevalence_:
            counts = frame["type_count"] if "type_count" in frame.columns else type_counts(frame)
            blocks.append((np.log1p(counts.to_numpy(np.float64)) / 5.0)[:, None])
        dense = np.concatenate(blocks, axis=1).astype(np.float32)
        return EncodedGroups(
            group_ids=np.asarray(group_ids, dtype=object), offsets=offsets,
            type_ids=self.types_.encode(type_names),
            provider_ids=self.providers_.encode(frame["provider"].astype(str).tolist()),
            dense=dense, alert_ids=frame["alert_id"].astype(str).to_numpy(dtype=object),
            rows=frame["_row"].to_numpy(np.int64))

    def _pair_index(self, type_names: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Sorted pair keys and confidences of prevalent alert-type rules, and each alert's
        code in that index (-1 when the catalog does not know its type)."""
        table = self.transitions_
        prevalent = table[table["prevalent"] > 0]
        names = sorted(set(prevalent["antecedent"]) | set(prevalent["consequent"]))
        code = {name: i for i, name in enumerate(names)}
        n_codes = max(len(names), 1)
        keys = np.array([code[a] * n_codes + code[b] for a, b in
                         zip(prevalent["antecedent"], prevalent["consequent"], strict=True)],
                        np.int64)
        conf = prevalent["confidence"].to_numpy(np.float32)
        order = np.argsort(keys, kind="stable")
        type_code = np.fromiter((code.get(t, -1) for t in type_names), np.int64,
                                count=len(type_names))
        return keys[order], conf[order], type_code, n_codes

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fitted state."""
        self._check()
        return {
            "schema_version": SCHEMA_VERSION if self.type_prevalence_ else 2,
            "params": {"min_type_count": self.min_type_count,
                       "max_techniques": self.max_techniques},
            "types": self.types_.to_dict(), "providers": self.providers_.to_dict(),
            "techniques": self.techniques_.to_dict(),
            "transitions": self.transitions_.to_dict(orient="list"),
            "tactic_transitions": self.tactic_transitions_.to_dict(orient="list"),
            "catalog_hash": self.catalog_hash_,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureEncoder:
        """Inverse of :meth:`to_dict`."""
        if data.get("schema_version") not in (2, SCHEMA_VERSION):
            raise SchemaError(f"feature encoder: expected schema_version 2 or {SCHEMA_VERSION}, "
                              f"got {data.get('schema_version')!r}")
        encoder = cls(**data["params"])
        encoder.types_ = Vocabulary.from_dict(data["types"])
        encoder.providers_ = Vocabulary.from_dict(data["providers"])
        encoder.techniques_ = Vocabulary.from_dict(data["techniques"])
        encoder.transitions_ = _transition_frame(data["transitions"])
        encoder.tactic_transitions_ = _transition_frame(data["tactic_transitions"])
        encoder.catalog_hash_ = data["catalog_hash"]
        encoder.type_prevalence_ = data["schema_version"] >= 3
        encoder.feature_names_ = encoder._names()
        return encoder


def entity_prevalence(ent_parent: np.ndarray, ent_value: np.ndarray, in_tenant: np.ndarray,
                      group_codes: np.ndarray, n: int) -> np.ndarray:
    """Per alert (``n`` rows), the first four :data:`PREVALENCE_FEATURES`: ``log1p`` of the
    smallest and the largest ``in_tenant`` count among its entities (``/ 5``), and the largest
    and smallest share of an entity's alerts that are in the alert's group; the other columns
    (links inside the group) are left zero for the caller. ``ent_parent``, ``ent_value``,
    ``in_tenant``: row, entity code and tenant-wide alert count of every entity. Alerts without
    entities get zeros."""
    out = np.zeros((n, len(PREVALENCE_FEATURES)), np.float32)
    if len(ent_parent) == 0:
        return out
    in_tenant = np.maximum(in_tenant.astype(np.float64), 1.0)
    n_values = int(ent_value.max()) + 1
    _, inverse, group_counts = np.unique(group_codes[ent_parent].astype(np.int64) * n_values
                                         + ent_value, return_inverse=True, return_counts=True)
    share = np.minimum(group_counts[inverse.ravel()] / in_tenant, 1.0)
    rarest = np.full(n, np.inf)
    np.minimum.at(rarest, ent_parent, in_tenant)
    commonest = np.zeros(n)
    np.maximum.at(commonest, ent_parent, in_tenant)
    share_max = np.zeros(n)
    np.maximum.at(share_max, ent_parent, share)
    share_min = np.full(n, np.inf)
    np.minimum.at(share_min, ent_parent, share)
    has = np.isfinite(rarest)
    out[has, 0] = np.log1p(rarest[has]) / 5.0
    out[:, 1] = np.log1p(commonest) / 5.0
    out[:, 2] = share_max
    out[has, 3] = share_min[has]
    return out


def _transition_frame(columns: dict[str, list] | None = None) -> pd.DataFrame:
    columns = columns or {c: [] for c in ("antecedent", "consequent", *EVIDENCE_COLUMNS)}
    frame = pd.DataFrame(columns)
    frame["antecedent"] = frame["antecedent"].astype(object)
    frame["consequent"] = frame["consequent"].astype(object)
    for column in EVIDENCE_COLUMNS:
        frame[column] = frame[column].astype(np.float64)
    return frame


def _transitions(catalog: PatternCatalog | None, level: str) -> pd.DataFrame:
    """Length-2 rules of one level: ``antecedent``, ``consequent`` and
    :data:`EVIDENCE_COLUMNS` (``plausible`` and ``prevalent`` as 0/1)."""
    if catalog is None or catalog.rules.empty:
        return _transition_frame()
    rules = catalog.rules[(catalog.rules["level"] == level) & (catalog.rules["length"] == 2)]
    return _transition_frame({
        "antecedent": [p[0] for p in rules["pattern"]],
        "consequent": [p[1] for p in rules["pattern"]],
        "confidence": rules["confidence"].astype(float).tolist(),
        "lift": rules["lift"].astype(float).tolist(),
        "tenants": rules["tenants"].astype(float).tolist(),
        "plausible": rules["plausible"].astype(float).tolist(),
        "prevalent": (rules["kind"] == "prevalent").astype(float).tolist(),
    })


def _evidence(table: pd.DataFrame, previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Evidence columns for each (previous, current) pair, scaled; plus a known flag."""
    n = len(current)
    out = np.zeros((n, len(EVIDENCE_COLUMNS) + 1), np.float32)
    if table.empty or n == 0:
        return out
    pairs = pd.DataFrame({"antecedent": previous, "consequent": current})
    merged = pairs.merge(table, how="left", on=["antecedent", "consequent"], sort=False)
    known = merged["confidence"].notna().to_numpy()
    values = merged[list(EVIDENCE_COLUMNS)].fillna(0.0).to_numpy(np.float64)
    values[:, 1] = np.log1p(values[:, 1]) / 5.0
    values[:, 2] = np.log1p(values[:, 2]) / 5.0
    out[:, :-1] = values
    out[:, -1] = known
    return out
