"""The mining flow: alerts in, a privacy-checked pattern catalog out, logged to MLflow.

    load -> group (one task per tenant) -> mine -> evaluate (ground truth only) -> check
    privacy -> save -> log to MLflow

Every task is one library call; results stay in memory (``persist_result=False``: nothing is
pickled). Run it with ``fusion mine`` (Prefect's ephemeral API) or on a schedule with
``fusion schedule mining`` (a Prefect server), which serves :func:`mining_deployment`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.deployments.runner import RunnerDeployment

from fusion_ml.errors import FusionError
from fusion_ml.grouping import GroupingConfig
from fusion_ml.mining.catalog import MiningConfig, PatternCatalog

CANONICAL_SUFFIX = ".parquet"
GROUND_TRUTH_COLUMN = "label"
DEFAULT_TIMEZONE = "UTC"


@task(persist_result=False)
def load_alerts(paths: list[str], fmt: str = "auto", tenant: str | None = None) -> pd.DataFrame:
    """Canonical Parquet files (``fmt="auto"``, every path ``*.parquet``, no tenant override)
    through :func:`read_alerts`, which keeps ground truth; anything else through
    :func:`ingest_frame`."""
    from fusion_ml.ingest import ingest_frame
    from fusion_ml.schema import read_alerts

    logger = get_run_logger()
    if is_canonical(paths, fmt, tenant):
        frame = pd.concat([read_alerts(p) for p in paths], ignore_index=True)
        logger.info("read %d canonical alerts from %d file(s)", len(frame), len(paths))
        return frame
    frame, result = ingest_frame(paths, fmt=fmt, tenant=tenant)
    logger.info("ingested %d alerts from %d file(s): %d read, %d quarantined, %d duplicates, "
                "%d skipped", len(frame), len(paths), result.total("read"),
                result.total("quarantined"), result.total("duplicates"), result.total("skipped"))
    return frame


@task(persist_result=False)
def group_tenant(alerts: pd.DataFrame, grouping: GroupingConfig | None = None) -> pd.DataFrame:
    """Candidate groups of one tenant's alerts (:func:`group_alerts`)."""
    from fusion_ml.grouping import group_alerts

    return group_alerts(alerts, grouping or GroupingConfig())


@task(persist_result=False)
def mine(groups: pd.DataFrame, config: MiningConfig) -> PatternCatalog:
    """Patterns, rules and the co-occurrence baseline (:func:`mine_catalog`)."""
    from fusion_ml.mining.catalog import mine_catalog

    catalog = mine_catalog(groups, config)
    get_run_logger().info("mined %s", {level: counts for level, counts
                                       in catalog.summary["levels"].items()})
    return catalog


@task(persist_result=False)
def evaluate(catalog: PatternCatalog, alerts: pd.DataFrame, min_tenants: int) -> dict[str, Any]:
    """Alert-type rules against the simulator's ground truth (:func:`evaluate_rules`)."""
    from fusion_ml.mining.evaluate import evaluate_rules

    rules = catalog.rules[catalog.rules["level"] == "alert_type"]
    return evaluate_rules(rules, alerts, min_tenants).to_dict()


@task(persist_result=False)
def check_privacy(catalog: PatternCatalog, groups: pd.DataFrame) -> None:
    """Raise if a tenant id or entity value reached the catalog (:func:`check_privacy`)."""
    from fusion_ml.mining.catalog import check_privacy as check

    check(catalog, groups)


@task(persist_result=False)
def save_catalog(catalog: PatternCatalog, out: str) -> str:
    """Write the catalog folder (:meth:`PatternCatalog.save`); returns its absolute path."""
    return str(catalog.save(out).resolve())


@task(persist_result=False)
def log_to_mlflow(catalog: PatternCatalog, folder: str, params: dict[str, Any],
                  metrics: dict[str, Any]) -> str:
    """Log the run to MLflow (:func:`fusion_ml.tracking.log_catalog`); returns the run id."""
    from fusion_ml.tracking import log_catalog

    return log_catalog(catalog, folder, params, metrics)


