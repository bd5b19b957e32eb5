"""The simulator: determinism, campaign structure, catalog validity, rates, round trips."""

import hashlib

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from fusion_ml.attack import TACTIC_INDEX
from fusion_ml.cli import main
from fusion_ml.errors import ConfigError
from fusion_ml.ingest import ingest_frame
from fusion_ml.schema import CANONICAL_COLUMNS, from_arrow, validate_alerts
from fusion_ml.simulate import SimulationConfig, Simulator, simulate
from fusion_ml.simulate.generator import VICTIM_MARGIN_US, VICTIM_TYPES, _Victims
from fusion_ml.simulate.library import ALERT_TYPES, PLAYBOOKS, ROUTINES, validate_library


def frame_of(config, catalog):
    simulator = Simulator(config, catalog)
    tables = list(simulator.chunks())
    import pyarrow as pa

    return from_arrow(pa.concat_tables(tables)), simulator.stats


@pytest.fixture(scope="module")
def small(catalog):
    """60 tenants x 30 days, a higher attack rate so every playbook shows up."""
    return frame_of(SimulationConfig(tenants=60, days=30, seed=7, attack_rate=4.0,
                                     tenants_per_chunk=25), catalog)


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    config = SimulationConfig(tenants=12, days=5, seed=3, tenants_per_chunk=5)
    paths = [tmp_path / f"{name}.parquet" for name in "abcd"]
    simulate(config, paths[0])
    simulate(config, paths[1])
    simulate(SimulationConfig(tenants=12, days=5, seed=3, tenants_per_chunk=7), paths[2])
    simulate(SimulationConfig(tenants=12, days=5, seed=4, tenants_per_chunk=5), paths[3])
    assert digest(paths[0]) == digest(paths[1])
    # chunking changes the row groups, not the data
    assert pq.read_table(paths[0]).equals(pq.read_table(paths[2]))
    assert not pq.read_table(paths[0]).equals(pq.read_table(paths[3]))


def test_library_is_valid_and_large_enough(catalog):
    validate_library()
    assert len(ALERT_TYPES) >= 150
    assert len(PLAYBOOKS) >= 20
    assert {t.family for t in ALERT_TYPES} == {"network", "endpoint", "identity", "cloud",
                                               "storage", "database"}
    assert sum(t.fidelity == "signal" for t in ALERT_TYPES) >= 10
    for alert_type in ALERT_TYPES:  # every technique id is in the ATT&CK bundle, active
        for tid in alert_type.techniques:
            assert catalog.lookup(tid).status == "active", (alert_type.name, tid)
    covered = {t for a in ALERT_TYPES for t in catalog.tactics_for(a.techniques)}
    assert covered == set(TACTIC_INDEX)
    prevalences = sorted(p.prevalence for p in PLAYBOOKS)
    assert prevalences[0] < 1 <= prevalences[-1] / 3  # some rare, some common


def test_output_is_canonical(small):
    frame, _ = small
    assert validate_alerts(frame[list(CANONICAL_COLUMNS)]) == []
    assert frame["alert_id"].is_unique
    assert (frame.groupby("tenant_id")["timestamp"].apply(lambda s: s.is_monotonic_increasing)).all()


def test_campaigns_follow_their_playbooks_in_time_order(small):
    frame, stats = small
    attacks = frame[frame["label"] == 1]
    by_name = {p.name: p for p in PLAYBOOKS}
    assert attacks["campaign_id"].nunique() == stats.campaigns > 50
    for campaign_id, alerts in attacks.groupby("campaign_id"):
        playbook = by_name[alerts["playbook"].iloc[0]]
        assert alerts["playbook"].nunique() == 1
        primary = alerts[alerts["fidelity"] == "alert"]
        steps = primary.sort_values(["timestamp", "step"])["step"].tolist()
        assert steps == sorted(steps), campaign_id  # time order follows step order
        for step_index, alert_type in zip(primary["step"], primary["alert_type"], strict=True):
            step = playbook.steps[step_index]
            assert alert_type in step.alert_types
        # the tactic progression: kill-chain order, but for the playbook's own back-steps
        tactics = [playbook.steps[s].tactic for s in sorted(set(primary["step"]))]
        declared = [s.tactic for s in playbook.steps]
        assert backward_steps(tactics) <= backward_steps(declared)
        signals = alerts[alerts["fidelity"] == "signal"]
        for step_index, alert_type in zip(signals["step"], signals["alert_type"], strict=True):
            assert alert_type in playbook.steps[step_index].signals
    benign = frame[frame["label"] == 0]
    assert benign["campaign_id"].isna().all() and benign["step"].isna().all()
    assert set(benign["scenario"]) == {"background", "incidental"}


