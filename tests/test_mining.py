"""Grouping, the sequential pattern miner, rules, plausibility, the catalog and its privacy."""

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fusion_ml.errors import ConfigError, FusionError, NotFittedError
from fusion_ml.grouping import GroupingConfig, group_alerts, type_counts
from fusion_ml.mining import SequenceSet, SequentialPatternMiner
from fusion_ml.mining.bruteforce import brute_force_patterns, contains
from fusion_ml.mining.catalog import MiningConfig, PatternCatalog, check_privacy, mine_catalog
from fusion_ml.mining.evaluate import evaluate_rules
from fusion_ml.mining.killchain import KillChainPolicy
from fusion_ml.mining.rules import SequentialRuleMiner, benjamini_hochberg
from fusion_ml.schema import ALERT_SCHEMA, from_arrow


def as_dict(patterns):
    return {p: (s, t) for p, s, t in zip(patterns["pattern"], patterns["support"],
                                         patterns["tenants"], strict=True)}


# ---------------------------------------------------------------------------------- miner


def test_exact_patterns_on_three_sequences():
    sequences = SequenceSet.from_lists([["a", "b", "c"], ["a", "c", "b", "b"], ["b", "a", "c"]],
                                       ["t1", "t2", "t3"])
    miner = SequentialPatternMiner(min_support=2, min_tenants=2, max_length=3).fit(sequences)
    assert as_dict(miner.patterns_) == {
        ("a",): (3, 3), ("b",): (3, 3), ("c",): (3, 3),
        ("a", "b"): (2, 2), ("a", "c"): (3, 3), ("b", "c"): (2, 2),
    }
    assert list(miner.patterns_.columns) == ["pattern", "length", "support", "tenants",
                                             "support_share"]
    assert miner.patterns_["support_share"].iloc[0] == 1.0


def test_tenant_support_is_a_floor():
    sequences = SequenceSet.from_lists([["x", "y"]] * 5 + [["x", "y"], ["z"]],
                                       ["t1"] * 5 + ["t2", "t3"])
    found = as_dict(SequentialPatternMiner(min_support=1, min_tenants=2, max_length=2)
                    .fit(sequences).patterns_)
    assert found == {("x",): (6, 2), ("y",): (6, 2), ("x", "y"): (6, 2)}


ALPHABET = st.sampled_from("abcde")


@settings(max_examples=80, deadline=None)
@given(sequences=st.lists(st.lists(ALPHABET, max_size=7), min_size=1, max_size=25),
       data=st.data(), min_count=st.integers(1, 4), min_tenants=st.integers(1, 3),
       max_length=st.integers(1, 4), max_gap=st.one_of(st.none(), st.integers(0, 2)))
def test_miner_agrees_with_brute_force(sequences, data, min_count, min_tenants, max_length,
                                       max_gap):
    tenants = data.draw(st.lists(st.sampled_from(["t1", "t2", "t3", "t4"]),
                                 min_size=len(sequences), max_size=len(sequences)))
    miner = SequentialPatternMiner(min_support=min_count, min_tenants=min_tenants,
                                   max_length=max_length, max_gap=max_gap)
    found = as_dict(miner.fit(SequenceSet.from_lists(sequences, tenants)).patterns_)
    assert found == brute_force_patterns(sequences, tenants, min_count, min_tenants,
                                         max_length, max_gap)


@settings(max_examples=40, deadline=None)
@given(sequences=st.lists(st.lists(ALPHABET, max_size=6), min_size=1, max_size=20),
       pattern=st.lists(ALPHABET, min_size=1, max_size=3), extra=ALPHABET)
def test_support_never_grows_when_a_pattern_is_extended(sequences, pattern, extra):
    longer = [*pattern, extra]
    assert sum(contains(s, longer) for s in sequences) <= sum(contains(s, pattern)
                                                              for s in sequences)


