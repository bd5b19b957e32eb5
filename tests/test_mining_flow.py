"""The mining flow end to end (Prefect test harness, MLflow in a temporary SQLite store), the
``fusion mine`` and ``fusion schedule mining`` commands, and the nightly schedule: its cron,
its next dates, and one scheduled run through a real ``prefect server``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from fusion_ml.cli import main
from fusion_ml.mining.catalog import CATALOG_FILES
from fusion_ml.mining.evaluate import RuleEvaluation
from fusion_ml.simulate import SimulationConfig, simulate
from fusion_ml.tracking import CATALOG_ARTIFACT_PATH, CONTENT_HASH_TAG, MINING_EXPERIMENT

REPO = Path(__file__).resolve().parents[1]
CRON = "0 2 * * *"
HOWTO = ("prefect server start --host 127.0.0.1 --port 4200",
         "export PREFECT_API_URL=http://127.0.0.1:4200/api")


@pytest.fixture
def tracking(monkeypatch, mlflow_uri) -> str:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
    return mlflow_uri


@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> Path:
    """A small simulated set with ground truth: 40 tenants, 14 days (~36k alerts)."""
    path = tmp_path_factory.mktemp("sim") / "alerts.parquet"
    simulate(SimulationConfig(tenants=40, days=14, seed=1, attack_rate=4.0), path)
    return path


def stored_results(prefect_home: Path) -> set[str]:
    """Files in Prefect's result storage of the session."""
    storage = prefect_home / "storage"
    return {p.name for p in storage.iterdir()} if storage.exists() else set()


@pytest.fixture(scope="module")
def stored_before_mining(prefect_harness, prefect_home) -> set[str]:
    """Result files other flows of the session left (Prefect pickles the exception of a
    failed flow run, e.g. of a test that expects a bad-input error, whatever persist_result
    says)."""
    return stored_results(prefect_home)


@pytest.fixture(scope="module")
def mined(prefect_harness, stored_before_mining, simulated, mlflow_uri, tmp_path_factory):
    """One run of the flow on the simulated set: (result, elapsed seconds)."""
    from pipelines.mining import mining_flow

    out = tmp_path_factory.mktemp("catalog") / "nightly"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
        started = time.perf_counter()
        # The fpgrowth baseline takes minutes at MiningConfig's default support (0.0005) on
        # ~14k groups; 0.002 keeps it under a second and still yields rules.
        result = mining_flow(alerts=[str(simulated)], out=str(out), min_tenants=3,
                             cooccurrence_min_support=0.002)
        return result, time.perf_counter() - started


@pytest.mark.slow
def test_flow_writes_catalog(mined):
    result, seconds = mined
    folder = Path(result["catalog"])
    assert sorted(p.name for p in folder.iterdir()) == sorted(CATALOG_FILES)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["content_hash"] == result["content_hash"]
    counts = result["counts"]
    assert counts["tenants"] == 40
    assert counts["alerts"] == summary["alerts"] > 0
    assert set(counts["levels"]) == {"alert_type", "tactic"}
    assert counts["levels"]["alert_type"]["patterns"] > 0
    assert counts["cooccurrence_rules"] == len(pd.read_parquet(folder / "cooccurrence.parquet"))
    rules = pd.read_parquet(folder / "rules.parquet")
    assert len(rules) == sum(level["rules"] for level in counts["levels"].values())
    assert rules["tenants"].min() >= 3
    json.dumps(result)  # small and JSON-able
    assert seconds < 90


@pytest.mark.slow
def test_flow_evaluates_against_ground_truth(mined):
    result, _ = mined
    evaluation = result["evaluation"]
    assert set(evaluation) == set(RuleEvaluation.__dataclass_fields__)
    assert 0.0 <= evaluation["precision"] <= 1.0
    assert evaluation["prevalent_rules"] == result["counts"]["levels"]["alert_type"][
        "prevalent_rules"]
    summary = json.loads((Path(result["catalog"]) / "summary.json").read_text())
    assert summary["evaluation"] == evaluation


@pytest.mark.slow
def test_catalog_carries_no_tenant_id(mined, simulated):
    result, _ = mined
    tenants = set(pd.read_parquet(simulated, columns=["tenant_id"])["tenant_id"].astype(str))
    assert len(tenants) == 40
    for path in Path(result["catalog"]).iterdir():
        raw = path.read_bytes()
        # Parquet pages are compressed: search the decoded values as well as the bytes.
        text = json.dumps(pq.read_table(path).to_pylist(), default=str).encode() \
            if path.suffix == ".parquet" else raw
        leaked = sorted(t for t in tenants if t.encode() in raw or t.encode() in text)
        assert not leaked, f"{path.name} carries tenant ids {leaked[:3]}"
    # the same search finds every one of them in the input, so it would find a leak
    text = json.dumps(pq.read_table(simulated, columns=["tenant_id"]).to_pylist())
    assert all(t in text for t in tenants)


