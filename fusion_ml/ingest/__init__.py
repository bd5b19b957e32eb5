"""Ingestion of real alert formats into the canonical alert table (see :mod:`fusion_ml.schema`).

>>> from fusion_ml.ingest import ingest_files
>>> result = ingest_files(["eve.json"], "alerts.parquet", fmt="suricata", tenant="acme")  # doctest: +SKIP
"""

from fusion_ml.ingest.quarantine import Quarantine, QuarantineEntry, read_quarantine
from fusion_ml.ingest.readers import READERS, detect_format, make_reader
from fusion_ml.ingest.run import Ingestor, IngestResult, SourceStats, ingest_files, ingest_frame

__all__ = [
    "READERS",
    "IngestResult",
    "Ingestor",
    "Quarantine",
    "QuarantineEntry",
    "SourceStats",
    "detect_format",
    "ingest_files",
    "ingest_frame",
    "make_reader",
    "read_quarantine",
]