def test_miner_agrees_with_the_prefixspan_package():
    import random

    from prefixspan import PrefixSpan

    rng = random.Random(4)
    sequences = [[rng.choice("abcdefgh") for _ in range(rng.randint(1, 9))] for _ in range(400)]
    collapsed = [[x for i, x in enumerate(s) if i == 0 or s[i - 1] != x] for s in sequences]
    ours = SequentialPatternMiner(min_support=20, min_tenants=1, max_length=4).fit(
        SequenceSet.from_lists(sequences, ["t"] * len(sequences))).patterns_
    oracle = PrefixSpan(collapsed)
    oracle.maxlen = 4
    theirs = {tuple(p): s for s, p in oracle.frequent(20)}
    assert {p: s for p, s in zip(ours["pattern"], ours["support"], strict=True)} == theirs


def test_thread_counts_and_tenant_floors_agree_with_brute_force():
    # the first level is built in n_jobs runs of sequences (some empty when n_jobs is large);
    # below it, a node's tenant support is counted on its own projection
    import random

    rng = random.Random(7)
    sequences = [[rng.choice("abcdef") for _ in range(rng.randint(0, 8))] for _ in range(60)]
    tenants = [f"t{rng.randint(0, 9)}" for _ in sequences]
    groups = SequenceSet.from_lists(sequences, tenants)
    for min_tenants in (1, 4, 7):
        expected = brute_force_patterns(sequences, tenants, 6, min_tenants, 4, None)
        for n_jobs in (1, 2, 3, 100):
            miner = SequentialPatternMiner(min_support=6, min_tenants=min_tenants, max_length=4,
                                           n_jobs=n_jobs)
            assert as_dict(miner.fit(groups).patterns_) == expected


def test_estimator_contract():
    sequences = SequenceSet.from_lists([["a", "b"], ["a", "b", "c"], ["b", "c"]], ["1", "2", "3"])
    miner = SequentialPatternMiner(min_support=2, min_tenants=1)
    with pytest.raises(NotFittedError):
        miner.check_fitted()
    first = miner.fit(sequences).patterns_.copy()
    clone = SequentialPatternMiner(**miner.get_params()).fit(sequences).patterns_
    pd.testing.assert_frame_equal(first, clone)
    with pytest.raises(ConfigError, match="The 'min_tenants' parameter of SequentialPatternMiner "
                                          "must be an int >= 1. Got 0 instead."):
        SequentialPatternMiner(min_tenants=0).fit(sequences)
    with pytest.raises(ConfigError, match="'min_support' parameter"):
        SequentialPatternMiner(min_support=1.5).fit(sequences)


# ---------------------------------------------------------------------------------- grouping


def alerts(rows):
    """rows: (tenant, alert_id, minute, alert_type, [(type, value)], fidelity)."""
    table = {
        "tenant_id": [r[0] for r in rows], "alert_id": [r[1] for r in rows],
        "timestamp": pd.to_datetime([1_772_000_000 + 60 * r[2] for r in rows], unit="s",
                                    utc=True),
        "alert_type": [r[3] for r in rows], "provider": ["p"] * len(rows),
        "severity": ["low"] * len(rows), "fidelity": [r[5] for r in rows],
        "techniques": [[] for _ in rows], "tactics": [[] for _ in rows],
        "entities": [[{"type": t, "value": v} for t, v in r[4]] for r in rows],
    }
    import pyarrow as pa

    return from_arrow(pa.Table.from_pydict(table, schema=ALERT_SCHEMA))


