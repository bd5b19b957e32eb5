"""The end-to-end demo behind ``make demo`` (grows with each pipeline stage)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fusion_ml.grouping import group_alerts
from fusion_ml.ingest import ingest_files
from fusion_ml.mining.catalog import MiningConfig, PatternCatalog, check_privacy, mine_catalog
from fusion_ml.mining.evaluate import evaluate_rules
from fusion_ml.paths import cptc_dir
from fusion_ml.registry import model_uri
from fusion_ml.reporting import format_ingest_result, format_rules, format_simulation
from fusion_ml.schema import read_alerts
from fusion_ml.simulate import SimulationConfig, simulate
from fusion_ml.summary import format_summary, summarize

DEMO_SIMULATION = SimulationConfig(tenants=300, days=30, seed=42, attack_rate=4.0)
DEMO_HOLDOUT_PLAYBOOKS = ("ad-dcsync", "gpo-wiper", "mfa-fatigue-okta", "token-theft-cloud-abuse")
"""Playbooks the demo's second model never sees (scored as "held-out playbooks")."""
DEMO_MINING = {"simulated": MiningConfig(min_support=5, min_tenants=3),
               "cptc": MiningConfig(min_support=20, min_tenants=3, max_length=4)}


@dataclass
class DemoOutputs:
    """Where the demo wrote its results."""

    simulated: Path
    cptc: Path
    catalogs: dict[str, Path]
    training: dict | None = None
    incidents: dict[str, Path] | None = None
    report: Path | None = None


def run_demo(out: Path, cptc: Path | None = None, echo: Callable[[str], None] = print,
             simulation: SimulationConfig = DEMO_SIMULATION) -> DemoOutputs:
    """Simulate a multi-tenant set and ingest the CPTC-2017 set; print what came out."""
    started = time.perf_counter()
    outputs = DemoOutputs(out / "simulated.parquet", out / "cptc.parquet", {})

    echo(f"== 1. Simulate {simulation.tenants} tenants x {simulation.days} days "
         f"(seed {simulation.seed})")
    stats = simulate(simulation, outputs.simulated, progress=True)
    echo(format_simulation(stats, simulation.days))
    echo(format_summary(summarize(read_alerts(outputs.simulated)), max_tenants=5))
    echo("")

    source = cptc or cptc_dir()
    files = sorted(source.glob("*.json.gz"))
    echo(f"== 2. Ingest CPTC-2017: {len(files)} files from {source}")
    result = ingest_files(files, outputs.cptc, fmt="splunk-suricata", progress=True)
    echo(format_ingest_result(result))
    echo("")
    echo(format_summary(summarize(read_alerts(outputs.cptc))))
    echo("")

    for number, (name, path) in enumerate((("simulated", outputs.simulated),
                                           ("cptc", outputs.cptc)), start=3):
        echo(f"== {number}. Group and mine cross-tenant patterns: {name}")
        outputs.catalogs[name] = mine_demo_catalog(read_alerts(path), DEMO_MINING[name],
                                                   out / f"catalog-{name}", echo)
        echo("")

    echo("== 5. Train, evaluate and register the sequence model (Prefect flow, MLflow)")
    outputs.training = train_demo_model(outputs.simulated, out / "model", echo)
    echo("")

    outputs.incidents = {}
    for number, (name, path) in enumerate((("simulated", outputs.simulated),
                                           ("cptc", outputs.cptc)), start=6):
        echo(f"== {number}. Score and build incidents: {name} (Prefect flow, model "
             f"{CHAMPION_URI})")
        config = None
        if name == "cptc":
            config = out / "cptc-incidents.toml"
            config.write_text(f"[incidents]\nthreshold = {CPTC_INCIDENT_THRESHOLD}\n")
            echo(f"(CPTC-2017 is Suricata only, its alert types are unknown to a model trained "
                 f"on the simulated month, and its groups score low: the demo lowers the "
                 f"incident threshold to {CPTC_INCIDENT_THRESHOLD} with {config})")
        outputs.incidents[name] = score_demo_alerts(
            path, out / f"incidents-{name}.jsonl", echo,
            held_out=outputs.training["tenants"]["test"] if name == "simulated" else None,
            config=config)
        echo("")

    echo("== 8. Report")
    outputs.report = write_demo_report(outputs, out / "report.html")
    echo(f"self-contained HTML report with plots: {outputs.report}")
    echo("")
    seconds = time.perf_counter() - started
    echo(f"demo finished in {seconds:.1f} s ({seconds / 60:.1f} min); outputs in {out}/")
    echo(where_to_look(out))
    return outputs


CHAMPION_URI = model_uri()
CPTC_INCIDENT_THRESHOLD = 0.02
"""The ``[incidents] threshold`` knob for CPTC-2017 (see :func:`run_demo`)."""


def score_demo_alerts(alerts: Path, out: Path, echo: Callable[[str], None],
                      held_out: list[str] | None = None, config: Path | None = None) -> Path:
    """Run the scoring flow with the champion; print counts, the detection figures on the
    held-out tenants (when the alerts carry ground truth) and the top incident in full."""
    from fusion_ml.incidents import read_incidents
    from fusion_ml.reporting import format_incident
    from pipelines.scoring import scoring_flow

    started = time.perf_counter()
    result = scoring_flow(alerts=[str(alerts)], out=str(out), model_uri=CHAMPION_URI,
                          config_path=str(config) if config else None)
    seconds = time.perf_counter() - started
    echo(f"{result['incidents']:,} incidents from {result['alerts']:,} alerts of "
         f"{result['tenants']:,} tenants in {seconds:.1f} s (threshold "
         f"{result['threshold']:.3f}) -> {out}")
    incidents = read_incidents(out)
    if held_out is not None:
        echo(format_detection(incidents, read_alerts(alerts), held_out))
    if incidents:
        top = max(incidents, key=lambda i: (i.score, len(i.alerts), i.incident_id))
        echo(f"the top-scoring incident in full (JSON record in {out}):")
        echo(format_incident(top.to_dict()))
    return out


