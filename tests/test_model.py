"""The sequence model: estimator contract (seeding, save/load, no mutation), explanations,
evaluation against baselines, and the MLflow life cycle with its champion gate."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from fusion_ml.dataset import Examples
from fusion_ml.errors import ConfigError, FusionError, ModelRegistryError, NotFittedError
from fusion_ml.evaluation import (
    BagOfTypesBaseline,
    CooccurrenceBaseline,
    RuleScoreBaseline,
    binary_metrics,
    evaluate_scorers,
    plot_pr_curves,
)
from fusion_ml.features import UNK, EncodedGroups
from fusion_ml.mining.catalog import PatternCatalog
from fusion_ml.nn import (
    GroupClassifier,
    ModelConfig,
    SequenceModel,
    _WeightAverage,
    best_threshold,
    precision_threshold,
    pure_chain_rate,
)

TINY = ModelConfig(d_model=16, type_dim=8, provider_dim=4, heads=2, layers=1, max_epochs=2,
                   seed=5)


def labels(examples: Examples) -> pd.Series:
    return examples.labels.set_index("group_id")["label"]


def fit(splits, config=TINY, catalog=None) -> SequenceModel:
    return SequenceModel(config).fit(splits["train"].alerts, labels(splits["train"]),
                                     (splits["validation"].alerts, labels(splits["validation"])),
                                     catalog=catalog)


@pytest.fixture(scope="module")
def splits(small_training):
    return small_training.splits


def test_same_seed_same_weights_and_scores(splits):
    a, b = fit(splits), fit(splits)
    for (name, x), (_, y) in zip(a.network_.state_dict().items(),
                                 b.network_.state_dict().items(), strict=True):
        assert torch.equal(x, y), name
    test = splits["test"].alerts
    pd.testing.assert_series_equal(a.predict_proba(test), b.predict_proba(test))
    c = fit(splits, ModelConfig(**{**TINY.to_dict(), "seed": 6}))
    assert not np.allclose(a.predict_proba(test), c.predict_proba(test))


def test_weight_average_exact():
    """After update n each weight moves 1 - min(decay, (1 + n) / (10 + n)) of the way."""
    network = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        network.weight.fill_(0.0)
    average = _WeightAverage(network, decay=0.5)
    expected = 0.0
    for n, value in enumerate([1.0, 2.0, 4.0, 4.0, 8.0] + [3.0] * 10, start=1):
        with torch.no_grad():
            network.weight.fill_(value)
        average.update(network)
        decay = min(0.5, (1 + n) / (10 + n))
        expected = decay * expected + (1 - decay) * value
        assert float(average.module.weight) == pytest.approx(expected, abs=1e-6)
    assert decay == 0.5  # the cap was reached
    assert float(network.weight) == 3.0  # the network itself is left alone


def test_kept_weights_are_the_validated_average(splits):
    """Early stopping judges and keeps the weight average: the best epoch's validation PR-AUC
    is the kept model's; without the average (``ema_decay`` 0) the weights differ."""
    from sklearn.metrics import average_precision_score

    averaged = fit(splits, replace(TINY, max_epochs=4, ema_decay=0.9))
    raw = fit(splits, replace(TINY, max_epochs=4, ema_decay=0.0))
    y = labels(splits["validation"])
    for model in (averaged, raw):
        scores = model.predict_proba(splits["validation"].alerts).reindex(y.index)
        assert model.history_[model.best_epoch_ - 1]["val_pr_auc"] == pytest.approx(
            average_precision_score(y, scores), abs=1e-9)
    differs = [not torch.allclose(a, b) for a, b in zip(
        averaged.network_.state_dict().values(), raw.network_.state_dict().values(),
        strict=True)]
    assert any(differs)


def test_save_load_round_trip_and_no_mutation(splits, tmp_path):
    train = splits["train"].alerts
    before = train.copy()
    model = fit(splits)
    pd.testing.assert_frame_equal(train, before)
    test = splits["test"].alerts
    test_before = test.copy()
    scores = model.predict_proba(test)
    pd.testing.assert_frame_equal(test, test_before)
    model.save(tmp_path / "m")
    loaded = SequenceModel.load(tmp_path / "m")
    pd.testing.assert_series_equal(loaded.predict_proba(test), scores)
    assert loaded.threshold_ == model.threshold_
    assert loaded.encoder_.to_dict() == model.encoder_.to_dict()
    # weights are a plain state_dict: loadable with pickles refused
    state = torch.load(tmp_path / "m" / "weights.pt", weights_only=True)
    assert set(state) == set(model.network_.state_dict())