def test_grouping_links_shared_entities_within_the_window():
    frame = alerts([
        ("t1", "a1", 0, "Scan", [("ip", "10.0.0.1")], "alert"),
        ("t1", "a2", 10, "Exploit", [("ip", "10.0.0.1"), ("host", "web")], "alert"),
        ("t1", "a3", 20, "Shell", [("host", "web")], "signal"),
        ("t1", "a4", 2000, "Shell", [("host", "web")], "alert"),      # beyond the window
        ("t2", "b1", 5, "Scan", [("ip", "10.0.0.1")], "alert"),       # other tenant
    ])
    before = frame.copy()
    groups = group_alerts(frame, GroupingConfig(window=3600, common_min_alerts=100))
    pd.testing.assert_frame_equal(frame, before)
    by_alert = dict(zip(groups["alert_id"], groups["group_id"], strict=True))
    assert by_alert["a1"] == by_alert["a2"] == by_alert["a3"]
    assert len({by_alert["a1"], by_alert["a4"], by_alert["b1"]}) == 3
    assert groups.set_index("alert_id").loc["a3", "is_signal"]
    assert groups.set_index("alert_id").loc["a1", "group_size"] == 3
    # per entity: distinct alerts of the same tenant carrying it (10.0.0.1: a1, a2 in t1)
    counts = {a: list(c) for a, c in zip(groups["alert_id"], groups["entity_counts"],
                                         strict=True)}
    assert counts == {"a1": [2], "a2": [2, 3], "a3": [3], "a4": [3], "b1": [1]}
    # per alert: alerts of the same tenant with its alert type (Shell: a3, a4; Scan in t2: b1)
    assert dict(zip(groups["alert_id"], groups["type_count"], strict=True)) == {
        "a1": 1, "a2": 1, "a3": 2, "a4": 2, "b1": 1}
    # ids are stable: same alerts, same ids, whatever the input order
    again = group_alerts(frame.iloc[::-1], GroupingConfig(window=3600, common_min_alerts=100))
    assert dict(zip(again["alert_id"], again["group_id"], strict=True)) == by_alert


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["t1", "t2"]), st.integers(0, 6),
                          st.sampled_from(["Scan", "Phish", "Shell"])), max_size=30))
def test_type_counts_against_brute_force(rows):
    """Distinct alerts of the tenant with the same type; an alert listed twice counts once."""
    frame = pd.DataFrame(rows, columns=["tenant_id", "alert_id", "alert_type"])
    frame["alert_id"] = frame["alert_id"].astype(str)
    frame = frame.drop_duplicates(["tenant_id", "alert_id"]).reset_index(drop=True)
    frame = pd.concat([frame, frame.head(3)], ignore_index=True)  # copies, as derived examples
    expected = [len({(o.tenant_id, o.alert_id) for o in frame.itertuples()
                     if o.tenant_id == r.tenant_id and o.alert_type == r.alert_type})
                for r in frame.itertuples()]
    assert type_counts(frame).tolist() == expected


def test_rare_entities_link_over_the_rare_window():
    rows = [("t1", "a1", 0, "Phish", [("ip", "203.0.113.9"), ("host", "h1")], "alert"),
            ("t1", "a2", 600, "C2", [("ip", "203.0.113.9"), ("host", "h2")], "alert")]
    # h2 is busy: eleven more alerts, 10 h after the others
    rows += [("t1", f"b{i}", 1200 + i, "Noise", [("host", "h2")], "alert") for i in range(11)]
    config = GroupingConfig(window=3600, rare_window=86_400, rare_max_alerts=2,
                            common_min_alerts=100)
    by_alert = group_alerts(alerts(rows), config).set_index("alert_id")["group_id"]
    assert by_alert["a1"] == by_alert["a2"]          # 10 h apart, on an ip seen twice
    assert by_alert["b0"] != by_alert["a2"]          # h2 is not rare: 1 h window only
    assert by_alert["b0"] == by_alert["b10"]
    off = group_alerts(alerts(rows), GroupingConfig(window=3600, rare_max_alerts=0,
                                                    common_min_alerts=100))
    assert off.set_index("alert_id")["group_id"].nunique() == 3


