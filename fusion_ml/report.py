"""A self-contained HTML report: one file, plots embedded as PNG data URIs, no scripts.

Sections (each only when its input is given):

* alerts and incidents per tenant (bar chart, top tenants by alerts);
* the top cross-tenant patterns of a catalog with their tenant support (bar chart + table);
* the model's precision-recall curves against the baselines (from a training folder's
  ``metrics.csv`` and ``pr_curves.png``);
* a timeline picture of example incidents: chain alerts on a time axis, one row per kill-chain
  tactic, consecutive alerts joined by a line labelled with the entity they share; related
  alerts and signals in grey.

``fusion report`` writes it; :func:`build_report` returns the HTML text.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from fusion_ml.attack import KILL_CHAIN, TACTIC_INDEX

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;
color:#1d2330;line-height:1.45}h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid
#d8dce4;padding-bottom:.3rem}table{border-collapse:collapse;font-size:.88rem;margin:.8rem 0}
td,th{border:1px solid #d8dce4;padding:.25rem .55rem;text-align:left}th{background:#f2f4f8}
img{max-width:100%;border:1px solid #e3e6ec}.muted{color:#6b7385}.num{text-align:right}
"""


def _png(fig) -> str:
    """A matplotlib figure as an ``<img>`` with a base64 data URI (the figure is closed)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="plot" src="data:image/png;base64,{data}">'


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, border=0, escape=True, float_format=lambda v: f"{v:.3f}")


def load_incidents(path: str | Path) -> list[dict[str, Any]]:
    """Incidents from a JSON lines file (``fusion score --format jsonl``), checked by
    :func:`fusion_ml.incidents.read_incidents` (a bad record is a SchemaError naming the file
    and the record number)."""
    from fusion_ml.incidents import read_incidents

    return [incident.to_dict() for incident in read_incidents(path)]


def tenants_section(alerts: pd.DataFrame, incidents: Sequence[dict[str, Any]],
                    top: int = 25) -> str:
    """Alerts and incidents per tenant (the ``top`` tenants by alerts)."""
    plt = _pyplot()
    counts = alerts.groupby("tenant_id").size().rename("alerts").to_frame()
    per_tenant = pd.Series([i["tenant_id"] for i in incidents], dtype=object).value_counts()
    counts["incidents"] = per_tenant.reindex(counts.index).fillna(0).astype(int)
    counts = counts.sort_values(["alerts", "incidents"], ascending=False).head(top)
    fig, ax = plt.subplots(figsize=(11, 3.8))
    positions = range(len(counts))
    ax.bar(positions, counts["alerts"], color="#9fb3d1", label="alerts")
    ax.set_yscale("log")
    ax.set_ylabel("alerts (log)")
    ax2 = ax.twinx()
    ax2.plot(list(positions), counts["incidents"], "o", color="#c0392b", label="incidents")
    ax2.set_ylabel("incidents")
    ax2.set_ylim(bottom=0)
    ax.set_xticks(list(positions), counts.index, rotation=70, fontsize=7)
    ax.set_title(f"Alerts and incidents per tenant (top {len(counts)} by alerts)")
    fig.legend(loc="upper right")
    total_alerts, total_incidents = len(alerts), len(incidents)
    reduction = total_alerts / max(total_incidents, 1)
    return (f"<h2>Alerts and incidents per tenant</h2><p>{total_alerts:,} alerts from "
            f"{alerts['tenant_id'].nunique():,} tenants became {total_incidents:,} incidents "
            f"({reduction:,.0f} alerts per incident).</p>{_png(fig)}")


def patterns_section(catalog, top: int = 15) -> str:
    """The top multi-step alert-type patterns by tenant support, with the kind of the rule
    that ends in them (prevalent, incidental, implausible, weak)."""
    plt = _pyplot()
    patterns = catalog.patterns
    patterns = patterns[(patterns["level"] == "alert_type") & (patterns["length"] >= 2)]
    patterns = patterns.sort_values(["tenants", "support"], ascending=False).head(top)
    if patterns.empty:
        return "<h2>Top cross-tenant patterns</h2><p class='muted'>No multi-step patterns.</p>"
    rules = catalog.rules[catalog.rules["level"] == "alert_type"]
    kind_of = dict(zip(rules["pattern"].map(tuple), rules["kind"], strict=True))
    kinds = [kind_of.get(tuple(p), "") for p in patterns["pattern"]]
    labels = [" → ".join(p) for p in patterns["pattern"]]
    colors = {"prevalent": "#2e7d32", "incidental": "#9e9e9e", "implausible": "#c0392b"}
    fig, ax = plt.subplots(figsize=(11, 0.38 * len(patterns) + 1))
    ax.barh(range(len(patterns)), patterns["tenants"],
            color=[colors.get(k, "#5b8def") for k in kinds])
    ax.set_yticks(range(len(patterns)), [t if len(t) < 90 else t[:87] + "..." for t in labels],
                  fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("tenants where the pattern was seen")
    ax.set_title("Top sequential patterns (alert types) by tenant support; green: prevalent rule, "
                 "grey: incidental, red: implausible", fontsize=9)
    table = pd.DataFrame({"pattern": labels, "tenants": patterns["tenants"].to_numpy(),
                          "groups": patterns["support"].to_numpy(), "rule kind": kinds})
    return f"<h2>Top cross-tenant patterns</h2>{_png(fig)}{_table(table)}"


def model_section(training: str | Path) -> str:
    """The PR curves and metrics table of a training folder (``fusion train --out``)."""
    folder = Path(training)
    parts = ["<h2>Model against the baselines</h2>"]
    png = folder / "pr_curves.png"
    if png.exists():
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        parts.append(f'<img alt="PR curves" src="data:image/png;base64,{data}">')
    metrics = folder / "metrics.csv"
    if metrics.exists():
        table = pd.read_csv(metrics)[["scorer", "split", "pr_auc", "roc_auc", "f1", "precision",
                                      "recall", "positives", "negatives"]]
        parts.append(_table(table))
    return "".join(parts)


def timeline_figure(incident: dict[str, Any]):
    """The picture of one incident (see the module docstring); returns the figure."""
    plt = _pyplot()
    alerts = incident["alerts"]
    times = pd.to_datetime([a["timestamp"] for a in alerts], utc=True)

    def row_of(tactics: Sequence[str]) -> int:
        known = [TACTIC_INDEX[t] for t in tactics if t in TACTIC_INDEX]
        return min(known) if known else -1

    rows = [row_of(a.get("tactics", [])) for a in alerts]
    fig, ax = plt.subplots(figsize=(11, 3.6))
    related = incident.get("related_alerts", []) + incident.get("related_signals", [])
    if related:
        rel_times = pd.to_datetime([r["timestamp"] for r in related], utc=True)
        ax.scatter(rel_times, [-1] * len(related), marker="|", s=120, color="#b0b6c2",
                   label="related alerts / signals")
    ax.plot(times, rows, "-", color="#9fb3d1", zorder=1)
    ax.scatter(times, rows, s=60, color="#c0392b", zorder=2, label="chain alerts")
    for link, start, end, y0, y1 in zip(incident.get("links", []), times[:-1], times[1:],
                                        rows[:-1], rows[1:], strict=False):
        shared = link.get("shared_entities") or []
        if shared:
            first = shared[0]
            text = f"{first['type']}={first['value']}" if isinstance(first, dict) else str(first)
            ax.annotate(text[:28], (start + (end - start) / 2, (y0 + y1) / 2), fontsize=6,
                        color="#44506a", ha="center")
    used = sorted(set(rows) | ({-1} if related else set()))
    ax.set_yticks(used, ["related" if r < 0 else KILL_CHAIN[r] for r in used], fontsize=8)
    ax.set_title(f"{incident['title']}  (score {incident['score']:.2f}, {incident['severity']})",
                 fontsize=9)
    ax.legend(loc="lower right", fontsize=7)
    fig.autofmt_xdate()
    return fig


def incidents_section(incidents: Sequence[dict[str, Any]], examples: int = 3) -> str:
    """Timeline pictures and a summary table of the highest-scoring incidents."""
    ranked = sorted(incidents, key=lambda i: (-i["score"], i["incident_id"]))
    parts = ["<h2>Example incidents</h2>"]
    if not ranked:
        return parts[0] + "<p class='muted'>No incidents.</p>"
    for incident in ranked[:examples]:
        parts.append(f"<h3>{html.escape(incident['title'])}</h3><p class='muted'>"
                     f"{html.escape(incident['incident_id'])} · tenant "
                     f"{html.escape(incident['tenant_id'])} · {len(incident['alerts'])} alerts · "
                     f"{html.escape(incident['first_seen'])} to "
                     f"{html.escape(incident['last_seen'])}</p>")
        parts.append(_png(timeline_figure(incident)))
    table = pd.DataFrame([{"incident": i["incident_id"], "tenant": i["tenant_id"],
                           "title": i["title"], "severity": i["severity"], "score": i["score"],
                           "alerts": len(i["alerts"]), "status": i.get("status", "")}
                          for i in ranked[:50]])
    parts.append(f"<h3>Top {len(table)} incidents by score</h3>{_table(table)}")
    return "".join(parts)


def build_report(alerts: pd.DataFrame | None = None,
                 incidents: Sequence[dict[str, Any]] | None = None, catalog=None,
                 training: str | Path | None = None, title: str = "fusion-ml report") -> str:
    """The report's HTML text (sections for the inputs given)."""
    incidents = list(incidents or [])
    sections = []
    if alerts is not None:
        sections.append(tenants_section(alerts, incidents))
    if catalog is not None:
        sections.append(patterns_section(catalog))
    if training is not None:
        sections.append(model_section(training))
    if incidents:
        sections.append(incidents_section(incidents))
    generated = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d %H:%M UTC")
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p class='muted'>generated {generated}</p>"
            + "".join(sections) + "</body></html>")


def write_report(path: str | Path, **inputs: Any) -> Path:
    """Write :func:`build_report` to ``path``; returns it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(build_report(**inputs), encoding="utf-8")
    return path
