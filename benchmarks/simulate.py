"""Simulator throughput and memory: 1,000 tenants x 30 days (by default).

Baseline, in the same process: rewriting the generated alerts as Parquet from an in-memory
table (the I/O floor any generator pays), so the ratio shows what generation itself costs.

    .venv/bin/python benchmarks/simulate.py [--tenants 1000] [--days 30]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from fusion_ml.simulate import SimulationConfig, simulate


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "sim.parquet"
        started = time.perf_counter()
        stats = simulate(SimulationConfig(tenants=args.tenants, days=args.days, seed=1), out)
        seconds = time.perf_counter() - started
        rss_generate = peak_rss_mb()
        print(f"simulate {args.tenants:,} tenants x {args.days} days: {stats.alerts:,} alerts "
              f"({stats.campaigns:,} campaigns) in {seconds:.1f} s = "
              f"{stats.alerts / seconds:,.0f} alerts/s; peak RSS {rss_generate:,.0f} MB; "
              f"{out.stat().st_size / 1e6:,.0f} MB on disk")
        table = pq.read_table(out)
        started = time.perf_counter()
        pq.write_table(table, Path(tmp) / "copy.parquet", compression="zstd")
        floor = time.perf_counter() - started
        print(f"baseline: rewrite the same {table.num_rows:,} alerts as Parquet from memory: "
              f"{floor:.1f} s = {table.num_rows / floor:,.0f} alerts/s "
              f"(peak RSS with the table loaded {peak_rss_mb():,.0f} MB)")
        print(f"generation / write-only: {seconds / floor:.1f}x the time; "
              f"10,000 tenants x 30 days would take about "
              f"{seconds * 10_000 / args.tenants * 30 / args.days / 60:.1f} min")


if __name__ == "__main__":
    main()
