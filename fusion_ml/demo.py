"""The end-to-end demo behind ``make demo`` (grows with each pipeline stage)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fusion_ml.ingest import ingest_files
from fusion_ml.paths import cptc_dir
from fusion_ml.reporting import format_ingest_result, format_simulation
from fusion_ml.schema import read_alerts
from fusion_ml.simulate import SimulationConfig, simulate
from fusion_ml.summary import format_summary, summarize

DEMO_SIMULATION = SimulationConfig(tenants=200, days=14, seed=42)


@dataclass
class DemoOutputs:
    """Where the demo wrote its results."""

    simulated: Path
    cptc: Path


def run_demo(out: Path, cptc: Path | None = None, echo: Callable[[str], None] = print,
             simulation: SimulationConfig = DEMO_SIMULATION) -> DemoOutputs:
    """Simulate a multi-tenant set and ingest the CPTC-2017 set; print what came out."""
    started = time.perf_counter()
    outputs = DemoOutputs(out / "simulated.parquet", out / "cptc.parquet")

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
    echo(f"demo finished in {time.perf_counter() - started:.1f} s; outputs in {out}/")
    return outputs