def format_detection(incidents, alerts, tenants: list[str]) -> str:
    """Campaign detection on ``tenants`` (tenants the model was not trained on)."""
    from fusion_ml.incidents import IncidentBatch
    from fusion_ml.incidents_eval import evaluate_incidents

    keep = set(tenants)
    members = IncidentBatch([i for i in incidents if i.tenant_id in keep]).members()
    metrics = evaluate_incidents(members, alerts[alerts["tenant_id"].isin(keep)])
    return (f"on the {len(keep)} held-out tenants: {metrics.detected}/{metrics.campaigns} "
            f"campaigns surface as one incident with >= half their alerts at >= 90% purity "
            f"({metrics.detection_rate:.1%}; attack progressions of >= 2 steps: "
            f"{metrics.progression_detection_rate:.1%}); {metrics.false_incident_rate:.1%} of "
            f"{metrics.incidents} incidents hold no attack alert; {metrics.benign_share:.1%} "
            f"of incident alerts are benign; {metrics.reduction:,.0f} alerts per incident")


def write_demo_report(outputs: DemoOutputs, path: Path) -> Path:
    """The HTML report over the simulated set."""
    from fusion_ml.report import load_incidents, write_report

    return write_report(path, title="fusion-ml demo: simulated month",
                        alerts=read_alerts(outputs.simulated, columns=["tenant_id"]),
                        incidents=load_incidents(outputs.incidents["simulated"]),
                        catalog=PatternCatalog.load(outputs.catalogs["simulated"]),
                        training=outputs.training and outputs.training.get("out"))


def where_to_look(out: Path) -> str:
    """How to open the outputs, the MLflow UI and the Prefect UI."""
    from fusion_ml.tracking import tracking_uri

    return "\n".join([
        "where to look:",
        f"  report        open {out / 'report.html'} in a browser",
        f"  incidents     {out}/incidents-simulated.jsonl, {out}/incidents-cptc.jsonl",
        f"  catalogs      {out}/catalog-simulated/, {out}/catalog-cptc/",
        f"  model         {out}/model/ (metrics.csv, pr_curves.png); registry: fusion models list",
        f"  MLflow UI     .venv/bin/mlflow ui --backend-store-uri {tracking_uri()} "
        "--port 5000  ->  http://127.0.0.1:5000",
        f"  Prefect UI    PREFECT_HOME={os.environ.get('PREFECT_HOME', '~/.prefect')} "
        ".venv/bin/prefect server start --port 4200  ->  http://127.0.0.1:4200 (this demo's "
        "flow runs)",
        "  serve         FUSION_API_KEY=secret .venv/bin/fusion serve --port 8080"])


def train_demo_model(alerts: Path, folder: Path, echo: Callable[[str], None]) -> dict:
    """Run the training flow on the simulated set (with the demo's held-out playbooks); print
    the gate decision and the metrics table."""
    from fusion_ml.reporting import format_training
    from pipelines.training import training_flow

    started = time.perf_counter()
    result = training_flow(alerts=[str(alerts)], holdout_playbooks=list(DEMO_HOLDOUT_PLAYBOOKS),
                           out=str(folder))
    echo(format_training(result, time.perf_counter() - started))
    echo(f"model, metrics.csv and pr_curves.png in {folder}/")
    return {**result, "out": folder}


def mine_demo_catalog(alerts, config: MiningConfig, folder: Path,
                      echo: Callable[[str], None]) -> Path:
    """Group, mine, check privacy, save; print the top rules (and, on simulated data, how
    well they match the playbooks)."""
    groups = group_alerts(alerts)
    catalog: PatternCatalog = mine_catalog(groups, config)
    check_privacy(catalog, groups)
    catalog.save(folder)
    levels = catalog.summary["levels"]
    echo(f"{catalog.summary['groups']:,} groups from {catalog.summary['alerts']:,} alerts; " +
         "; ".join(f"{level}: {c['patterns']:,} patterns, {c['rules']:,} rules, "
                   f"{c['prevalent_rules']:,} prevalent" for level, c in levels.items()) +
         f"; {catalog.summary['cooccurrence_rules']:,} co-occurrence rules (baseline)")
    echo(format_rules(catalog.rules, top=8))
    if "label" in alerts.columns:
        evaluation = evaluate_rules(catalog.rules[catalog.rules["level"] == "alert_type"],
                                    alerts, config.min_tenants)
        echo(f"against the simulator's playbooks: precision {evaluation.precision:.2f}, "
             f"playbook recall {evaluation.playbook_recall:.2f} "
             f"({evaluation.playbooks_found}/{evaluation.playbooks_expected}), "
             f"routine-only pairs called prevalent {evaluation.routine_only_pairs_prevalent}"
             f"/{evaluation.routine_only_pairs_tested}")
    echo(f"catalog written to {folder}/ (content hash {catalog.content_hash[:12]})")
    return folder