@flow(name="fusion-mining", persist_result=False)
def mining_flow(alerts: list[str], out: str, engine: str = "local", min_tenants: int = 3,
                min_support: float | int = 5, max_length: int = 5, fmt: str = "auto",
                tenant: str | None = None,
                cooccurrence_min_support: float | None = None) -> dict[str, Any]:
    """Mine ``alerts`` into a pattern catalog in ``out`` and log it to MLflow.

    ``cooccurrence_min_support`` (share of groups) defaults to :class:`MiningConfig`'s; the
    fpgrowth baseline slows down sharply below ~0.002 on tens of thousands of groups.

    Returns ``catalog`` (folder), ``run_id``, ``tracking_uri``, ``content_hash``, ``counts``
    (alerts, tenants, groups, per-level patterns and rules, co-occurrence rules) and
    ``evaluation`` (``None`` without ground truth).
    """
    from fusion_ml.tracking import tracking_uri

    logger = get_run_logger()
    extra = ({} if cooccurrence_min_support is None
             else {"cooccurrence_min_support": cooccurrence_min_support})
    config = MiningConfig(min_support=min_support, min_tenants=min_tenants,
                          max_length=max_length, engine=engine, **extra)
    frame = load_alerts(alerts, fmt, tenant)
    if frame.empty:
        raise FusionError(f"no alerts to mine in {alerts}")
    tenants = [part for _, part in frame.groupby("tenant_id", sort=True)]
    logger.info("grouping %d alerts of %d tenants", len(frame), len(tenants))
    groups = pd.concat(group_tenant.map(tenants).result(), ignore_index=True)
    catalog = mine(groups, config)
    evaluation = None
    if GROUND_TRUTH_COLUMN in frame.columns:
        evaluation = evaluate(catalog, frame, min_tenants)
        logger.info("evaluation against ground truth: %s", evaluation)
        catalog = dataclasses.replace(catalog, summary={**catalog.summary,
                                                        "evaluation": evaluation})
    check_privacy(catalog, groups)
    folder = save_catalog(catalog, out)
    params = {"inputs": list(alerts), "format": fmt, "tenant": tenant,
              "mining": config.to_dict(), "grouping": GroupingConfig().to_dict()}
    run_id = log_to_mlflow(catalog, folder, params, {"evaluation": evaluation or {}})
    content_hash = catalog.content_hash
    logger.info("catalog %s (content hash %s), MLflow run %s", folder, content_hash[:12], run_id)
    summary = catalog.summary
    return {
        "catalog": folder,
        "run_id": run_id,
        "tracking_uri": tracking_uri(),
        "content_hash": content_hash,
        "counts": {"alerts": summary["alerts"], "tenants": summary["tenants"],
                   "groups": summary["groups"], "levels": summary["levels"],
                   "cooccurrence_rules": summary["cooccurrence_rules"]},
        "evaluation": evaluation,
    }


def is_canonical(paths: list[str], fmt: str, tenant: str | None) -> bool:
    """Whether :func:`load_alerts` reads ``paths`` as canonical alert tables."""
    return (fmt == "auto" and tenant is None and bool(paths)
            and all(Path(p).name.casefold().endswith(CANONICAL_SUFFIX) for p in paths))


def mining_deployment(name: str, cron: str, parameters: dict[str, Any],
                      timezone: str = DEFAULT_TIMEZONE) -> RunnerDeployment:
    """The mining flow as a deployment that runs on ``cron`` (in ``timezone``) with
    ``parameters``; serve it with :func:`prefect.serve` against a Prefect server."""
    from prefect.schedules import Cron

    return mining_flow.to_deployment(name=name, schedule=Cron(cron, timezone=timezone),
                                     parameters=parameters,
                                     description="Scheduled cross-tenant pattern mining.")
