"""Training examples for the sequence model: labelled candidate groups, hard negatives and
tenant-disjoint splits.

A candidate group (from :func:`fusion_ml.grouping.group_alerts`) is an **attack progression**
(label 1) when it holds alerts of one campaign that cover at least two distinct steps;
every other group is a negative (``benign`` when it holds no attack alert, ``partial`` when it
holds attack alerts of a single step, ``incidental`` when the simulator marked it as a benign
routine). Labels come from per-alert columns (:class:`LabelSpec`): the simulator's
``campaign_id`` / ``step``, or any labelled data, e.g. an analyst's verdict column mapped with
``--label-column``.

Hard negatives are built from the positives of the same split, so that order and context
matter and a bag of alert types cannot solve the task:

* ``reordered``: the campaign's alerts replayed against the kill chain (latest stage first)
  on the same timestamps;
* ``single-step``: the alerts of one campaign step mixed into an unrelated benign group of
  the same tenant.

A reordered negative starts at the campaign's latest stage, so on its own it teaches a
shortcut: "a group that starts late in the kill chain is benign". Real detections often start
late, when the first steps raised nothing. The training split therefore also gets
**late-start positives** (:func:`late_starts`): every positive with a step to spare, without
the alerts of its first step; it still covers ``min_steps`` steps, in order, so only the order
tells it from its reordered twin.

An example's ``group_id`` is the group's id, with ``~reordered`` / ``~single-step`` /
``~late-start`` appended for the derived examples.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from fusion_ml.attack import TACTIC_INDEX
from fusion_ml.errors import ConfigError, SchemaError, param_error

EXAMPLE_COLUMNS = ("group_id", "tenant_id", "label", "kind", "campaign_id", "playbook", "size")
"""Columns of :attr:`Examples.labels`."""
ALERT_LABEL = "attack_alert"
"""Per-alert column :func:`label_groups` adds: 1 when the alert belongs to an attack."""


@dataclass(frozen=True)
class LabelSpec:
    """Which per-alert columns carry the ground truth.

    ``campaign_column``: a campaign (or incident) id per alert, null for alerts that are not
    part of an attack; or, when it holds booleans / 0-1 integers, an attack flag (all
    attack alerts of one group then count as one campaign). ``step_column``: the campaign step
    of each alert; without it, distinct alert types count as steps. ``playbook_column`` (for
    holding out whole playbooks) and ``scenario_column`` (``incidental`` marks benign
    routines) are optional.
    """

    campaign_column: str = "campaign_id"
    step_column: str | None = "step"
    playbook_column: str | None = "playbook"
    scenario_column: str | None = "scenario"
    min_steps: int = 2

    @classmethod
    def for_column(cls, column: str) -> LabelSpec:
        """A spec for user data labelled only by ``column`` (campaign id or attack flag)."""
        return cls(campaign_column=column, step_column=None, playbook_column=None,
                   scenario_column=None)

    def check(self, columns: Iterable[str]) -> None:
        """Raise :class:`SchemaError` unless ``columns`` hold the campaign column."""
        columns = list(columns)
        if self.campaign_column not in columns:
            raise SchemaError(f"labels: expected a per-alert column {self.campaign_column!r} "
                              f"(campaign id or attack flag), found columns {columns}")

    def to_dict(self) -> dict[str, object]:
        """Plain values (for logging)."""
        return asdict(self)


@dataclass
class Examples:
    """Member alerts (``group_id`` = example id, sorted by example and time) and one label row
    per example (columns :data:`EXAMPLE_COLUMNS`)."""

    alerts: pd.DataFrame
    labels: pd.DataFrame

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, group_ids: pd.Index | np.ndarray | list[str]) -> Examples:
        """The examples whose ``group_id`` is in ``group_ids`` (order kept)."""
        keep = set(group_ids)
        labels = self.labels[self.labels["group_id"].isin(keep)].reset_index(drop=True)
        alerts = self.alerts[self.alerts["group_id"].isin(keep)].reset_index(drop=True)
        return Examples(alerts, labels)

    def concat(self, other: Examples) -> Examples:
        """Both sets of examples (alerts re-sorted by example and time)."""
        alerts = pd.concat([self.alerts, other.alerts], ignore_index=True)
        return Examples(_sort(alerts), pd.concat([self.labels, other.labels],
                                                 ignore_index=True))

    @property
    def y(self) -> np.ndarray:
        """Labels as an int array, in :attr:`labels` order."""
        return self.labels["label"].to_numpy(dtype=np.int64)


def _sort(alerts: pd.DataFrame) -> pd.DataFrame:
    return alerts.sort_values(["group_id", "timestamp", "alert_id"],
                              kind="stable").reset_index(drop=True)


def _campaign_ids(groups: pd.DataFrame, spec: LabelSpec) -> pd.Series:
    """Per alert: its campaign id as a string, or NA when it is not part of an attack."""
    spec.check(groups.columns)
    column = groups[spec.campaign_column]
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        values = pd.to_numeric(column, errors="coerce")
        bad = values.notna() & ~values.isin([0, 1])
        if bad.any():
            raise SchemaError(f"labels: column {spec.campaign_column!r} holds numbers other "
                              f"than 0/1 (e.g. {column[bad].iloc[0]!r} on alert "
                              f"{groups['alert_id'][bad].iloc[0]!r}); expected an attack flag "
                              f"or campaign ids")
        flag = values.fillna(0).astype(bool).to_numpy()
        out = pd.Series(pd.NA, index=groups.index, dtype="string")
        out[flag] = "attack:" + groups["group_id"][flag].astype(str)
        return out
    out = column.astype("string").str.strip()
    return out.mask(out.isin(["", "0", "false", "False", "benign", "none", "None"]))


def label_groups(groups: pd.DataFrame, spec: LabelSpec | None = None) -> Examples:
    """Label every candidate group of ``groups`` (output of
    :func:`~fusion_ml.grouping.group_alerts` with the label columns of ``spec``).

    Singletons are kept (label 0 unless ``min_steps`` is 1); callers filter by ``size``."""
    spec = spec or LabelSpec()
    if spec.min_steps < 1:
        raise param_error("LabelSpec", "min_steps", "an int >= 1", spec.min_steps)
    if "group_id" not in groups.columns:
        raise SchemaError("labels: expected grouped alerts with a 'group_id' column "
                          "(run group_alerts first)")
    alerts = _sort(groups.reset_index(drop=True).copy())
    campaign = _campaign_ids(alerts, spec)
    alerts[ALERT_LABEL] = campaign.notna().to_numpy().astype(np.int8)
    if spec.step_column and spec.step_column in alerts.columns:
        step = alerts[spec.step_column].astype("string")
    else:
        step = alerts["alert_type"].astype("string")
    attack = campaign.notna()
    pairs = pd.DataFrame({"group_id": alerts["group_id"][attack].to_numpy(),
                          "campaign_id": campaign[attack].to_numpy(),
                          "step": step[attack].to_numpy()})
    steps = pairs.groupby(["group_id", "campaign_id"], sort=False)["step"].nunique()
    best = steps.sort_values(ascending=False, kind="stable").groupby(level=0).head(1)
    best = best.reset_index().set_index("group_id")
    per_group = alerts.groupby("group_id", sort=False).agg(
        tenant_id=("tenant_id", "first"), size=("alert_id", "size"))
    per_group["campaign_id"] = best["campaign_id"].reindex(per_group.index).astype("string")
    n_steps = best["step"].reindex(per_group.index).fillna(0).astype(int)
    per_group["label"] = (n_steps >= spec.min_steps).astype(np.int8)
    playbook = pd.Series(pd.NA, index=per_group.index, dtype="string")
    if spec.playbook_column and spec.playbook_column in alerts.columns:
        named = alerts[[spec.playbook_column]].assign(group_id=alerts["group_id"],
                                                      campaign=campaign)
        named = named[named["campaign"].notna()]
        first = named.groupby(["group_id", "campaign"], sort=False)[spec.playbook_column].first()
        keys = list(zip(per_group.index, per_group["campaign_id"], strict=True))
        playbook = pd.Series([first.get(k) if isinstance(k[1], str) else None for k in keys],
                             index=per_group.index, dtype="string")
    per_group["playbook"] = playbook
    incidental = pd.Series(False, index=per_group.index)
    if spec.scenario_column and spec.scenario_column in alerts.columns:
        routine = alerts[spec.scenario_column].astype("string") == "incidental"
        incidental = routine.groupby(alerts["group_id"], sort=False).any().reindex(
            per_group.index).fillna(False)
    per_group["kind"] = np.select(
        [per_group["label"] == 1, per_group["campaign_id"].notna(), incidental],
        ["attack", "partial", "incidental"], default="benign")
    labels = per_group.reset_index()[list(EXAMPLE_COLUMNS)]
    return Examples(alerts, labels)


def _stage(tactics: object) -> int:
    """Latest kill-chain stage among an alert's tactics (-1 if none)."""
    if tactics is None:
        return -1
    return max((TACTIC_INDEX.get(str(t), -1) for t in tactics), default=-1)


