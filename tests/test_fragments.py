"""Model-guided merging of campaign fragments: exact merges on hand-made groups with a
rule-based scorer, invariants on random batches (hypothesis), and the real model on the
small world (merged groups score as the model scores them)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from fusion_ml.fragments import MAX_ENTITY_SHARE, merge_fragments
from fusion_ml.grouping import stable_group_id
from fusion_ml.incident_config import IncidentConfig
from fusion_ml.incidents import detect
from fusion_ml.scoring import ScoredBatch, Scorer
from tests.test_incidents import canonical

ATTACK = {"Phish click", "Macro run", "Big upload"}


class RuleModel:
    """A scorer with :meth:`~fusion_ml.nn.SequenceModel.explain`'s contract and a known rule:
    group logit ``3 * distinct attack types - 7 - 2 * benign alerts``; an alert's
    ``alert_score`` is 1 for an attack type, else 0."""

    @staticmethod
    def logit(types: list[str]) -> float:
        attack = {t for t in types if t in ATTACK}
        return 3.0 * len(attack) - 7.0 - 2.0 * sum(t not in ATTACK for t in types)

    def explain(self, alerts: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
        frame = alerts.reset_index(drop=True).assign(row=lambda f: np.arange(len(f)))
        frame = frame.sort_values(["group_id", "timestamp", "alert_id"], kind="stable")
        scores = frame.groupby("group_id", sort=True)["alert_type"].agg(
            lambda s: 1 / (1 + math.exp(-self.logit(list(s)))))
        per_alert = pd.DataFrame({
            "group_id": frame["group_id"].to_numpy(), "alert_id": frame["alert_id"].to_numpy(),
            "row": frame["row"].to_numpy(),
            "position": frame.groupby("group_id", sort=False).cumcount().to_numpy(),
            "contribution": frame["alert_type"].isin(ATTACK).astype(float).to_numpy(),
            "alert_score": frame["alert_type"].isin(ATTACK).astype(float).to_numpy()})
        return scores.rename("score"), per_alert


def score_with(model: RuleModel, grouped: pd.DataFrame, threshold: float) -> ScoredBatch:
    """What :meth:`Scorer.score_groups` returns with ``model`` as the scorer's model."""
    model.network_ = None  # what Scorer checks for a fitted model
    model.threshold_ = model.incident_threshold_ = threshold
    return Scorer(model).score_groups(grouped)


def noise(tenant: str, n: int) -> list[dict]:
    """``n`` benign singletons on their own hosts (so that a host of the scenario stays under
    the common-entity share)."""
    return [{"id": f"{tenant}-n{i}", "tenant": tenant, "min": 3 * i, "type": "Login",
             "entities": [("host", f"{tenant}-n{i}")], "g": f"{tenant}-n{i}"}
            for i in range(n)]


def scenario(link: tuple[str, str] = ("host", "h1")) -> pd.DataFrame:
    """Tenant t1: a phishing fragment g1 (two attack alerts, logit -1), an exfiltration
    singleton g2 two hours later on the same ``link`` entity, a benign pair g3 on it half an
    hour after that, and a second phishing pair g4 two days later; tenant t2 has the same
    host value and an exfiltration singleton (another tenant: never a neighbour)."""
    rows = [
        {"id": "a1", "min": 0, "type": "Phish click", "entities": [link, ("url", "u1")],
         "g": "g1"},
        {"id": "a2", "min": 5, "type": "Macro run", "entities": [link, ("account", "bob")],
         "g": "g1"},
        {"id": "a4", "min": 120, "type": "Big upload", "entities": [link, ("ip", "1.2.3.4")],
         "g": "g2"},
        {"id": "b1", "min": 150, "type": "Backup job", "entities": [link], "g": "g3"},
        {"id": "b2", "min": 151, "type": "Backup job", "entities": [link], "g": "g3"},
        {"id": "c1", "min": 2 * 1440, "type": "Phish click", "entities": [link], "g": "g4"},
        {"id": "c2", "min": 2 * 1440 + 3, "type": "Macro run", "entities": [link], "g": "g4"},
        {"id": "x1", "tenant": "t2", "min": 30, "type": "Big upload", "entities": [link],
         "g": "x1"},
        *noise("t1", 80), *noise("t2", 5)]
    frame = canonical(rows)
    frame["group_id"] = pd.array([r["g"] for r in rows], dtype="string")
    return frame


