"""MLflow tracking for fusion-ml runs: where the data lives and how a mining run is logged.

* Tracking store: ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<cwd>/.fusion/mlflow.db``.
* Artifacts: every experiment is created with an explicit ``artifact_location`` (MLflow would
  otherwise write to ``./mlruns``): ``mlartifacts/<experiment>`` next to a SQLite store (so
  ``<cwd>/.fusion/mlartifacts/<experiment>`` by default), ``<cwd>/.fusion/mlartifacts/<experiment>``
  for other database stores, and the server's default for a remote tracking server.

Everything goes through an explicit :class:`mlflow.MlflowClient`: no global tracking URI, no
active-run state (flows call this from worker threads). Nothing happens at import.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from fusion_ml.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from mlflow import MlflowClient

    from fusion_ml.mining.catalog import PatternCatalog

TRACKING_ENV = "MLFLOW_TRACKING_URI"
LOCAL_DIR = ".fusion"
"""Project-local working folder (under the current directory) for the default stores."""
MINING_EXPERIMENT = "fusion-mining"
CONTENT_HASH_TAG = "fusion.content_hash"
"""Run tag that carries :attr:`PatternCatalog.content_hash`."""
CATALOG_ARTIFACT_PATH = "catalog"
"""Artifact folder of a mining run that holds the catalog files."""
_MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value
_REMOTE_SCHEMES = ("http", "https", "databricks", "databricks-uc")


def tracking_uri() -> str:
    """``$MLFLOW_TRACKING_URI``, else ``sqlite:///<cwd>/.fusion/mlflow.db``.

    The folder of a SQLite store is created (MLflow does not create it)."""
    uri = os.environ.get(TRACKING_ENV) or f"sqlite:///{Path.cwd() / LOCAL_DIR / 'mlflow.db'}"
    database = _sqlite_path(uri)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
    return uri


def artifact_location(name: str, uri: str | None = None) -> str | None:
    """The ``artifact_location`` for a new experiment ``name`` (see the module docstring);
    ``None`` for a remote tracking server, which chooses its own."""
    uri = uri or tracking_uri()
    if urlparse(uri).scheme in _REMOTE_SCHEMES:
        return None
    database = _sqlite_path(uri)
    root = database.parent if database is not None else Path.cwd() / LOCAL_DIR
    return (root / "mlartifacts" / name).resolve().as_uri()


def ensure_experiment(name: str, client: MlflowClient | None = None) -> str:
    """The id of experiment ``name``, created (with an explicit artifact location) or restored
    if needed."""
    from mlflow.entities import LifecycleStage
    from mlflow.exceptions import MlflowException

    client = client or mlflow_client()
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return client.create_experiment(name, artifact_location=artifact_location(
                name, client.tracking_uri))
        except MlflowException:  # created meanwhile by a concurrent run
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
    if experiment.lifecycle_stage == LifecycleStage.DELETED:
        client.restore_experiment(experiment.experiment_id)
    return experiment.experiment_id


def log_catalog(catalog: PatternCatalog, folder: str | Path, params: Mapping[str, Any],
                metrics: Mapping[str, Any], experiment: str = MINING_EXPERIMENT) -> str:
    """Log one mining run; returns its run id.

    * params: ``params``, flattened (``mining.min_tenants``); lists and other values that are
      not strings are JSON-encoded;
    * metrics: the catalog's counts (``alerts``, ``tenants``, ``groups``,
      ``<level>.patterns``, ``<level>.rules``, ``<level>.prevalent_rules``,
      ``cooccurrence_rules``), then ``metrics`` flattened (e.g. ``evaluation.precision``);
    * tag :data:`CONTENT_HASH_TAG`: the catalog's content hash;
    * artifacts: the files of ``folder`` under :data:`CATALOG_ARTIFACT_PATH`.

    The run ends FINISHED, or FAILED if logging raised.
    """
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.utils.time import get_current_time_millis

    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: expected the saved catalog folder, found none")
    client = mlflow_client()
    experiment_id = ensure_experiment(experiment, client)
    content_hash = catalog.content_hash
    run = client.create_run(experiment_id, run_name=f"catalog-{content_hash[:12]}",
                            tags={CONTENT_HASH_TAG: content_hash,
                                  "fusion.kind": "pattern-catalog"})
    run_id = run.info.run_id
    try:
        now = get_current_time_millis()
        values = dict(catalog_metrics(catalog), **flatten(metrics))
        client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in values.items() if _numeric(v)],
            params=[Param(k, param_value(v)) for k, v in flatten(params).items()],
            tags=[RunTag("fusion.catalog_folder", str(folder.resolve()))],
        )
        client.log_artifacts(run_id, str(folder), artifact_path=CATALOG_ARTIFACT_PATH)
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return run_id


def catalog_metrics(catalog: PatternCatalog) -> dict[str, float]:
    """The counts of a catalog's summary, flat (see :func:`log_catalog`)."""
    summary = catalog.summary
    counts = {k: summary[k] for k in ("alerts", "tenants", "groups", "cooccurrence_rules")
              if k in summary}
    for level, numbers in summary.get("levels", {}).items():
        counts.update({f"{level}.{k}": v for k, v in numbers.items()
                       if k in ("groups", "patterns", "rules", "prevalent_rules")})
    return {k: float(v) for k, v in counts.items()}


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one level with dotted keys: ``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def param_value(value: Any) -> str:
    """An MLflow param value: strings as they are, anything else JSON, cut to MLflow's limit."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= _MAX_PARAM_LENGTH else text[:_MAX_PARAM_LENGTH - 3] + "..."


def _numeric(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (``None`` for other stores or in-memory)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///").split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path)


def mlflow_client() -> MlflowClient:
    """A client of :func:`tracking_uri`, whose model registry lives in the same store."""
    from mlflow import MlflowClient

    uri = tracking_uri()
    return MlflowClient(tracking_uri=uri, registry_uri=uri)