def test_explanations_add_up_to_the_score(small_training):
    model = small_training.model
    alerts = small_training.splits["test"].alerts
    scores, per_alert = model.explain(alerts)
    logits = per_alert.groupby("group_id")["contribution"].sum()
    np.testing.assert_allclose(1 / (1 + np.exp(-logits)), scores.reindex(logits.index),
                               rtol=1e-4, atol=1e-6)
    assert per_alert["alert_score"].between(0, 1).all()
    assert alerts.iloc[per_alert["row"]]["alert_id"].tolist() == per_alert["alert_id"].tolist()
    # alerts that belong to an attack get higher auxiliary scores than the others
    truth = alerts["attack_alert"].to_numpy()[per_alert["row"]]
    assert per_alert["alert_score"][truth == 1].mean() > per_alert["alert_score"][truth == 0].mean()


def bystander_scores(model: SequenceModel, test: Examples) -> tuple[float, float]:
    """Mean alert score of the benign alerts inside attack groups and of the campaign alerts."""
    _, per_alert = model.explain(test.alerts)
    attack_groups = set(test.labels.loc[test.labels["label"] == 1, "group_id"])
    inside = per_alert[per_alert["group_id"].isin(attack_groups)]
    truth = test.alerts["attack_alert"].to_numpy()[inside["row"]]
    assert (truth == 0).sum() >= 20 and (truth == 1).sum() >= 20
    return (float(inside["alert_score"][truth == 0].mean()),
            float(inside["alert_score"][truth == 1].mean()))


def test_bystander_weight_keeps_bystanders_out_of_the_attack(small_training):
    """Benign alerts inside attack groups score well below the campaign's alerts, and far
    lower than without the extra weight (``bystander_weight=1``: the head follows the group)."""
    model = small_training.model
    assert model.config.bystander_weight == ModelConfig().bystander_weight > 1
    bystanders, campaign = bystander_scores(model, small_training.splits["test"])
    assert bystanders + 0.2 < campaign
    unweighted = fit(small_training.splits, replace(model.config, bystander_weight=1.0),
                     small_training.catalog)
    assert bystanders + 0.1 < bystander_scores(unweighted, small_training.splits["test"])[0]


def test_unknown_alert_types_are_scored_through_their_other_features(small_training):
    model = small_training.model
    test = small_training.splits["test"]
    renamed = test.alerts.assign(alert_type="never seen " + test.alerts["alert_type"])
    scores = model.predict_proba(renamed).reindex(test.labels["group_id"])
    assert np.isfinite(scores).all()
    y = test.y
    assert scores[y == 1].mean() > scores[y == 0].mean()


def training_inputs(small_training, config, monkeypatch) -> tuple[SequenceModel, list]:
    """Fit with ``config`` (and the catalog) and return the model and what the network saw in
    training mode: ``(type_ids, dense, mask)`` per batch (the real forward still runs)."""
    seen = []
    forward = GroupClassifier.forward

    def recording(self, type_ids, provider_ids, dense, mask, alert_logits=False):
        if self.training:
            seen.append((type_ids.clone(), dense.clone(), mask.clone()))
        return forward(self, type_ids, provider_ids, dense, mask, alert_logits)

    with monkeypatch.context() as patch:
        patch.setattr(GroupClassifier, "forward", recording)
        model = fit(small_training.splits, config, small_training.catalog)
    return model, seen


def novel_shares(model: SequenceModel, seen: list) -> tuple[float, float]:
    """Share of the training groups with every alert type ``UNK``, and share of the groups
    with no alert-type evidence at all."""
    columns = model.encoder_.type_evidence_columns
    unknown = torch.cat([((types == UNK) | ~mask).all(dim=1) for types, _, mask in seen])
    blank = torch.cat([(dense[:, :, columns] == 0).all(dim=(1, 2)) for _, dense, _ in seen])
    return float(unknown.float().mean()), float(blank.float().mean())


