"""The batch scoring flow: alerts in, incidents out.

    load -> split by tenant -> per tenant (mapped): prepare, group, score, build incidents
    (through an incident store when one is given) -> write

Every task is one library call (:func:`fusion_ml.incidents.detect`,
:meth:`fusion_ml.incidents.IncidentStore.update`, :func:`fusion_ml.incidents.write_incidents`);
results stay in memory (``persist_result=False``, no caching: nothing is pickled). Run it with
``fusion score``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task, unmapped
from prefect.cache_policies import NO_CACHE

from fusion_ml.incident_config import IncidentConfig
from fusion_ml.incidents import Incident, IncidentStore, detect, write_incidents
from fusion_ml.registry import model_uri as default_model_uri
from fusion_ml.scoring import Scorer
from pipelines.mining import load_alerts

DEFAULT_MODEL = default_model_uri()


def tenant_store(store: str | Path, tenant: str) -> IncidentStore:
    """The incident store of one tenant: a sub-folder named by a hash of the tenant id."""
    return IncidentStore(Path(store) / ("t-" + hashlib.sha256(tenant.encode()).hexdigest()[:16]))


@task(persist_result=False, cache_policy=NO_CACHE)
def load_scorer(model_uri: str) -> Scorer:
    """The model from the registry (:meth:`Scorer.from_uri`)."""
    return Scorer.from_uri(model_uri)


@task(persist_result=False, cache_policy=NO_CACHE)
def score_tenant(alerts: pd.DataFrame, scorer: Scorer, config: IncidentConfig,
                 store: str | None = None) -> tuple[list[Incident], dict[str, Any]]:
    """Incidents of one tenant's alerts (through its store when ``store`` is given)."""
    if store:
        tenant = str(alerts["tenant_id"].iloc[0])
        batch = tenant_store(store, tenant).update(alerts, scorer, config)
    else:
        batch = detect(alerts, scorer, config)
    return batch.incidents, batch.stats


@task(persist_result=False, cache_policy=NO_CACHE)
def write(incidents: list[Incident], out: str, fmt: str) -> str:
    """Write the incidents (:func:`write_incidents`); returns the absolute path."""
    return str(write_incidents(incidents, out, fmt).resolve())


@flow(name="fusion-scoring", persist_result=False)
def scoring_flow(alerts: list[str], out: str, model_uri: str = DEFAULT_MODEL,
                 config_path: str | None = None, store: str | None = None,
                 fmt: str = "jsonl", scorer: Scorer | None = None) -> dict[str, Any]:
    """Score ``alerts`` (canonical Parquet or any ingestible format) into incidents in
    ``out``. ``config_path``: a TOML file with an ``[incidents]`` table; ``store``: a folder
    that keeps state across runs (later alerts join open incidents; reruns change nothing);
    ``scorer``: an already loaded model (skips the registry).

    Returns ``out``, ``incidents``, ``alerts``, ``tenants``, ``excluded_provider_alerts`` and
    ``threshold``."""
    logger = get_run_logger()
    config = IncidentConfig.from_toml(config_path) if config_path else IncidentConfig()
    frame = load_alerts(alerts)
    if scorer is None:
        scorer = load_scorer(model_uri)
    tenants = [part.reset_index(drop=True) for _, part in frame.groupby("tenant_id",
                                                                          sort=True)]
    logger.info("scoring %d alerts of %d tenants", len(frame), len(tenants))
    results = score_tenant.map(tenants, unmapped(scorer), unmapped(config),
                               unmapped(store)).result()
    incidents = sorted((i for found, _ in results for i in found),
                       key=lambda i: (i.tenant_id, i.first_seen, i.incident_id))
    path = write(incidents, out, fmt)
    dropped = sum(stats.get("excluded_provider_alerts", 0) for _, stats in results)
    threshold = scorer.threshold if config.threshold is None else config.threshold
    logger.info("%d incidents from %d alerts written to %s", len(incidents), len(frame), path)
    return {"out": path, "incidents": len(incidents), "alerts": len(frame),
            "tenants": len(tenants), "excluded_provider_alerts": dropped,
            "threshold": float(threshold)}
