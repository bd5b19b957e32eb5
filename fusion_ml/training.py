"""Training and evaluation of the sequence model on tenant-disjoint splits.

    grouped alerts -> labelled examples (+ hard negatives), split by tenant
      -> catalog mined on the training tenants only (unless one is given)
      -> SequenceModel fitted on train, early-stopped on validation
      -> model and three baselines scored on the test tenants
      -> optionally: the same again with whole playbooks held out of training, scored on the
         test tenants' negatives plus the held-out playbooks' positives

Nothing here talks to MLflow or Prefect (see :mod:`fusion_ml.registry` and
``pipelines/training.py``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from fusion_ml.dataset import (
    Examples,
    LabelSpec,
    SplitConfig,
    build_splits,
    playbook_test,
    without_playbooks,
)
from fusion_ml.evaluation import (
    BagOfTypesBaseline,
    CooccurrenceBaseline,
    Evaluation,
    ModelScorer,
    RuleScoreBaseline,
    evaluate_scorers,
    plot_pr_curves,
)
from fusion_ml.mining.catalog import MiningConfig, PatternCatalog, check_privacy, mine_catalog
from fusion_ml.nn import ModelConfig, SequenceModel

log = logging.getLogger(__name__)

TEST, PLAYBOOK_TEST = "held-out tenants", "held-out playbooks"
MODEL_SCORER = "sequence model"


@dataclass(frozen=True)
class TrainingConfig:
    """Everything a training run depends on (besides its data)."""

    split: SplitConfig = field(default_factory=SplitConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    mining: MiningConfig = field(default_factory=lambda: MiningConfig(min_support=5,
                                                                      min_tenants=3))
    holdout_playbooks: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain values (for logging)."""
        return asdict(self)


