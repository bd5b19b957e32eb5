"""Model-guided merging of campaign fragments: neighbouring candidate groups scored together.

Grouping (:mod:`fusion_ml.grouping`) links alerts through shared entities within fixed windows,
without looking at what the alerts are. A campaign whose steps share nothing but a busy host
(which links only alerts minutes apart) or come hours apart falls into several groups; each
fragment alone reads as one step among benign activity and scores low, so the campaign never
becomes an incident. The incident builder therefore asks the model about neighbours::

    scored = merge_fragments(scored, model, IncidentConfig())   # a new ScoredBatch

Two groups of a tenant are *neighbours* when they carry the same entity value and, on that
entity, one group's last alert comes at most ``fragment_window`` seconds before the other's
first (consecutive groups in time per entity). Any entity type counts, except an entity on
more than ``MAX_ENTITY_SHARE`` of the tenant's alerts (and on at least ``MIN_COMMON_ALERTS``):
a DNS server or a gateway relates nothing. A pair is tried when at least one of the two holds
an alert the model takes for part of an attack (``alert_score`` >= ``alert_threshold``, the
cut that keeps an alert in an incident's chain), at least one is below the incident threshold
(unscored singletons count as below), and together they hold at most ``max_size`` alerts.

The union is scored, and replaces the two when it reaches the threshold **and** its logit is
at least that of the better part. The group logit is an attention-weighted mean of per-alert
evidence (:mod:`fusion_ml.nn`), so benign alerts added to an attack fragment pull it down and
the merge is refused; alerts that read as further steps of the same attack raise it. Merges
are taken best union first, each group in at most one merge per round, for ``ROUNDS`` rounds
(a campaign in three fragments needs two). A merged group gets the stable id of its members
(:func:`fusion_ml.grouping.stable_group_id`) and its union's score and per-alert explanation.

On the demo month (held-out tenants of split 0) this turns 4-8 more campaigns into pure
incidents at a cost of about one more incident without an attack alert in 300 (see the README).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from fusion_ml.grouping import GroupingConfig, entity_table, stable_group_id, without_common
from fusion_ml.incident_config import IncidentConfig
from fusion_ml.schema import timestamps_us
from fusion_ml.scoring import SCORE_COLUMNS, ScoredBatch, group_table

if TYPE_CHECKING:  # pragma: no cover
    from fusion_ml.nn import SequenceModel

ROUNDS = 2
"""Rounds of merging (each group joins at most one merge per round)."""
MAX_ENTITY_SHARE = GroupingConfig.burst_max_share
"""Entities on more than this share of a tenant's alerts (and on at least
``MIN_COMMON_ALERTS`` of them) make no neighbours: the grouping's defaults for entities that
link nothing."""
MIN_COMMON_ALERTS = GroupingConfig.common_min_alerts


def merge_fragments(scored: ScoredBatch, model: SequenceModel,
                    config: IncidentConfig | None = None) -> ScoredBatch:
    """``scored`` with neighbouring fragments that the model scores better together merged
    (see the module docstring); ``scored`` itself is not modified. ``model`` is the
    :class:`~fusion_ml.nn.SequenceModel` that scored the batch (anything with its
    ``explain``); the threshold is ``config.threshold`` or the batch's. ``merged_groups`` of
    the result counts the merges."""
    config = (config or IncidentConfig()).validate()
    if config.fragment_window <= 0 or scored.alerts.empty:
        return scored
    threshold = scored.threshold if config.threshold is None else config.threshold
    frame = scored.alerts.reset_index(drop=True)  # a copy: rows are positions below
    frame["group_id"] = frame["group_id"].astype(str)
    score = scored.groups.set_index("group_id")["score"].astype(float).to_dict()
    entities = _linking_entities(frame, config)
    merges = 0
    for _ in range(ROUNDS):
        pairs = _neighbours(frame, entities, score, threshold, config)
        if pairs.empty:
            break
        members = _members(frame, set(pairs["a"]) | set(pairs["b"]))
        union, rows = _unions(frame, pairs, members)
        union_scores, per_alert = model.explain(union)
        pairs["score"] = union_scores.reindex(pairs["union"]).to_numpy(dtype=float)
        better = pairs["score"] >= threshold
        better &= _logit(pairs["score"]) >= _logit(np.fmax(pairs["score_a"], pairs["score_b"]))
        accepted = _disjoint(pairs[better])
        if accepted.empty:
            break
        merges += len(accepted)
        score = _apply(frame, score, accepted, per_alert, rows, members)
    if not merges:
        return scored
    frame["group_id"] = frame["group_id"].astype("string")  # rows stay where they were
    groups = group_table(frame, score)
    return dataclasses.replace(scored, alerts=frame, groups=groups,
                               merged_groups=scored.merged_groups + merges)


def _logit(p: pd.Series | np.ndarray) -> np.ndarray:
    """log-odds; NaN (an unscored group) becomes -inf."""
    p = np.clip(np.asarray(p, dtype=float), 1e-12, 1 - 1e-12)
    return np.nan_to_num(np.log(p / (1 - p)), nan=-np.inf)


def _linking_entities(frame: pd.DataFrame, config: IncidentConfig) -> pd.DataFrame:
    """Entities that make neighbours, of the tenants with an attack alert only: ``row`` (of
    the alert in ``frame``), ``key`` (a code per tenant, type and value) and ``t`` (µs)."""
    attack_tenants = frame.loc[frame["alert_score"] >= config.alert_threshold, "tenant_id"]
    rows = np.flatnonzero(frame["tenant_id"].isin(set(attack_tenants)).to_numpy())
    if not len(rows):
        return pd.DataFrame({"row": [], "key": [], "t": []}, dtype="int64")
    part = frame.iloc[rows]
    entities = without_common(entity_table(part), part["tenant_id"], MAX_ENTITY_SHARE,
                              MIN_COMMON_ALERTS)
    rows = rows[entities["row"].to_numpy()]
    return pd.DataFrame({
        "row": rows,
        "key": entities.groupby(["tenant", "type", "value"], sort=False).ngroup().to_numpy(),
        "t": timestamps_us(frame["timestamp"])[rows]})


def _neighbours(frame: pd.DataFrame, entities: pd.DataFrame, score: dict[str, float],
                threshold: float, config: IncidentConfig) -> pd.DataFrame:
    """Pairs of groups to try: ``a``, ``b`` (a < b), ``score_a``, ``score_b``, ``size``."""
    group = frame["group_id"].to_numpy()
    hot = set(group[(frame["alert_score"] >= config.alert_threshold).to_numpy()])
    if not hot or entities.empty:
        return pd.DataFrame()
    rows, key = entities["row"].to_numpy(), entities["key"].to_numpy()
    in_hot = frame["group_id"].isin(hot).to_numpy()[rows]
    near_hot = np.isin(key, np.unique(key[in_hot]))  # entities a hot group carries
    spans = pd.DataFrame({"key": key[near_hot], "group_id": group[rows[near_hot]],
                          "t": entities["t"].to_numpy()[near_hot]})
    spans = spans.groupby(["key", "group_id"], sort=False)["t"].agg(["min", "max"]).reset_index()
    spans = spans.sort_values(["key", "min", "group_id"], kind="stable")
    key, ids, low, high = (spans[c].to_numpy() for c in ("key", "group_id", "min", "max"))
    near = (key[1:] == key[:-1]) & (low[1:] - high[:-1] <= config.fragment_window * 1e6)
    pairs = pd.DataFrame({"a": np.minimum(ids[:-1][near], ids[1:][near]),
                          "b": np.maximum(ids[:-1][near], ids[1:][near])})
    pairs = pairs[(pairs["a"] != pairs["b"]) & (pairs["a"].isin(hot) | pairs["b"].isin(hot))]
    pairs = pairs.drop_duplicates().sort_values(["a", "b"]).reset_index(drop=True)
    paired = frame["group_id"]
    sizes = paired[paired.isin(set(pairs["a"]) | set(pairs["b"]))].value_counts().to_dict()
    for side in ("a", "b"):  # dict lookups: the pairs are few, the groups many
        pairs[f"size_{side}"] = [sizes[g] for g in pairs[side]]
        pairs[f"score_{side}"] = np.array([score.get(g, np.nan) for g in pairs[side]], float)
    pairs["size"] = pairs["size_a"] + pairs["size_b"]
    below = ~(pairs["score_a"] >= threshold) | ~(pairs["score_b"] >= threshold)
    return pairs[below & (pairs["size"] <= config.max_size)].reset_index(drop=True)


def _unions(frame: pd.DataFrame, pairs: pd.DataFrame, members: dict[str, np.ndarray]
            ) -> tuple[pd.DataFrame, np.ndarray]:
    """The alerts of each pair's two groups (``members``: their rows) under the group id
    ``union`` (``u<n>``, added to ``pairs``), and each union row's row in ``frame``."""
    rows = np.concatenate([np.concatenate([members[a], members[b]])
                           for a, b in zip(pairs["a"], pairs["b"], strict=True)])
    pairs["union"] = [f"u{i}" for i in range(len(pairs))]
    union = frame.iloc[rows].reset_index(drop=True)
    union["group_id"] = np.repeat(pairs["union"].to_numpy(), pairs["size"].to_numpy())
    return union, rows