def test_common_entities_do_not_link_and_big_groups_are_split():
    rows = [("t1", f"a{i}", i, f"T{i % 3}", [("ip", "10.0.0.53"), ("host", f"h{i}")], "alert")
            for i in range(30)]
    groups = group_alerts(alerts(rows), GroupingConfig(common_share=0.5, common_min_alerts=10))
    assert groups["group_id"].nunique() == 30  # the DNS server links nothing
    linked = group_alerts(alerts(rows), GroupingConfig(common_share=1.0, common_min_alerts=100,
                                                       max_size=8))
    sizes = linked.groupby("group_id").size()
    assert sorted(sizes.tolist()) == [6, 8, 8, 8] and sizes.sum() == 30  # split, not truncated


def test_oversized_components_keep_their_most_specific_links():
    # "java" on 60 alerts every 5 minutes chains them into one component (not common here);
    # three alerts of a campaign, 40 minutes apart, share an attacker's address as well
    rows = [("t1", f"n{i:02d}", 5 * i, "Noise", [("process", "java"), ("host", f"h{i}")],
             "alert") for i in range(60)]
    rows += [("t1", f"c{i}", 62 + 40 * i, f"Step{i}", [("process", "java"),
                                                       ("ip", "203.0.113.7")], "alert")
             for i in range(3)]
    config = GroupingConfig(window=3600, rare_max_alerts=0, common_min_alerts=1000, max_size=10)
    groups = group_alerts(alerts(rows), config)
    by_alert = groups.set_index("alert_id")["group_id"]
    assert by_alert["c0"] == by_alert["c1"] == by_alert["c2"]  # the address first
    sizes = groups.groupby("group_id").size()
    assert sizes.max() == 10 and sizes.sum() == 63
    # small enough: the whole connected component, as before
    whole = group_alerts(alerts(rows), GroupingConfig(window=3600, rare_max_alerts=0,
                                                      common_min_alerts=1000, max_size=63))
    assert whole["group_id"].nunique() == 1


def consecutive_links(frame: pd.DataFrame, window_s: float) -> list[tuple[str, str]]:
    """Brute force: per tenant and entity, alerts next to each other in time (then id) at most
    ``window_s`` apart."""
    carriers: dict = {}
    for row in frame.itertuples():
        for entity in row.entities:
            key = (row.tenant_id, entity["type"], entity["value"])
            carriers.setdefault(key, []).append((row.timestamp, row.alert_id))
    links = []
    for members in carriers.values():
        members = sorted(set(members))
        for (t1, a), (t2, b) in zip(members, members[1:], strict=False):
            if (t2 - t1).total_seconds() <= window_s:
                links.append((a, b))
    return links


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 300), st.sampled_from(["ip", "host"]),
                          st.integers(0, 3), st.sampled_from(["ip", "host"]), st.integers(0, 3)),
                min_size=1, max_size=40),
       st.integers(2, 6))
def test_capped_grouping_against_brute_force(rows, max_size):
    """Whatever the links: with room, groups are the connected components of the links; with
    ``max_size``, each group fits, lies in one component, and two groups that a link joins
    could not be one (their sizes add up to more than ``max_size``); input order is moot."""
    frame = alerts([("t1", f"a{i:02d}", minute, "T", [(t1, f"{t1}{v1}"), (t2, f"{t2}{v2}")],
                     "alert") for i, (minute, t1, v1, t2, v2) in enumerate(rows)])
    links = consecutive_links(frame, 3600)
    config = dict(window=3600, rare_max_alerts=0, common_min_alerts=1000)
    component = {a: a for a in frame["alert_id"]}

    def root(a):
        while component[a] != a:
            a = component[a]
        return a

    for a, b in links:
        component[root(a)] = root(b)
    expected = pd.Series({a: root(a) for a in component})
    free = group_alerts(frame, GroupingConfig(**config, max_size=1000)).set_index("alert_id")
    assert (free["group_id"].groupby(expected[free.index].to_numpy()).nunique() == 1).all()
    assert (expected.groupby(free["group_id"][expected.index].to_numpy()).nunique() == 1).all()
    capped = group_alerts(frame, GroupingConfig(**config, max_size=max_size))
    group = capped.set_index("alert_id")["group_id"]
    size = group.value_counts()
    assert size.max() <= max_size
    assert (expected[group.index].groupby(group.to_numpy()).nunique() == 1).all()
    for a, b in links:
        assert group[a] == group[b] or size[group[a]] + size[group[b]] > max_size
    again = group_alerts(frame.iloc[::-1], GroupingConfig(**config, max_size=max_size))
    assert again.set_index("alert_id")["group_id"][group.index].tolist() == group.tolist()