@dataclass
class TrainingResult:
    """A fitted model, the catalog it used, its splits and the evaluation of the model and
    baselines (``evaluation.metrics`` has one row per scorer and split)."""

    model: SequenceModel
    catalog: PatternCatalog
    splits: dict[str, Examples]
    evaluation: Evaluation
    seconds: dict[str, float]
    playbook_model: SequenceModel | None = None

    def metrics(self) -> dict[str, float]:
        """Flat metrics for MLflow: ``<scorer>.<split>.<metric>`` (``model`` for the sequence
        model, ``bag_of_types``, ``best_rule``, ``cooccurrence`` for the baselines; splits
        ``test`` and ``test_playbooks``), plus training figures."""
        names = {MODEL_SCORER: "model", BagOfTypesBaseline.name: "bag_of_types",
                 RuleScoreBaseline.name: "best_rule", CooccurrenceBaseline.name: "cooccurrence"}
        splits = {TEST: "test", PLAYBOOK_TEST: "test_playbooks"}
        out: dict[str, float] = {}
        for row in self.evaluation.metrics.to_dict(orient="records"):
            prefix = f"{names[row['scorer']]}.{splits[row['split']]}"
            for metric in ("pr_auc", "roc_auc", "f1", "precision", "recall", "threshold"):
                out[f"{prefix}.{metric}"] = row[metric]
        out["model.best_epoch"] = self.model.best_epoch_
        out["model.epochs"] = len(self.model.history_)
        for name, seconds in self.seconds.items():
            out[f"seconds.{name}"] = seconds
        for name, examples in self.splits.items():
            out[f"examples.{name}"] = len(examples)
            out[f"examples.{name}.positives"] = int(examples.y.sum())
        return out

    def summary(self) -> pd.DataFrame:
        """Examples per split and kind."""
        rows = [examples.labels.assign(split=name) for name, examples in self.splits.items()]
        table = pd.concat(rows, ignore_index=True)
        return table.pivot_table(index="split", columns="kind", values="group_id",
                                 aggfunc="count", fill_value=0)

    def write_reports(self, folder: str | Path) -> dict[str, Path]:
        """``metrics.csv``, ``pr_curves.png`` and ``examples.csv`` in ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {"metrics": folder / "metrics.csv", "pr_curves": folder / "pr_curves.png",
                 "examples": folder / "examples.csv"}
        self.evaluation.metrics.to_csv(paths["metrics"], index=False)
        plot_pr_curves(self.evaluation, paths["pr_curves"],
                       title="Attack progressions vs. everything else")
        self.summary().to_csv(paths["examples"])
        return paths


def training_catalog(groups: pd.DataFrame, tenants: list[str], config: MiningConfig,
                     exclude_group_ids: set[str] | None = None) -> PatternCatalog:
    """A privacy-checked catalog mined on ``tenants`` only (minus ``exclude_group_ids``)."""
    part = groups[groups["tenant_id"].astype(str).isin(tenants)]
    if exclude_group_ids:
        part = part[~part["group_id"].astype(str).isin(exclude_group_ids)]
    catalog = mine_catalog(part, config)
    check_privacy(catalog, part)
    return catalog


def _labels(examples: Examples) -> pd.Series:
    return examples.labels.set_index("group_id")["label"]


def fit_and_score(train: Examples, validation: Examples, tests: dict[str, Examples],
                  catalog: PatternCatalog, config: ModelConfig, progress: bool = False
                  ) -> tuple[SequenceModel, Evaluation]:
    """Fit the sequence model and the bag-of-types baseline on ``train``, build the two
    catalog baselines from ``catalog``, and score all four on ``tests``."""
    model = SequenceModel(config).fit(train.alerts, _labels(train),
                                      (validation.alerts, _labels(validation)),
                                      catalog=catalog, progress=progress)
    scorers = [ModelScorer(model, MODEL_SCORER),
               BagOfTypesBaseline(seed=config.seed).fit(train),
               RuleScoreBaseline(catalog), CooccurrenceBaseline(catalog)]
    evaluation = evaluate_scorers(scorers, validation, tests,
                                  thresholds={MODEL_SCORER: model.threshold_})
    return model, evaluation


def train_and_evaluate(groups: pd.DataFrame, config: TrainingConfig | None = None,
                       spec: LabelSpec | None = None, catalog: PatternCatalog | None = None,
                       progress: bool = False) -> TrainingResult:
    """The whole training procedure (see the module docstring) on grouped alerts."""
    config = config or TrainingConfig()
    spec = spec or LabelSpec()
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    splits = build_splits(groups, spec, config.split)
    tenants = {name: sorted(examples.labels["tenant_id"].astype(str).unique())
               for name, examples in splits.items()}
    seconds["examples"] = time.perf_counter() - started
    log.info("examples: %s", {k: (len(v), int(v.y.sum())) for k, v in splits.items()})

    started = time.perf_counter()
    own_catalog = catalog is None
    if own_catalog:
        catalog = training_catalog(groups, tenants["train"], config.mining)
    seconds["catalog"] = time.perf_counter() - started

    started = time.perf_counter()
    model, evaluation = fit_and_score(splits["train"], splits["validation"],
                                      {TEST: splits["test"]}, catalog, config.model, progress)
    seconds["train"] = time.perf_counter() - started
    log.info("model: best epoch %d of %d, threshold %.3f", model.best_epoch_,
             len(model.history_), model.threshold_)

    playbook_model = None
    if config.holdout_playbooks:
        started = time.perf_counter()
        held = tuple(config.holdout_playbooks)
        train = without_playbooks(splits["train"], held, spec)
        validation = without_playbooks(splits["validation"], held, spec)
        test = playbook_test(splits["test"], held)
        splits["test_playbooks"] = test
        held_catalog = catalog
        if own_catalog:
            touched = set(splits["train"].labels["group_id"].astype(str)) - set(
                train.labels["group_id"].astype(str))
            held_catalog = training_catalog(groups, tenants["train"], config.mining,
                                            exclude_group_ids=touched)
        playbook_model, held_eval = fit_and_score(train, validation, {PLAYBOOK_TEST: test},
                                                  held_catalog, config.model, progress)
        evaluation = Evaluation(pd.concat([evaluation.metrics, held_eval.metrics],
                                          ignore_index=True),
                                {**evaluation.curves, **held_eval.curves})
        seconds["train_playbook_holdout"] = time.perf_counter() - started
    return TrainingResult(model, catalog, splits, evaluation, seconds, playbook_model)
