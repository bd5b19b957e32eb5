"""Sequential pattern mining at scale: our numba miner against PyPI ``prefixspan`` and Spark.

Input: ``synthetic_groups(N)`` (default 1M groups, ~10 alert types each, 300 Zipf-like types,
500 tenants, 20 planted patterns). Each support level (default 1% and 0.2% of groups) is mined
with ``max_length=6`` and ``min_tenants=1`` by

* ``ours``: :class:`~fusion_ml.mining.SequentialPatternMiner`, warmed up once on a small set
  first so that numba compilation (or cache loading) is excluded; it is also run with
  ``min_tenants=3`` (the privacy floor) for reference;
* ``prefixspan``: the PyPI package (``PrefixSpan(lists).frequent(min_count)``, ``maxlen=6``),
  fed lists of integer codes; it counts groups only, so its rows have no tenant support (none is
  computed for it); building its input lists is timed apart;
* ``spark``: :class:`~fusion_ml.mining.spark.SparkPatternMiner` in local mode (``local[*]``);
  session start-up and a warm-up fit on a small set are excluded and reported apart.

Every (engine, support) runs in its own spawned process; memory is that process tree's peak
resident set (sampled every 50 ms from /proc, so the Spark JVM and its Python workers count),
and its increase over the RSS once the input is generated. (``ru_maxrss`` is not used: it
misses the JVM, and a spawned child starts with its parent's high-water mark, since Linux keeps
it across fork and exec.) Pattern sets, compared as (pattern, group
support), must be equal between engines at the same support; ours and Spark also agree on
tenant support.

    .venv/bin/python benchmarks/mining.py [--groups 1000000] [--engines ours,prefixspan,spark]
                                          [--supports 0.01,0.002]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from mining_data import synthetic_groups  # noqa: E402

from fusion_ml.mining.prefixspan import SequentialPatternMiner, min_count_for  # noqa: E402
from fusion_ml.mining.sequences import SequenceSet  # noqa: E402

ENGINES = ("ours", "prefixspan", "spark")
MAX_LENGTH = 6
SEED = 0

PatternKey = tuple[tuple[str, ...], int]


@dataclass
class EngineRun:
    """One engine at one support level, measured in its own process."""

    engine: str
    label: str
    support: float
    wall_s: float
    peak_rss_mb: float
    rss_increase_mb: float
    patterns: set[PatternKey]
    tenants: dict[tuple[str, ...], int] | None = None
    extra: dict[str, float] = field(default_factory=dict)


class TreeRssSampler:
    """Peak resident set of this process and all its descendants, sampled from /proc."""

    def __init__(self, interval_s: float = 0.05) -> None:
        self.interval_s = interval_s
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeRssSampler:
        self.peak_kb = tree_rss_kb()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, tree_rss_kb())

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak_kb = max(self.peak_kb, tree_rss_kb())


def tree_rss_kb(root: int | None = None) -> int:
    """Current RSS (kB) of ``root`` (default: this process) and its descendants."""
    root = os.getpid() if root is None else root
    parent_of: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    fields = handle.read().rsplit(b")", 1)[1].split()
                parent_of[int(entry)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue  # the process ended while we looked
    tree = {root}
    grew = True
    while grew:
        more = {pid for pid, parent in parent_of.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    total = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/statm", "rb") as handle:
                total += int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
        except (OSError, IndexError, ValueError):
            continue
    return total


def run_engine(engine: str, n_groups: int, support: float, min_tenants: int = 1) -> EngineRun:
    """Generate the input, then run one engine on it and measure it (in this process)."""
    groups = synthetic_groups(n_groups, seed=SEED)
    warmup = synthetic_groups(2_000, seed=SEED + 1)
    min_count = min_count_for(support, len(groups))
    extra: dict[str, float] = {}
    tenants = None
    session = None
    if engine == "spark":
        from fusion_ml.mining.spark import SparkPatternMiner, spark_session

        started = time.perf_counter()
        session = spark_session("local[*]")
        extra["session start s"] = time.perf_counter() - started
        started = time.perf_counter()
        SparkPatternMiner(min_support=0.05, min_tenants=1, max_length=3).fit(warmup)
        extra["warm-up fit s"] = time.perf_counter() - started
    elif engine == "ours":
        SequentialPatternMiner(min_support=0.05, min_tenants=1, max_length=3).fit(warmup)
    baseline_kb = tree_rss_kb()
    with TreeRssSampler() as sampler:
        started = time.perf_counter()
        if engine == "prefixspan":
            patterns, prep_s = _run_prefixspan(groups, min_count)
            extra["input lists s (incl.)"] = prep_s
        else:
            cls = SequentialPatternMiner
            if engine == "spark":
                from fusion_ml.mining.spark import SparkPatternMiner as cls  # type: ignore[assignment]
            miner = cls(min_support=min_count, min_tenants=min_tenants,
                        max_length=MAX_LENGTH).fit(groups)
            frame = miner.patterns_
            for stage, seconds in getattr(miner, "stage_seconds_", {}).items():
                extra[f"{stage} stage s"] = seconds
            patterns = set(zip(frame["pattern"], frame["support"].tolist(), strict=True))
            tenants = dict(zip(frame["pattern"], frame["tenants"].tolist(), strict=True))
        wall = time.perf_counter() - started
    if session is not None:
        session.stop()
    label = engine if engine != "ours" else f"ours (min_tenants={min_tenants})"
    return EngineRun(engine, label, support, wall, sampler.peak_kb / 1024,
                     (sampler.peak_kb - baseline_kb) / 1024, patterns, tenants, extra)


def _run_prefixspan(groups: SequenceSet, min_count: int) -> tuple[set[PatternKey], float]:
    from prefixspan import PrefixSpan

    started = time.perf_counter()
    items, bounds = groups.items, groups.offsets.tolist()
    lists = [items[a:b].tolist() for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    prep = time.perf_counter() - started
    miner = PrefixSpan(lists)
    miner.maxlen = MAX_LENGTH
    vocab = groups.vocabulary
    found = {(tuple(vocab[c] for c in pattern), int(sup))
             for sup, pattern in miner.frequent(min_count)}
    return found, prep


def measure(engine: str, n_groups: int, support: float, min_tenants: int = 1) -> EngineRun:
    """:func:`run_engine` in a fresh spawned process (clean memory figures)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(run_engine, engine, n_groups, support, min_tenants).result()


