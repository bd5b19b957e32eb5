"""The simulator's vocabulary: alert types, attack playbooks and benign routines."""

from __future__ import annotations

from dataclasses import dataclass, field

SIM_ENTITY_TYPES: tuple[str, ...] = ("host", "account", "ip", "resource", "process", "file",
                                     "url", "domain")
"""Entity types the simulator emits (all of them survive the Sentinel and OCSF writers)."""

PROVIDER_FAMILIES: tuple[str, ...] = ("network", "endpoint", "identity", "cloud", "storage",
                                      "database")


@dataclass(frozen=True)
class AlertType:
    """One alert type a simulated detector can raise.

    ``entities`` lists the entity types every alert of this type carries (first = primary).
    ``fidelity == "signal"`` marks low-fidelity signals; they are always ``informational``
    (readers derive fidelity from severity, so the pair survives a round trip through the
    Sentinel and OCSF formats).
    """

    name: str
    provider: str
    family: str
    severity: str
    techniques: tuple[str, ...]
    entities: tuple[str, ...]
    fidelity: str = "alert"
    noise: float = 1.0
    """Relative frequency as benign background (0 = never raised by benign activity)."""


@dataclass(frozen=True)
class Step:
    """One step of a playbook: the tactic it serves and the alert types that can show it."""

    tactic: str
    alert_types: tuple[str, ...]
    optional: bool = False
    repeat: tuple[int, int] = (1, 1)
    """Inclusive range of how many alerts the step raises."""
    delay: tuple[float, float] = (30.0, 3600.0)
    """Seconds after the previous step (sampled log-uniformly within the range)."""
    pivot: str | None = None
    """``"host"``: move to another host (lateral movement); ``"account"``: switch to another
    account; ``"ip"``: the attacker changes IP address."""
    signals: tuple[str, ...] = ()
    """Low-fidelity signal types that may accompany the step."""


@dataclass(frozen=True)
class Playbook:
    """An attack progression. ``prevalence`` weighs how often tenants see it (common vs rare)."""

    name: str
    description: str
    steps: tuple[Step, ...]
    prevalence: float = 1.0


@dataclass(frozen=True)
class Routine:
    """Benign activity that raises several alert types on the same entities close in time,
    in random order (the incidental co-occurrence a correlator must not call an attack).

    ``spread``: ``"widespread"`` (any tenant may run it) or ``"local"`` (only a few tenants,
    where it is frequent). ``anchor`` is the entity type shared by its alerts.
    """

    name: str
    description: str
    alert_types: tuple[str, ...]
    anchor: str
    window: tuple[float, float] = (300.0, 7200.0)
    spread: str = "widespread"
    per_month: float = 2.0
    """Occurrences per month in a tenant that runs it."""
    min_types: int = 2
    tags: tuple[str, ...] = field(default=())
