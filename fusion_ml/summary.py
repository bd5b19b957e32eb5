"""Short descriptive summaries of a canonical alert table (for the CLI, the demo and notebooks)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fusion_ml.attack import KILL_CHAIN
from fusion_ml.schema import arrow_array


@dataclass
class AlertSummary:
    """Documented frames:

    * ``per_tenant``: index ``tenant_id``; columns ``alerts``, ``alert_types``, ``first_seen``,
      ``last_seen``.
    * ``top_types``: columns ``alert_type``, ``alerts``, ``tenants``.
    * ``tactics``: index the 14 kill-chain tactics (plus any others seen); columns ``alerts``,
      ``share`` (of all alerts).
    """

    alerts: int
    tenants: int
    alert_types: int
    with_tactics: int
    per_tenant: pd.DataFrame
    top_types: pd.DataFrame
    tactics: pd.DataFrame


def summarize(frame: pd.DataFrame, top: int = 10) -> AlertSummary:
    """Alerts per tenant, the ``top`` alert types and tactic coverage of a canonical frame."""
    per_tenant = frame.groupby("tenant_id", observed=True).agg(
        alerts=("alert_id", "size"),
        alert_types=("alert_type", "nunique"),
        first_seen=("timestamp", "min"),
        last_seen=("timestamp", "max"),
    )
    top_types = (
        frame.groupby("alert_type", observed=True)
        .agg(alerts=("alert_id", "size"), tenants=("tenant_id", "nunique"))
        .sort_values(["alerts", "tenants"], ascending=False)
        .head(top)
        .reset_index()
    )
    tactic_lists = arrow_array(frame["tactics"], pa.list_(pa.string()))
    exploded = pd.Series(tactic_lists.flatten().to_numpy(zero_copy_only=False), dtype=object)
    counts = exploded.value_counts()
    order = list(KILL_CHAIN) + sorted(set(counts.index) - set(KILL_CHAIN))
    tactics = pd.DataFrame({"alerts": counts.reindex(order, fill_value=0).astype(int)})
    tactics["share"] = tactics["alerts"] / max(len(frame), 1)
    with_tactics = int((pc.list_value_length(tactic_lists).fill_null(0).to_numpy() > 0)
                       .sum())
    return AlertSummary(
        alerts=len(frame),
        tenants=int(frame["tenant_id"].nunique()),
        alert_types=int(frame["alert_type"].nunique()),
        with_tactics=with_tactics,
        per_tenant=per_tenant,
        top_types=top_types,
        tactics=tactics,
    )


def format_summary(summary: AlertSummary, max_tenants: int = 12) -> str:
    """Plain-text rendering of an :class:`AlertSummary` (the ``max_tenants`` largest tenants)."""
    per_tenant = summary.per_tenant.sort_values("alerts", ascending=False)
    shown = "Alerts per tenant:" if len(per_tenant) <= max_tenants else \
        f"Alerts per tenant (largest {max_tenants} of {len(per_tenant)}):"
    lines = [
        f"{summary.alerts:,} alerts, {summary.tenants} tenants, {summary.alert_types} alert types; "
        f"{summary.with_tactics:,} alerts ({summary.with_tactics / max(summary.alerts, 1):.0%}) "
        "carry an ATT&CK tactic",
        "",
        shown,
        per_tenant.head(max_tenants).to_string(),
        "",
        "Top alert types:",
        summary.top_types.to_string(index=False, max_colwidth=70),
        "",
        "Tactic coverage (kill-chain order):",
        summary.tactics.to_string(formatters={"share": "{:.1%}".format}),
    ]
    return "\n".join(lines)
