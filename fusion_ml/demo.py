"""The end-to-end demo behind ``make demo`` (grows with each pipeline stage)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from fusion_ml.ingest import ingest_files
from fusion_ml.paths import cptc_dir
from fusion_ml.reporting import format_ingest_result
from fusion_ml.schema import read_alerts
from fusion_ml.summary import format_summary, summarize


def run_demo(out: Path, cptc: Path | None = None, echo: Callable[[str], None] = print) -> Path:
    """Ingest the CPTC-2017 set into ``out/cptc.parquet`` and print a summary; returns the path."""
    started = time.perf_counter()
    source = cptc or cptc_dir()
    files = sorted(source.glob("*.json.gz"))
    echo(f"== Ingest CPTC-2017: {len(files)} files from {source}")
    result = ingest_files(files, out / "cptc.parquet", fmt="splunk-suricata", progress=True)
    echo(format_ingest_result(result))
    echo("")
    echo(format_summary(summarize(read_alerts(out / "cptc.parquet"))))
    echo("")
    echo(f"demo finished in {time.perf_counter() - started:.1f} s; outputs in {out}/")
    return out / "cptc.parquet"
