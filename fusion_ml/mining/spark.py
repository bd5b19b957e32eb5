"""Frequent sequential patterns on Spark: MLlib's PrefixSpan plus distinct-tenant support.

:class:`SparkPatternMiner` has the contract of
:class:`~fusion_ml.mining.prefixspan.SequentialPatternMiner` (same parameters, same
``patterns_`` columns and order) and runs on a Spark cluster, or in local mode by default:

1. the sequences go to Spark as one row per group, ``(tenant, items)``, built from the flat
   arrays through Arrow (no per-row Python on the driver);
2. ``pyspark.ml.fpm.PrefixSpan`` mines the group support, each item a one-item itemset (the
   item code as a string), with ``minSupport`` chosen so that Spark's
   ``ceil(minSupport * n)`` is exactly our count threshold;
3. the frequent patterns are broadcast as a prefix trie; each partition walks every sequence
   down the trie (leftmost matching, compiled with numba) and ORs the ``(pattern, tenant)``
   pairs it sees into tenant bitmaps; Spark ORs the bitmaps and counts distinct tenants;
4. the driver drops patterns below ``min_support`` or ``min_tenants`` and maps codes back to
   labels.

Spark's PrefixSpan has no gap constraint, so ``max_gap`` must be ``None``. pyspark is an
optional dependency (``pip install 'fusion-ml[spark]'``), imported only when a session is made.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numba import njit

from fusion_ml.errors import ConfigError, param_error
from fusion_ml.mining.prefixspan import SequentialPatternMiner, min_count_for, pattern_frame
from fusion_ml.mining.sequences import SequenceSet

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

SPARK_EXTRA = "fusion-ml[spark]"
_REDUCE_EVERY = 4_000_000

LOCAL_DEFAULTS: dict[str, str] = {
    "spark.app.name": "fusion-ml",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.driver.memory": "4g",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.log.level": "WARN",
}
"""Settings for local mode on a small (2-core, ~24 GB) machine, offline: no UI, few shuffle
partitions, a 4 GB driver, loopback only. ``spark_conf`` entries override them."""

CLUSTER_DEFAULTS: dict[str, str] = {
    key: value for key, value in LOCAL_DEFAULTS.items()
    if key not in ("spark.driver.bindAddress", "spark.driver.host", "spark.driver.memory")
}
"""Settings for a non-local master: executors must reach the driver, so no loopback binding."""


def _import_pyspark() -> Any:
    try:
        import pyspark
    except ImportError as exc:
        raise ConfigError(f"Spark mining needs pyspark, which is not installed: "
                          f"pip install '{SPARK_EXTRA}'") from exc
    return pyspark


@contextmanager
def _no_pandas_version_warning() -> Iterator[None]:
    """pyspark 4.x warns once that it does not fully support pandas >= 3 (on importing
    ``pyspark.testing``, and on building Arrow UDFs); the mining path uses Arrow, not pandas."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas",
                                category=FutureWarning)
        yield


def spark_session(master: str = "local[*]", conf: Mapping[str, str] | None = None) -> SparkSession:
    """Build a SparkSession, or return the active one (``getOrCreate``).

    ``master``: ``local[*]`` (default), ``local[2]``, ``spark://host:7077``, ...; ``conf``:
    extra settings, applied over :data:`LOCAL_DEFAULTS` (local masters) or
    :data:`CLUSTER_DEFAULTS`. If a session already runs, its static settings (master, driver
    memory) stay as they are and only runtime settings are applied.

    Python workers are started with this interpreter (``PYSPARK_PYTHON`` defaults to
    ``sys.executable``, not to ``python3`` on the ``PATH``, which may lack pyarrow), and in
    local mode Spark binds to 127.0.0.1 (``SPARK_LOCAL_IP``) so that it works offline.
    """
    _import_pyspark()
    from pyspark.sql import SparkSession

    local = master.startswith("local")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if local:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    extra = {key: str(value) for key, value in (conf or {}).items()}
    active = SparkSession.getActiveSession()
    if active is not None:
        for key, value in extra.items():
            if active.conf.isModifiable(key):
                active.conf.set(key, value)
        return active
    settings = {**(LOCAL_DEFAULTS if local else CLUSTER_DEFAULTS), **extra}
    builder = SparkSession.builder.master(master)
    for key, value in settings.items():
        builder = builder.config(key, value)
    with _no_pandas_version_warning():
        session = builder.getOrCreate()
    session.sparkContext.setLogLevel(settings.get("spark.log.level", "WARN"))
    return session