def hard_negatives(examples: Examples, spec: LabelSpec | None = None,
                   seed: int = 0) -> Examples:
    """One ``reordered`` and one ``single-step`` negative per positive example (see the
    module docstring); the positive's campaign alerts only, so the result depends on
    ``examples`` and ``seed`` alone."""
    spec = spec or LabelSpec()
    rng = np.random.default_rng(seed)
    labels = examples.labels
    positives = labels[labels["label"] == 1]
    if positives.empty:
        return Examples(examples.alerts.iloc[:0].copy(), labels.iloc[:0].copy())
    alerts = examples.alerts
    campaign, step, by_group = _campaign_index(examples, spec)
    benign_ids = labels.loc[(labels["label"] == 0) & labels["kind"].isin(["benign"])
                            & (labels["size"] >= 2), ["group_id", "tenant_id"]]
    benign_by_tenant = {t: g.to_numpy() for t, g in benign_ids.groupby("tenant_id")["group_id"]}
    new_alerts, new_labels = [], []
    for row in positives.itertuples(index=False):
        idx = by_group[row.group_id]
        mine = idx[campaign[idx] == row.campaign_id]
        members = alerts.iloc[mine]
        # reordered: latest kill-chain stage first, on the same (sorted) timestamps
        stages = np.array([_stage(t) for t in members["tactics"]])
        backwards = members.iloc[np.argsort(-stages, kind="stable")].copy()
        backwards["timestamp"] = np.sort(members["timestamp"].to_numpy())
        if not backwards["alert_type"].reset_index(drop=True).equals(
                members["alert_type"].reset_index(drop=True)):
            new_alerts.append(backwards.assign(group_id=f"{row.group_id}~reordered"))
            new_labels.append(_label_row(row, f"{row.group_id}~reordered", "reordered",
                                         len(backwards)))
        # single-step: one step's alerts inside an unrelated benign group of the tenant
        pool = benign_by_tenant.get(row.tenant_id)
        if pool is None or not len(pool):
            continue
        steps = step[mine]
        chosen = steps[int(rng.integers(len(steps)))]
        part = members[steps == chosen]
        host = alerts.iloc[by_group[pool[int(rng.integers(len(pool)))]]]
        shift = part["timestamp"].min() - host["timestamp"].min()
        mixed = pd.concat([part.assign(timestamp=part["timestamp"] - shift), host])
        example_id = f"{row.group_id}~single-step"
        new_alerts.append(mixed.assign(group_id=example_id))
        new_labels.append(_label_row(row, example_id, "single-step", len(mixed)))
    return _derived(examples, new_alerts, new_labels)


