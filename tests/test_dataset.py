"""Labelled examples: labels on hand-made groups, hard negatives, tenant splits, playbook
holdout."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fusion_ml.attack import TACTIC_INDEX
from fusion_ml.dataset import (
    ALERT_LABEL,
    LabelSpec,
    SplitConfig,
    build_splits,
    hard_negatives,
    label_groups,
    late_starts,
    playbook_test,
    split_tenants,
    without_playbooks,
)
from fusion_ml.errors import ConfigError, FusionError, SchemaError

T0 = pd.Timestamp("2026-01-05T00:00:00Z")


def alert(group, n, tenant="t1", campaign=None, step=None, playbook=None, scenario="background",
          alert_type="A", tactics=("execution",), minutes=0):
    return {"group_id": group, "tenant_id": tenant, "alert_id": f"{group}-{n}",
            "timestamp": T0 + pd.Timedelta(minutes=minutes), "alert_type": alert_type,
            "provider": "p", "severity": "medium", "fidelity": "alert",
            "techniques": ["T1059"], "tactics": list(tactics),
            "entities": [{"type": "host", "value": f"h-{group}"}],
            "campaign_id": campaign, "step": step, "playbook": playbook, "scenario": scenario}


def frame(rows):
    out = pd.DataFrame(rows)
    out["campaign_id"] = out["campaign_id"].astype("string")
    out["playbook"] = out["playbook"].astype("string")
    out["step"] = out["step"].astype("Int32")
    return out


@pytest.fixture
def groups():
    return frame([
        # attack: campaign c1, steps 0 and 1, plus one benign alert
        alert("ga", 0, campaign="c1", step=0, playbook="pb1", scenario="attack",
              alert_type="Phish", tactics=("initial-access",), minutes=0),
        alert("ga", 1, minutes=5),
        alert("ga", 2, campaign="c1", step=1, playbook="pb1", scenario="attack",
              alert_type="Exfil", tactics=("exfiltration",), minutes=10),
        # partial: campaign c2, one step only
        alert("gb", 0, campaign="c2", step=0, playbook="pb2", scenario="attack", minutes=0),
        alert("gb", 1, campaign="c2", step=0, playbook="pb2", scenario="attack", minutes=1),
        # incidental routine, and plain benign
        alert("gc", 0, scenario="incidental"), alert("gc", 1, scenario="incidental", minutes=2),
        alert("gd", 0), alert("gd", 1, minutes=3), alert("gd", 2, minutes=4),
        # a singleton
        alert("ge", 0, tenant="t2"),
    ])


def test_labels_on_hand_made_groups(groups):
    examples = label_groups(groups)
    labels = examples.labels.set_index("group_id")
    assert labels["label"].to_dict() == {"ga": 1, "gb": 0, "gc": 0, "gd": 0, "ge": 0}
    assert labels["kind"].to_dict() == {"ga": "attack", "gb": "partial", "gc": "incidental",
                                        "gd": "benign", "ge": "benign"}
    assert labels.loc["ga", "campaign_id"] == "c1"
    assert labels.loc["ga", "playbook"] == "pb1"
    assert labels["size"].to_dict() == {"ga": 3, "gb": 2, "gc": 2, "gd": 3, "ge": 1}
    per_alert = examples.alerts.set_index("alert_id")[ALERT_LABEL]
    assert per_alert[["ga-0", "ga-1", "ga-2", "gb-0", "gd-0"]].tolist() == [1, 0, 1, 1, 0]


def test_labels_do_not_mutate_input(groups):
    before = groups.copy()
    label_groups(groups)
    pd.testing.assert_frame_equal(groups, before)


def test_user_attack_flag_counts_alert_types_as_steps(groups):
    data = groups.drop(columns=["campaign_id", "step", "playbook", "scenario"])
    data["verdict"] = [1, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0]  # gb: two alerts of ONE alert type
    labels = label_groups(data, LabelSpec.for_column("verdict")).labels.set_index("group_id")
    assert labels["label"].to_dict() == {"ga": 1, "gb": 0, "gc": 0, "gd": 0, "ge": 0}
    data["verdict"] = [1, 0, 1, 1, 1, 0, 0, 0, 0, 0, 7]
    with pytest.raises(SchemaError, match="'verdict' holds numbers other than 0/1"):
        label_groups(data, LabelSpec.for_column("verdict"))
    with pytest.raises(SchemaError, match="expected a per-alert column 'missing'"):
        label_groups(data, LabelSpec.for_column("missing"))


def test_user_campaign_ids_as_text(groups):
    data = groups.drop(columns=["step", "playbook", "scenario"])
    data["case"] = data["campaign_id"].fillna("")
    labels = label_groups(data.drop(columns=["campaign_id"]), LabelSpec.for_column("case"))
    assert labels.labels.set_index("group_id")["label"].to_dict()["ga"] == 1


def test_hard_negatives(groups):
    examples = label_groups(groups)
    negatives = hard_negatives(examples, seed=0)
    kinds = negatives.labels.set_index("group_id")["kind"].to_dict()
    assert kinds == {"ga~reordered": "reordered", "ga~single-step": "single-step"}
    assert (negatives.labels["label"] == 0).all()
    reordered = negatives.alerts[negatives.alerts["group_id"] == "ga~reordered"]
    stages = [max(TACTIC_INDEX[t] for t in tactics) for tactics in reordered["tactics"]]
    assert stages == sorted(stages, reverse=True)  # latest kill-chain stage first
    assert reordered["alert_type"].tolist() == ["Exfil", "Phish"]
    assert reordered["timestamp"].is_monotonic_increasing
    mixed = negatives.alerts[negatives.alerts["group_id"] == "ga~single-step"]
    campaign_steps = mixed.loc[mixed["campaign_id"].notna(), "step"].unique()
    assert len(campaign_steps) == 1  # one step of the campaign ...
    assert set(mixed.loc[mixed["campaign_id"].isna(), "alert_id"]) == {"gd-0", "gd-1", "gd-2"}


def test_late_starts_drop_the_first_step_and_keep_the_rest(groups):
    three_steps = frame(groups.to_dict("records") + [
        alert("ga", 3, campaign="c1", step=2, playbook="pb1", scenario="attack",
              alert_type="Impact", tactics=("impact",), minutes=20)])
    late = late_starts(label_groups(three_steps))
    assert late.labels[["group_id", "label", "kind", "campaign_id", "size"]].to_dict("records") \
        == [{"group_id": "ga~late-start", "label": 1, "kind": "late-start", "campaign_id": "c1",
             "size": 3}]
    # the first step (Phish) is gone; the bystander and the later steps stay, in time order
    assert late.alerts["alert_id"].tolist() == ["ga-1", "ga-2", "ga-3"]
    assert late.alerts["group_id"].unique().tolist() == ["ga~late-start"]
    # two steps only: dropping one would leave a single step, no longer a progression
    assert len(late_starts(label_groups(groups))) == 0
    # with min_steps 1 a positive of two steps has one to spare, one of a single step has not
    one = LabelSpec(min_steps=1)
    late = late_starts(label_groups(groups, one), one)
    assert late.labels["group_id"].tolist() == ["ga~late-start"]
    assert late.alerts["alert_id"].tolist() == ["ga-1", "ga-2"]


def test_split_tenants_is_disjoint_and_seeded():
    tenants = [f"t{i:02d}" for i in range(20)]
    config = SplitConfig(test_share=0.25, validation_share=0.15, seed=7)
    splits = split_tenants(tenants, config)
    assert [len(splits[k]) for k in ("train", "validation", "test")] == [12, 3, 5]
    assert sorted(sum(splits.values(), [])) == tenants
    assert split_tenants(tenants, config) == splits
    assert split_tenants(tenants, SplitConfig(seed=8)) != splits
    with pytest.raises(ConfigError, match="at least 3 tenants"):
        split_tenants(["a", "b"], config)


@pytest.mark.parametrize("field,value", [("test_share", 0), ("validation_share", 1.5),
                                         ("min_size", 0), ("test_share", "x")])
def test_split_config_errors(field, value):
    with pytest.raises(FusionError, match=f"'{field}' parameter of SplitConfig"):
        SplitConfig(**{field: value}).validate()


@settings(max_examples=25, deadline=None)
@given(st.integers(3, 40), st.integers(0, 1000))
def test_every_tenant_in_exactly_one_split(n, seed):
    tenants = [f"t{i}" for i in range(n)]
    splits = split_tenants(tenants, SplitConfig(seed=seed))
    assert all(splits[k] for k in splits)
    assert sorted(sum(splits.values(), [])) == sorted(tenants)


def test_build_splits_and_playbook_holdout(small_groups):
    splits = build_splits(small_groups)
    tenants = {k: set(v.labels["tenant_id"]) for k, v in splits.items()}
    assert not tenants["train"] & tenants["test"]
    assert not tenants["validation"] & (tenants["train"] | tenants["test"])
    for examples in splits.values():
        assert (examples.labels["size"] >= 2).all()
        assert set(examples.alerts["group_id"]) == set(examples.labels["group_id"])
        assert examples.y.sum() > 0
    held = ("ad-dcsync",)
    train = without_playbooks(splits["train"], held)
    assert not train.alerts["playbook"].isin(held).any()
    assert not train.labels["playbook"].isin(held).any()
    assert len(train) < len(splits["train"])
    test = playbook_test(splits["test"], held)
    positives = test.labels[test.labels["label"] == 1]
    assert set(positives["playbook"]) <= set(held)
    assert (test.labels["label"] == 0).sum() == (splits["test"].labels["label"] == 0).sum()
    kinds = {k: set(v.labels["kind"]) for k, v in splits.items()}
    assert "late-start" in kinds["train"]
    assert "late-start" not in kinds["validation"] | kinds["test"]
    plain = build_splits(small_groups, config=SplitConfig(late_starts=False))
    assert "late-start" not in set(plain["train"].labels["kind"])
    assert len(plain["train"]) < len(splits["train"])
