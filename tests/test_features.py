"""Per-alert features: exact values on hand-made groups, unknown alert types, JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fusion_ml.errors import NotFittedError, SchemaError
from fusion_ml.features import PAD, PREVALENCE_FEATURES, UNK, FeatureEncoder, Vocabulary
from fusion_ml.mining.catalog import PatternCatalog

T0 = pd.Timestamp("2026-01-05T00:00:00Z")


def row(group, n, alert_type, tactics, entities, seconds, provider="edr", severity="high",
        fidelity="alert", techniques=("T1059.001",)):
    return {"group_id": group, "tenant_id": "t1", "alert_id": f"{group}-{n}",
            "timestamp": T0 + pd.Timedelta(seconds=seconds), "alert_type": alert_type,
            "provider": provider, "severity": severity, "fidelity": fidelity,
            "techniques": list(techniques), "tactics": list(tactics),
            "entities": [{"type": t, "value": v} for t, v in entities]}


@pytest.fixture
def alerts():
    return pd.DataFrame([
        row("g1", 0, "Phish", ["initial-access"], [("account", "bob"), ("ip", "8.8.8.8")], 0),
        row("g1", 1, "Macro", ["execution"], [("host", "ws1"), ("account", "bob")], 100,
            fidelity="signal", severity="low"),
        row("g1", 2, "Exfil", ["exfiltration"], [("host", "ws1"), ("ip", "10.0.0.1")], 1100),
        row("g1", 3, "Macro", ["execution"], [("host", "ws9")], 1200),
        row("g2", 0, "Macro", ["execution"], [("host", "ws1")], 50, provider="av"),
    ])


@pytest.fixture
def catalog():
    rules = pd.DataFrame({
        "level": ["alert_type", "alert_type", "tactic"],
        "pattern": [("Phish", "Macro"), ("Phish", "Exfil"), ("execution", "exfiltration")],
        "length": [2, 2, 2], "confidence": [0.8, 0.4, 0.3], "lift": [9.0, 2.0, 1.5],
        "tenants": [12, 5, 40], "plausible": [True, True, True],
        "kind": ["prevalent", "prevalent", "prevalent"],
    })
    return PatternCatalog(pd.DataFrame(), rules, pd.DataFrame(), {})


def column(encoder, encoded, name):
    return encoded.dense[:, encoder.feature_names_.index(name)]


def test_vocabulary_reserves_pad_and_unk():
    vocab = Vocabulary(min_count=2).fit(["b", "a", "b", "a", "c"])
    assert vocab.labels_ == ["<pad>", "<unk>", "a", "b"]
    assert vocab.encode(["a", "b", "c", "zzz"]).tolist() == [2, 3, UNK, UNK]
    again = Vocabulary.from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert again.encode(["a", "c"]).tolist() == [2, UNK]
    assert PAD == 0
    with pytest.raises(NotFittedError):
        Vocabulary().encode(["a"])


def test_exact_features(alerts, catalog):
    encoder = FeatureEncoder(min_type_count=1).fit(alerts, catalog)
    encoded = encoder.transform(alerts)
    assert encoded.group_ids.tolist() == ["g1", "g2"]
    assert encoded.offsets.tolist() == [0, 4, 5]
    assert encoded.alert_ids.tolist() == ["g1-0", "g1-1", "g1-2", "g1-3", "g2-0"]
    assert encoded.type_ids.tolist() == encoder.types_.encode(
        ["Phish", "Macro", "Exfil", "Macro", "Macro"]).tolist()
    np.testing.assert_allclose(column(encoder, encoded, "log_dt"),
                               np.log1p([0, 100, 1000, 100, 0]) / 10, rtol=1e-6)
    assert column(encoder, encoded, "first").tolist() == [1, 0, 0, 0, 1]
    # entities shared with an EARLIER alert of the same group
    assert column(encoder, encoded, "shared:account").tolist() == [0, 1, 0, 0, 0]
    assert column(encoder, encoded, "shared:host").tolist() == [0, 0, 1, 0, 0]
    assert column(encoder, encoded, "shared_any").tolist() == [0, 1, 1, 0, 0]
    assert column(encoder, encoded, "public_ip").tolist() == [1, 0, 0, 0, 0]
    assert column(encoder, encoded, "signal").tolist() == [0, 1, 0, 0, 0]
    assert column(encoder, encoded, "severity:low").tolist() == [0, 1, 0, 0, 0]
    assert column(encoder, encoded, "distinct_tactics").tolist() == pytest.approx(
        np.array([1, 2, 3, 3, 1]) / 14)
    # stage moves: initial-access(2) -> execution(3) -> exfiltration(12) -> execution(3)
    np.testing.assert_allclose(column(encoder, encoded, "stage_delta") * 13,
                               [0, 1, 9, -9, 0], atol=1e-5)
    assert column(encoder, encoded, "stage_back").tolist() == [0, 0, 0, 1, 0]
    # catalog evidence for previous -> this alert type
    assert column(encoder, encoded, "rule:confidence").tolist() == pytest.approx(
        [0, 0.8, 0, 0, 0])
    assert column(encoder, encoded, "rule_known").tolist() == [0, 1, 0, 0, 0]
    assert column(encoder, encoded, "rule:tenants")[1] == pytest.approx(np.log1p(12) / 5)
    # best rule from ANY earlier alert: Phish -> Exfil (0.4), Phish -> Macro (0.8)
    assert column(encoder, encoded, "rule_best_earlier").tolist() == pytest.approx(
        [0, 0.8, 0.4, 0.8, 0])
    assert column(encoder, encoded, "tactic_rule:confidence").tolist() == pytest.approx(
        [0, 0, 0.3, 0, 0])


def prevalence(encoder, encoded):
    return np.stack([column(encoder, encoded, f"entity:{name}") for name in PREVALENCE_FEATURES],
                    axis=1)


def test_entity_prevalence_exact(alerts, catalog):
    encoder = FeatureEncoder(min_type_count=1).fit(alerts, catalog)
    got = prevalence(encoder, encoder.transform(alerts))
    # alerts per entity in the tenant: bob 2, 8.8.8.8 1, ws1 3, 10.0.0.1 1, ws9 1
    np.testing.assert_allclose(got[:, 0], np.log1p([1, 2, 1, 1, 3]) / 5, rtol=1e-6)
    np.testing.assert_allclose(got[:, 1], np.log1p([2, 3, 3, 1, 3]) / 5, rtol=1e-6)
    # share of an entity's alerts in this group: ws1 has 2 of its 3 in g1, 1 in g2
    np.testing.assert_allclose(got[:, 2], [1, 1, 1, 1, 1 / 3], rtol=1e-6)
    np.testing.assert_allclose(got[:, 3], [1, 2 / 3, 2 / 3, 1, 1 / 3], rtol=1e-6)
    # links inside the group: g1-1 shares bob with g1-0 and ws1 with g1-2; g1-3 shares nothing
    np.testing.assert_allclose(got[:, 4], [1 / 3, 2 / 3, 1 / 3, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(got[:, 5], [1 / 3, 1 / 3, 1 / 3, 0, 0], rtol=1e-6)
    # seconds to the nearest linked alert (none: 1.0)
    np.testing.assert_allclose(got[:, 6], [*(np.log1p([100, 100, 1000]) / 12), 1, 1], rtol=1e-6)


def test_entity_prevalence_counts_alerts_once_and_per_tenant(alerts, catalog):
    encoder = FeatureEncoder(min_type_count=1).fit(alerts, catalog)
    base = prevalence(encoder, encoder.transform(alerts))
    # a copy of g2's alert in another group (as hard negatives make) is the same alert ...
    copy = alerts.iloc[[4]].assign(group_id="g2~copy")
    # ... and ws1 on another tenant's alert is another tenant's entity
    other = alerts.iloc[[4]].assign(tenant_id="t2", alert_id="x", group_id="g3")
    got = prevalence(encoder, encoder.transform(pd.concat([alerts, copy, other])))
    np.testing.assert_allclose(got[:5, :2], base[:, :2], rtol=1e-6)
    no_entities = alerts.assign(entities=[[]] * len(alerts))
    assert prevalence(encoder, encoder.transform(no_entities)).tolist() == [[0] * 6 + [1]] * 5


def test_entity_prevalence_uses_the_batch_counts_of_grouping(alerts, catalog):
    """``entity_counts`` (from grouping a whole batch) wins over counting the frame given."""
    encoder = FeatureEncoder(min_type_count=1).fit(alerts, catalog)
    g2 = alerts.iloc[[4]]
    alone = prevalence(encoder, encoder.transform(g2))
    assert alone[0].tolist() == pytest.approx([np.log1p(1) / 5, np.log1p(1) / 5, 1, 1, 0, 0, 1])
    in_batch = prevalence(encoder, encoder.transform(g2.assign(entity_counts=[[3]])))
    assert in_batch[0].tolist() == pytest.approx([np.log1p(3) / 5, np.log1p(3) / 5, 1 / 3, 1 / 3,
                                                  0, 0, 1])
    with pytest.raises(SchemaError, match="one entity count per entity"):
        encoder.transform(g2.assign(entity_counts=[[3, 4]]))


def test_type_prevalence_counts_the_tenants_alerts_of_a_type(alerts, catalog):
    """``type_prevalence``: log1p of the tenant's alerts of the same type / 5, from grouping's
    ``type_count`` when the frame carries it, else counted over the frame given."""
    encoder = FeatureEncoder(min_type_count=1).fit(alerts, catalog)
    assert encoder.feature_names_[-1] == "type_prevalence"
    got = column(encoder, encoder.transform(alerts), "type_prevalence")
    # Phish 1, Macro 3 (g1-1, g1-3, g2-0), Exfil 1; a copy in another tenant counts there only
    np.testing.assert_allclose(got, np.log1p([1, 3, 1, 3, 3]) / 5, rtol=1e-6)
    other = alerts.assign(tenant_id="t2", alert_id=lambda f: "x" + f["alert_id"],
                          group_id=lambda f: "x" + f["group_id"])
    both = column(encoder, encoder.transform(pd.concat([alerts, other])), "type_prevalence")
    np.testing.assert_allclose(both, np.tile(got, 2), rtol=1e-6)
    # a copy of g2's alert in another group (as hard negatives make) is the same alert
    copy = alerts.iloc[[4]].assign(group_id="g2~copy")
    again = column(encoder, encoder.transform(pd.concat([alerts, copy])), "type_prevalence")
    np.testing.assert_allclose(again[:5], got, rtol=1e-6)
    g2 = alerts.iloc[[4]]
    assert column(encoder, encoder.transform(g2), "type_prevalence").tolist() == \
        pytest.approx([np.log1p(1) / 5])
    in_batch = encoder.transform(g2.assign(type_count=40))
    assert column(encoder, in_batch, "type_prevalence").tolist() == pytest.approx(
        [np.log1p(40) / 5])


def test_schema_2_encoders_load_and_score_without_type_prevalence(alerts, catalog):
    """A model saved before ``type_prevalence`` existed keeps its feature layout."""
    encoder = FeatureEncoder(min_type_count=1).fit(alerts, catalog)
    new = encoder.transform(alerts)
    state = encoder.to_dict() | {"schema_version": 2}
    old = FeatureEncoder.from_dict(state)
    assert old.feature_names_ == encoder.feature_names_[:-1]
    assert old.to_dict()["schema_version"] == 2
    np.testing.assert_array_equal(old.transform(alerts).dense, new.dense[:, :-1])
    assert FeatureEncoder.from_dict(encoder.to_dict()).feature_names_ == encoder.feature_names_


def brute_prevalence(frame: pd.DataFrame) -> np.ndarray:
    """Loops over every alert and entity (the reference for :func:`entity_prevalence`)."""
    out = []
    for r in frame.itertuples():
        others = [o for o in frame.itertuples() if o.group_id == r.group_id and o.Index != r.Index]
        common = [sum(e in o.entities for e in r.entities) for o in others]
        gaps = [abs((o.timestamp - r.timestamp).total_seconds())
                for o, c in zip(others, common, strict=True) if c]
        links = [sum(c > 0 for c in common) / len(others) if others else 0.0,
                 min(max(common, default=0), 3) / 3,
                 np.log1p(min(gaps)) / 12 if gaps else 1.0]
        tenant_counts, shares = [], []
        for entity in r.entities:
            holders = {(o.tenant_id, o.alert_id) for o in frame.itertuples()
                       if o.tenant_id == r.tenant_id and entity in o.entities}
            in_group = sum(o.group_id == r.group_id and entity in o.entities
                           for o in frame.itertuples())
            tenant_counts.append(len(holders))
            shares.append(min(in_group / len(holders), 1.0))
        if not tenant_counts:
            out.append([0.0, 0.0, 0.0, 0.0, *links])
            continue
        out.append([np.log1p(min(tenant_counts)) / 5, np.log1p(max(tenant_counts)) / 5,
                    max(shares), min(shares), *links])
    return np.array(out)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["t1", "t2"]), st.integers(0, 5),
                          st.sampled_from(["g1", "g2", "g3"]),
                          st.sets(st.tuples(st.sampled_from(["host", "ip"]),
                                            st.sampled_from(["a", "b", "c"])), max_size=3)),
                min_size=1, max_size=12))
def test_entity_prevalence_matches_brute_force(rows):
    frame = pd.DataFrame([
        {**row(group, i, "X", ["execution"], sorted(entities), i), "tenant_id": tenant,
         "alert_id": f"a{alert}", "group_id": f"{tenant}-{group}"}
        for i, (tenant, alert, group, entities) in enumerate(rows)])
    encoder = FeatureEncoder(min_type_count=1).fit(frame)
    encoded = encoder.transform(frame)
    expected = brute_prevalence(frame.iloc[encoded.rows].reset_index(drop=True))
    np.testing.assert_allclose(prevalence(encoder, encoded), expected, rtol=1e-5, atol=1e-7)


def test_unknown_type_keeps_its_other_features(alerts, catalog):
    encoder = FeatureEncoder(min_type_count=1).fit(alerts, catalog)
    renamed = alerts.assign(alert_type=alerts["alert_type"].replace({"Exfil": "Never seen"}))
    known, unknown = encoder.transform(alerts), encoder.transform(renamed)
    assert unknown.type_ids.tolist()[2] == UNK
    changed = np.flatnonzero((known.dense != unknown.dense).any(axis=0))
    names = {encoder.feature_names_[i] for i in changed}
    assert names <= {"rule:confidence", "rule:lift", "rule:tenants", "rule:plausible",
                     "rule:prevalent", "rule_known", "rule_best_earlier", "distinct_types"}
    assert column(encoder, unknown, "tactic:exfiltration")[2] == 1


def test_round_trip_order_and_no_mutation(alerts, catalog):
    encoder = FeatureEncoder(min_type_count=1).fit(alerts, catalog)
    before = alerts.copy()
    encoded = encoder.transform(alerts)
    pd.testing.assert_frame_equal(alerts, before)
    again = FeatureEncoder.from_dict(json.loads(json.dumps(encoder.to_dict())))
    shuffled = alerts.sample(frac=1, random_state=1)
    other = again.transform(shuffled)
    np.testing.assert_array_equal(encoded.dense, other.dense)
    np.testing.assert_array_equal(encoded.type_ids, other.type_ids)
    assert shuffled.iloc[other.rows]["alert_id"].tolist() == other.alert_ids.tolist()


def test_errors(alerts):
    with pytest.raises(NotFittedError):
        FeatureEncoder().transform(alerts)
    encoder = FeatureEncoder().fit(alerts)
    with pytest.raises(SchemaError, match=r"missing \['entities'\]"):
        encoder.transform(alerts.drop(columns=["entities"]))
    state = encoder.to_dict() | {"schema_version": 99}
    with pytest.raises(SchemaError, match="schema_version"):
        FeatureEncoder.from_dict(state)