def backward_steps(tactics):
    positions = [TACTIC_INDEX[t] for t in tactics]
    return sum(b < a for a, b in zip(positions, positions[1:], strict=False))


def held_victims(frame: pd.DataFrame) -> list[tuple]:
    """Brute force: pairs of campaigns of one tenant holding the same host, account or
    resource while their spans, widened by the victim margin, overlap."""
    attack = frame[frame["campaign_id"].notna()]
    margin = pd.Timedelta(microseconds=VICTIM_MARGIN_US)
    spans = attack.groupby("campaign_id")["timestamp"].agg(["min", "max"])
    held = {c: {e["value"] for es in part["entities"] for e in es if e["type"] in VICTIM_TYPES}
            for c, part in attack.groupby("campaign_id")}
    tenant = attack.groupby("campaign_id")["tenant_id"].first()
    pairs = []
    for a in held:
        for b in held:
            if a < b and tenant[a] == tenant[b] and held[a] & held[b] and (
                    spans.loc[a, "min"] - margin <= spans.loc[b, "max"]
                    and spans.loc[b, "min"] - margin <= spans.loc[a, "max"]):
                pairs.append((a, b, sorted(held[a] & held[b])))
    return pairs


def test_concurrent_campaigns_do_not_share_victims(small):
    # campaigns of a tenant at the same hours do not land on the same host or account (the
    # small tenants' pools made it common; such campaigns cannot be told apart). A victim of
    # one campaign may be re-picked only where a campaign starts inside another's margin
    # with its own later steps, or every value of the pool is held: rare
    frame, stats = small
    pairs = held_victims(frame)
    assert stats.campaigns > 200 and len(pairs) <= 0.02 * stats.campaigns, pairs


def test_victims_are_re_picked_only_when_held():
    pool = np.array(["h1", "h2", "h3"], dtype=object)
    claimed = [(0, 10, {"h1", "bob"})]
    victims = _Victims(claimed, np.random.default_rng(0))
    assert victims.free("h2", pool, 5) == "h2"  # not held
    assert victims.free("h1", pool, 10 + VICTIM_MARGIN_US + 1) == "h1"  # after the margin
    assert {victims.free("h1", pool, 5) for _ in range(20)} == {"h2", "h3"}
    victims.claim(0, 10, {"h2", "h3"})
    assert claimed[-1] == (0, 10, {"h2", "h3"})
    assert victims.free("h1", pool, -VICTIM_MARGIN_US) == "h1"  # every value held: kept


def test_playbooks_progress_through_the_kill_chain():
    backward = {p.name: backward_steps([s.tactic for s in p.steps]) for p in PLAYBOOKS}
    assert max(backward.values()) <= 1
    assert sum(backward.values()) <= 3


def test_attack_and_incidental_rates(catalog):
    config = SimulationConfig(tenants=300, days=30, seed=11, attack_rate=2.0, tenants_per_chunk=100)
    frame, stats = frame_of(config, catalog)
    per_tenant = stats.campaigns / config.tenants
    # Poisson(2.0) per tenant; campaigns starting near the end may lose all alerts
    assert 1.75 <= per_tenant <= 2.2
    expected = expected_routine_runs(config, stats)
    assert abs(stats.routine_runs - expected) <= 4 * np.sqrt(expected) + 0.05 * expected
    assert (frame["scenario"] == "incidental").sum() == stats.incidental_alerts
    doubled, stats2 = frame_of(SimulationConfig(tenants=300, days=30, seed=11, attack_rate=2.0,
                                                incidental_rate=2.0, tenants_per_chunk=100),
                               catalog)
    assert 1.8 <= stats2.routine_runs / stats.routine_runs <= 2.2


