"""fusion-ml: correlate security alerts from many tenants into scored incidents."""

from fusion_ml.errors import (
    ConfigError,
    FusionError,
    IngestError,
    ModelRegistryError,
    NotFittedError,
    RecordError,
    SchemaError,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "FusionError",
    "IngestError",
    "ModelRegistryError",
    "NotFittedError",
    "RecordError",
    "SchemaError",
    "__version__",
]
