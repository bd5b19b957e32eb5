"""Ingest throughput: CPTC-2017 and a generated 1M-alert EVE JSON lines file.

Baseline, run in the same process: ``pandas.read_json(lines=True)`` on the same EVE file (it
only parses; it maps nothing, validates nothing and quarantines nothing).

    .venv/bin/python benchmarks/ingest.py [--records 1000000]

Prints records/s per input (by wall clock and by CPU time) and the ratio to the baseline; the
target is >= 100k records/s for EVE JSON lines on one core.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from eve_data import write_eve_lines  # noqa: E402

from fusion_ml.attack import AttackCatalog  # noqa: E402
from fusion_ml.errors import ConfigError  # noqa: E402
from fusion_ml.ingest import ingest_files  # noqa: E402
from fusion_ml.paths import cptc_dir  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label: str, func, records: int) -> tuple[float, float]:
    """Run ``func``; print and return records/s by wall clock and by this process's CPU time
    (the CPU figure is the steadier one on a machine shared with other work)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    func()
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    rate = records / seconds
    print(f"{label:<44} {records:>10,} records {seconds:>7.2f} s {rate:>10,.0f} rec/s "
          f"(CPU {cpu:.2f} s, {records / cpu:,.0f} rec/s; peak RSS {peak_rss_mb():,.0f} MB)")
    return rate, records / cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args()
    catalog = AttackCatalog.default()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        try:
            files = sorted(cptc_dir().glob("*.json.gz"))
        except ConfigError as exc:
            print(f"skipping CPTC: {exc}")
            files = []
        if files:
            result = {}
            timed("fusion ingest CPTC-2017 (Splunk JSON, gzip)",
                  lambda: result.update(r=ingest_files(files, work / "cptc.parquet",
                                                       catalog=catalog)), 47_876)
        eve = work / "eve.jsonl"
        started = time.perf_counter()
        write_eve_lines(eve, args.records)
        print(f"generated {args.records:,} EVE records ({eve.stat().st_size / 1e6:,.0f} MB) in "
              f"{time.perf_counter() - started:.1f} s")
        ours, ours_cpu = timed("fusion ingest EVE JSON lines", lambda: ingest_files(
            [eve], work / "eve.parquet", fmt="suricata", tenant="bench", catalog=catalog),
            args.records)
        base, base_cpu = timed("baseline: pandas.read_json(lines=True)",
                               lambda: pd.read_json(eve, lines=True), args.records)
        print(f"fusion ingest / pandas.read_json: {ours / base:.2f}x (by CPU time "
              f"{ours_cpu / base_cpu:.2f}x); target 100,000 rec/s: "
              f"{'met' if ours >= 100_000 else 'NOT met'} ({ours:,.0f}; by CPU time "
              f"{ours_cpu:,.0f}); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} "
              "cores")


if __name__ == "__main__":
    main()