def test_novelty_dropout_shows_a_share_of_training_groups_as_a_new_playbook(small_training,
                                                                            monkeypatch):
    """With ``novelty_dropout`` that share of the training groups reaches the network with
    every alert type ``UNK`` and none of the catalog's alert-type evidence (the tactic-level
    rules stay)."""
    base = replace(TINY, type_dropout=0.0, max_epochs=1, novelty_dropout=0.0)
    plain, seen = training_inputs(small_training, base, monkeypatch)
    assert [plain.encoder_.feature_names_[i] for i in plain.encoder_.type_evidence_columns] \
        == ["rule:confidence", "rule:lift", "rule:tenants", "rule:plausible", "rule:prevalent",
            "rule_known", "rule_best_earlier"]
    unknown, blank = novel_shares(plain, seen)
    assert unknown < 0.1 and blank < 0.8  # mostly benign groups without a known transition
    novel, seen = training_inputs(small_training, replace(base, novelty_dropout=0.5),
                                  monkeypatch)
    unknown_novel, blank_novel = novel_shares(novel, seen)
    assert 0.4 < unknown_novel - unknown < 0.6
    assert 0.4 < (blank_novel - blank) / (1 - blank) < 0.6
    tactic = novel.encoder_.feature_names_.index("tactic_rule_known")
    known = [dense[:, :, tactic][((types == UNK) | ~mask).all(dim=1)[:, None] & mask]
             for types, dense, mask in seen]
    assert float(torch.cat(known).mean()) > 0.3  # tactic-level rules stay in the new ones


def test_model_beats_chance_and_baselines_are_measured(small_training):
    metrics = small_training.evaluation.metrics
    model = metrics[metrics["scorer"] == "sequence model"].iloc[0]
    positives_share = model["positives"] / (model["positives"] + model["negatives"])
    assert model["pr_auc"] > 3 * positives_share
    assert set(metrics["scorer"]) == {"sequence model", BagOfTypesBaseline.name,
                                      RuleScoreBaseline.name, CooccurrenceBaseline.name}


def test_config_and_state_errors(splits):
    with pytest.raises(FusionError, match="'d_model' parameter of ModelConfig must be a "
                                          "multiple of heads"):
        ModelConfig(d_model=10, heads=4).validate()
    with pytest.raises(ConfigError, match="unknown keys"):
        ModelConfig.from_dict({"layerz": 2})
    with pytest.raises(FusionError, match="'bystander_weight' parameter of ModelConfig must be "
                                          "a number >= 0"):
        ModelConfig(bystander_weight=-1).validate()
    with pytest.raises(FusionError, match="'novelty_dropout' parameter of ModelConfig must be "
                                          r"a number in \[0, 1\)"):
        ModelConfig(novelty_dropout=1.0).validate()
    with pytest.raises(FusionError, match="'ema_decay' parameter of ModelConfig must be "
                                          r"a number in \[0, 1\)"):
        ModelConfig(ema_decay=1.0).validate()
    with pytest.raises(NotFittedError):
        SequenceModel().predict_proba(splits["test"].alerts)
    single = splits["train"].labels.assign(label=0).set_index("group_id")["label"]
    with pytest.raises(ConfigError, match="both classes"):
        SequenceModel(TINY).fit(splits["train"].alerts, single,
                                (splits["validation"].alerts, labels(splits["validation"])))


# -- baselines and metrics on hand-made examples -------------------------------------------

def examples_of(sequences: dict[str, list[str]], positive: set[str]) -> Examples:
    rows = [{"group_id": g, "alert_id": f"{g}-{i}", "alert_type": t,
             "timestamp": pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(minutes=i)}
            for g, types in sequences.items() for i, t in enumerate(types)]
    labels = pd.DataFrame({"group_id": list(sequences), "tenant_id": "t",
                           "label": [int(g in positive) for g in sequences], "kind": "x",
                           "campaign_id": None, "playbook": None,
                           "size": [len(s) for s in sequences.values()]})
    return Examples(pd.DataFrame(rows), labels)