class SparkPatternMiner(SequentialPatternMiner):
    """Frequent sequential patterns over candidate groups, mined with Spark (an estimator).

    >>> miner = SparkPatternMiner(min_support=0.01, min_tenants=3, max_length=5)
    >>> miner.fit(sequences).patterns_        # doctest: +SKIP

    Same parameters and ``patterns_`` as :class:`SequentialPatternMiner` (``pattern``,
    ``length``, ``support``, ``tenants``, ``support_share``; sorted by length, then support
    descending, then pattern), except that ``max_gap`` must be ``None``. ``n_jobs``: Spark
    partitions of the input (Spark's default parallelism if that is larger);
    ``master`` and ``spark_conf`` go to :func:`spark_session`, which reuses an active session.
    Also sets ``stage_seconds_``: wall seconds of the ``load``, ``prefixspan`` and ``tenants``
    stages.
    """

    def __init__(self, min_support: int | float = 0.01, min_tenants: int = 3,
                 max_length: int = 5, max_gap: int | None = None, n_jobs: int = 2,
                 master: str = "local[*]", spark_conf: dict[str, str] | None = None) -> None:
        super().__init__(min_support=min_support, min_tenants=min_tenants,
                         max_length=max_length, max_gap=max_gap, n_jobs=n_jobs)
        self.master = master
        self.spark_conf = spark_conf

    def _validate(self) -> None:
        owner = type(self).__name__
        if self.max_gap is not None:
            raise param_error(owner, "max_gap",
                              "None (Spark's PrefixSpan has no gap constraint; use "
                              "SequentialPatternMiner for max_gap)", self.max_gap)
        super()._validate()
        if not isinstance(self.master, str) or not self.master:
            raise param_error(owner, "master", "a non-empty Spark master URL", self.master)
        if self.spark_conf is not None and not isinstance(self.spark_conf, Mapping):
            raise param_error(owner, "spark_conf", "None or a dict of Spark settings",
                              self.spark_conf)

    def fit(self, sequences: SequenceSet) -> SparkPatternMiner:
        """Mine ``sequences`` on Spark; sets ``patterns_``, ``n_sequences_``, ``min_count_`` and
        ``stage_seconds_`` (wall time of the load, PrefixSpan and tenant-count stages)."""
        self._validate()
        _import_pyspark()
        n = len(sequences)
        min_count = min_count_for(self.min_support, n)
        rows: list[tuple[tuple[int, ...], int, int]] = []
        self.stage_seconds_: dict[str, float] = {}
        table = _sequence_table(sequences)
        if table.num_rows >= min_count:
            spark = spark_session(self.master, self.spark_conf)
            with _no_pandas_version_warning():
                rows = self._mine(spark, table, min_count)
        self.patterns_ = pattern_frame(rows, sequences.vocabulary, n)
        self.n_sequences_ = n
        self.min_count_ = min_count
        return self

    def _mine(self, spark: SparkSession, table: pa.Table,
              min_count: int) -> list[tuple[tuple[int, ...], int, int]]:
        from pyspark.ml.fpm import PrefixSpan
        from pyspark.sql import functions as F

        clock = time.perf_counter()
        frame = spark.createDataFrame(table)  # in spark.sparkContext.defaultParallelism slices
        if self.n_jobs > spark.sparkContext.defaultParallelism:
            frame = frame.repartition(self.n_jobs)
        # A DataFrame made from local data carries its rows inside every task of every stage
        # that reads it, cached or not (Spark warns of tasks of tens of MB). A local checkpoint
        # ships them once, keeps them in the block manager and cuts them out of the lineage.
        frame = frame.localCheckpoint(eager=True)
        self.stage_seconds_["load"] = time.perf_counter() - clock
        n_rows = table.num_rows
        broadcast = None
        try:
            # Spark keeps patterns with freq >= ceil(minSupport * n_rows): put minSupport half a
            # group below min_count so that rounding cannot move the threshold.
            min_share = (min_count - 0.5) / n_rows
            spark_input = frame.select(
                F.transform("items", lambda x: F.array(x.cast("string"))).alias("sequence"))
            clock = time.perf_counter()
            found = PrefixSpan(minSupport=min_share, maxPatternLength=self.max_length,
                               sequenceCol="sequence").findFrequentSequentialPatterns(spark_input)
            supports: dict[tuple[int, ...], int] = {}
            for row in found.select(F.flatten("sequence").alias("items"), "freq").collect():
                if row["freq"] >= min_count:
                    supports[tuple(int(x) for x in row["items"])] = int(row["freq"])
            self.stage_seconds_["prefixspan"] = time.perf_counter() - clock
            if not supports:
                return []
            patterns = sorted(supports, key=lambda p: (len(p), p))
            trie = PatternTrie.build(patterns)
            # compile the walk here first: local-mode workers then load numba's on-disk cache
            trie.tenant_pairs(np.zeros(0, np.int32), np.zeros(1, np.int64), np.zeros(0, np.int32))
            broadcast = spark.sparkContext.broadcast(trie)
            clock = time.perf_counter()
            n_words = int(table.column("tenant").to_numpy().max()) // 64 + 1
            tenants = _count_tenants(frame, broadcast, n_words)
            self.stage_seconds_["tenants"] = time.perf_counter() - clock
            return [(p, supports[p], tenants.get(i, 0)) for i, p in enumerate(patterns)
                    if tenants.get(i, 0) >= self.min_tenants]
        finally:
            if broadcast is not None:
                broadcast.destroy()

    def get_params(self) -> dict[str, object]:
        """Constructor parameters (for cloning and logging)."""
        return {**super().get_params(), "master": self.master, "spark_conf": self.spark_conf}


