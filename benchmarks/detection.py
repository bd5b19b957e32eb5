"""Detection quality of the incident builder on held-out tenants, from ground truth.

Simulate (default: the demo's world, 300 tenants x 30 days, seed 42, attack rate 4), group,
train the sequence model on the training tenants (:func:`train_and_evaluate`, default
configuration), then group and score **all** alerts of the held-out test tenants as one raw batch
(:meth:`Scorer.score`, once), merge campaign fragments (:func:`fusion_ml.fragments.merge_fragments`)
and build incidents (:func:`fusion_ml.incidents.build_incidents`) at each threshold, as
:func:`fusion_ml.incidents.detect` does, and compute (:func:`evaluate_incidents`):

* campaigns detected: one incident holds >= half of the campaign's alerts and is made of >= 90%
  alerts of that campaign (target >= 95%);
* incidents with no attack alert (target <= 5%);
* the share of benign alerts inside incidents, and the alert-to-incident reduction.

The first row uses the model's incident threshold (the lowest score reaching validation
precision 0.95, as the incident builder does by default); a sweep over fixed group score
thresholds follows, and baseline rows at the model's threshold without fragment merging
(``fragment_window`` 0) and without joining chains that overlap on an entity
(``merge_window`` 0), the incident builder before each existed. A figure of the sweep
goes to ``--out``. With ``--model-seeds 0,1,2`` a model is trained per seed on the same split
and the default-threshold figures are summarized across seeds (how much of a difference is the
training seed's); ``--split-seed`` draws other test tenants (default 0, the demo's split).

    .venv/bin/python benchmarks/detection.py [--tenants 300 --days 30 --seed 42]
                                             [--attack-rate 4] [--model-seeds 0]
                                             [--split-seed 0] [--out data/out/bench]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import statistics
import time
from pathlib import Path

import pandas as pd

from fusion_ml.fragments import merge_fragments
from fusion_ml.grouping import GroupingConfig, group_alerts
from fusion_ml.incident_config import IncidentConfig
from fusion_ml.incidents import build_incidents
from fusion_ml.incidents_eval import evaluate_incidents
from fusion_ml.schema import read_alerts
from fusion_ml.scoring import Scorer
from fusion_ml.simulate import SimulationConfig, simulate
from fusion_ml.training import TrainingConfig, train_and_evaluate

SWEEP = (0.3, 0.5, 0.7, 0.8, 0.9)
BASELINES = {"model, no fragment merging": IncidentConfig(fragment_window=0.0),
             "model, no chain merging": IncidentConfig(merge_window=0.0)}
"""Rows at the model's threshold with one step of the incident builder turned off."""


def run(tenants: int, days: int, seed: int, attack_rate: float, out: Path,
        window_hours: float = 6.0, model_seeds: tuple[int, ...] = (0,),
        split_seed: int = 0) -> dict:
    """Simulate, train (once per model seed), detect on the test tenants; returns the figures
    per model seed."""
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    path = out / f"detection-{tenants}x{days}-{seed}.parquet"
    simulate(SimulationConfig(tenants=tenants, days=days, seed=seed, attack_rate=attack_rate),
             path)
    alerts = read_alerts(path)
    grouping = GroupingConfig(window=window_hours * 3600.0)
    groups = group_alerts(alerts, grouping)
    print(f"simulated {len(alerts):,} alerts of {tenants} tenants "
          f"({time.perf_counter() - started:.0f} s)", flush=True)
    per_seed = {}
    for model_seed in model_seeds:
        print(f"training (model seed {model_seed}) ...", flush=True)
        per_seed[model_seed] = _detect(alerts, groups, grouping, model_seed, split_seed)
    (out / "detection.json").write_text(json.dumps(per_seed, indent=1))
    _plot(per_seed[model_seeds[0]], out / "detection.png")
    if len(model_seeds) > 1:
        rates = [figures["model"]["detection_rate"] for figures in per_seed.values()]
        false = [figures["model"]["false_incident_rate"] for figures in per_seed.values()]
        print(f"default threshold over model seeds {list(model_seeds)}: campaigns detected "
              f"{', '.join(f'{r:.1%}' for r in rates)} (mean {statistics.mean(rates):.1%}); "
              f"incidents with no attack alert {', '.join(f'{r:.1%}' for r in false)}")
        for baseline in BASELINES:
            base = [figures[baseline]["detection_rate"] for figures in per_seed.values()]
            print(f"baseline ({baseline}): campaigns detected "
                  f"{', '.join(f'{r:.1%}' for r in base)} (mean {statistics.mean(base):.1%})")
    print(f"figures in {out / 'detection.json'} and {out / 'detection.png'} (plot: model seed "
          f"{model_seeds[0]})")
    return per_seed


