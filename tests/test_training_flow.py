"""The training flow end to end (Prefect test harness, MLflow in a temporary SQLite store) and
the ``fusion train`` / ``fusion models`` commands."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner
from mlflow import MlflowClient

from fusion_ml.cli import main
from fusion_ml.registry import CHAMPION, MODEL_NAME, TRAINING_EXPERIMENT


@pytest.fixture
def tracking(monkeypatch, tmp_path) -> str:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def test_train_command_registers_gates_and_lists(prefect_harness, small_alerts, tracking,
                                                 tmp_path):
    runner = CliRunner()
    out = tmp_path / "training"
    result = runner.invoke(main, ["train", str(small_alerts[1]), "--out", str(out),
                                  "--max-epochs", "3", "--holdout-playbooks", "ad-dcsync"])
    assert result.exit_code == 0, result.output
    assert "registered version 1" in result.output
    assert "version 1 is now 'champion' (pr_auc" in result.output
    assert "held-out playbooks" in result.output
    metrics = pd.read_csv(out / "metrics.csv")
    assert set(metrics["split"]) == {"held-out tenants", "held-out playbooks"}
    assert len(metrics) == 8  # model + 3 baselines, two evaluation sets
    assert (out / "pr_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "model" / "weights.pt").exists()

    client = MlflowClient(tracking_uri=tracking)
    experiment = client.get_experiment_by_name(TRAINING_EXPERIMENT)
    run = client.search_runs([experiment.experiment_id])[0]
    model_pr_auc = metrics.query("scorer == 'sequence model' and split == 'held-out tenants'")
    assert run.data.metrics["model.test.pr_auc"] == pytest.approx(model_pr_auc["pr_auc"].iloc[0])
    for baseline in ("bag_of_types", "best_rule", "cooccurrence"):
        assert f"{baseline}.test.pr_auc" in run.data.metrics
    assert run.data.params["training.holdout_playbooks"] == '["ad-dcsync"]'
    assert "fusion.catalog_hash" in run.data.tags
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"plots", "evaluation", "config"} <= artifacts
    assert str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version) == "1"

    listed = runner.invoke(main, ["models", "list"])
    assert listed.exit_code == 0, listed.output
    assert "champion" in listed.output

    again = runner.invoke(main, ["train", str(small_alerts[1]), "--max-epochs", "0"])
    assert again.exit_code == 0, again.output
    assert "version 2 is now 'challenger'" in again.output  # untrained: worse, no alias
    assert str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version) == "1"
    promoted = runner.invoke(main, ["models", "promote", "2"])
    assert promoted.exit_code == 0 and "version 2 is now 'champion'" in promoted.output
    assert str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version) == "2"
    missing = runner.invoke(main, ["models", "promote", "7"])
    assert missing.exit_code == 2 and "has no version '7'" in missing.output


def test_train_on_user_labels(prefect_harness, small_alerts, tracking, tmp_path):
    """Any labelled alert table: the label column is an analyst's verdict per alert."""
    frame = small_alerts[0].drop(columns=["campaign_id", "playbook", "step", "scenario"])
    frame = frame.rename(columns={"label": "verdict"})
    path = tmp_path / "verdicts.parquet"
    frame.to_parquet(path)
    result = CliRunner().invoke(main, ["train", str(path), "--label-column", "verdict",
                                       "--max-epochs", "2"])
    assert result.exit_code == 0, result.output
    assert "registered version 1" in result.output
    missing = CliRunner().invoke(main, ["train", str(path), "--label-column", "nope",
                                        "--max-epochs", "1"])
    assert missing.exit_code != 0
    assert "expected a per-alert column 'nope'" in missing.output + str(missing.exception)
