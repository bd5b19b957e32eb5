"""Batch scoring: group a batch of canonical alerts into candidate groups and score them with
the sequence model, with a per-alert explanation.

    scorer = Scorer.from_uri("models:/fusion-sequence-model@champion")
    batch = scorer.score(alerts)          # a ScoredBatch
    batch.groups                          # one row per group: group_id, tenant_id, size, score
    batch.alerts                          # grouped alerts + contribution, alert_score, position

Groups smaller than ``min_group_size`` (singletons by default) are not scored as
progressions (``score`` is NaN) but stay in ``alerts`` as possible related signals. Scoring is
vectorized: the model encodes all groups at once and runs the network in length-sorted
batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fusion_ml.errors import SchemaError, param_error
from fusion_ml.grouping import GroupingConfig, entity_counts, group_alerts, type_counts
from fusion_ml.nn import SequenceModel

SCORE_COLUMNS = ("contribution", "alert_score", "position")
"""Columns :meth:`Scorer.score` adds to each alert (NaN for alerts of unscored groups)."""
GROUP_COLUMNS = ("group_id", "tenant_id", "size", "first_seen", "last_seen", "score")
"""Columns of :attr:`ScoredBatch.groups`."""


@dataclass
class ScoredBatch:
    """What :meth:`Scorer.score` returns.

    ``alerts``: the grouped alerts (``group_id``, ``group_size``, ``is_signal``) with
    :data:`SCORE_COLUMNS`; ``groups``: one row per group with :data:`GROUP_COLUMNS` (``score``
    NaN for groups below the minimum size); ``threshold``: the model's decision threshold;
    ``merged_groups``: merges of neighbouring fragments
    (:func:`fusion_ml.fragments.merge_fragments`) behind these groups.
    """

    alerts: pd.DataFrame
    groups: pd.DataFrame
    threshold: float
    merged_groups: int = 0


class Scorer:
    """A sequence model plus the grouping it scores (see the module docstring)."""

    def __init__(self, model: SequenceModel, grouping: GroupingConfig | None = None,
                 min_group_size: int = 2, model_uri: str | None = None) -> None:
        if isinstance(min_group_size, bool) or not isinstance(min_group_size, int) \
                or min_group_size < 1:
            raise param_error("Scorer", "min_group_size", "an int >= 1", min_group_size)
        if not hasattr(model, "network_"):
            raise param_error("Scorer", "model", "a fitted SequenceModel", model)
        self.model = model
        self.grouping = (grouping or GroupingConfig()).validate()
        self.min_group_size = min_group_size
        self.model_uri = model_uri

    @classmethod
    def from_uri(cls, uri: str, grouping: GroupingConfig | None = None,
                 min_group_size: int = 2) -> Scorer:
        """Load the model from the MLflow registry (``models:/NAME@ALIAS``,
        ``models:/NAME/VERSION``) through :func:`fusion_ml.registry.load_sequence_model`."""
        from fusion_ml.registry import load_sequence_model

        return cls(load_sequence_model(uri), grouping, min_group_size, model_uri=uri)

    @property
    def threshold(self) -> float:
        """The model's incident threshold (``incident_threshold_``: the lowest score reaching the
        configured validation precision)."""
        return float(getattr(self.model, "incident_threshold_", self.model.threshold_))

    def score(self, alerts: pd.DataFrame, min_group_size: int | None = None) -> ScoredBatch:
        """Group ``alerts`` (canonical columns; not modified) and score the groups
        (``min_group_size`` overrides the scorer's for this call)."""
        return self.score_groups(group_alerts(alerts, self.grouping), min_group_size)

    def score_groups(self, grouped: pd.DataFrame, min_group_size: int | None = None
                     ) -> ScoredBatch:
        """Score alerts that already carry a ``group_id`` (e.g. from
        :func:`~fusion_ml.grouping.group_alerts` or a client of the HTTP service)."""
        minimum = self.min_group_size if min_group_size is None else min_group_size
        if "group_id" not in grouped.columns:
            raise SchemaError("scoring: expected grouped alerts with a 'group_id' column")
        frame = grouped.reset_index(drop=True).copy()
        sizes = frame.groupby("group_id", sort=False)["alert_id"].transform("size")
        if "group_size" not in frame.columns:
            frame["group_size"] = sizes.astype("int64")
        if "is_signal" not in frame.columns:
            frame["is_signal"] = (frame["fidelity"] == "signal").fillna(False).astype(bool)
        if "entity_counts" not in frame.columns:  # counted over everything sent, not a subset
            frame["entity_counts"] = entity_counts(frame)
        if "type_count" not in frame.columns:
            frame["type_count"] = type_counts(frame)
        for column in SCORE_COLUMNS:
            frame[column] = np.nan
        scored = (sizes >= minimum).to_numpy()
        scores = pd.Series(dtype=float)
        if scored.any():
            subset = frame[scored]
            scores, per_alert = self.model.explain(subset)
            rows = np.flatnonzero(scored)[per_alert["row"].to_numpy()]
            for column in SCORE_COLUMNS:
                values = frame[column].to_numpy(copy=True)
                values[rows] = per_alert[column].to_numpy(dtype=float)
                frame[column] = values
        return ScoredBatch(frame, group_table(frame, scores.to_dict()), self.threshold)


def group_table(alerts: pd.DataFrame, scores: dict[str, float]) -> pd.DataFrame:
    """One row per group of ``alerts`` with :data:`GROUP_COLUMNS`; ``score`` from ``scores``
    (by group id; NaN for groups not in it)."""
    groups = alerts.groupby("group_id", sort=False).agg(
        tenant_id=("tenant_id", "first"), size=("alert_id", "size"),
        first_seen=("timestamp", "min"), last_seen=("timestamp", "max")).reset_index()
    groups["group_id"] = groups["group_id"].astype(str)
    groups["score"] = groups["group_id"].map(scores).astype(float)
    return groups[list(GROUP_COLUMNS)]
