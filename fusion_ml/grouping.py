"""Candidate grouping: within each tenant, alerts that share a normalized entity within a time
window are linked; connected components (bounded in size and span) become candidate groups.

* An entity on at most ``rare_max_alerts`` alerts of the tenant (an attacker's address, a
  dropped file, a host that rarely alerts) links over the longer ``rare_window``: sharing it is
  telling even hours apart, so a campaign whose steps are spread over a day stays together.
* Entities on more than ``common_share`` of a tenant's alerts (and on at least
  ``common_min_alerts`` of them) link only alerts at most ``burst_window`` apart (a quick
  series of steps on one busy host), and not at all when on more than ``burst_max_share`` of
  them: a DNS server or a gateway would otherwise pull everything into one giant component.
* No group holds more than ``max_size`` alerts: links are joined most specific first (the
  fewest alerts carry their entity), each only while the joined group stays within
  ``max_size``. A connected component that fits is one group; a larger one (a large tenant's
  process names and software-update files chain its day together) keeps its telling links,
  an attacker's address or a victim's account, over the widespread ones. A group longer than
  ``max_span`` is split, in time order, into consecutive groups (nothing is truncated).
* Group ids are stable: a hash of the tenant and the sorted member alert ids.
* Low-fidelity signals join groups like alerts do and are marked (``is_signal``).
* Each alert gets ``entity_counts``: for each of its entities, how many distinct alerts of the
  tenant in the grouped batch carry it (how common the entity is; a feature of the model), and
  ``type_count``: how many alerts of the tenant in the batch have its alert type (routine noise
  such as a scanner hitting the perimeter fires all month; a campaign's alerts are rare).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
from numba import njit

from fusion_ml.errors import param_error
from fusion_ml.schema import ENTITY_STRUCT, ENTITY_TYPES, arrow_array, timestamps_us

GROUP_COLUMNS = ("group_id", "group_size", "is_signal", "entity_counts", "type_count")
"""Columns :func:`group_alerts` adds to the alerts."""


@dataclass(frozen=True)
class GroupingConfig:
    """How alerts are linked into candidate groups (times in seconds)."""

    window: float = 6 * 3_600.0
    """Two alerts sharing an entity link if at most this far apart."""
    max_span: float = 7 * 86_400.0
    """Longest time from a group's first to its last alert."""
    max_size: int = 50
    """Most alerts in one group (a larger component keeps its most specific links)."""
    rare_window: float = 86_400.0
    """Two alerts sharing a rare entity (see ``rare_max_alerts``) link if at most this far
    apart (at least ``window``)."""
    rare_max_alerts: int = 10
    """An entity on at most this many alerts of the tenant in the batch is rare (0: none)."""
    common_share: float = 0.02
    """Entities on more than this share of a tenant's alerts are common ..."""
    common_min_alerts: int = 20
    """... provided they are on at least this many alerts."""
    burst_window: float = 600.0
    """Common entities still link alerts at most this far apart (0: never) ..."""
    burst_max_share: float = 0.1
    """... unless on more than this share of the tenant's alerts."""
    link_types: tuple[str, ...] = ENTITY_TYPES
    """Entity types that link alerts."""

    def validate(self) -> GroupingConfig:
        """Check every parameter; returns ``self``."""
        owner = type(self).__name__
        for name in ("window", "max_span", "rare_window"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise param_error(owner, name, "a number of seconds > 0", value)
        for name in ("max_size", "common_min_alerts", "rare_max_alerts"):
            value = getattr(self, name)
            lowest = 0 if name == "rare_max_alerts" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
                raise param_error(owner, name, f"an int >= {lowest}", value)
        for name in ("common_share", "burst_max_share"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
                raise param_error(owner, name, "a share in (0, 1]", value)
        if isinstance(self.burst_window, bool) or not isinstance(self.burst_window, int | float) \
                or self.burst_window < 0:
            raise param_error(owner, "burst_window", "a number of seconds >= 0", self.burst_window)
        unknown = sorted(set(self.link_types) - set(ENTITY_TYPES))
        if unknown:
            raise param_error(owner, "link_types", f"entity types from {ENTITY_TYPES}", unknown)
        return self

    def to_dict(self) -> dict[str, object]:
        """Plain values (for logging and catalogs)."""
        return asdict(self)


@njit(cache=True)
def _split(component, times_us, max_span_us):  # pragma: no cover - compiled
    """Chunk number of each alert (sorted by component, then time) within its component: a
    new chunk where the component changes or the chunk would span more than ``max_span_us``
    (components are already within ``max_size``, see :func:`_components`)."""
    chunk = np.zeros(len(component), np.int64)
    current = -1
    start = 0
    number = -1
    for i in range(len(component)):
        if component[i] != current or times_us[i] - start > max_span_us:
            number += 1
            current = component[i]
            start = times_us[i]
        chunk[i] = number
    return chunk


@dataclass(frozen=True)
class _Entities:
    """Every entity of every alert, flat: the alert's row (``parents``), its ``types``, a dense
    ``key`` per (tenant, type, value), the tenant code of each row (``tenants``) and, per key,
    the number of distinct alerts (tenant and ``alert_id``) that carry it (``alerts_per_key``)."""

    parents: np.ndarray
    types: np.ndarray
    key: np.ndarray
    tenants: np.ndarray
    alerts_per_key: np.ndarray
    column: pa.ListArray


def _entities(alerts: pd.DataFrame) -> _Entities:
    """The flat entity table of ``alerts`` (see :class:`_Entities`)."""
    entities = arrow_array(alerts["entities"], pa.list_(ENTITY_STRUCT))
    parents = entities.value_parent_indices().to_numpy().astype(np.int64)
    flat = entities.flatten()
    tenants = (_codes(pa.array(alerts["tenant_id"].astype(str).to_numpy()))
               if "tenant_id" in alerts.columns else np.zeros(len(alerts), np.int64))
    alert_code = _combine(tenants, _codes(pa.array(alerts["alert_id"].astype(str).to_numpy())))
    key = _combine(_combine(tenants[parents], _codes(flat.field("type"))),
                   _codes(flat.field("value")))
    per_key = np.zeros(0, np.int64)
    if len(key):
        stride = int(alert_code.max()) + 1
        pairs = np.sort(key * stride + alert_code[parents])
        distinct = pairs[np.r_[True, pairs[1:] != pairs[:-1]]]
        per_key = np.bincount(distinct // stride, minlength=int(key.max()) + 1)
    return _Entities(parents, flat.field("type").to_numpy(zero_copy_only=False), key, tenants,
                     per_key, entities)


def entity_counts(alerts: pd.DataFrame) -> pd.Series:
    """Per alert, aligned with its ``entities``: the number of distinct alerts (by
    ``tenant_id`` and ``alert_id``; all one tenant without ``tenant_id``) of the same tenant in
    ``alerts`` that carry the same entity type and value. A list column (Arrow ``list<int64>``)
    with ``alerts``' index."""
    return _counts_column(_entities(alerts), alerts.index)


def type_counts(alerts: pd.DataFrame) -> pd.Series:
    """Per alert, the number of distinct alerts (by ``tenant_id`` and ``alert_id``; all one
    tenant without ``tenant_id``) of the same tenant in ``alerts`` that have its
    ``alert_type``; an int64 Series with ``alerts``' index."""
    tenant = (pd.factorize(alerts["tenant_id"].astype(str))[0] if "tenant_id" in alerts.columns
              else np.zeros(len(alerts))).astype(np.int64)
    kind, kinds = pd.factorize(alerts["alert_type"].astype(str))
    alert = pd.factorize(alerts["alert_id"].astype(str))[0]
    _, first = np.unique(tenant * (alert.max(initial=0) + 1) + alert, return_index=True)
    key = tenant * max(len(kinds), 1) + kind  # one code per tenant and type
    counts = np.bincount(key[first], minlength=int(key.max(initial=-1)) + 1)[key]
    return pd.Series(counts, index=alerts.index, name="type_count", dtype="int64")


def _counts_column(entities: _Entities, index: pd.Index) -> pd.Series:
    column = entities.column
    offsets = pa.array(column.offsets.to_numpy() - column.offsets[0].as_py(), pa.int32())
    values = pa.ListArray.from_arrays(
        offsets, pa.array(entities.alerts_per_key[entities.key], pa.int64()),
        mask=column.is_null())
    return pd.Series(pd.arrays.ArrowExtensionArray(values), index=index, name="entity_counts")


def _codes(values: pa.Array) -> np.ndarray:
    """Dense int64 codes of an Arrow array (nulls get their own code)."""
    codes = values.dictionary_encode().indices.to_numpy(zero_copy_only=False)
    return np.nan_to_num(codes, nan=-1).astype(np.int64) + 1


def _combine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense codes of the pairs ``(a[i], b[i])``."""
    if not len(a):
        return np.zeros(0, np.int64)
    return pd.factorize(a * (int(b.max()) + 1) + b)[0].astype(np.int64)


def _links(config: GroupingConfig, entities: _Entities, times: np.ndarray, rank: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges (i, j) between alerts (positions in the grouped frame) that share a linking
    entity within the window (the rare window for rare entities, the burst window for common
    ones): consecutive alerts per (tenant, entity) in ``rank`` order (:func:`_time_rank`;
    ``times``: each alert's time in µs); and per edge the number of alerts that carry its
    entity (how specific the link is)."""
    keep = np.isin(entities.types, list(config.link_types))
    if not keep.any():
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64)
    per_key = entities.alerts_per_key
    key_tenant = np.zeros(len(per_key), np.int64)
    key_tenant[entities.key] = entities.tenants[entities.parents]
    share = per_key / np.maximum(np.bincount(entities.tenants)[key_tenant], 1)
    common = (share > config.common_share) & (per_key >= config.common_min_alerts)
    window = np.select([per_key <= config.rare_max_alerts, ~common, share <= config.burst_max_share],
                       [max(config.rare_window, config.window), config.window,
                        config.burst_window], default=0.0)
    usable = keep & (window[entities.key] > 0)
    alerts, key = entities.parents[usable], entities.key[usable]
    window = window[key]
    times = times[alerts]
    order = np.lexsort((rank[alerts], key))
    alerts, key, times, window = alerts[order], key[order], times[order], window[order]
    same = (key[1:] == key[:-1]) & (times[1:] - times[:-1] <= window[1:] * 1e6)
    return alerts[:-1][same], alerts[1:][same], per_key[key[1:][same]]


def group_alerts(alerts: pd.DataFrame, config: GroupingConfig | None = None) -> pd.DataFrame:
    """The alerts (a new frame) with ``group_id``, ``group_size`` and ``is_signal`` added,
    sorted by tenant, group start and time. Every alert is in exactly one group (possibly
    alone); the input is not modified."""
    config = (config or GroupingConfig()).validate()
    frame = alerts.reset_index(drop=True).copy()
    n = len(frame)
    if n == 0:
        for column, dtype in (("group_id", "string"), ("group_size", "int64"),
                              ("is_signal", "bool"),
                              ("entity_counts", pd.ArrowDtype(pa.list_(pa.int64()))),
                              ("type_count", "int64")):
            frame[column] = pd.Series(dtype=dtype)
        return frame
    entities = _entities(frame)
    times = timestamps_us(frame["timestamp"])
    rank = _time_rank(frame, times)
    src, dst, carriers = _links(config, entities, times, rank)
    component = _components(rank, src, dst, carriers, config.max_size)
    order = np.lexsort((rank, component))
    chunk_sorted = _split(component[order], times[order], int(config.max_span * 1e6))
    chunk = np.empty(n, np.int64)
    chunk[order] = chunk_sorted
    frame["_chunk"] = chunk
    ids = frame.groupby("_chunk", sort=False).agg(
        tenant=("tenant_id", "first"), size=("alert_id", "size"), start=("timestamp", "min"))
    ids["group_id"] = _group_ids(chunk, frame["alert_id"].astype(str).to_numpy(),
                                 ids["tenant"].to_dict())
    frame["group_id"] = frame["_chunk"].map(ids["group_id"]).astype("string")
    frame["group_size"] = frame["_chunk"].map(ids["size"]).astype("int64")
    frame["_start"] = frame["_chunk"].map(ids["start"])
    frame["is_signal"] = (frame["fidelity"] == "signal").fillna(False).astype(bool)
    frame["entity_counts"] = _counts_column(entities, frame.index)
    frame["type_count"] = type_counts(frame)
    frame = frame.sort_values(["tenant_id", "_start", "group_id", "timestamp", "alert_id"],
                              kind="stable").drop(columns=["_chunk", "_start"])
    return frame.reset_index(drop=True)


def _time_rank(frame: pd.DataFrame, times: np.ndarray) -> np.ndarray:
    """Each alert's position in time order, ties broken by tenant and alert id: an order that
    does not depend on the input's."""
    rank = np.empty(len(frame), np.int64)
    rank[np.lexsort((frame["alert_id"].astype(str).to_numpy(),
                     frame["tenant_id"].astype(str).to_numpy(), times))] = np.arange(len(frame))
    return rank


def _components(rank: np.ndarray, src: np.ndarray, dst: np.ndarray, carriers: np.ndarray,
                max_size: int) -> np.ndarray:
    """Component label of each alert: the links joined most specific first (the fewest alerts
    carry their entity; then in ``rank`` order), each only while the joined component stays within
    ``max_size`` alerts. A component that fits is exactly the connected component; a larger
    one is built from its most telling links (an attacker's address, the victim's account)
    before a process name or a software update file that a large tenant's hosts share all
    day, instead of chaining the day into one component cut into consecutive slices in which a
    campaign sits among unrelated alerts."""
    later, earlier = np.maximum(rank[src], rank[dst]), np.minimum(rank[src], rank[dst])
    order = np.lexsort((earlier, later, carriers))
    return _capped_union(len(rank), src[order], dst[order], max_size)


@njit(cache=True)
def _capped_union(n, src, dst, max_size):  # pragma: no cover - compiled
    """Union-find over ``n`` alerts, joining along the edges in order while the union has at
    most ``max_size`` members; each alert's root."""
    parent = np.arange(n)
    size = np.ones(n, np.int64)
    for k in range(len(src)):
        a = src[k]
        while parent[a] != a:
            a = parent[a]
        b = dst[k]
        while parent[b] != b:
            b = parent[b]
        if a != b and size[a] + size[b] <= max_size:
            if a > b:
                a, b = b, a
            parent[b] = a
            size[a] += size[b]
    out = np.empty(n, np.int64)
    for i in range(n):
        a = i
        while parent[a] != a:
            a = parent[a]
        out[i] = a
    return out


def _group_ids(chunk: np.ndarray, alert_ids: np.ndarray, tenants: dict[int, str]) -> dict:
    """``{chunk: "g-<sha256 of tenant and sorted member ids>"}``."""
    order = np.lexsort((alert_ids, chunk))
    sorted_chunks = chunk[order]
    bounds = np.flatnonzero(np.diff(sorted_chunks)) + 1
    ids = {}
    for members in np.split(order, bounds):
        number = int(chunk[members[0]])
        ids[number] = stable_group_id(tenants[number], alert_ids[members].tolist())
    return ids


def stable_group_id(tenant: str, alert_ids: list[str]) -> str:
    """``g-<sha256 of the tenant and the sorted member alert ids>``: the same members give the
    same id."""
    text = tenant + "\n" + "\n".join(sorted(alert_ids))
    return "g-" + hashlib.sha256(text.encode()).hexdigest()[:20]


def entity_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per distinct (alert row, entity): ``row`` (position in ``frame``), ``type``,
    ``value``, ``tenant``."""
    values = arrow_array(frame["entities"], pa.list_(ENTITY_STRUCT))
    parents = values.value_parent_indices().to_numpy()
    flat = values.flatten()
    table = pd.DataFrame({"row": parents,
                          "type": flat.field("type").to_numpy(zero_copy_only=False),
                          "value": flat.field("value").to_numpy(zero_copy_only=False)})
    table["tenant"] = frame["tenant_id"].to_numpy()[parents]
    return table.drop_duplicates(["row", "type", "value"])


def without_common(entities: pd.DataFrame, tenant_ids: pd.Series, share: float,
                   min_alerts: int) -> pd.DataFrame:
    """``entities`` (as :func:`entity_table` gives, for the alerts whose ``tenant_id`` column
    is ``tenant_ids``) without those on more than ``share`` of their tenant's alerts and on
    at least ``min_alerts`` of them: gateways and DNS servers, which relate nothing."""
    per_key = entities.groupby(["tenant", "type", "value"], sort=False)["row"].transform("size")
    per_tenant = entities["tenant"].map(tenant_ids.value_counts())
    return entities[~((per_key > share * per_tenant) & (per_key >= min_alerts)).to_numpy()]


def group_summary(groups: pd.DataFrame) -> pd.DataFrame:
    """One row per group: ``group_id``, ``tenant_id``, ``size``, ``signals``, ``first_seen``,
    ``last_seen``, ``span_s``, ``alert_types`` (distinct)."""
    summary = groups.groupby("group_id", sort=False).agg(
        tenant_id=("tenant_id", "first"), size=("alert_id", "size"),
        signals=("is_signal", "sum"), first_seen=("timestamp", "min"),
        last_seen=("timestamp", "max"), alert_types=("alert_type", "nunique"))
    summary["span_s"] = (summary["last_seen"] - summary["first_seen"]).dt.total_seconds()
    return summary.reset_index()
