"""SparkPatternMiner: parity with SequentialPatternMiner (exact patterns, group and tenant
supports), the tenant floor, and its error paths. Spark tests share one local session."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fusion_ml.errors import ConfigError
from fusion_ml.mining.bruteforce import brute_force_patterns, contains
from fusion_ml.mining.prefixspan import SequentialPatternMiner
from fusion_ml.mining.sequences import SequenceSet
from fusion_ml.mining.spark import PatternTrie, SparkPatternMiner, spark_session

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from mining_data import synthetic_groups  # noqa: E402

HAND = SequenceSet.from_lists(
    [list("abc"), list("acb"), list("abd"), list("bcd"), [], list("xyx"), list("xy"), list("yxy")],
    ["t1", "t1", "t2", "t3", "t3", "t4", "t4", "t4"],
)
"""Eight groups in four tenants; ``x`` and ``y`` occur in tenant t4 only."""

HAND_EXPECTED = {  # min_support=2, max_length=3: {pattern: (groups, distinct tenants)}
    ("a",): (3, 2), ("b",): (4, 3), ("c",): (3, 2), ("d",): (2, 2),
    ("x",): (3, 1), ("y",): (3, 1),
    ("a", "b"): (3, 2), ("a", "c"): (2, 1), ("b", "c"): (2, 2), ("b", "d"): (2, 2),
    ("x", "y"): (3, 1), ("y", "x"): (2, 1),
}


def test_hand_made_expectation_matches_the_brute_force_oracle():
    assert brute_force_patterns(HAND.to_lists(), HAND.tenants.tolist(), min_count=2,
                                min_tenants=1, max_length=3) == HAND_EXPECTED


def as_dict(patterns: pd.DataFrame) -> dict[tuple[str, ...], tuple[int, int]]:
    return {p: (int(s), int(t)) for p, s, t in
            zip(patterns["pattern"], patterns["support"], patterns["tenants"], strict=True)}


@pytest.fixture(scope="module")
def spark():
    """One local Spark session for the module, stopped at the end."""
    pytest.importorskip("pyspark")
    session = spark_session("local[2]")
    yield session
    session.stop()


@pytest.mark.slow
@pytest.mark.parametrize("min_support", [2, 0.25])
def test_hand_made_exact_answer(spark, min_support):
    spark_patterns = SparkPatternMiner(min_support=min_support, min_tenants=1,
                                       max_length=3).fit(HAND).patterns_
    local = SequentialPatternMiner(min_support=min_support, min_tenants=1, max_length=3).fit(HAND)
    assert as_dict(spark_patterns) == HAND_EXPECTED
    pd.testing.assert_frame_equal(spark_patterns, local.patterns_)
    assert spark_patterns["support_share"].tolist() == [s / 8 for s in spark_patterns["support"]]


@pytest.mark.slow
def test_tenant_floor_removes_patterns_seen_in_fewer_tenants(spark):
    miner = SparkPatternMiner(min_support=2, min_tenants=2, max_length=3).fit(HAND)
    expected = {p: v for p, v in HAND_EXPECTED.items() if v[1] >= 2}
    assert as_dict(miner.patterns_) == expected
    assert ("a", "c") not in expected and ("x", "y") not in expected
    local = SequentialPatternMiner(min_support=2, min_tenants=2, max_length=3).fit(HAND)
    pd.testing.assert_frame_equal(miner.patterns_, local.patterns_)


@pytest.mark.slow
def test_parity_on_medium_synthetic_set(spark):
    groups = synthetic_groups(n_groups=20_000, n_types=40, n_tenants=30, seed=3)
    params = {"min_support": 0.01, "min_tenants": 3, "max_length": 4}
    local = SequentialPatternMiner(**params).fit(groups)
    miner = SparkPatternMiner(**params).fit(groups)
    assert len(local.patterns_) > 1000 and local.patterns_["length"].max() == 4
    pd.testing.assert_frame_equal(miner.patterns_, local.patterns_)
    assert miner.min_count_ == local.min_count_ == 200


@pytest.mark.slow
def test_parity_with_many_tenants_and_partial_reductions(spark, monkeypatch):
    # 200 tenants: four 64-bit tenant words per pattern, sign bit included; reduce every batch;
    # n_jobs above local[2]'s parallelism: the input is repartitioned (tenants interleave)
    monkeypatch.setattr("fusion_ml.mining.spark._REDUCE_EVERY", 1)
    groups = synthetic_groups(n_groups=4_000, n_types=20, n_tenants=200, seed=5)
    params = {"min_support": 40, "min_tenants": 20, "max_length": 3}
    local = SequentialPatternMiner(**params).fit(groups)
    batch_size = "spark.sql.execution.arrow.maxRecordsPerBatch"
    try:  # a runtime setting: applied to the running session
        miner = SparkPatternMiner(**params, n_jobs=3, spark_conf={batch_size: "500"}).fit(groups)
        assert spark.conf.get(batch_size) == "500"
    finally:
        spark.conf.unset(batch_size)
    assert local.patterns_["tenants"].max() > 64 and local.patterns_["tenants"].min() < 64
    pd.testing.assert_frame_equal(miner.patterns_, local.patterns_)


@pytest.mark.slow
def test_no_frequent_pattern_gives_empty_frame(spark):
    miner = SparkPatternMiner(min_support=5, min_tenants=1).fit(HAND)  # b: 4 groups
    assert miner.patterns_.empty
    assert list(miner.patterns_.columns) == ["pattern", "length", "support", "tenants",
                                             "support_share"]


def test_max_gap_is_refused():
    with pytest.raises(ConfigError, match="'max_gap' parameter of SparkPatternMiner must be None"):
        SparkPatternMiner(max_gap=2).fit(HAND)


def test_bad_parameters_use_the_common_message():
    with pytest.raises(ConfigError, match="'min_tenants' parameter of SparkPatternMiner"):
        SparkPatternMiner(min_tenants=0).fit(HAND)
    with pytest.raises(ConfigError, match="'master' parameter"):
        SparkPatternMiner(master="").fit(HAND)


def test_missing_pyspark_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)
    with pytest.raises(ConfigError, match=r"fusion-ml\[spark\]"):
        SparkPatternMiner(min_support=2).fit(HAND)


def test_get_params_includes_spark_settings():
    params = SparkPatternMiner(master="local[1]", spark_conf={"a": "b"}).get_params()
    assert params["master"] == "local[1]" and params["spark_conf"] == {"a": "b"}
    assert params["max_gap"] is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(0, 3), max_size=8), min_size=1, max_size=6),
       st.lists(st.integers(0, 2), min_size=6, max_size=6),
       st.sets(st.lists(st.integers(0, 3), min_size=1, max_size=3).map(tuple), max_size=20))
def test_trie_walk_counts_exactly_the_containing_tenants(sequences, owners, patterns):
    tenants = sorted(owners[:len(sequences)])
    closed = sorted({p[:k] for p in patterns for k in range(1, len(p) + 1)},
                    key=lambda p: (len(p), p))
    trie = PatternTrie.build(closed)
    items = np.array([x for s in sequences for x in s], dtype=np.int32)
    offsets = np.cumsum([0] + [len(s) for s in sequences])
    ids, owner = trie.tenant_pairs(items, offsets, np.array(tenants, dtype=np.int32))
    pairs = list(zip(ids.tolist(), owner.tolist(), strict=True))
    assert len(pairs) == len(set(pairs))  # tenants are sorted: no repeats
    expected = {(i, t) for i, p in enumerate(closed)
                for s, t in zip(sequences, tenants, strict=False) if contains(s, p)}
    assert set(pairs) == expected