@pytest.mark.slow
def test_flow_logs_mlflow_run(mined, mlflow_uri, simulated):
    from mlflow import MlflowClient

    result, _ = mined
    assert result["tracking_uri"] == mlflow_uri
    client = MlflowClient(tracking_uri=mlflow_uri)
    run = client.get_run(result["run_id"])
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == MINING_EXPERIMENT
    store = Path(mlflow_uri.removeprefix("sqlite:///")).parent
    assert experiment.artifact_location == (store / "mlartifacts" / MINING_EXPERIMENT).as_uri()
    assert run.info.status == "FINISHED"
    assert run.data.tags[CONTENT_HASH_TAG] == result["content_hash"]
    params = run.data.params
    assert params["mining.min_tenants"] == "3"
    assert params["mining.engine"] == "local"
    assert params["mining.cooccurrence_min_support"] == "0.002"
    assert json.loads(params["inputs"]) == [str(simulated)]
    metrics = run.data.metrics
    levels = result["counts"]["levels"]
    for level in ("alert_type", "tactic"):
        for name in ("patterns", "rules", "prevalent_rules"):
            assert metrics[f"{level}.{name}"] == levels[level][name]
    assert metrics["cooccurrence_rules"] == result["counts"]["cooccurrence_rules"]
    assert metrics["evaluation.precision"] == result["evaluation"]["precision"]
    assert metrics["evaluation.playbook_recall"] == result["evaluation"]["playbook_recall"]
    artifacts = {Path(a.path).name for a in client.list_artifacts(run.info.run_id,
                                                                  CATALOG_ARTIFACT_PATH)}
    assert artifacts == set(CATALOG_FILES)
    assert not (Path.cwd() / "mlruns").exists()


@pytest.mark.slow
def test_flow_persists_no_results(mined, prefect_home, stored_before_mining):
    """persist_result=False: the mining run pickled nothing under PREFECT_HOME/storage."""
    assert not stored_results(prefect_home) - stored_before_mining


@pytest.mark.slow
def test_cli_mine(prefect_harness, tracking, tmp_path):
    """Raw format (OCSF) through ingest, on a tiny set; the summary and rule tables print."""
    alerts = tmp_path / "tiny.ocsf.jsonl"
    simulate(SimulationConfig(tenants=6, days=2, seed=3), alerts, fmt="ocsf")
    out = tmp_path / "catalog"
    result = CliRunner().invoke(main, ["mine", str(alerts), "--out", str(out), "--min-tenants",
                                       "2", "--min-support", "2", "--top", "3"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(CATALOG_FILES)
    for text in ("catalog ", "mlflow    run ", "6 tenants", "alert_type", "tactic",
                 "co-occurrence rules", "top prevalent rules (alert_type):",
                 "top prevalent rules (tactic):"):
        assert text in result.output


@pytest.mark.slow
def test_cli_report_lists_prevalent_rules(mined):
    from fusion_ml.cli import _format_mining
    from fusion_ml.mining.catalog import PatternCatalog

    result, _ = mined
    catalog = PatternCatalog.load(result["catalog"])
    text = _format_mining(result, catalog, top=10, seconds=1.0)
    rules = catalog.rules
    for level in ("alert_type", "tactic"):
        prevalent = rules[(rules["level"] == level) & (rules["kind"] == "prevalent")]
        best = prevalent.sort_values(["tenants", "support", "confidence"], ascending=False)
        lines = [line for line in text.splitlines() if " > " in line]
        for row in best.head(10).itertuples():
            assert any(line.endswith(" > ".join(row.pattern)) and f" {row.tenants} " in line
                       for line in lines)
        shown = min(10, len(prevalent))
        assert (f"top prevalent rules ({level}): {shown} of {len(prevalent)}" in text
                if shown else f"top prevalent rules ({level}): none" in text)
    assert "evaluation: precision" in text


def test_cli_mine_rejects_bad_support(tmp_path):
    alerts = tmp_path / "a.parquet"
    alerts.write_bytes(b"")
    result = CliRunner().invoke(main, ["mine", str(alerts), "--out", str(tmp_path / "c"),
                                       "--min-support", "lots"])
    assert result.exit_code == 2
    assert "expected a number of groups (5) or a share (0.01)" in result.output


def test_deployment_carries_cron_schedule(tmp_path):
    from prefect.server.schemas.schedules import CronSchedule

    from pipelines.mining import mining_deployment

    parameters = {"alerts": [str(tmp_path / "alerts.parquet")], "out": str(tmp_path / "cat"),
                  "min_tenants": 3}
    deployment = mining_deployment("nightly", CRON, parameters)
    assert deployment.name == "nightly"
    assert deployment.parameters == parameters
    assert deployment.entrypoint == "pipelines/mining.py:mining_flow" or \
        deployment.entrypoint.endswith("mining.py:mining_flow")
    [schedule] = deployment.schedules
    assert schedule.active
    assert (schedule.schedule.cron, schedule.schedule.timezone) == (CRON, "UTC")

    # Prefect 3.9: get_dates is a coroutine on the server-side schema only.
    server_schedule = CronSchedule(**schedule.schedule.model_dump())
    start = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    dates = asyncio.run(server_schedule.get_dates(3, start=start))
    assert [d.isoformat() for d in dates] == ["2026-03-29T02:00:00+00:00",
                                              "2026-03-30T02:00:00+00:00",
                                              "2026-03-31T02:00:00+00:00"]
    upcoming = asyncio.run(CronSchedule(cron=CRON, timezone="UTC").get_dates(3))
    now = datetime.now(UTC)
    assert all((d.hour, d.minute, d.second) == (2, 0, 0) and d.utcoffset() == timedelta(0)
               for d in upcoming)
    assert now < upcoming[0] <= now + timedelta(days=1)
    assert [b - a for a, b in zip(upcoming, upcoming[1:], strict=False)] == [timedelta(days=1)] * 2


def test_schedule_without_server_explains_how_to_start_one(monkeypatch, tmp_path):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        result = CliRunner().invoke(main, ["schedule", "mining", "--cron", CRON, "--alerts",
                                           str(tmp_path / "a.parquet"), "--out",
                                           str(tmp_path / "cat")])
    assert result.exit_code != 0
    assert "PREFECT_API_URL is not set" in result.output
    for line in HOWTO:
        assert line in result.output


def test_tracking_uri_defaults_to_local_sqlite(monkeypatch, tmp_path):
    from fusion_ml.tracking import artifact_location, tracking_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    assert tracking_uri() == f"sqlite:///{tmp_path / '.fusion' / 'mlflow.db'}"
    assert (tmp_path / ".fusion").is_dir()
    assert artifact_location("exp") == (tmp_path / ".fusion" / "mlartifacts" / "exp").as_uri()
    assert artifact_location("exp", "postgresql://db/mlflow") == artifact_location("exp")
    assert artifact_location("exp", "http://127.0.0.1:5000") is None
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'elsewhere' / 'm.db'}")
    assert tracking_uri().endswith("elsewhere/m.db")
    assert (tmp_path / "elsewhere").is_dir()


def test_flatten_params():
    from fusion_ml.tracking import flatten, param_value

    flat = flatten({"mining": {"min_tenants": 3, "levels": ("alert_type", "tactic")},
                    "inputs": ["a.parquet"], "tenant": None})
    assert flat == {"mining.min_tenants": 3, "mining.levels": ("alert_type", "tactic"),
                    "inputs": ["a.parquet"], "tenant": None}
    assert [param_value(v) for v in flat.values()] == [
        "3", '["alert_type", "tactic"]', '["a.parquet"]', "null"]
    assert len(param_value("x" * 10_000)) == 6000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def prefect_server(tmp_path):
    """A real ``prefect server start`` on a free 127.0.0.1 port (its scheduler runs every
    second); yields the API URL and always stops the server."""
    port = _free_port()
    env = dict(os.environ, PREFECT_HOME=str(tmp_path / "server-home"),
               PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_UI_ENABLED="false",
               PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="1")
    env.pop("PREFECT_API_URL", None)
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port",
         str(port)], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"prefect server did not start: "
                                f"{(tmp_path / 'server.log').read_text()[-2000:]}")
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