def expected_routine_runs(config, stats):
    """Expected routine runs from the routine definitions and which tenants run them."""
    simulator = Simulator(config)
    total = 0.0
    for index in range(config.tenants):
        tenant = simulator._make_tenant(index, np.random.default_rng([config.seed, index]))
        for r_index, routine in enumerate(ROUTINES):
            if simulator._runs_routine(tenant, r_index, routine):
                rate = routine.per_month * config.days / 30 * config.incidental_rate
                total += rate * (3.0 if routine.spread == "local" else 1.0)
    return total


def test_incidental_co_occurrence_shares_entities_in_random_order(small):
    frame, _ = small
    incidental = frame[frame["scenario"] == "incidental"]
    assert incidental["playbook"].nunique() >= 8
    routines = {r.name: r for r in ROUTINES}
    for name, alerts in incidental.groupby("playbook"):
        assert set(alerts["alert_type"]) <= set(routines[name].alert_types)
    # some routine types also appear in playbooks: the hard negatives
    attack_types = {t for p in PLAYBOOKS for s in p.steps for t in s.alert_types}
    assert len(set(incidental["alert_type"]) & attack_types) >= 3


def test_heavy_tailed_tenant_sizes(small):
    frame, _ = small
    sizes = frame.groupby("tenant_id").size().sort_values()
    assert sizes.iloc[-1] > 8 * sizes.median()


def test_holdout_and_only_playbooks(catalog):
    held = ("ransomware-rdp-bruteforce",) if "ransomware-rdp-bruteforce" in {
        p.name for p in PLAYBOOKS} else (PLAYBOOKS[0].name,)
    frame, _ = frame_of(SimulationConfig(tenants=40, days=30, seed=2, attack_rate=6.0,
                                         holdout_playbooks=held), catalog)
    assert not set(held) & set(frame["playbook"].dropna())
    only, _ = frame_of(SimulationConfig(tenants=20, days=30, seed=2, attack_rate=3.0,
                                        only_playbooks=held), catalog)
    assert set(only.loc[only["label"] == 1, "playbook"]) == set(held)
    with pytest.raises(ConfigError, match="'holdout_playbooks' parameter of SimulationConfig"):
        SimulationConfig(holdout_playbooks=("no-such-playbook",)).validate()
    with pytest.raises(ConfigError, match="'tenants' parameter of SimulationConfig must be an "
                                          "int >= 1. Got 0 instead."):
        SimulationConfig(tenants=0).validate()


def sort_lists(frame):
    out = frame[list(CANONICAL_COLUMNS)].copy()
    for column in ("techniques", "tactics"):
        out[column] = [sorted(v) for v in out[column]]
    out["entities"] = [sorted((e["type"], e["value"]) for e in v) for v in out["entities"]]
    return out.reset_index(drop=True)


@pytest.mark.parametrize("fmt", ["sentinel", "ocsf"])
def test_round_trip_through_the_readers(tmp_path, catalog, fmt):
    config = SimulationConfig(tenants=6, days=4, seed=5, attack_rate=6.0)
    simulate(config, tmp_path / "sim.parquet")
    simulate(config, tmp_path / f"sim.{fmt}.json", fmt=fmt)
    expected = from_arrow(pq.read_table(tmp_path / "sim.parquet"))
    got, result = ingest_frame([tmp_path / f"sim.{fmt}.json"], catalog=catalog)
    assert result.sources[0].format == fmt
    assert result.total("quarantined") == 0
    pd.testing.assert_frame_equal(sort_lists(got), sort_lists(expected), check_dtype=False)


def test_cli_simulate(tmp_path):
    out = tmp_path / "sim.parquet"
    result = CliRunner().invoke(main, ["simulate", "--tenants", "5", "--days", "3", "--seed", "1",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "alerts from 5 tenants over 3 days" in result.output
    assert "benign/attack ratio" in result.output
    table = pq.read_table(out)
    assert table.num_rows == int(result.output.split(" alerts")[0].replace(",", ""))
    listing = CliRunner().invoke(main, ["simulate", "--list-playbooks", "--out", "x"])
    assert PLAYBOOKS[0].name in listing.output