def test_rule_and_cooccurrence_baselines_exact():
    rules = pd.DataFrame({"level": ["alert_type"] * 3, "kind": ["prevalent", "prevalent",
                                                                 "incidental"],
                          "pattern": [("A", "B"), ("A", "C", "D"), ("X", "Y")],
                          "confidence": [0.8, 0.6, 0.99]})
    cooccurrence = pd.DataFrame({"antecedents": [("A",), ("B", "C")], "consequents": [("B",),
                                                                                      ("D",)],
                                 "confidence": [0.5, 0.7]})
    catalog = PatternCatalog(pd.DataFrame(), rules, cooccurrence, {})
    examples = examples_of({"g1": ["A", "x", "B"], "g2": ["B", "A"], "g3": ["A", "C", "B", "D"],
                            "g4": ["X", "Y"]}, {"g1"})
    assert RuleScoreBaseline(catalog).score(examples).tolist() == [0.8, 0.0, 0.8, 0.0]
    assert CooccurrenceBaseline(catalog).score(examples).tolist() == [0.5, 0.5, 0.7, 0.0]


def test_bag_of_types_cannot_see_order_but_learns_types():
    train = examples_of({f"p{i}": ["A", "B"] for i in range(10)}
                        | {f"n{i}": ["C", "D"] for i in range(10)},
                        {f"p{i}" for i in range(10)})
    baseline = BagOfTypesBaseline().fit(train)
    scores = baseline.score(examples_of({"a": ["A", "B"], "b": ["B", "A"], "c": ["C"]}, set()))
    assert scores[0] == pytest.approx(scores[1])  # order-blind
    assert scores[0] > 0.5 > scores[2]


def test_metrics_against_sklearn_and_threshold():
    from sklearn.metrics import average_precision_score, f1_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    scores = y * 0.3 + rng.random(200)
    threshold = best_threshold(y, scores)
    values = binary_metrics(y, scores, threshold)
    assert values["pr_auc"] == pytest.approx(average_precision_score(y, scores))
    assert values["f1"] == pytest.approx(f1_score(y, scores >= threshold))
    assert values["f1"] >= max(f1_score(y, scores >= t) for t in np.unique(scores)) - 1e-12
    assert binary_metrics(np.array([0, 0, 1, 1]), np.array([.1, .2, .8, .9]), .5)["pr_auc"] == 1


def test_precision_threshold_exact():
    y = np.array([0, 0, 1, 1, 0, 1])
    scores = np.array([.1, .2, .3, .4, .5, .6])  # precision from t: .5 .6 .75 .67 .5 1
    assert precision_threshold(y, scores, 0.75, fallback=-1) == pytest.approx(0.3)
    assert precision_threshold(y, scores, 0.9, fallback=-1) == pytest.approx(0.6)
    assert precision_threshold(np.zeros(3, int), scores[:3], 0.9, fallback=-1) == -1


def test_pure_chain_rate_exact():
    groups = [  # (group label, alert labels, alert scores)
        (1, [1, 1, 0, 0], [.9, .8, .6, .1]),         # chain of 3 holds a bystander: 67% pure
        (1, [1, 0, 1], [.2, .1, .3]),                # none passes: the best two, both attack
        (1, [1, 1, 1, 1, 1], [.95, .1, .9, .05, .92]),  # 3 of 5 attack alerts: 60% covered
        (0, [0, 0], [.9, .9]),                       # not an attack group: not counted
        (1, [1] * 9 + [0], [.9] * 10),               # 9 of 10: exactly 90% pure
        (1, [1, 1, 1, 1, 0], [.9, .2, .1, .3, .8]),  # 1 of 4 covered (with a bystander)
    ]
    sizes = [len(g[1]) for g in groups]
    n = sum(sizes)
    encoded = EncodedGroups(np.arange(len(groups)).astype(str), np.cumsum([0, *sizes]),
                            np.zeros(n, int), np.zeros(n, int), np.zeros((n, 1)),
                            np.arange(n).astype(str), np.arange(n))
    y = np.array([g[0] for g in groups])
    alert_y = np.concatenate([g[1] for g in groups])
    scores = np.concatenate([g[2] for g in groups])
    assert pure_chain_rate(encoded, y, alert_y, scores) == pytest.approx(3 / 5)
    # a stricter per-alert threshold keeps the first group's chain to its two attack alerts
    assert pure_chain_rate(encoded, y, alert_y, scores, alert_threshold=0.7) == \
        pytest.approx(4 / 5)