THRESHOLD = 0.8  # g1 alone: sigmoid(-1) = 0.27; g1 + g2: sigmoid(2) = 0.88


def test_merges_the_fragments_of_one_campaign_and_nothing_else():
    scored = score_with(RuleModel(), scenario(), THRESHOLD)
    before = scored.alerts.copy()
    merged = merge_fragments(scored, RuleModel(), IncidentConfig())
    assert_frame_equal(scored.alerts, before)  # input not modified
    assert merged.merged_groups == 1
    group = merged.alerts.set_index("alert_id")["group_id"].astype(str)
    expected = stable_group_id("t1", ["a1", "a2", "a4"])
    assert group[["a1", "a2", "a4"]].tolist() == [expected] * 3
    assert group[["b1", "b2"]].tolist() == ["g3", "g3"]  # benign: union refused
    assert group[["c1", "c2"]].tolist() == ["g4", "g4"]  # two days later
    assert group["x1"] == "x1"  # another tenant
    assert sorted(merged.alerts["alert_id"]) == sorted(before["alert_id"])
    row = merged.groups.set_index("group_id").loc[expected]
    assert row["size"] == 3 and row["score"] == pytest.approx(1 / (1 + math.exp(-2)))
    assert (merged.alerts.set_index("alert_id").loc[["a1", "a2", "a4"], "group_size"] == 3).all()
    assert set(merged.groups["group_id"]) == set(group)
    assert merged.groups.columns.tolist() == scored.groups.columns.tolist()


def test_window_threshold_and_off_switch():
    scored = score_with(RuleModel(), scenario(), THRESHOLD)
    assert merge_fragments(scored, RuleModel(), IncidentConfig(fragment_window=0.0)) is scored
    # the exfiltration comes 115 min after g1's last alert: a 1-hour window does not reach it
    assert merge_fragments(scored, RuleModel(),
                           IncidentConfig(fragment_window=3600.0)).merged_groups == 0
    # at threshold 0.1, g1 + g2 + g3 would pass (sigmoid(-2) = 0.12) but reads less like an
    # attack than g1 + g2 (logit -2 < 2): refused
    low = merge_fragments(scored, RuleModel(), IncidentConfig(threshold=0.1))
    assert low.merged_groups == 1
    assert set(low.alerts.loc[low.alerts["alert_id"].isin(["b1", "b2"]), "group_id"]) == {"g3"}
    # a union that stays below the threshold is not taken
    assert merge_fragments(scored, RuleModel(), IncidentConfig(threshold=0.9)).merged_groups == 0
    # no group holds an attack alert: nothing is tried
    none_hot = scored.alerts.assign(alert_score=0.0)
    assert merge_fragments(ScoredBatch(none_hot, scored.groups, THRESHOLD), RuleModel(),
                           IncidentConfig()).merged_groups == 0


def test_an_entity_on_many_of_the_tenants_alerts_makes_no_neighbours():
    frame = scenario(("ip", "10.0.0.1"))
    # the gateway address on every noise alert of t1 too: well above MAX_ENTITY_SHARE
    gateway = canonical([{"id": f"t1-n{i}", "min": 3 * i, "type": "Login",
                          "entities": [("host", f"t1-n{i}"), ("ip", "10.0.0.1")]}
                         for i in range(80)])
    frame = pd.concat([frame[~frame["alert_id"].str.startswith("t1-n")],
                       gateway.assign(group_id=pd.array(gateway["alert_id"], dtype="string"))],
                      ignore_index=True)
    t1 = frame[frame["tenant_id"] == "t1"]
    share = t1["entities"].map(lambda e: any(x["value"] == "10.0.0.1" for x in e)).mean()
    assert share > MAX_ENTITY_SHARE
    scored = score_with(RuleModel(), frame, THRESHOLD)
    assert merge_fragments(scored, RuleModel(), IncidentConfig()).merged_groups == 0


