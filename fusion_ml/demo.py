"""The end-to-end demo behind ``make demo`` (grows with each pipeline stage)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fusion_ml.grouping import group_alerts
from fusion_ml.ingest import ingest_files
from fusion_ml.mining.catalog import MiningConfig, PatternCatalog, check_privacy, mine_catalog
from fusion_ml.mining.evaluate import evaluate_rules
from fusion_ml.paths import cptc_dir
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
    echo(f"demo finished in {time.perf_counter() - started:.1f} s; outputs in {out}/")
    return outputs


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
    return result


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