def _members(frame: pd.DataFrame, groups: set[str]) -> dict[str, np.ndarray]:
    """Rows (positions in ``frame``) of each of ``groups``."""
    rows = np.flatnonzero(frame["group_id"].isin(groups).to_numpy())
    local = frame["group_id"].iloc[rows].groupby(frame["group_id"].iloc[rows], sort=False).indices
    return {group: rows[index] for group, index in local.items()}


def _disjoint(candidates: pd.DataFrame) -> pd.DataFrame:
    """Best union first (then by group ids), each group in at most one merge."""
    candidates = candidates.sort_values(["score", "a", "b"], ascending=[False, True, True],
                                        kind="stable")
    used: set[str] = set()
    keep = []
    for i, a, b in zip(candidates.index, candidates["a"], candidates["b"], strict=True):
        if a not in used and b not in used:
            used.update((a, b))
            keep.append(i)
    return candidates.loc[keep]


def _apply(frame: pd.DataFrame, score: dict[str, float], accepted: pd.DataFrame,
           per_alert: pd.DataFrame, rows: np.ndarray, members: dict[str, np.ndarray]
           ) -> dict[str, float]:
    """Make each accepted pair one group in ``frame`` (in place; ``members``: each group's
    rows), carrying its union's score and per-alert explanation; returns the new scores."""
    explained = per_alert[per_alert["group_id"].isin(set(accepted["union"]))]
    target = rows[explained["row"].to_numpy()]
    for column in SCORE_COLUMNS:
        values = frame[column].to_numpy(dtype=float, copy=True)
        values[target] = explained[column].to_numpy(dtype=float)
        frame[column] = values
    alert_ids = frame["alert_id"].astype(str).to_numpy()
    tenants = frame["tenant_id"].astype(str).to_numpy()
    group = frame["group_id"].to_numpy(dtype=object, copy=True)
    size = frame["group_size"].to_numpy(dtype=np.int64, copy=True)
    score = dict(score)
    for a, b, value in zip(accepted["a"], accepted["b"], accepted["score"], strict=True):
        joined = np.concatenate([members[a], members[b]])
        merged = stable_group_id(tenants[joined[0]], alert_ids[joined].tolist())
        group[joined] = merged
        size[joined] = len(joined)
        score[merged] = float(value)
        score.pop(a, None)
        score.pop(b, None)
    frame["group_id"] = group
    frame["group_size"] = size
    return score


__all__ = ["MAX_ENTITY_SHARE", "MIN_COMMON_ALERTS", "ROUNDS", "merge_fragments"]