def _detect(alerts: pd.DataFrame, groups: pd.DataFrame, grouping: GroupingConfig,
            model_seed: int, split_seed: int = 0) -> dict:
    """Train with ``model_seed`` on the tenant split drawn with ``split_seed`` and build
    incidents on the test tenants at each threshold."""
    config = TrainingConfig()
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, seed=model_seed),
                                 split=dataclasses.replace(config.split, seed=split_seed))
    result = train_and_evaluate(groups, config)
    test_tenants = sorted(result.splits["test"].labels["tenant_id"].astype(str).unique())
    test = alerts[alerts["tenant_id"].isin(test_tenants)].reset_index(drop=True)
    scorer = Scorer(result.model, grouping=grouping)
    print(f"trained in {result.seconds['train']:.0f} s (threshold "
          f"{result.model.threshold_:.3f}); scoring {len(test):,} alerts of "
          f"{len(test_tenants)} held-out tenants as one batch", flush=True)
    figures = {}
    t0 = time.perf_counter()
    scored = scorer.score(test)  # grouped and scored once; only the threshold varies
    scoring_seconds = time.perf_counter() - t0
    runs = [(f"{t:.2f}" if t is not None else "model", IncidentConfig(threshold=t))
            for t in (None, *SWEEP)]
    runs.extend(BASELINES.items())
    for key, config in runs:
        t0 = time.perf_counter()
        merged = merge_fragments(scored, result.model, config)
        batch = build_incidents(merged, config, result.catalog)
        metrics = evaluate_incidents(batch.members(), test)
        figures[key] = {**metrics.to_dict(), "threshold": batch.stats["threshold"],
                        "merged_groups": merged.merged_groups,
                        "seconds": scoring_seconds + time.perf_counter() - t0}
        print(f"threshold {batch.stats['threshold']:.3f} ({key}; {merged.merged_groups} "
              f"fragment merges): "
              f"campaigns detected {metrics.detected}/{metrics.campaigns} "
              f"= {metrics.detection_rate:.1%} (attack progressions, >= 2 steps: "
              f"{metrics.progressions_detected}/{metrics.progressions} = "
              f"{metrics.progression_detection_rate:.1%}); incidents {metrics.incidents}, with no attack "
              f"alert {metrics.false_incidents} = {metrics.false_incident_rate:.1%}; benign "
              f"share of incident alerts {metrics.benign_share:.1%}; mean purity "
              f"{metrics.mean_purity:.1%}; reduction {metrics.reduction:,.0f} alerts per "
              f"incident", flush=True)
    return figures


def _plot(figures: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(((v["threshold"], v) for k, v in figures.items() if k not in BASELINES),
                  key=lambda r: r[0])
    x = [r[0] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(x, [r[1]["detection_rate"] for r in rows], marker="o", label="campaigns detected")
    ax.plot(x, [r[1]["false_incident_rate"] for r in rows], marker="o",
            label="incidents without attack")
    ax.plot(x, [r[1]["benign_share"] for r in rows], marker="o",
            label="benign share of incident alerts")
    ax.axvline(figures["model"]["threshold"], color="grey", ls=":", label="model threshold")
    ax.set_xlabel("group score threshold")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("Incidents on held-out tenants")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tenants", type=int, default=300)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--attack-rate", type=float, default=4.0)
    parser.add_argument("--out", type=Path, default=Path("data/out/bench"))
    parser.add_argument("--window-hours", type=float, default=6.0,
                        help="Grouping window for training and scoring.")
    parser.add_argument("--model-seeds", default="0",
                        help="Comma-separated model seeds, one model each (same split).")
    parser.add_argument("--split-seed", type=int, default=0,
                        help="Seed of the tenant split (which tenants are held out).")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    seeds = tuple(int(s) for s in args.model_seeds.split(","))
    run(args.tenants, args.days, args.seed, args.attack_rate, args.out, args.window_hours, seeds,
        args.split_seed)


if __name__ == "__main__":
    main()