def test_common_entities_link_only_bursts():
    # host "busy" is on 25 of 400 alerts (6%): common, but under burst_max_share (10%)
    rows = [("t1", f"n{i}", 10_000 + i, "Noise", [("host", f"h{i}")], "alert")
            for i in range(375)]
    rows += [("t1", f"b{i}", 100 * i, "Busy", [("host", "busy")], "alert") for i in range(23)]
    rows += [("t1", "s1", 5000, "Step1", [("host", "busy")], "alert"),
             ("t1", "s2", 5005, "Step2", [("host", "busy")], "alert")]  # 5 minutes apart
    config = GroupingConfig(window=6 * 3600, rare_max_alerts=0, burst_window=600)
    by_alert = group_alerts(alerts(rows), config).set_index("alert_id")["group_id"]
    assert by_alert["s1"] == by_alert["s2"]
    assert by_alert["b0"] != by_alert["b1"]              # 100 minutes apart on the busy host
    never = group_alerts(alerts(rows), GroupingConfig(window=6 * 3600, rare_max_alerts=0,
                                                      burst_window=0))
    assert never["group_id"].nunique() == 400
    too_busy = group_alerts(alerts(rows), GroupingConfig(window=6 * 3600, rare_max_alerts=0,
                                                         burst_max_share=0.05))
    assert too_busy["group_id"].nunique() == 400


def test_grouping_config_errors():
    with pytest.raises(ConfigError, match="The 'max_size' parameter of GroupingConfig"):
        GroupingConfig(max_size=0).validate()


# ---------------------------------------------------------------------------------- rules


def test_rule_statistics_on_a_hand_made_set():
    # "a" then "b" in 12 groups (never the other way), "c"/"d" in both orders in 12 groups
    sequences = ([["a", "b"]] * 12 + [["c", "d"]] * 6 + [["d", "c"]] * 6 + [["e"]] * 20)
    tenants = [f"t{i % 6}" for i in range(len(sequences))]
    sequence_set = SequenceSet.from_lists(sequences, tenants)
    patterns = SequentialPatternMiner(min_support=5, min_tenants=3, max_length=2).fit(
        sequence_set).patterns_
    tactics = {"a": ["initial-access"], "b": ["execution"], "c": ["discovery"],
               "d": ["collection"], "e": []}
    rules = SequentialRuleMiner(alpha=0.05).fit(sequence_set, patterns, tactics).rules_
    ab = rules.set_index("pattern").loc[[("a", "b")]].iloc[0]
    assert (ab["support"], ab["tenants"], ab["order_ab"], ab["order_ba"]) == (12, 6, 12, 0)
    assert ab["confidence"] == 1.0
    assert ab["lift"] == pytest.approx(1.0 / (12 / 44))
    assert ab["kind"] == "prevalent"
    cd = rules.set_index("pattern").loc[[("c", "d")]].iloc[0]
    assert (cd["order_ab"], cd["order_ba"], cd["order_share"]) == (6, 6, 0.5)
    assert cd["kind"] == "incidental"


def test_implausible_steps_are_flagged():
    sequences = [["x", "y"]] * 12 + [["z"]] * 10
    sequence_set = SequenceSet.from_lists(sequences, [f"t{i % 4}" for i in range(22)])
    patterns = SequentialPatternMiner(min_support=5, min_tenants=3, max_length=2).fit(
        sequence_set).patterns_
    backwards = {"x": ["impact"], "y": ["reconnaissance"], "z": []}
    rules = SequentialRuleMiner().fit(sequence_set, patterns, backwards).rules_
    assert rules.set_index("pattern").loc[[("x", "y")], "kind"].iloc[0] == "implausible"


