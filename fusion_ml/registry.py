"""MLflow life cycle of the sequence model: log a training run, register the model, gate the
``champion`` alias, list and promote versions, load by alias.

* One run per training in experiment :data:`TRAINING_EXPERIMENT`: parameters, metrics (model
  and baselines per split), the catalog reference, the model's JSON state (vocabularies,
  configuration), the metrics table and the PR-curve PNG as artifacts.
* The model is logged as a models-from-code pyfunc (:mod:`fusion_ml.pyfunc_model`) whose
  weights load with ``torch.load(weights_only=True)``; its signature describes the grouped
  alert input; it is registered as :data:`MODEL_NAME`.
* :func:`champion_gate` scores the new version and the current champion on the **same**
  examples and moves ``champion`` only when the new version is strictly better; otherwise the
  new version becomes ``challenger``.

The tracking store is :func:`fusion_ml.tracking.tracking_uri` (``$MLFLOW_TRACKING_URI`` or a
SQLite file under ``.fusion/``).
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fusion_ml.errors import ModelRegistryError, SchemaError
from fusion_ml.tracking import mlflow_client

if TYPE_CHECKING:  # pragma: no cover
    from fusion_ml.dataset import Examples
    from fusion_ml.nn import SequenceModel

MODEL_NAME = "fusion-sequence-model"
TRAINING_EXPERIMENT = "fusion-training"
CHAMPION, CHALLENGER = "champion", "challenger"
INPUT_COLUMNS = ("group_id", "tenant_id", "alert_id", "timestamp", "alert_type", "provider",
                 "severity", "fidelity", "techniques", "tactics", "entities")
"""Columns of the registered model's input (one row per alert)."""
OPTIONAL_COLUMNS = ("entity_counts", "type_count")
"""Optional input columns: ``entity_counts`` and ``type_count`` from
:func:`fusion_ml.grouping.group_alerts` (without them, both are counted over the input
itself)."""
GATE_METRIC = "pr_auc"
_LIST_COLUMNS = ("techniques", "tactics", "entities")
_MLFLOW_LOCK = threading.Lock()  # the fluent API keeps a process-wide tracking URI


