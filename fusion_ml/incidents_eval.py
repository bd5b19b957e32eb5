"""Incidents against ground truth: did each campaign surface as one pure incident?

A campaign (alerts sharing a ``campaign_id``) is **detected** when one incident holds at least
``min_coverage`` (half) of the campaign's alerts **and** at least ``min_purity`` (90%) of that
incident's alerts belong to the campaign. The purity rule is what makes the criterion strict:
putting every alert of a tenant into one incident covers every campaign but is not pure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from fusion_ml.errors import SchemaError


@dataclass(frozen=True)
class DetectionMetrics:
    """Figures of :func:`evaluate_incidents`.

    ``campaigns`` / ``detected`` / ``detection_rate``: campaigns in the evaluated alerts and
    how many surfaced (see the module docstring); ``incidents``; ``false_incidents`` /
    ``false_incident_rate``: incidents with no attack alert; ``incident_alerts`` and
    ``benign_share``: alerts inside incidents and the share of them that are benign;
    ``mean_purity``: mean share of an incident's alerts from its main campaign; ``alerts`` and
    ``reduction``: alerts evaluated per incident (``alerts / incidents``).
    """

    campaigns: int
    detected: int
    detection_rate: float
    incidents: int
    false_incidents: int
    false_incident_rate: float
    incident_alerts: int
    benign_share: float
    mean_purity: float
    alerts: int
    reduction: float
    progressions: int = 0
    progressions_detected: int = 0
    progression_detection_rate: float = float("nan")
    """The same over campaigns whose evaluated alerts cover at least two distinct steps (attack
    progressions; a campaign cut to one step by the end of the data cannot be one)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain values."""
        return asdict(self)


def evaluate_incidents(members: pd.DataFrame, alerts: pd.DataFrame,
                       campaign_column: str = "campaign_id", min_coverage: float = 0.5,
                       min_purity: float = 0.9, step_column: str = "step") -> DetectionMetrics:
    """Score incidents (``members``: one row per incident alert with ``incident_id``,
    ``tenant_id``, ``alert_id``, as :meth:`IncidentBatch.members` gives) against the
    ground truth of ``alerts`` (``tenant_id``, ``alert_id`` and ``campaign_column``, null for
    benign alerts). Campaigns are counted over ``alerts``."""
    for name in ("tenant_id", "alert_id", campaign_column):
        if name not in alerts.columns:
            raise SchemaError(f"evaluation: expected a column {name!r} in the alerts")
    truth = alerts[["tenant_id", "alert_id", campaign_column]].copy()
    truth["tenant_id"] = truth["tenant_id"].astype(str)
    truth["alert_id"] = truth["alert_id"].astype(str)
    truth["campaign"] = truth[campaign_column].astype("string")
    sizes = truth.dropna(subset=["campaign"]).groupby("campaign").size()
    joined = members.assign(tenant_id=members["tenant_id"].astype(str),
                            alert_id=members["alert_id"].astype(str)).merge(
        truth[["tenant_id", "alert_id", "campaign"]], on=["tenant_id", "alert_id"], how="left")
    per_incident = joined.groupby("incident_id").size()
    counts = joined.dropna(subset=["campaign"]).groupby(["incident_id", "campaign"]).size()
    counts = counts.rename("n").reset_index()
    counts["incident_size"] = counts["incident_id"].map(per_incident)
    counts["purity"] = counts["n"] / counts["incident_size"]
    counts["coverage"] = counts["n"] / counts["campaign"].map(sizes)
    hit = counts[(counts["coverage"] >= min_coverage) & (counts["purity"] >= min_purity)]
    detected = int(hit["campaign"].nunique())
    n_incidents = int(members["incident_id"].nunique())
    attack_incidents = set(counts["incident_id"])
    false_incidents = n_incidents - len(attack_incidents)
    benign = int(joined["campaign"].isna().sum())
    best = counts.groupby("incident_id")["purity"].max().reindex(per_incident.index).fillna(0.0)
    n_alerts = len(alerts)
    progressions = sizes.index
    if step_column in alerts.columns:
        steps = alerts[[campaign_column, step_column]].dropna().astype(str).groupby(
            campaign_column)[step_column].nunique()
        progressions = steps.index[steps >= 2]
    found = int(hit["campaign"].isin(progressions).groupby(hit["campaign"]).any().sum())
    return DetectionMetrics(
        campaigns=int(len(sizes)), detected=detected,
        detection_rate=detected / len(sizes) if len(sizes) else float("nan"),
        incidents=n_incidents, false_incidents=false_incidents,
        false_incident_rate=false_incidents / n_incidents if n_incidents else 0.0,
        incident_alerts=len(joined), benign_share=benign / len(joined) if len(joined) else 0.0,
        mean_purity=float(best.mean()) if len(best) else float("nan"), alerts=n_alerts,
        reduction=n_alerts / n_incidents if n_incidents else float("inf"),
        progressions=len(progressions), progressions_detected=found,
        progression_detection_rate=found / len(progressions) if len(progressions)
        else float("nan"))