@pytest.mark.parametrize("precision", [0.95, 0.3])
def test_incident_threshold_reaches_the_validation_precision(splits, precision):
    # the lowest validation score at which precision reaches incident_precision, below the
    # F1-best threshold when that asks for less
    model = fit(splits, ModelConfig(**{**TINY.to_dict(), "max_epochs": 12,
                                       "incident_precision": precision}))
    validation = splits["validation"]
    scores = model.predict_proba(validation.alerts).reindex(validation.labels["group_id"])
    y = validation.labels["label"].to_numpy()
    expected = precision_threshold(y, scores.to_numpy(), precision, model.threshold_)
    assert model.incident_threshold_ == pytest.approx(expected)
    passing = scores.to_numpy() >= model.incident_threshold_
    assert y[passing].mean() >= precision
    if precision < 0.9:
        assert model.incident_threshold_ < model.threshold_


def test_pr_curve_png(small_training, tmp_path):
    path = plot_pr_curves(small_training.evaluation, tmp_path / "pr.png", title="t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    evaluation = evaluate_scorers([RuleScoreBaseline(small_training.catalog)],
                                  small_training.splits["validation"],
                                  {"x": small_training.splits["test"]})
    assert evaluation.metrics["split"].tolist() == ["x"]


# -- MLflow life cycle -----------------------------------------------------------------------

def test_registered_model_loads_by_alias_without_pickles(registered_model, small_training,
                                                         monkeypatch):
    from fusion_ml.registry import load_pyfunc, model_info, to_model_input

    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered_model["tracking_uri"])
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    assert registered_model["gate"].promoted
    pyfunc = load_pyfunc(registered_model["alias_uri"])
    test = small_training.splits["test"].alerts
    served = pyfunc.predict(to_model_input(test)).set_index("group_id")["score"]
    local = small_training.model.predict_proba(test)
    np.testing.assert_allclose(served.reindex(local.index), local, rtol=1e-6)
    info = model_info(registered_model["alias_uri"])
    assert info["version"] == registered_model["version"] and "champion" in info["aliases"]
    assert info["metrics"]["model.test.pr_auc"] == pytest.approx(
        small_training.evaluation.metric("sequence model", "held-out tenants"))
    signature = pyfunc.metadata.get_input_schema().input_names()
    assert "entities" in signature and "timestamp" in signature
    # per-epoch curves, the chain quality of the per-alert head among them
    from mlflow import MlflowClient

    history = small_training.model.history_
    logged = MlflowClient().get_metric_history(registered_model["run_id"],
                                               "train.val_pure_chains")
    assert [m.value for m in sorted(logged, key=lambda m: m.step)] == pytest.approx(
        [epoch["val_pure_chains"] for epoch in history])
    assert all(0 <= epoch["val_pure_chains"] <= 1 for epoch in history)


def test_champion_gate(small_training, mlflow_uri, monkeypatch):
    """Untrained (worse) first: champion by default; trained: takes the alias; the untrained
    one again: only challenger."""
    from fusion_ml.registry import (
        CHALLENGER,
        CHAMPION,
        champion_gate,
        list_versions,
        log_training_run,
        promote,
        register,
    )

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
    name = "gate-test-model"
    splits = small_training.splits
    worse = fit(splits, ModelConfig(**{**TINY.to_dict(), "max_epochs": 0}))
    better = small_training.model
    sample = splits["train"].alerts

    def register_and_gate(model):
        run = log_training_run(model, sample, {}, {}, {})
        return champion_gate(register(run, name), splits["test"], name=name)

    first = register_and_gate(worse)
    assert first.alias == CHAMPION and first.champion_version is None
    second = register_and_gate(better)
    assert second.alias == CHAMPION and second.champion_version == first.version
    assert second.score > second.champion_score
    third = register_and_gate(worse)
    assert third.alias == CHALLENGER and third.champion_version == second.version
    assert third.score < third.champion_score
    table = list_versions(name).set_index("version")
    assert table.loc[int(second.version), "aliases"] == CHAMPION
    assert table.loc[int(third.version), "aliases"] == CHALLENGER
    promote(third.version, name)
    assert list_versions(name).set_index("version").loc[int(third.version), "aliases"] == \
        ",".join(sorted([CHALLENGER, CHAMPION]))
    with pytest.raises(ModelRegistryError, match="no version '99'"):
        promote("99", name)
