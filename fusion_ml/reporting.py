"""Plain-text renderings of run results for the command line."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for annotations: keep `fusion ingest` from loading the simulator
    import pandas as pd

    from fusion_ml.ingest.run import IngestResult
    from fusion_ml.simulate.generator import SimulationStats


def format_simulation(stats: SimulationStats, days: int) -> str:
    """One paragraph on what a simulation produced."""
    return (
        f"{stats.alerts:,} alerts from {stats.tenants:,} tenants over {days} days: "
        f"{stats.campaigns:,} attack campaigns ({stats.attack_alerts:,} attack alerts), "
        f"{stats.routine_runs:,} benign routine runs ({stats.incidental_alerts:,} alerts); "
        f"benign/attack ratio {stats.benign_alerts / max(stats.attack_alerts, 1):,.1f}:1 "
        f"({stats.attack_share:.2%} attack)")


def format_ingest_result(result: IngestResult, seconds: float | None = None) -> str:
    """A per-file table of read / accepted / quarantined / skipped / duplicate counts."""
    header = f"{'file':<44} {'format':<16} {'read':>9} {'accepted':>9} {'quarant.':>9} " \
             f"{'skipped':>9} {'dupl.':>7}"
    lines = [header, "-" * len(header)]
    for s in result.sources:
        name = s.source if len(s.source) <= 44 else "..." + s.source[-41:]
        lines.append(f"{name:<44} {s.format:<16} {s.read:>9,} {s.accepted:>9,} "
                     f"{s.quarantined:>9,} {s.skipped_total:>9,} {s.duplicates:>7,}")
        for reason, count in s.skipped.most_common():
            lines.append(f"{'':<44}   skipped: {reason} ({count:,})")
    if len(result.sources) > 1:
        lines.append("-" * len(header))
        lines.append(f"{'total':<44} {'':<16} {result.total('read'):>9,} "
                     f"{result.total('accepted'):>9,} {result.total('quarantined'):>9,} "
                     f"{result.total('skipped'):>9,} {result.total('duplicates'):>7,}")
    enrichment = result.enrichment
    if enrichment.filled:
        lines.append(f"tactics filled in from techniques for {enrichment.filled:,} alerts")
    for status in ("unknown", "revoked", "deprecated"):
        flagged = getattr(enrichment, status)
        if flagged:
            ids = ", ".join(f"{t} ({n})" for t, n in flagged.most_common(8))
            lines.append(f"{status} ATT&CK technique ids kept as given: {ids}")
    if result.output is not None:
        rate = f" in {seconds:.1f} s" if seconds is not None else ""
        lines.append(f"wrote {result.total('accepted'):,} alerts to {result.output}{rate}")
    if result.quarantine is not None:
        lines.append(f"quarantined {result.total('quarantined'):,} records to {result.quarantine}")
    return "\n".join(lines)


def format_rules(rules: pd.DataFrame, top: int = 10, kind: str = "prevalent") -> str:
    """The ``top`` rules of one kind per level, most widespread first."""
    lines = []
    for level in dict.fromkeys(rules["level"]):
        chosen = rules[(rules["level"] == level) & (rules["kind"] == kind)]
        best = chosen.sort_values(["tenants", "support", "confidence"], ascending=False).head(top)
        lines.append(f"top {kind} rules ({level}): " +
                     (f"{len(best)} of {len(chosen)}" if len(chosen) else "none"))
        if len(best):
            lines.append(f"  {'tenants':>7} {'support':>8} {'confidence':>10}  pattern")
        for row in best.itertuples():
            lines.append(f"  {row.tenants:>7} {row.support:>8} {row.confidence:>10.2f}  "
                         + " > ".join(row.pattern))
    return "\n".join(lines)


def format_training(result: dict, seconds: float) -> str:
    """What a training flow run produced (:func:`pipelines.training.training_flow`'s result):
    registered version, gate decision, run, examples, time and the metrics table."""
    import pandas as pd

    from fusion_ml.evaluation import format_metrics

    gate = result["gate"]
    against = ("no champion before" if gate["champion_version"] is None else
               f"champion v{gate['champion_version']} {gate['metric']} "
               f"{gate['champion_score']:.4f}")
    examples = ", ".join(f"{k} {v['examples']:,} ({v['positives']:,} positive)"
                         for k, v in result["examples"].items())
    return "\n".join([
        f"model     {result['model_uri']} -> registered version {result['version']}",
        f"gate      version {gate['version']} is now '{gate['alias']}' ({gate['metric']} "
        f"{gate['score']:.4f} on the held-out tenants; {against})",
        f"mlflow    run {result['run_id']}",
        f"examples  {examples}",
        f"time      {seconds:.1f} s", "",
        format_metrics(pd.DataFrame(result["metrics"]))])


def format_incident(incident: dict, related: int = 5) -> str:
    """One incident for a terminal: header, chain, kill-chain timeline, entities, why each
    link was made, matched patterns, related alerts and signals (the first ``related`` of
    each), and the recommended response. Everything of the JSON record except the raw lists
    of related alerts beyond ``related``."""
    lines = [f"{incident['title']}",
             f"  id {incident['incident_id']}  tenant {incident['tenant_id']}  severity "
             f"{incident['severity']}  score {incident['score']:.3f}  status "
             f"{incident['status']}" + (f"  tags {incident['tags']}" if incident['tags'] else ""),
             f"  {incident['first_seen']} .. {incident['last_seen']}  "
             f"({len(incident['alerts'])} alerts in the chain, group of "
             f"{incident['group_size']})", "  chain:"]
    for alert in incident["alerts"]:
        entities = ", ".join(f"{e['type']}={e['value']}" for e in alert["entities"])
        lines.append(f"    {alert['timestamp']}  {alert['alert_type']}  [{alert['provider']}, "
                     f"{alert['severity']}, {alert['fidelity']}]  tactics "
                     f"{','.join(alert['tactics'])}  p(attack) {alert['alert_score']:.2f}  "
                     f"contribution {alert['contribution']:+.2f}  {entities}")
    lines.append("  kill-chain timeline: " + " -> ".join(
        f"{t['tactic']} ({t['first_seen']}, {len(t['alert_ids'])} alerts)"
        for t in incident["timeline"]))
    lines.append("  entities: " + ", ".join(f"{e['type']}={e['value']} ({e['alerts']})"
                                            for e in incident["entities"]))
    if incident["artifacts"]:
        lines.append("  artifacts: " + ", ".join(f"{e['type']}={e['value']}"
                                                 for e in incident["artifacts"]))
    lines.append("  why each link:")
    for link in incident["links"]:
        shared = ", ".join(str(s) if not isinstance(s, dict) else f"{s['type']}={s['value']}"
                           for s in link["shared_entities"]) or "no shared entity"
        rule = link.get("rule")
        evidence = (f"rule confidence {rule['confidence']:.2f}, lift {rule['lift']:.1f}, seen in "
                    f"{rule['tenants']} tenants" if rule else "no catalog rule")
        lines.append(f"    {link['from_alert']} -> {link['to_alert']}: {shared}; gap "
                     f"{link['gap_seconds']:,.0f} s; {evidence}; contribution "
                     f"{link['contribution']:+.2f}")
    for pattern in incident["patterns"][:related]:
        lines.append(f"  pattern ({pattern['level']}, {pattern['kind']}, {pattern['tenants']} "
                     f"tenants, confidence {pattern['confidence']:.2f}): "
                     + " > ".join(pattern["pattern"]))
    for name in ("related_alerts", "related_signals"):
        items = incident[name]
        lines.append(f"  {name.replace('_', ' ')}: {len(items)}")
        for item in items[:related]:
            lines.append(f"    {item['timestamp']}  {item['alert_type']}  shares "
                         f"{', '.join(map(str, item['shared_entities']))}")
    lines.append("  recommended response:")
    for step in incident["response"]:
        lines.append(f"    {step['tactic']}: {' '.join(step['actions'])}")
    return "\n".join(lines)