@pytest.mark.slow
def test_one_scheduled_run_on_real_server(prefect_server, tracking, monkeypatch, tmp_path):
    """Serve the deployment (Runner), check the server scheduled tomorrow's 02:00 run, trigger
    one run now and let the runner execute it (``run_once``)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.deployments import run_deployment
    from prefect.runner import Runner
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from pipelines.mining import mining_deployment

    alerts = tmp_path / "tiny.parquet"
    simulate(SimulationConfig(tenants=8, days=3, seed=2, attack_rate=6.0), alerts)
    out = tmp_path / "catalog"
    monkeypatch.setenv("PREFECT_API_URL", prefect_server)  # for the flow-run subprocess
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "runner-home"))
    monkeypatch.chdir(REPO)  # the deployment's entrypoint is relative to the working directory
    with temporary_settings(updates={PREFECT_API_URL: prefect_server}):
        deployment = mining_deployment("nightly", CRON, {
            "alerts": [str(alerts)], "out": str(out), "min_tenants": 2, "min_support": 2})
        runner = Runner(name="test-runner", query_seconds=1, pause_on_shutdown=False)
        deployment_id = runner.add_deployment(deployment)

        with get_client(sync_client=True) as client:
            only_ours = DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
            deadline = time.monotonic() + 20
            while not (scheduled := client.read_flow_runs(deployment_filter=only_ours)):
                assert time.monotonic() < deadline, "the server scheduled no runs"
                time.sleep(0.5)
            first = min(r.expected_start_time for r in scheduled)
            assert (first.hour, first.minute) == (2, 0)
            assert first.utcoffset() == timedelta(0)
            assert first - datetime.now(UTC) <= timedelta(days=1)

            flow_run = run_deployment(f"fusion-mining/{deployment.name}", timeout=0)
            asyncio.run(runner.start(run_once=True))
            state = client.read_flow_run(flow_run.id).state
    assert state.is_completed(), state
    assert sorted(p.name for p in out.iterdir()) == sorted(CATALOG_FILES)
