"""The multi-tenant alert simulator: benign background, incidental co-occurrence, attack
campaigns, with ground truth.

Every tenant is generated from its own random stream, ``default_rng([seed, tenant_index])``, so
the output depends only on the configuration (not on chunking or on other tenants), and the same
seed gives byte-identical Parquet. Benign background is generated with numpy, a tenant at a time;
campaigns and routines (tens of alerts per tenant) step by step.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pyarrow as pa

from fusion_ml.attack import AttackCatalog
from fusion_ml.errors import ConfigError, param_error
from fusion_ml.schema import ALERT_SCHEMA, ENTITY_STRUCT, GROUND_TRUTH_SCHEMA
from fusion_ml.simulate.library import ALERT_TYPES, PLAYBOOKS, ROUTINES
from fusion_ml.simulate.model import SIM_ENTITY_TYPES, AlertType, Playbook, Routine

SIM_SCHEMA = pa.schema(list(ALERT_SCHEMA) + list(GROUND_TRUTH_SCHEMA))
"""Canonical columns plus the ground truth (``campaign_id``, ``playbook``, ``step``,
``label``, ``scenario``)."""

DAY_US = 86_400_000_000
_WEEKDAY_WEIGHT = np.array([1.0, 1.0, 1.0, 1.0, 0.95, 0.35, 0.3])
_HOUR_WEIGHT = np.array([0.25, 0.2, 0.2, 0.2, 0.25, 0.35, 0.6, 0.9, 1.3, 1.5, 1.5, 1.4,
                         1.3, 1.4, 1.5, 1.5, 1.3, 1.0, 0.8, 0.6, 0.5, 0.45, 0.35, 0.3])
_FAMILY_SHARE = {"endpoint": 0.97, "identity": 0.95, "network": 0.55, "cloud": 0.6,
                 "storage": 0.45, "database": 0.45}
_ATTACKER_NETS = ("203.0.113", "198.51.100", "192.0.2", "45.83.64", "91.219.236", "185.220.101")
_TOOLS = ("rundll32.exe", "powershell.exe", "cmd.exe", "wmic.exe", "certutil.exe", "mshta.exe",
          "python3", "bash", "curl", "psexec.exe")
_BENIGN_PROCS = ("svchost.exe", "msiexec.exe", "backup-agent", "chrome.exe", "teams.exe",
                 "java", "sqlservr.exe", "python3", "powershell.exe", "tanium.exe")
_TLDS = ("top", "xyz", "site", "online", "info")


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. Rates are means; counts are Poisson around them.

    ``attack_rate``: campaigns per tenant per 30 days. ``incidental_rate``: multiplier on each
    routine's ``per_month``. ``background_rate``: benign alerts per host per day.
    ``holdout_playbooks`` are never generated; ``only_playbooks`` (if given) are the only ones.
    """

    tenants: int = 200
    days: int = 14
    seed: int = 0
    start: str = "2026-01-05"
    attack_rate: float = 2.0
    incidental_rate: float = 1.0
    background_rate: float = 0.8
    holdout_playbooks: tuple[str, ...] = ()
    only_playbooks: tuple[str, ...] = ()
    tenants_per_chunk: int = 250

    def validate(self) -> SimulationConfig:
        """Check every parameter; returns ``self``."""
        owner = "SimulationConfig"
        for name in ("tenants", "days", "tenants_per_chunk"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise param_error(owner, name, "an int >= 1", value)
        for name in ("attack_rate", "incidental_rate", "background_rate"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0:
                raise param_error(owner, name, "a number >= 0", value)
        known = {p.name for p in PLAYBOOKS}
        for name in ("holdout_playbooks", "only_playbooks"):
            unknown = sorted(set(getattr(self, name)) - known)
            if unknown:
                raise param_error(owner, name, f"playbook names from {sorted(known)}", unknown)
        try:
            np.datetime64(self.start, "D")
        except ValueError:
            raise param_error(owner, "start", "a date YYYY-MM-DD", self.start) from None
        if not self.playbooks:
            raise ConfigError("no playbook left to simulate after holdout_playbooks / "
                              "only_playbooks")
        return self

    @property
    def playbooks(self) -> tuple[Playbook, ...]:
        """The playbooks campaigns are drawn from."""
        chosen = [p for p in PLAYBOOKS if p.name not in self.holdout_playbooks]
        if self.only_playbooks:
            chosen = [p for p in chosen if p.name in self.only_playbooks]
        return tuple(chosen)

    @property
    def start_us(self) -> int:
        """Start of the simulated period, µs since the epoch (midnight UTC)."""
        return int(np.datetime64(self.start, "D").astype("datetime64[us]").astype(np.int64))


@dataclass
class SimulationStats:
    """Counts of one run (``campaigns`` counts campaigns with at least one alert)."""

    tenants: int = 0
    alerts: int = 0
    attack_alerts: int = 0
    incidental_alerts: int = 0
    campaigns: int = 0
    routine_runs: int = 0
    per_playbook: dict[str, int] = field(default_factory=dict)

    @property
    def benign_alerts(self) -> int:
        """Alerts with label 0."""
        return self.alerts - self.attack_alerts

    @property
    def attack_share(self) -> float:
        """Share of alerts that belong to an attack."""
        return self.attack_alerts / max(self.alerts, 1)


class _Catalog:
    """Lookup tables over the alert-type library, computed once per simulator."""

    def __init__(self, catalog: AttackCatalog) -> None:
        self.types: tuple[AlertType, ...] = ALERT_TYPES
        self.index = {t.name: i for i, t in enumerate(self.types)}
        self.names = np.array([t.name for t in self.types], dtype=object)
        self.tactics = [catalog.tactics_for(t.techniques) for t in self.types]
        self.families = np.array([t.family for t in self.types])
        self.noise = np.array([t.noise for t in self.types])
        table = np.full((len(self.types), 3), -1, dtype=np.int8)
        for i, t in enumerate(self.types):
            for j, e in enumerate(t.entities[:3]):
                table[i, j] = SIM_ENTITY_TYPES.index(e)
        self.entity_table = table


@dataclass
class _Tenant:
    """One tenant's assets (entity value pools), detectors and habits."""

    index: int
    tenant_id: str
    pools: dict[str, np.ndarray]
    weights: dict[str, np.ndarray]
    detector_weights: np.ndarray
    families: set[str]


VICTIM_TYPES = ("host", "account", "resource")
"""Entities a campaign compromises in the tenant (the attacker's address, tools and files are
its own)."""
VICTIM_MARGIN_US = DAY_US
"""A host, account or resource is not picked by a campaign while another campaign of the tenant
uses it, give or take this margin."""
VICTIM_STREAM = 104_729
"""Salt of the random stream that re-picks a victim another campaign holds."""


class _Victims:
    """The victims other campaigns of a tenant hold, so that independent campaigns do not land
    on the same host or account at the same hours. In a small tenant (4-10 hosts and 4
    campaigns a month) that happened to about 5% of the campaigns; their alerts are then
    indistinguishable from one campaign's, and the ground truth calling them two would be
    unreachable for any correlation engine. A value already held is re-picked from the free
    ones with a stream of its own (the tenant's main stream is untouched, so the rest of the
    world stays the same); when every value is held, it stays."""

    def __init__(self, claimed: list[tuple[int, int, set[str]]],
                 rng: np.random.Generator) -> None:
        self.claimed = claimed
        self.rng = rng

    def free(self, value: str, pool: np.ndarray, when: int) -> str:
        """``value`` if no other campaign holds it around ``when`` (µs), else a free one."""
        held = set().union(*(victims for first, last, victims in self.claimed
                             if first - VICTIM_MARGIN_US <= when <= last + VICTIM_MARGIN_US))
        if value not in held:
            return value
        free = [v for v in pool if v not in held]
        return free[int(self.rng.integers(len(free)))] if free else value

    def claim(self, first: int, last: int, victims: set[str]) -> None:
        """Record a generated campaign's time span (µs) and victims."""
        self.claimed.append((first, last, victims))


@dataclass
class _Rows:
    """Column buffers for one tenant's alerts before sorting."""

    type_index: list[np.ndarray] = field(default_factory=list)
    time_us: list[np.ndarray] = field(default_factory=list)
    entities: list[list[list[tuple[str, str]]]] = field(default_factory=list)
    campaign: list[list[str | None]] = field(default_factory=list)
    playbook: list[list[str | None]] = field(default_factory=list)
    step: list[list[int | None]] = field(default_factory=list)
    scenario: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)

    def add_structured(self, types: np.ndarray, times: np.ndarray,
                       entities: list[list[tuple[str, str]]], scenario: str,
                       campaign: list | None = None, playbook: list | None = None,
                       step: list | None = None) -> None:
        n = len(types)
        self.type_index.append(np.asarray(types, dtype=np.int32))
        self.time_us.append(np.asarray(times, dtype=np.int64))
        self.entities.append(entities)
        self.campaign.append(campaign or [None] * n)
        self.playbook.append(playbook or [None] * n)
        self.step.append(step or [None] * n)
        self.scenario.extend([scenario] * n)
        self.sizes.append(n)


class Simulator:
    """Generates simulated alerts, a chunk of tenants at a time.

    >>> sim = Simulator(SimulationConfig(tenants=3, days=2, seed=1))
    >>> table = next(sim.chunks())   # a pyarrow Table in SIM_SCHEMA
    """

    def __init__(self, config: SimulationConfig, catalog: AttackCatalog | None = None) -> None:
        self.config = config.validate()
        self.catalog = _Catalog(catalog or AttackCatalog.default())
        self.stats = SimulationStats()

    @cached_property
    def _playbook_weights(self) -> np.ndarray:
        weights = np.array([p.prevalence for p in self.config.playbooks], dtype=float)
        return weights / weights.sum()

    def chunks(self) -> Iterator[pa.Table]:
        """Tables of ``tenants_per_chunk`` tenants each, tenants in order, alerts in time order
        within a tenant."""
        cfg = self.config
        for first in range(0, cfg.tenants, cfg.tenants_per_chunk):
            last = min(first + cfg.tenants_per_chunk, cfg.tenants)
            tables = [self.tenant_table(i) for i in range(first, last)]
            yield pa.concat_tables(tables)

    # ---------------------------------------------------------------------------------------
    # One tenant

    def tenant_table(self, index: int) -> pa.Table:
        """All alerts of tenant ``index`` as a table in :data:`SIM_SCHEMA`."""
        cfg = self.config
        rng = np.random.default_rng([cfg.seed, index])
        tenant = self._make_tenant(index, rng)
        rows = _Rows()
        self._background(tenant, rng, rows)
        self._routines(tenant, rng, rows)
        self._campaigns(tenant, rng, rows)
        table = self._to_table(tenant, rows)
        self.stats.tenants += 1
        self.stats.alerts += table.num_rows
        return table

    def _make_tenant(self, index: int, rng: np.random.Generator) -> _Tenant:
        tenant_id = f"tenant-{index:05d}"
        domain = f"corp{index:05d}.example"
        # heavy-tailed size: a few large tenants, many small ones
        hosts = int(min(4000, 4 + 6 * (rng.pareto(1.0) + 0.2) * rng.uniform(0.5, 1.5)))
        accounts = max(3, int(hosts * rng.uniform(0.6, 1.2)))
        resources = max(2, int(hosts * rng.uniform(0.2, 0.8)))
        kinds = np.where(rng.random(hosts) < 0.8, "ws", "srv")
        host_names = np.array([f"{k}-{i:04d}.{domain}" for i, k in enumerate(kinds)], dtype=object)
        account_names = np.array(
            [f"adm-{i:03d}@{domain}" if i < max(1, accounts // 20) else f"user{i:04d}@{domain}"
             for i in range(accounts)], dtype=object)
        second = index % 250
        internal = np.array([f"10.{second}.{i // 250}.{i % 250 + 1}" for i in range(hosts)],
                            dtype=object)
        external = np.array([f"{n}.{rng.integers(1, 255)}" for n in
                             rng.choice(_ATTACKER_NETS[:3], size=8)], dtype=object)
        res_kinds = ("microsoft.compute/virtualmachines", "microsoft.storage/storageaccounts",
                     "microsoft.sql/servers", "aws::s3::bucket", "aws::iam::role")
        resource_names = np.array(
            [f"/subscriptions/{index:05d}/providers/{res_kinds[i % len(res_kinds)]}/res{i:04d}"
             for i in range(resources)], dtype=object)
        processes = np.array([f"{p}" for p in _BENIGN_PROCS], dtype=object)
        files = np.array([f"c:\\program files\\app{i}\\update.exe" for i in range(6)], dtype=object)
        domains = np.array([f"cdn{i}.{domain}" for i in range(5)] + ["login.example.com",
                                                                      "update.example.net"],
                           dtype=object)
        urls = np.array([f"https://{d}/api/v1/status" for d in domains], dtype=object)
        pools = {"host": host_names, "account": account_names,
                 "ip": np.concatenate([internal, external]), "resource": resource_names,
                 "process": processes, "file": files, "url": urls, "domain": domains}
        weights = {}
        for name, pool in pools.items():
            ranks = rng.permutation(len(pool)) + 1
            w = 1.0 / ranks ** 0.9
            weights[name] = w / w.sum()
        families = {f for f, share in _FAMILY_SHARE.items() if rng.random() < share}
        families.add("endpoint")
        enabled = np.isin(self.catalog.families, list(families)) & (self.catalog.noise > 0)
        ranks = rng.permutation(len(enabled)) + 1
        detector = np.where(enabled, self.catalog.noise / ranks ** 1.05, 0.0)
        return _Tenant(index, tenant_id, pools, weights, detector / detector.sum(), families)

    def _times(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` times with a daily and weekly rhythm, µs since the start."""
        cfg = self.config
        start_weekday = int((np.datetime64(cfg.start, "D").astype(np.int64) + 3) % 7)
        day_w = _WEEKDAY_WEIGHT[(np.arange(cfg.days) + start_weekday) % 7]
        days = rng.choice(cfg.days, size=n, p=day_w / day_w.sum())
        hours = rng.choice(24, size=n, p=_HOUR_WEIGHT / _HOUR_WEIGHT.sum())
        within = rng.integers(0, 3_600_000, size=n) * 1000
        return days * DAY_US + hours * 3_600_000_000 + within

    def _entities(self, tenant: _Tenant, rng: np.random.Generator,
                  types: np.ndarray) -> list[list[tuple[str, str]]]:
        """Background entities for alerts of the given types (popular assets more often)."""
        slots = self.catalog.entity_table[types]  # (n, 3), -1 = none
        chosen = np.empty(slots.shape, dtype=object)
        for e, name in enumerate(SIM_ENTITY_TYPES):
            mask = slots == e
            count = int(mask.sum())
            if count:
                pool = tenant.pools[name]
                chosen[mask] = pool[rng.choice(len(pool), size=count, p=tenant.weights[name])]
        names = np.array(SIM_ENTITY_TYPES, dtype=object)
        out = []
        for row_slots, row_values in zip(slots.tolist(), chosen.tolist(), strict=True):
            out.append([(names[s], v) for s, v in zip(row_slots, row_values, strict=True)
                        if s >= 0])
        return out

    def _background(self, tenant: _Tenant, rng: np.random.Generator, rows: _Rows) -> None:
        cfg = self.config
        hosts = len(tenant.pools["host"])
        n = int(rng.poisson(cfg.background_rate * hosts * cfg.days))
        if n:
            types = rng.choice(len(tenant.detector_weights), size=n, p=tenant.detector_weights)
            times = self._times(rng, n)
            # bursts: some alerts come in a quick series of the same alert on the same entities
            burst = rng.random(n) < 0.04
            extra_types, extra_times, extra_entities = [], [], []
            entities = self._entities(tenant, rng, types)
            for i in np.flatnonzero(burst):
                k = int(rng.integers(3, 15))
                offsets = np.cumsum(rng.exponential(40_000_000, size=k)).astype(np.int64)
                extra_types.append(np.full(k, types[i]))
                extra_times.append(times[i] + offsets // 1000 * 1000)
                extra_entities.extend([entities[i]] * k)
            if extra_types:
                types = np.concatenate([types, *extra_types])
                times = np.concatenate([times, *extra_times])
                entities = entities + extra_entities
            rows.add_structured(types, times, entities, "background")
        # noisy or misconfigured assets: the same alert on the same entities for days
        stuck = int(rng.poisson(0.5 + 0.02 * hosts))
        for _ in range(stuck):
            type_index = int(rng.choice(len(tenant.detector_weights), p=tenant.detector_weights))
            span = int(rng.integers(3, 15))
            first = int(rng.integers(0, cfg.days))
            days = np.arange(first, min(cfg.days, first + span))
            per_day = rng.integers(1, 6, size=len(days))
            day_of = np.repeat(days, per_day)
            times = day_of * DAY_US + rng.integers(0, DAY_US // 1000, size=len(day_of)) * 1000
            (ents,) = self._entities(tenant, rng, np.array([type_index]))
            rows.add_structured(np.full(len(times), type_index), times, [ents] * len(times),
                                "background")

    def _routines(self, tenant: _Tenant, rng: np.random.Generator, rows: _Rows) -> None:
        cfg = self.config
        for r_index, routine in enumerate(ROUTINES):
            if not self._runs_routine(tenant, r_index, routine):
                continue
            rate = routine.per_month * cfg.days / 30.0 * cfg.incidental_rate
            if routine.spread == "local":
                rate *= 3.0
            runs = int(rng.poisson(rate))
            anchor_pool = tenant.pools[routine.anchor]
            # local routines reuse the same few anchors (the admin's account, the scanner)
            anchor_choices = anchor_pool[rng.choice(len(anchor_pool), size=min(2, len(anchor_pool)),
                                                    replace=False)]
            for _ in range(runs):
                self.stats.routine_runs += 1
                anchor = anchor_choices[int(rng.integers(len(anchor_choices)))]
                k = int(rng.integers(routine.min_types, len(routine.alert_types) + 1))
                picked = rng.permutation(len(routine.alert_types))[:k]
                names = [routine.alert_types[i] for i in picked]
                types = np.array([self.catalog.index[name] for name in names])
                start = int(self._times(rng, 1)[0])
                span = rng.uniform(*routine.window)
                offsets = np.sort(rng.uniform(0, span, size=k)) * 1_000_000
                times = start + offsets.astype(np.int64) // 1000 * 1000
                entities = self._entities(tenant, rng, types)
                entities = [[(t, anchor) if t == routine.anchor else (t, v) for t, v in ents]
                            for ents in entities]
                rows.add_structured(types, times, entities, "incidental",
                                    playbook=[routine.name] * k)
                self.stats.incidental_alerts += k

    def _runs_routine(self, tenant: _Tenant, r_index: int, routine: Routine) -> bool:
        families = {self.catalog.types[self.catalog.index[n]].family for n in routine.alert_types}
        if not families <= tenant.families:
            return False
        draw = np.random.default_rng([self.config.seed, tenant.index, 7919, r_index]).random()
        return draw < (0.12 if routine.spread == "local" else 0.7)

    def _campaigns(self, tenant: _Tenant, rng: np.random.Generator, rows: _Rows) -> None:
        cfg = self.config
        count = int(rng.poisson(cfg.attack_rate * cfg.days / 30.0))
        playbooks = cfg.playbooks
        claimed: list[tuple[int, int, set[str]]] = []
        for k in range(count):
            playbook = playbooks[int(rng.choice(len(playbooks), p=self._playbook_weights))]
            campaign_id = f"{tenant.tenant_id}-c{k:03d}"
            victims = _Victims(claimed, np.random.default_rng(
                [cfg.seed, tenant.index, VICTIM_STREAM, k]))
            emitted = self._campaign(tenant, rng, playbook, campaign_id, rows, victims)
            if emitted:
                self.stats.campaigns += 1
                self.stats.attack_alerts += emitted
                self.stats.per_playbook[playbook.name] = \
                    self.stats.per_playbook.get(playbook.name, 0) + 1

    def _campaign(self, tenant: _Tenant, rng: np.random.Generator, playbook: Playbook,
                  campaign_id: str, rows: _Rows, victims: _Victims) -> int:
        cfg = self.config
        pools = tenant.pools
        end = cfg.days * DAY_US
        state = {
            "host": pools["host"][int(rng.integers(len(pools["host"])))],
            "account": pools["account"][int(rng.integers(len(pools["account"])))],
            "ip": f"{rng.choice(_ATTACKER_NETS)}.{rng.integers(1, 255)}",
            "resource": pools["resource"][int(rng.integers(len(pools["resource"])))],
            "process": f"{rng.choice(_TOOLS)}",
            "file": f"c:\\users\\public\\{_token(rng, 8)}.exe",
            "domain": f"{_token(rng, 10)}.{rng.choice(_TLDS)}",
        }
        state["url"] = f"http://{state['domain']}/{_token(rng, 6)}"
        t = int(rng.integers(0, max(1, end - DAY_US // 2)))
        for name in VICTIM_TYPES:
            state[name] = victims.free(state[name], pools[name], t)
        types: list[int] = []
        times: list[int] = []
        entities: list[list[tuple[str, str]]] = []
        steps: list[int] = []
        for s_index, step in enumerate(playbook.steps):
            if step.optional and rng.random() < 0.35:
                continue
            low, high = step.delay
            t += int(math.exp(rng.uniform(math.log(max(low, 1.0)), math.log(max(high, 1.0))))
                     * 1_000_000)
            if step.pivot in VICTIM_TYPES:
                pool = pools[step.pivot]
                state[step.pivot] = victims.free(pool[int(rng.integers(len(pool)))], pool, t)
            elif step.pivot == "ip":
                state["ip"] = f"{rng.choice(_ATTACKER_NETS)}.{rng.integers(1, 255)}"
            repeat = int(rng.integers(step.repeat[0], step.repeat[1] + 1))
            step_start = t
            for r in range(repeat):
                name = step.alert_types[int(rng.integers(len(step.alert_types)))]
                type_index = self.catalog.index[name]
                if r:  # repeats follow each other; the next step starts after the last one
                    t += int(rng.exponential(90.0) * 1_000_000) + 1000
                when = t
                types.append(type_index)
                times.append(when)
                entities.append([(e, state[e]) for e in self.catalog.types[type_index].entities])
                steps.append(s_index)
            for signal in step.signals:
                if rng.random() < 0.5:
                    type_index = self.catalog.index[signal]
                    types.append(type_index)
                    times.append(step_start + int(rng.uniform(-600, 1800) * 1_000_000))
                    entities.append([(e, state[e]) for e in
                                     self.catalog.types[type_index].entities])
                    steps.append(s_index)
        kept = [i for i, when in enumerate(times) if 0 <= when < end]
        if not kept:
            return 0
        victims.claim(min(times[i] for i in kept), max(times[i] for i in kept),
                      {value for i in kept for kind, value in entities[i] if kind in VICTIM_TYPES})
        rows.add_structured(
            np.array([types[i] for i in kept]),
            np.array([times[i] // 1000 * 1000 for i in kept]),
            [entities[i] for i in kept],
            "attack",
            campaign=[campaign_id] * len(kept),
            playbook=[playbook.name] * len(kept),
            step=[steps[i] for i in kept],
        )
        return len(kept)

    def _to_table(self, tenant: _Tenant, rows: _Rows) -> pa.Table:
        cfg = self.config
        if not rows.sizes:
            return SIM_SCHEMA.empty_table()
        types = np.concatenate(rows.type_index)
        times = np.concatenate(rows.time_us)
        entities = [e for chunk in rows.entities for e in chunk]
        campaign = [c for chunk in rows.campaign for c in chunk]
        playbook = [p for chunk in rows.playbook for p in chunk]
        step = [s for chunk in rows.step for s in chunk]
        scenario = rows.scenario
        order = np.lexsort((np.arange(len(times)), times))
        n = len(order)
        cat = self.catalog
        t_sorted = types[order]
        alert_types = [cat.types[i] for i in t_sorted.tolist()]
        ents_sorted = [entities[i] for i in order.tolist()]
        flat = [e for ents in ents_sorted for e in ents]
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum([len(e) for e in ents_sorted], out=offsets[1:])
        entity_array = pa.ListArray.from_arrays(
            pa.array(offsets),
            pa.StructArray.from_arrays([pa.array([e[0] for e in flat], pa.string()),
                                        pa.array([e[1] for e in flat], pa.string())],
                                       fields=list(ENTITY_STRUCT)))
        pick = order.tolist()
        columns = {
            "tenant_id": pa.array([tenant.tenant_id] * n, pa.string()),
            "alert_id": pa.array([f"{tenant.tenant_id}-{i:07d}" for i in range(n)], pa.string()),
            "timestamp": pa.array(times[order] + cfg.start_us, pa.int64()).cast(
                pa.timestamp("us", tz="UTC")),
            "alert_type": pa.array([a.name for a in alert_types], pa.string()),
            "provider": pa.array([a.provider for a in alert_types], pa.string()),
            "severity": pa.array([a.severity for a in alert_types], pa.string()),
            "fidelity": pa.array([a.fidelity for a in alert_types], pa.string()),
            "techniques": pa.array([list(a.techniques) for a in alert_types],
                                   pa.list_(pa.string())),
            "tactics": pa.array([cat.tactics[i] for i in t_sorted.tolist()],
                                pa.list_(pa.string())),
            "entities": entity_array,
            "campaign_id": pa.array([campaign[i] for i in pick], pa.string()),
            "playbook": pa.array([playbook[i] for i in pick], pa.string()),
            "step": pa.array([step[i] for i in pick], pa.int32()),
            "label": pa.array([scenario[i] == "attack" for i in pick], pa.bool_()).cast(pa.int8()),
            "scenario": pa.array([scenario[i] for i in pick], pa.string()),
        }
        return pa.Table.from_arrays([columns[f.name] for f in SIM_SCHEMA], schema=SIM_SCHEMA)


def _token(rng: np.random.Generator, length: int) -> str:
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz0123456789", dtype=np.uint8)
    return rng.choice(letters, size=length).tobytes().decode()