def late_starts(examples: Examples, spec: LabelSpec | None = None) -> Examples:
    """One ``late-start`` positive per positive example whose campaign covers more than
    ``min_steps`` steps: the group without the campaign alerts of its earliest step (the step
    of its first campaign alert), bystanders kept (see the module docstring)."""
    spec = spec or LabelSpec()
    labels = examples.labels
    positives = labels[labels["label"] == 1]
    alerts = examples.alerts
    campaign, step, by_group = _campaign_index(examples, spec)
    new_alerts, new_labels = [], []
    for row in positives.itertuples(index=False):
        idx = by_group[row.group_id]  # in time order (Examples keep alerts sorted)
        in_campaign = campaign[idx] == row.campaign_id
        first = step[idx[in_campaign][0]]
        if len(pd.unique(step[idx[in_campaign & (step[idx] != first)]])) < spec.min_steps:
            continue
        kept = idx[~(in_campaign & (step[idx] == first))]
        example_id = f"{row.group_id}~late-start"
        new_alerts.append(alerts.iloc[kept].assign(group_id=example_id))
        new_labels.append(_label_row(row, example_id, "late-start", len(kept), label=1))
    return _derived(examples, new_alerts, new_labels)


def _campaign_index(examples: Examples, spec: LabelSpec
                    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Per alert its campaign id and its step (the alert type without a step column), both
    as objects, and the positions of each example's alerts."""
    alerts = examples.alerts
    campaign = _campaign_ids(alerts, spec).to_numpy(dtype=object, na_value=None)
    column = (alerts[spec.step_column] if spec.step_column and spec.step_column in alerts.columns
              else alerts["alert_type"])
    step = column.astype("string").to_numpy(dtype=object, na_value=None)
    return campaign, step, alerts.groupby("group_id", sort=False).indices


def _derived(examples: Examples, new_alerts: list[pd.DataFrame],
             new_labels: list[dict[str, object]]) -> Examples:
    """Examples built from ``examples`` (empty, with its columns, when none were built)."""
    if not new_alerts:
        return Examples(examples.alerts.iloc[:0].copy(), examples.labels.iloc[:0].copy())
    return Examples(_sort(pd.concat(new_alerts, ignore_index=True)),
                    pd.DataFrame(new_labels, columns=list(EXAMPLE_COLUMNS)))


def _label_row(row, group_id: str, kind: str, size: int, label: int = 0) -> dict[str, object]:
    return {"group_id": group_id, "tenant_id": row.tenant_id, "label": np.int8(label),
            "kind": kind, "campaign_id": row.campaign_id, "playbook": row.playbook,
            "size": size}


@dataclass(frozen=True)
class SplitConfig:
    """Tenant-disjoint splits: ``test_share`` and ``validation_share`` of the tenants (at least
    one each, drawn with ``seed``); ``min_size``: smallest group kept as an example."""

    test_share: float = 0.25
    validation_share: float = 0.15
    seed: int = 0
    min_size: int = 2
    late_starts: bool = True
    """Add :func:`late_starts` positives to the training split (never to validation or
    test, which keep the groups as they came)."""

    def validate(self) -> SplitConfig:
        """Check every parameter; returns ``self``."""
        owner = type(self).__name__
        for name in ("test_share", "validation_share"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
                raise param_error(owner, name, "a share in (0, 1)", value)
        if self.test_share + self.validation_share >= 1:
            raise param_error(owner, "test_share + validation_share", "< 1",
                              self.test_share + self.validation_share)
        if isinstance(self.min_size, bool) or not isinstance(self.min_size, int) \
                or self.min_size < 1:
            raise param_error(owner, "min_size", "an int >= 1", self.min_size)
        return self

    def to_dict(self) -> dict[str, object]:
        """Plain values (for logging)."""
        return asdict(self)


def split_tenants(tenants: list[str] | np.ndarray, config: SplitConfig) -> dict[str, list[str]]:
    """Tenants per split (sorted), drawn with ``config.seed``; raises when there are fewer than
    three tenants."""
    config.validate()
    tenants = sorted(set(map(str, tenants)))
    if len(tenants) < 3:
        raise ConfigError(f"tenant split: expected at least 3 tenants (train, validation, "
                          f"test), got {len(tenants)}")
    order = np.random.default_rng(config.seed).permutation(len(tenants))
    n_test = max(1, round(config.test_share * len(tenants)))
    n_val = max(1, round(config.validation_share * len(tenants)))
    n_test = min(n_test, len(tenants) - n_val - 1)
    test = [tenants[i] for i in order[:n_test]]
    validation = [tenants[i] for i in order[n_test:n_test + n_val]]
    train = [tenants[i] for i in order[n_test + n_val:]]
    return {"train": sorted(train), "validation": sorted(validation), "test": sorted(test)}


def build_splits(groups: pd.DataFrame, spec: LabelSpec | None = None,
                 config: SplitConfig | None = None) -> dict[str, Examples]:
    """Label ``groups``, keep groups of at least ``min_size`` alerts, split by tenant
    (``train``, ``validation``, ``test``) and add each split's hard negatives (and the
    training split's late-start positives, see ``SplitConfig.late_starts``)."""
    spec = spec or LabelSpec()
    config = (config or SplitConfig()).validate()
    examples = label_groups(groups, spec)
    labels = examples.labels[examples.labels["size"] >= config.min_size]
    tenants = split_tenants(labels["tenant_id"].unique(), config)
    out: dict[str, Examples] = {}
    for name, members in tenants.items():
        part = examples.subset(labels.loc[labels["tenant_id"].isin(members), "group_id"])
        out[name] = part.concat(hard_negatives(part, spec, seed=config.seed))
        if name == "train" and config.late_starts:
            out[name] = out[name].concat(late_starts(part, spec))
    return out


def _base_id(group_id: str) -> str:
    return group_id.split("~", 1)[0]


def touches_playbooks(examples: Examples, playbooks: tuple[str, ...] | list[str],
                      spec: LabelSpec | None = None) -> np.ndarray:
    """Per example (``labels`` order): whether it, or the group it was derived from, holds an
    alert of one of ``playbooks``."""
    spec = spec or LabelSpec()
    labels = examples.labels
    held = labels["playbook"].isin(list(playbooks)).to_numpy(dtype=bool, copy=True)
    column = spec.playbook_column
    if column and column in examples.alerts.columns:
        alerts = examples.alerts
        touched = {_base_id(g) for g in
                   alerts.loc[alerts[column].isin(list(playbooks)), "group_id"].astype(str)}
        held |= np.array([_base_id(g) in touched for g in labels["group_id"].astype(str)], bool)
    return held


def without_playbooks(examples: Examples, playbooks: tuple[str, ...] | list[str],
                      spec: LabelSpec | None = None) -> Examples:
    """``examples`` without anything that touches ``playbooks`` (for training a model that
    never saw them)."""
    keep = ~touches_playbooks(examples, playbooks, spec)
    return examples.subset(examples.labels.loc[keep, "group_id"])


def playbook_test(test: Examples, playbooks: tuple[str, ...] | list[str]) -> Examples:
    """The test negatives plus the positives of ``playbooks``: how well unseen playbooks are
    told apart from everything benign."""
    labels = test.labels
    keep = (labels["label"] == 0) | labels["playbook"].isin(list(playbooks))
    return test.subset(labels.loc[keep, "group_id"])