def report(runs: Sequence[EngineRun], n_groups: int, support: float) -> list[str]:
    """Lines for one support level: a table, agreement checks and speed-ups."""
    min_count = min_count_for(support, n_groups)
    lines = [f"\nmin_support {support:.2%} of groups ({min_count:,} groups), "
             f"max_length {MAX_LENGTH}",
             f"  {'engine':<24}{'wall s':>9}{'peak RSS MB':>13}{'+RSS MB':>9}"
             f"{'patterns':>10}  notes"]
    for run in runs:
        notes = ", ".join(f"{k} {v:.1f}" for k, v in run.extra.items())
        if run.engine == "prefixspan":
            notes = "no tenant support" + (f", {notes}" if notes else "")
        lines.append(f"  {run.label:<24}{run.wall_s:>9.2f}{run.peak_rss_mb:>13.0f}"
                     f"{run.rss_increase_mb:>9.0f}{len(run.patterns):>10,}  {notes}")
    base = {r.engine: r for r in runs if r.label != "ours (min_tenants=3)"}
    ours = base.get("ours")
    for other in ("prefixspan", "spark"):
        if ours is None or other not in base:
            continue
        theirs = base[other]
        same = ours.patterns == theirs.patterns
        line = (f"  ours == {other} on (pattern, support): {'yes' if same else 'NO'} "
                f"({len(ours.patterns):,} vs {len(theirs.patterns):,}")
        if not same:
            line += (f"; only ours {len(ours.patterns - theirs.patterns)}, "
                     f"only {other} {len(theirs.patterns - ours.patterns)}")
        line += ")"
        if theirs.tenants is not None and ours.tenants is not None:
            line += f"; tenant supports equal: {'yes' if theirs.tenants == ours.tenants else 'NO'}"
        lines.append(line)
        lines.append(f"  speed-up of ours over {other}: {theirs.wall_s / ours.wall_s:.1f}x")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--groups", type=int, default=1_000_000)
    parser.add_argument("--engines", default=",".join(ENGINES),
                        help=f"comma-separated, from {','.join(ENGINES)}")
    parser.add_argument("--supports", default="0.01,0.002",
                        help="comma-separated shares of groups")
    args = parser.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown:
        parser.error(f"unknown engines {unknown}; expected some of {list(ENGINES)}")
    supports = [float(s) for s in args.supports.split(",") if s.strip()]

    started = time.perf_counter()
    groups = synthetic_groups(args.groups, seed=SEED)
    print(f"synthetic_groups({args.groups:,}): {len(groups.items):,} items, "
          f"{len(groups.vocabulary)} types, {groups.n_tenants} tenants "
          f"(generated in {time.perf_counter() - started:.1f} s; each engine regenerates it "
          f"in its own process, untimed)")
    print(f"{os.cpu_count()} CPUs. ours: warmed up on 2,000 groups first (numba compile/cache "
          "load excluded). spark: local[*], session start and a warm-up fit excluded (shown in "
          "notes). prefixspan: pure Python, no tenant support (none computed).")
    del groups
    for support in supports:
        runs = []
        for engine in engines:
            runs.append(measure(engine, args.groups, support))
            if engine == "ours":
                runs.append(measure(engine, args.groups, support, min_tenants=3))
        for line in report(runs, args.groups, support):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
