"""Where fusion-ml finds shared sample data and puts its working files."""

from __future__ import annotations

import os
from pathlib import Path

from fusion_ml.errors import ConfigError

CPTC_ENV = "FUSION_CPTC_DIR"


def repo_root() -> Path:
    """The source checkout this package was installed from (editable installs)."""
    return Path(__file__).resolve().parent.parent


def cptc_dir() -> Path:
    """The CPTC-2017 Suricata alert set: ``$FUSION_CPTC_DIR``, else ``../shared/data/cptc-2017``
    next to the working directory or the checkout."""
    override = os.environ.get(CPTC_ENV)
    candidates = [Path(override)] if override else [
        Path.cwd().parent / "shared" / "data" / "cptc-2017",
        repo_root().parent / "shared" / "data" / "cptc-2017",
    ]
    for candidate in candidates:
        if any(candidate.glob("*.json.gz")):
            return candidate
    raise ConfigError(
        f"expected the CPTC-2017 alert files (*.json.gz) in {candidates[0]}, found none; "
        f"set {CPTC_ENV} to their folder"
    )


def ensure_prefect_home() -> Path | None:
    """Create ``$PREFECT_HOME`` if it is set and missing (Prefect's local database lives there;
    its ephemeral server fails to start when the folder does not exist). Returns the folder."""
    home = os.environ.get("PREFECT_HOME")
    if not home:
        return None
    path = Path(home).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path
