"""The scoring flow (Prefect test harness) and the ``score`` / ``serve`` commands."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from fusion_ml.cli_scoring import score, serve
from fusion_ml.incidents import detect, read_incidents
from fusion_ml.schema import write_alerts
from fusion_ml.scoring import Scorer


@pytest.fixture(scope="module")
def few_tenants(small_alerts, tmp_path_factory):
    alerts = small_alerts[0]
    tenants = sorted(alerts["tenant_id"].unique())[:4]
    part = alerts[alerts["tenant_id"].isin(tenants)].reset_index(drop=True)
    path = write_alerts(part, tmp_path_factory.mktemp("flow") / "alerts.parquet")
    return part, path


def test_flow_matches_library(prefect_harness, small_training, few_tenants, tmp_path):
    from pipelines.scoring import scoring_flow

    alerts, path = few_tenants
    scorer = Scorer(small_training.model)
    config = tmp_path / "fusion.toml"
    config.write_text("[incidents]\nthreshold = 0.5\n")
    result = scoring_flow(alerts=[str(path)], out=str(tmp_path / "i.jsonl"),
                          config_path=str(config), scorer=scorer)
    from fusion_ml.incident_config import IncidentConfig

    # the flow scores each tenant in its own task: the same, tenant by tenant (one batch of
    # all tenants pads groups differently and can move a float in the last printed digit)
    expected = sorted((i for _, part in alerts.groupby("tenant_id", sort=True)
                       for i in detect(part.reset_index(drop=True), scorer,
                                       IncidentConfig(threshold=0.5)).incidents),
                      key=lambda i: (i.tenant_id, i.first_seen, i.incident_id))
    assert result["tenants"] == 4 and result["alerts"] == len(alerts)
    assert result["incidents"] == len(expected) > 0
    assert read_incidents(result["out"]) == expected
    # with a store: a rerun writes the same incidents
    stored = [scoring_flow(alerts=[str(path)], out=str(tmp_path / f"s{i}.jsonl"),
                           config_path=str(config), scorer=scorer,
                           store=str(tmp_path / "state")) for i in range(2)]
    assert (tmp_path / "s0.jsonl").read_text() == (tmp_path / "s1.jsonl").read_text()
    assert stored[0]["incidents"] == len(expected)


def test_score_command(prefect_harness, registered_model, few_tenants, tmp_path,
                       monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered_model["tracking_uri"])
    _, path = few_tenants
    out = tmp_path / "ocsf.jsonl"
    config = tmp_path / "fusion.toml"
    config.write_text('[incidents]\nthreshold = 0.5\nexclude_providers = ["suricata"]\n')
    result = CliRunner().invoke(score, [str(path), "--out", str(out), "--format", "ocsf",
                                        "--config", str(config), "--model",
                                        registered_model["alias_uri"]])
    assert result.exit_code == 0, result.output
    assert "incidents from" in result.output and "alerts of excluded providers" in \
        result.output
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(e["class_uid"] == 2005 for e in events)
    bad = tmp_path / "bad.toml"
    bad.write_text("[incidents]\nthreshold = 'x'\n")
    result = CliRunner().invoke(score, [str(path), "--out", str(out), "--config", str(bad)])
    assert result.exit_code != 0
    assert "incidents.threshold: expected a number in [0, 1], got 'x'" in result.output


def test_serve_command_refuses_without_key(monkeypatch):
    monkeypatch.delenv("FUSION_API_KEY", raising=False)
    result = CliRunner().invoke(serve, ["--port", "8999", "--model", "models:/x@champion"])
    assert result.exit_code != 0 and "FUSION_API_KEY" in result.output
