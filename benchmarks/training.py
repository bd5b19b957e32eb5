"""Sequence-model training and evaluation on the demo's simulated month.

Simulates the demo set (``fusion_ml.demo.DEMO_SIMULATION``: 300 tenants x 30 days, seed 42),
groups it, and runs :func:`fusion_ml.training.train_and_evaluate` with the demo's held-out
playbooks: the model is trained on the training tenants, early-stopped on the validation
tenants and scored on the test tenants (held-out tenants) and, retrained without the held-out
playbooks, on those playbooks (held-out playbooks). The three baselines run in the same
process on the same splits: logistic regression on a bag of alert types, the best catalog
rule, and mlxtend co-occurrence itemsets.

    .venv/bin/python benchmarks/training.py [--tenants 300] [--days 30] [--seed 0]
                                            [--model-seed N] [--out DIR]

Prints the metrics table, the PR-AUC ratio of the model to the best baseline per evaluation
set, and the training wall time (target: under 2 minutes per model on 2 cores).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import tempfile
import time
from pathlib import Path

from fusion_ml.demo import DEMO_HOLDOUT_PLAYBOOKS, DEMO_SIMULATION
from fusion_ml.evaluation import format_metrics
from fusion_ml.grouping import group_alerts
from fusion_ml.schema import read_alerts
from fusion_ml.simulate import simulate
from fusion_ml.training import MODEL_SCORER, TrainingConfig, train_and_evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=DEMO_SIMULATION.tenants)
    parser.add_argument("--days", type=int, default=DEMO_SIMULATION.days)
    parser.add_argument("--seed", type=int, default=0, help="Split seed (and model seed).")
    parser.add_argument("--model-seed", type=int, help="Model seed (default: --seed).")
    parser.add_argument("--out", type=Path, help="Folder for metrics.csv and pr_curves.png.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    simulation = dataclasses.replace(DEMO_SIMULATION, tenants=args.tenants, days=args.days)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "alerts.parquet"
        started = time.perf_counter()
        simulate(simulation, path)
        groups = group_alerts(read_alerts(path))
        print(f"simulated and grouped {len(groups):,} alerts in "
              f"{time.perf_counter() - started:.1f} s")
        config = TrainingConfig(holdout_playbooks=DEMO_HOLDOUT_PLAYBOOKS)
        config = dataclasses.replace(config, split=dataclasses.replace(config.split,
                                                                       seed=args.seed),
                                     model=dataclasses.replace(
                                         config.model, seed=args.seed if args.model_seed is None
                                         else args.model_seed))
        result = train_and_evaluate(groups, config)
    print(result.summary().to_string())
    print(format_metrics(result.evaluation.metrics))
    metrics = result.evaluation.metrics
    for split, rows in metrics.groupby("split", sort=False):
        model = rows.loc[rows["scorer"] == MODEL_SCORER, "pr_auc"].iloc[0]
        best = rows[rows["scorer"] != MODEL_SCORER].sort_values("pr_auc").iloc[-1]
        print(f"{split}: model PR-AUC {model:.3f} vs best baseline ({best['scorer']}) "
              f"{best['pr_auc']:.3f}: {model / max(best['pr_auc'], 1e-9):.2f}x")
    print("seconds:", {k: round(v, 1) for k, v in result.seconds.items()},
          f"(model: {len(result.model.history_)} epochs, best {result.model.best_epoch_})")
    if args.out:
        print("reports:", result.write_reports(args.out))


if __name__ == "__main__":
    main()
