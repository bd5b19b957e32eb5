"""The training flow: alerts in, a registered and gated sequence model out.

    load -> group (one task per tenant) -> examples + tenant splits -> catalog (training
    tenants, unless given) -> train -> evaluate against baselines -> log + register in MLflow
    -> champion gate

Every task is one library call (:mod:`fusion_ml.training`, :mod:`fusion_ml.registry`);
results stay in memory (``persist_result=False``: nothing is pickled). ``fusion train`` runs it.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task

from fusion_ml.config import load_config
from fusion_ml.dataset import LabelSpec
from fusion_ml.errors import FusionError
from fusion_ml.mining.catalog import PatternCatalog
from fusion_ml.training import TrainingConfig, TrainingResult
from pipelines.mining import group_tenant, load_alerts


@task(persist_result=False)
def train(groups: pd.DataFrame, config: TrainingConfig, spec: LabelSpec,
          catalog: PatternCatalog | None) -> TrainingResult:
    """Examples, splits, catalog, model and baselines (:func:`train_and_evaluate`)."""
    from fusion_ml.evaluation import format_metrics
    from fusion_ml.training import train_and_evaluate

    result = train_and_evaluate(groups, config, spec, catalog, progress=True)
    get_run_logger().info("evaluation:\n%s", format_metrics(result.evaluation.metrics))
    return result


@task(persist_result=False)
def log_and_register(result: TrainingResult, params: dict[str, Any], out: str | None
                     ) -> dict[str, Any]:
    """Write the reports, log the run and register the model; returns the run and version."""
    from fusion_ml.registry import log_training_run, register

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(out) if out else Path(tmp)
        reports = result.write_reports(folder)
        if out:
            result.model.save(folder / "model")
        catalog_hash = result.catalog.content_hash
        run = log_training_run(
            result.model, result.splits["train"].alerts, params, result.metrics(),
            {"evaluation": reports["metrics"], "plots": reports["pr_curves"],
             "examples": reports["examples"]},
            tags={"fusion.catalog_hash": catalog_hash})
    version = register(run)
    return {"run_id": run.run_id, "model_uri": run.model_uri, "version": version,
            "catalog_hash": catalog_hash}


@task(persist_result=False)
def gate(version: str, result: TrainingResult) -> dict[str, Any]:
    """Champion gate on the held-out tenants (:func:`champion_gate`)."""
    from fusion_ml.registry import champion_gate

    decision = champion_gate(version, result.splits["test"])
    get_run_logger().info("gate: version %s -> %s (%s %.4f vs champion %s %s)", version,
                          decision.alias, decision.metric, decision.score,
                          decision.champion_version, decision.champion_score)
    return decision.to_dict()


@flow(name="fusion-training", persist_result=False)
def training_flow(alerts: list[str], catalog: str | None = None, label_column: str | None = None,
                  holdout_playbooks: list[str] | None = None, out: str | None = None,
                  seed: int | None = None, max_epochs: int | None = None,
                  max_seconds: float | None = None, fmt: str = "auto",
                  config_path: str | None = None) -> dict[str, Any]:
    """Train, evaluate, register and gate a sequence model on ``alerts``.

    ``label_column``: a per-alert campaign id or attack flag in user data (default: the
    simulator's ``campaign_id`` and ``step``); ``catalog``: a pattern catalog folder to take
    transition evidence from (default: one mined on the training tenants);
    ``holdout_playbooks``: also train a model without them and score it on them;
    ``config_path``: a ``fusion.toml`` whose [grouping], [mining], [split], [model] and
    [training] sections apply (``seed``, ``max_epochs``, ``max_seconds`` and
    ``holdout_playbooks`` given here override it).

    Returns ``run_id``, ``model_uri``, ``version``, ``gate`` (the decision), ``metrics`` (the
    evaluation table as records), ``examples`` and ``tenants`` (per split).
    """
    logger = get_run_logger()
    frame = load_alerts(alerts, fmt)
    if frame.empty:
        raise FusionError(f"no alerts to train on in {alerts}")
    spec = LabelSpec.for_column(label_column) if label_column else LabelSpec()
    spec.check(frame.columns)  # before grouping, and outside a task (Prefect pickles a failed
    #                            task's exception into its result storage)
    settings = load_config(config_path)
    config = settings.training()
    overrides = {k: v for k, v in {"seed": seed, "max_epochs": max_epochs,
                                   "max_seconds": max_seconds}.items() if v is not None}
    config = dataclasses.replace(
        config, model=dataclasses.replace(config.model, **overrides),
        split=dataclasses.replace(config.split, seed=config.split.seed if seed is None
                                  else seed),
        holdout_playbooks=tuple(holdout_playbooks) if holdout_playbooks
        else config.holdout_playbooks)
    tenants = [part for _, part in frame.groupby("tenant_id", sort=True)]
    logger.info("grouping %d alerts of %d tenants", len(frame), len(tenants))
    groups = pd.concat(group_tenant.map(tenants, grouping=settings.grouping).result(),
                       ignore_index=True)
    given = PatternCatalog.load(catalog) if catalog else None
    result = train(groups, config, spec, given)
    params = {"inputs": list(alerts), "catalog": catalog, "labels": spec.to_dict(),
              "config_file": settings.source, "grouping": settings.grouping.to_dict(),
              "training": config.to_dict()}
    registered = log_and_register(result, params, out)
    decision = gate(registered["version"], result)
    return {**registered, "gate": decision,
            "metrics": result.evaluation.metrics.to_dict(orient="records"),
            "examples": {k: {"examples": len(v), "positives": int(v.y.sum())}
                         for k, v in result.splits.items()},
            "tenants": {k: sorted(v.labels["tenant_id"].astype(str).unique())
                        for k, v in result.splits.items()},
            "seconds": result.seconds}
