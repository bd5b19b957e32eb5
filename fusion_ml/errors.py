"""One exception tree for fusion-ml.

Every error is a :class:`FusionError` (itself a ``ValueError``), and every message says what was
expected and what came. Errors about input records carry the source file, the record number and
the field, so a user can find the offending line.
"""

from __future__ import annotations


class FusionError(ValueError):
    """Base class of every error raised by fusion-ml."""


class ConfigError(FusionError):
    """A parameter or configuration value is invalid."""


class SchemaError(FusionError):
    """A table does not match the canonical alert schema."""


class NotFittedError(FusionError):
    """An estimator was used before ``fit``."""


class ModelRegistryError(FusionError):
    """A model could not be found, loaded or registered."""


class RecordError(FusionError):
    """One input record is bad; ``field`` names the offending field (or ``None``).

    Readers raise it while mapping a record; the ingest loop adds the source and record number
    and either quarantines the record or, in strict mode, re-raises it as :class:`IngestError`.
    """

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(f"field '{field}': {reason}" if field else reason)
        self.reason = reason
        self.field = field


class IngestError(FusionError):
    """Ingestion stopped on a bad record (strict mode) or an unreadable source."""

    def __init__(
        self,
        message: str,
        source: str | None = None,
        record: int | None = None,
        field: str | None = None,
    ) -> None:
        where = []
        if source is not None:
            where.append(str(source))
        if record is not None:
            where.append(f"record {record}")
        if field is not None:
            where.append(f"field '{field}'")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
        self.source = source
        self.record = record
        self.field = field


def param_error(owner: str, name: str, expected: str, got: object) -> ConfigError:
    """Build the one message format used for bad parameters.

    >>> str(param_error("SequentialPatternMiner", "min_tenants", "an int >= 1", 0))
    "The 'min_tenants' parameter of SequentialPatternMiner must be an int >= 1. Got 0 instead."
    """
    return ConfigError(f"The '{name}' parameter of {owner} must be {expected}. Got {got!r} instead.")