def prepare_input(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` fit for the model: the input columns checked, ``timestamp`` as UTC
    datetimes, missing lists as empty lists."""
    if not isinstance(frame, pd.DataFrame):
        raise SchemaError(f"model input: expected a DataFrame of alerts, got "
                          f"{type(frame).__name__}")
    missing = [c for c in INPUT_COLUMNS if c not in frame.columns]
    if missing:
        raise SchemaError(f"model input: expected columns {list(INPUT_COLUMNS)}, missing "
                          f"{missing}")
    out = frame[list(INPUT_COLUMNS) + [c for c in OPTIONAL_COLUMNS if c in frame.columns]].copy()
    try:
        out["timestamp"] = pd.to_datetime(out["timestamp"], utc=True, format="ISO8601") \
            if out["timestamp"].dtype == object else pd.to_datetime(out["timestamp"], utc=True)
    except (ValueError, TypeError) as exc:
        raise SchemaError(f"model input: field 'timestamp' must hold datetimes or ISO 8601 "
                          f"text ({exc})") from None
    for column in _LIST_COLUMNS + (("entity_counts",) if "entity_counts" in out.columns else ()):
        out[column] = [list(v) if v is not None and not _is_na(v) else [] for v in out[column]]
    if "type_count" in out.columns:  # a double in the signature: MLflow's ints cannot be missing
        out["type_count"] = pd.to_numeric(out["type_count"]).astype("float64")
    for column in ("group_id", "tenant_id", "alert_id", "alert_type", "provider", "severity",
                   "fidelity"):
        out[column] = out[column].astype(str)
    return out


def to_model_input(alerts: pd.DataFrame) -> pd.DataFrame:
    """Grouped alerts as the registered model takes them: the input columns, ``timestamp`` as
    naive UTC datetimes (MLflow's schema has no time zones), lists as lists."""
    out = prepare_input(alerts)
    out["timestamp"] = out["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None)
    return out


def _is_na(value: Any) -> bool:
    return isinstance(value, float) and np.isnan(value)


def score_frame(model: SequenceModel, alerts: pd.DataFrame) -> pd.DataFrame:
    """``group_id``, ``score`` and ``is_attack`` per group of ``alerts``."""
    if alerts.empty:
        return pd.DataFrame({"group_id": pd.Series(dtype=str), "score": pd.Series(dtype=float),
                             "is_attack": pd.Series(dtype=bool)})
    scores = model.predict_proba(alerts)
    return pd.DataFrame({"group_id": scores.index.astype(str), "score": scores.to_numpy(),
                         "is_attack": scores.to_numpy() >= model.threshold_})


def model_signature(sample: pd.DataFrame):
    """The pyfunc signature, inferred from a sample of grouped alerts."""
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types.schema import ColSpec, Schema

    output = pd.DataFrame({"group_id": ["g"], "score": [0.5], "is_attack": [False]})
    inferred = infer_signature(to_model_input(sample.head(50)), output)
    inputs = [ColSpec(spec.type, spec.name, required=spec.name not in OPTIONAL_COLUMNS)
              for spec in inferred.inputs.inputs]
    return ModelSignature(Schema(inputs), inferred.outputs)


@dataclass
class TrainingRun:
    """Where a training run landed."""

    run_id: str
    model_uri: str
    experiment_id: str


def log_training_run(model: SequenceModel, sample: pd.DataFrame, params: Mapping[str, Any],
                     metrics: Mapping[str, float], artifacts: Mapping[str, str | Path],
                     tags: Mapping[str, str] | None = None) -> TrainingRun:
    """Log one training run (see the module docstring); returns its ids."""
    import mlflow
    import torch

    from fusion_ml.tracking import ensure_experiment, flatten, param_value, tracking_uri

    uri = tracking_uri()
    code = Path(__file__).with_name("pyfunc_model.py")
    with _MLFLOW_LOCK, tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tracking_uri(uri)
        experiment_id = ensure_experiment(TRAINING_EXPERIMENT)
        folder = model.save(Path(tmp) / "model")
        with mlflow.start_run(experiment_id=experiment_id,
                              run_name=f"sequence-model-{model.config.seed}") as run:
            mlflow.set_tags({"fusion.kind": "sequence-model", **(tags or {})})
            mlflow.log_params({k: param_value(v) for k, v in flatten(params).items()})
            mlflow.log_metrics({k: float(v) for k, v in metrics.items() if np.isfinite(v)})
            for epoch in model.history_:
                mlflow.log_metrics({f"train.{key}": epoch[key] for key in
                                    ("loss", "val_pr_auc", "val_pure_chains") if key in epoch},
                                   step=epoch["epoch"])
            for name, path in artifacts.items():
                mlflow.log_artifact(str(path), artifact_path=name)
            mlflow.log_dict(json.loads((folder / "model.json").read_text()),
                            "config/model.json")
            info = mlflow.pyfunc.log_model(
                name="model", python_model=str(code), artifacts={"model": str(folder)},
                signature=model_signature(sample),
                pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", "pandas",
                                  "numpy", "pyarrow", "numba", "fusion-ml"])
    return TrainingRun(run.info.run_id, info.model_uri, experiment_id)


def register(run: TrainingRun, name: str = MODEL_NAME) -> str:
    """Register the run's model as a new version of ``name``; returns the version."""
    import mlflow

    from fusion_ml.tracking import tracking_uri

    with _MLFLOW_LOCK:
        mlflow.set_tracking_uri(tracking_uri())
        mlflow.set_registry_uri(tracking_uri())
        version = mlflow.register_model(run.model_uri, name,
                                        tags={"fusion.run_id": run.run_id})
    return str(version.version)


def load_pyfunc(uri: str):
    """An MLflow pyfunc model by URI (``models:/fusion-sequence-model@champion``, a version,
    or a run's ``runs:/...``)."""
    import mlflow

    from fusion_ml.tracking import tracking_uri

    with _MLFLOW_LOCK:
        mlflow.set_tracking_uri(tracking_uri())
        mlflow.set_registry_uri(tracking_uri())
        try:
            return mlflow.pyfunc.load_model(uri)
        except Exception as exc:  # MLflow raises several types for a missing model
            raise ModelRegistryError(f"could not load model {uri!r} from {tracking_uri()}: "
                                     f"{exc}") from exc


def load_sequence_model(uri: str) -> SequenceModel:
    """The :class:`~fusion_ml.nn.SequenceModel` inside a registered pyfunc (for explanations
    and in-process scoring)."""
    return load_pyfunc(uri).unwrap_python_model().model


def model_uri(version: str | None = None, alias: str | None = CHAMPION,
              name: str = MODEL_NAME) -> str:
    """``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``."""
    return f"models:/{name}/{version}" if version else f"models:/{name}@{alias}"


@dataclass
class GateResult:
    """What the champion gate decided."""

    version: str
    alias: str
    metric: str
    score: float
    champion_version: str | None
    champion_score: float | None

    @property
    def promoted(self) -> bool:
        """Whether the new version took the champion alias."""
        return self.alias == CHAMPION

    def to_dict(self) -> dict[str, Any]:
        """Plain values."""
        return asdict(self)


def _pyfunc_metric(pyfunc, examples: Examples, metric: str) -> float:
    from fusion_ml.evaluation import binary_metrics

    scores = pyfunc.predict(to_model_input(examples.alerts)).set_index("group_id")["score"]
    aligned = scores.reindex(examples.labels["group_id"].astype(str)).to_numpy(dtype=float)
    return binary_metrics(examples.y, np.nan_to_num(aligned), 0.5)[metric]


def champion_gate(version: str, examples: Examples, metric: str = GATE_METRIC,
                  name: str = MODEL_NAME) -> GateResult:
    """Score version ``version`` and the current champion on ``examples``; give ``version``
    the champion alias if it is strictly better (or there is no champion), else the
    challenger alias. The decision and both scores are tagged on the version."""
    from mlflow.exceptions import MlflowException

    client = mlflow_client()
    score = _pyfunc_metric(load_pyfunc(model_uri(version, name=name)), examples, metric)
    try:
        current = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        current = None
    champion_version = str(current.version) if current is not None else None
    champion_score = None
    if champion_version is not None and champion_version != version:
        champion_score = _pyfunc_metric(load_pyfunc(model_uri(champion_version, name=name)),
                                        examples, metric)
    better = champion_score is None or score > champion_score
    alias = CHAMPION if better else CHALLENGER
    client.set_registered_model_alias(name, alias, version)
    for key, value in {"fusion.gate": alias, f"fusion.gate_{metric}": f"{score:.6f}",
                       "fusion.gate_against": champion_version or "none",
                       f"fusion.gate_champion_{metric}":
                           "" if champion_score is None else f"{champion_score:.6f}"}.items():
        client.set_model_version_tag(name, version, key, value)
    return GateResult(version, alias, metric, score, champion_version, champion_score)


def promote(version: str, name: str = MODEL_NAME) -> None:
    """Give ``version`` the champion alias by hand (``fusion models promote``)."""
    from mlflow.exceptions import MlflowException

    client = mlflow_client()
    try:
        client.get_model_version(name, str(version))
    except MlflowException:
        raise ModelRegistryError(f"model {name!r} has no version {version!r}; "
                                 f"see 'fusion models list'") from None
    client.set_registered_model_alias(name, CHAMPION, str(version))
    client.set_model_version_tag(name, str(version), "fusion.gate", "promoted by hand")


def list_versions(name: str = MODEL_NAME) -> pd.DataFrame:
    """One row per version: ``version``, ``aliases``, ``run_id``, ``created``, ``gate``,
    ``gate_score`` and the run's test PR-AUC of the model."""
    from mlflow.exceptions import MlflowException

    client = mlflow_client()
    columns = ["version", "aliases", "run_id", "created", "gate", "gate_score",
               "test_pr_auc"]
    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except MlflowException:
        return pd.DataFrame(columns=columns)
    rows = []
    for found in versions:
        v = client.get_model_version(name, found.version)  # search results lack aliases
        metrics = client.get_run(v.run_id).data.metrics if v.run_id else {}
        rows.append({
            "version": int(v.version), "aliases": ",".join(sorted(v.aliases)),
            "run_id": v.run_id,
            "created": pd.Timestamp(v.creation_timestamp, unit="ms", tz="UTC"),
            "gate": v.tags.get("fusion.gate", ""),
            "gate_score": v.tags.get(f"fusion.gate_{GATE_METRIC}", ""),
            "test_pr_auc": metrics.get("model.test.pr_auc", float("nan")),
        })
    return pd.DataFrame(rows, columns=columns).sort_values("version").reset_index(drop=True)


def model_info(uri: str) -> dict[str, Any]:
    """Name, version, aliases, run id and the run's metrics of a registered model URI
    (``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``)."""
    from mlflow.exceptions import MlflowException

    client = mlflow_client()
    path = uri.removeprefix("models:/")
    try:
        if "@" in path:
            name, alias = path.split("@", 1)
            version = client.get_model_version_by_alias(name, alias)
        else:
            name, number = path.rsplit("/", 1)
            version = client.get_model_version(name, number)
    except (MlflowException, ValueError) as exc:
        raise ModelRegistryError(f"no registered model at {uri!r}: {exc}") from None
    metrics = client.get_run(version.run_id).data.metrics if version.run_id else {}
    return {"name": name, "version": str(version.version), "aliases": sorted(version.aliases),
            "run_id": version.run_id, "metrics": dict(sorted(metrics.items()))}