def test_kill_chain_policy(tmp_path):
    policy = KillChainPolicy(max_backstep=1)
    assert policy.tactic_step("initial-access", "execution")
    assert policy.tactic_step("lateral-movement", "discovery")      # one step back
    assert not policy.tactic_step("impact", "reconnaissance")
    assert policy.step(["impact"], [])                               # no evidence
    path = tmp_path / "matrix.json"
    import json

    data = policy.to_dict()
    data["allowed"][0][1] = 0  # forbid reconnaissance -> resource-development
    path.write_text(json.dumps(data))
    loaded = KillChainPolicy.from_json(path)
    assert not loaded.tactic_step("reconnaissance", "resource-development")
    with pytest.raises(ConfigError, match="expected a JSON object"):
        KillChainPolicy.from_json(tmp_path / "missing.json")


def test_benjamini_hochberg_matches_the_textbook():
    p = [0.01, 0.04, 0.03, 0.005]
    assert benjamini_hochberg(p).round(4).tolist() == [0.02, 0.04, 0.04, 0.02]


# ---------------------------------------------------------------------------------- catalog


@pytest.fixture(scope="module")
def simulated_groups(tmp_path_factory):
    from fusion_ml.schema import read_alerts
    from fusion_ml.simulate import SimulationConfig, simulate

    path = tmp_path_factory.mktemp("sim") / "sim.parquet"
    simulate(SimulationConfig(tenants=150, days=30, seed=9, attack_rate=6.0), path)
    frame = read_alerts(path)
    groups = group_alerts(frame)
    return frame, groups, mine_catalog(groups, MiningConfig(min_support=5, min_tenants=3))


def test_catalog_is_private_and_round_trips(tmp_path, simulated_groups):
    _, groups, catalog = simulated_groups
    check_privacy(catalog, groups)
    assert catalog.patterns["tenants"].min() >= 3
    assert catalog.rules["tenants"].min() >= 3
    assert set(catalog.rules["level"]) <= {"alert_type", "tactic"}
    folder = catalog.save(tmp_path / "catalog")
    loaded = PatternCatalog.load(folder)
    assert loaded.content_hash == catalog.content_hash == loaded.summary["content_hash"]
    raw = b"".join((folder / name).read_bytes() for name in
                   ("patterns.parquet", "rules.parquet", "cooccurrence.parquet", "summary.json"))
    for tenant in groups["tenant_id"].unique()[:50]:
        assert tenant.encode() not in raw
    leaky = PatternCatalog(catalog.patterns.assign(note=groups["tenant_id"].iloc[0]),
                           catalog.rules, catalog.cooccurrence, catalog.summary)
    with pytest.raises(FusionError, match="carries identifiers"):
        check_privacy(leaky, groups)


def test_playbooks_come_out_and_routines_do_not(simulated_groups):
    alerts_frame, _, catalog = simulated_groups
    rules = catalog.rules[catalog.rules["level"] == "alert_type"]
    evaluation = evaluate_rules(rules, alerts_frame, min_tenants=3)
    assert evaluation.routine_only_pairs_tested > 20
    # a false-discovery rate of 5% allows a few; routines must not come out wholesale
    assert evaluation.routine_only_pairs_prevalent <= 0.05 * evaluation.routine_only_pairs_tested
    assert evaluation.precision >= 0.6
    assert evaluation.playbook_recall >= 0.5


def test_group_summary_counts(simulated_groups):
    from fusion_ml.grouping import group_summary

    _, groups, _ = simulated_groups
    summary = group_summary(groups)
    assert summary["size"].sum() == len(groups)
    assert len(summary) == groups["group_id"].nunique()
    assert (summary["span_s"] >= 0).all() and (summary["size"] <= 50).all()