ALERT = st.fixed_dictionaries({
    "type": st.sampled_from(["Phish click", "Macro run", "Big upload", "Backup job"]),
    "host": st.sampled_from(["h1", "h2", "h3"]),
    "min": st.integers(0, 1500),
    "tenant": st.sampled_from(["t1", "t2"]),
    "group": st.integers(0, 9)})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ALERT, min_size=2, max_size=30), st.floats(0.05, 0.95))
def test_merges_are_unions_of_whole_groups(alerts, threshold):
    rows = [{"id": f"a{i}", "tenant": a["tenant"], "min": a["min"], "type": a["type"],
             "entities": [("host", a["host"])]} for i, a in enumerate(alerts)]
    grouped = canonical(rows)  # groups drawn, not grouped: fragments next to each other
    grouped["group_id"] = [f"{a['tenant']}-g{a['group']}" for a in alerts]
    scored = score_with(RuleModel(), grouped, threshold)
    merged = merge_fragments(scored, RuleModel(), IncidentConfig(max_size=8))
    before = scored.alerts.set_index(["tenant_id", "alert_id"])["group_id"].astype(str)
    after = merged.alerts.set_index(["tenant_id", "alert_id"])["group_id"].astype(str)
    assert len(after) == len(before) and set(after.index) == set(before.index)
    after = after.reindex(before.index)
    # every original group lies whole in one new group, of one tenant
    assert (after.groupby(before).nunique() == 1).all()
    assert (merged.alerts.groupby("group_id")["tenant_id"].nunique() == 1).all()
    new = merged.groups.set_index("group_id")
    originals = before.groupby(after).nunique()
    joined = originals[originals > 1].index
    assert len(joined) <= merged.merged_groups
    for group in joined:  # a merged group reaches the threshold, scored as the rule says
        types = merged.alerts.loc[merged.alerts["group_id"] == group, "alert_type"].tolist()
        assert new.loc[group, "score"] >= threshold
        assert new.loc[group, "score"] == pytest.approx(1 / (1 + math.exp(-RuleModel.logit(
            types))))
        assert new.loc[group, "size"] == len(types)
        assert new.loc[group, "size"] <= 8
    # untouched groups keep their id and score
    kept = originals[originals == 1].index
    old = scored.groups.set_index("group_id")
    assert new.loc[kept, "score"].equals(old.loc[kept, "score"])


def test_real_model_merged_groups_score_as_the_model_scores_them(small_training,
                                                                 small_alerts):
    model = small_training.model
    test = small_alerts[0]
    scored = Scorer(model).score(test)
    config = IncidentConfig(threshold=0.5)
    merged = merge_fragments(scored, model, config)
    assert merged.merged_groups > 0
    before = scored.alerts.set_index(["tenant_id", "alert_id"])["group_id"].astype(str)
    after = merged.alerts.set_index(["tenant_id", "alert_id"])["group_id"].astype(str)
    after = after.reindex(before.index)
    assert (after.groupby(before).nunique() == 1).all()
    new_ids = set(after) - set(before)
    frame = merged.alerts[merged.alerts["group_id"].isin(new_ids)]
    again = model.predict_proba(frame)
    recorded = merged.groups.set_index("group_id")["score"].reindex(again.index)
    np.testing.assert_allclose(recorded.to_numpy(), again.to_numpy(), rtol=1e-5, atol=1e-6)
    assert (recorded >= 0.5).all()
    # detect() merges by default and reports it; fragment_window 0 turns it off
    batch = detect(test, Scorer(model), config)
    assert batch.stats["merged_groups"] == merged.merged_groups
    off = detect(test, Scorer(model), IncidentConfig(threshold=0.5, fragment_window=0.0))
    assert off.stats["merged_groups"] == 0