def _sequence_table(sequences: SequenceSet) -> pa.Table:
    """Non-empty sequences as an Arrow table ``(tenant: int32, items: list<int32>)``, built from
    the flat arrays without a Python loop (empty sequences support nothing)."""
    import pyarrow as pa

    offsets = np.asarray(sequences.offsets, dtype=np.int64)
    lengths = np.diff(offsets)
    keep = np.flatnonzero(lengths > 0)
    items = np.asarray(sequences.items, dtype=np.int32)
    if len(keep) < len(lengths):
        mask = np.repeat(lengths > 0, lengths)
        items = items[mask]
    kept_offsets = np.zeros(len(keep) + 1, dtype=np.int32)
    np.cumsum(lengths[keep], out=kept_offsets[1:])
    lists = pa.ListArray.from_arrays(pa.array(kept_offsets), pa.array(items, type=pa.int32()))
    tenants = pa.array(np.asarray(sequences.tenants, dtype=np.int32)[keep], type=pa.int32())
    return pa.Table.from_arrays([tenants, lists], names=["tenant", "items"])


@dataclass(frozen=True)
class PatternTrie:
    """A prefix trie of patterns (item codes) in CSR arrays, for :func:`_tenant_pairs`.

    Node 0 is the root; the children of node ``n`` are ``child_node[child_ptr[n]:child_ptr[n + 1]]``
    with items ``child_item[...]`` (ascending); ``node_pattern[n]`` is the id of the pattern that
    ends at ``n`` (``-1`` if none).
    """

    child_ptr: np.ndarray
    child_item: np.ndarray
    child_node: np.ndarray
    node_pattern: np.ndarray

    @classmethod
    def build(cls, patterns: Sequence[tuple[int, ...]]) -> PatternTrie:
        """The trie of ``patterns``; pattern ``i`` gets id ``i``."""
        children: list[dict[int, int]] = [{}]
        node_pattern = [-1]
        for pattern_id, pattern in enumerate(patterns):
            node = 0
            for item in pattern:
                child = children[node].get(item)
                if child is None:
                    child = len(children)
                    children[node][item] = child
                    children.append({})
                    node_pattern.append(-1)
                node = child
            node_pattern[node] = pattern_id
        ptr = np.zeros(len(children) + 1, dtype=np.int64)
        np.cumsum([len(kids) for kids in children], out=ptr[1:])
        pairs = [pair for kids in children for pair in sorted(kids.items())]
        items = np.array([item for item, _ in pairs], dtype=np.int32)
        nodes = np.array([node for _, node in pairs], dtype=np.int32)
        return cls(ptr, items, nodes, np.array(node_pattern, dtype=np.int32))

    def tenant_pairs(self, items: np.ndarray, offsets: np.ndarray,
                     tenants: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(pattern ids, tenants)``: every pattern contained in a sequence, with the tenant of
        that sequence; repeats are dropped within runs of one tenant (not across runs)."""
        items = np.ascontiguousarray(items, dtype=np.int32)
        n_vocab = 1 + max(int(items.max()) if len(items) else 0,
                          int(self.child_item.max()) if len(self.child_item) else 0)
        n_patterns = 1 + int(self.node_pattern.max())
        return _tenant_pairs(items, np.ascontiguousarray(offsets, dtype=np.int64),
                             np.ascontiguousarray(tenants, dtype=np.int32), self.child_ptr,
                             self.child_item, self.child_node, self.node_pattern, n_vocab,
                             max(n_patterns, 1))


@njit(nogil=True, cache=True)
def _tenant_pairs(items, offsets, tenants, child_ptr, child_item, child_node, node_pattern,
                  n_vocab, n_patterns):  # pragma: no cover - compiled
    """Walk each sequence down the trie, depth first, keeping per node the end of the leftmost
    match of its prefix: a child item extends the match iff it occurs after that end (the first
    occurrence after it is the leftmost match of the longer prefix)."""
    n_nodes = len(node_pattern)
    stack_node = np.empty(n_nodes, np.int32)
    stack_pos = np.empty(n_nodes, np.int64)
    seen = np.full(n_vocab, -1, np.int64)
    last_tenant = np.full(n_patterns, -1, np.int64)
    capacity = 1024
    out_pattern = np.empty(capacity, np.int32)
    out_tenant = np.empty(capacity, np.int32)
    n_out = 0
    scan = 0
    for s in range(len(offsets) - 1):
        t = tenants[s]
        end = offsets[s + 1]
        stack_node[0] = 0
        stack_pos[0] = offsets[s]
        top = 1
        while top > 0:
            top -= 1
            node = stack_node[top]
            first, last = child_ptr[node], child_ptr[node + 1]
            scan += 1
            for p in range(stack_pos[top], end):
                x = items[p]
                if seen[x] == scan:
                    continue
                seen[x] = scan
                lo, hi = first, last
                while lo < hi:
                    mid = (lo + hi) // 2
                    if child_item[mid] < x:
                        lo = mid + 1
                    else:
                        hi = mid
                if lo == last or child_item[lo] != x:
                    continue
                child = child_node[lo]
                pattern = node_pattern[child]
                if pattern >= 0 and last_tenant[pattern] != t:
                    last_tenant[pattern] = t
                    if n_out == capacity:
                        capacity *= 2
                        grown_pattern = np.empty(capacity, np.int32)
                        grown_tenant = np.empty(capacity, np.int32)
                        grown_pattern[:n_out] = out_pattern[:n_out]
                        grown_tenant[:n_out] = out_tenant[:n_out]
                        out_pattern, out_tenant = grown_pattern, grown_tenant
                    out_pattern[n_out] = pattern
                    out_tenant[n_out] = t
                    n_out += 1
                if child_ptr[child + 1] > child_ptr[child]:
                    stack_node[top] = child
                    stack_pos[top] = p + 1
                    top += 1
    return out_pattern[:n_out].copy(), out_tenant[:n_out].copy()


def _count_tenants(frame: DataFrame, trie: Any, n_words: int) -> dict[int, int]:
    """``{pattern id: distinct tenants}`` for the patterns of a broadcast :class:`PatternTrie`,
    counted in Spark.

    Distinct (pattern, tenant) pairs are carried as tenant bitmaps: each partition ORs the
    pairs it finds into 64-bit words ``(pattern_id, word = tenant // 64, bits)``; Spark ORs the
    words of all partitions (``bit_or``) and counts the set bits per pattern. Exact whatever the
    row order, and far fewer rows to shuffle than one per pair.
    """
    from pyspark.sql import functions as F

    def words(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        walker = trie.value
        keys: list[np.ndarray] = []
        bits: list[np.ndarray] = []
        pending = 0
        for batch in batches:
            lists = batch.column(batch.schema.get_field_index("items"))
            tenants = batch.column(batch.schema.get_field_index("tenant")).to_numpy()
            # offsets index the unsliced values, so they stay valid for a sliced batch
            ids, owners = walker.tenant_pairs(lists.values.to_numpy(),
                                              lists.offsets.to_numpy(), tenants)
            owners = owners.astype(np.int64)
            keys.append(ids.astype(np.int64) * n_words + (owners >> 6))
            bits.append(np.left_shift(np.int64(1), owners & 63))
            pending += len(ids)
            if pending > _REDUCE_EVERY:
                key, word_bits = _or_by_key(np.concatenate(keys), np.concatenate(bits))
                keys, bits, pending = [key], [word_bits], len(key)
        if pending:
            key, word_bits = _or_by_key(np.concatenate(keys), np.concatenate(bits))
            yield pa.RecordBatch.from_arrays(
                [pa.array((key // n_words).astype(np.int32)),
                 pa.array((key % n_words).astype(np.int32)), pa.array(word_bits)],
                names=["pattern_id", "word", "bits"])

    counted = (frame.select("tenant", "items")
               .mapInArrow(words, "pattern_id int, word int, bits long")
               .groupBy("pattern_id", "word")
               .agg(F.bit_or("bits").alias("bits"))
               .groupBy("pattern_id")
               .agg(F.sum(F.bit_count("bits")).alias("tenants")))
    return {int(row["pattern_id"]): int(row["tenants"]) for row in counted.collect()}


def _or_by_key(keys: np.ndarray, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ``keys`` (ascending) and the bitwise OR of the ``bits`` of each."""
    order = np.argsort(keys, kind="stable")
    keys, bits = keys[order], bits[order]
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    return keys[starts], np.bitwise_or.reduceat(bits, starts)


