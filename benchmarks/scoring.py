"""End-to-end batch scoring throughput: alerts per minute through group -> score -> build
incidents (:func:`fusion_ml.incidents.detect`, fragment merging included), against a named
baseline measured in the same process: **grouping alone** (:func:`group_alerts`), the floor any
scorer pays; the same without fragment merging (``fragment_window`` 0) shows its cost.

A model with the default architecture is trained briefly on a small simulated world (its
weights do not change the cost), then a large world (default 300 tenants x 30 days, seed 42,
~444k alerts) is scored as one batch, after one warm-up run on a slice (numba compilation and
caches excluded). Torch runs with the model's default of one intra-op thread.

    .venv/bin/python benchmarks/scoring.py [--tenants 300 --days 30] [--repeat 2]
                                           [--out data/out/bench]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from fusion_ml.grouping import group_alerts
from fusion_ml.incident_config import IncidentConfig
from fusion_ml.incidents import detect
from fusion_ml.nn import ModelConfig
from fusion_ml.schema import read_alerts
from fusion_ml.scoring import Scorer
from fusion_ml.simulate import SimulationConfig, simulate
from fusion_ml.training import TrainingConfig, train_and_evaluate


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def run(tenants: int, days: int, repeat: int, out: Path) -> dict:
    """Train a quick model, simulate, time grouping and end-to-end scoring."""
    out.mkdir(parents=True, exist_ok=True)
    small = out / "scoring-train.parquet"
    simulate(SimulationConfig(tenants=40, days=14, seed=3, attack_rate=8.0), small)
    result = train_and_evaluate(group_alerts(read_alerts(small)),
                                TrainingConfig(model=ModelConfig(max_epochs=3)))
    scorer = Scorer(result.model)
    big = out / f"scoring-{tenants}x{days}.parquet"
    simulate(SimulationConfig(tenants=tenants, days=days, seed=42, attack_rate=4.0), big)
    alerts = read_alerts(big)
    detect(alerts.head(20_000), scorer)  # warm-up
    grouping = _best(lambda: group_alerts(alerts), repeat)
    holder = {}

    def end_to_end():
        holder["batch"] = detect(alerts, scorer)

    total = _best(end_to_end, repeat)
    batch = holder["batch"]
    unmerged = _best(lambda: detect(alerts, scorer, IncidentConfig(fragment_window=0.0)), repeat)
    figures = {"alerts": len(alerts), "tenants": tenants, "cpus": os.cpu_count(),
               "incidents": len(batch.incidents), "scored_groups": batch.stats["scored_groups"],
               "grouping_seconds": grouping, "end_to_end_seconds": total,
               "grouping_alerts_per_min": len(alerts) / grouping * 60,
               "end_to_end_alerts_per_min": len(alerts) / total * 60,
               "end_to_end_over_grouping": total / grouping,
               "merged_groups": batch.stats["merged_groups"],
               "without_fragment_merging_seconds": unmerged}
    print(f"{len(alerts):,} alerts, {tenants} tenants, {os.cpu_count()} CPUs; "
          f"{batch.stats['scored_groups']:,} groups scored, {len(batch.incidents):,} incidents")
    print(f"baseline  grouping alone    {grouping:6.2f} s  "
          f"{figures['grouping_alerts_per_min']:>12,.0f} alerts/min")
    print(f"ours      group+score+build {total:6.2f} s  "
          f"{figures['end_to_end_alerts_per_min']:>12,.0f} alerts/min  "
          f"({figures['end_to_end_over_grouping']:.1f}x the baseline's time; target >= "
          f"1,000,000 alerts/min)")
    print(f"          without fragment merging {unmerged:6.2f} s  "
          f"{len(alerts) / unmerged * 60:>12,.0f} alerts/min  (merging: "
          f"{batch.stats['merged_groups']:,} merges, {total - unmerged:.2f} s)")
    (out / "scoring.json").write_text(json.dumps(figures, indent=1))
    return figures


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tenants", type=int, default=300)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("data/out/bench"))
    args = parser.parse_args()
    run(args.tenants, args.days, args.repeat, args.out)


if __name__ == "__main__":
    main()
