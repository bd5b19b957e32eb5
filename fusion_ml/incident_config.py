"""Tuning knobs of the incident builder, like Microsoft Sentinel Fusion's.

Read from a dict or from the ``[incidents]`` table of a TOML file::

    [incidents]
    threshold = 0.8                 # group score threshold (default: the model's incident_threshold_)
    alert_threshold = 0.5           # per-alert attack probability to join the chain
    max_size = 50                   # most alerts in an incident's chain
    min_group_size = 2              # smaller groups are not scored (related signals only)
    related_window = 86400          # seconds around an incident to look for related alerts
    fragment_window = 21600         # neighbouring groups this close are scored together
    merge_window = 600              # chains sharing an entity this close make one incident
    restart_gap = 14400             # a chain that starts the kill chain over after this gap splits
    max_related = 50                # most related alerts / signals per incident
    exclude_providers = ["noisy-edr"]          # dropped before grouping (counted)
    exclude_patterns = [["Port scan", "Brute force"], ["discovery", "exfiltration"]]
    [incidents.severity_overrides]
    suricata = "low"                # applied to the alerts of a provider before anything else

An excluded pattern is an ordered sequence of alert types or tactics; an incident whose chain
contains it (as a subsequence) is still built but closed with the tag ``excluded-pattern``.
Every error names the key: ``incidents.threshold: expected a number in [0, 1], got 'x'``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fusion_ml.errors import ConfigError
from fusion_ml.schema import SEVERITIES

SECTION = "incidents"


@dataclass(frozen=True)
class IncidentConfig:
    """Knobs of :func:`fusion_ml.incidents.build_incidents` (see the module docstring)."""

    threshold: float | None = None
    """Group score at or above which a group becomes an incident (``None``: the model's)."""
    alert_threshold: float = 0.5
    """Per-alert attack probability at or above which an alert joins the chain."""
    max_size: int = 50
    """Most alerts in one chain (the highest-scoring ones; the rest become related)."""
    min_group_size: int = 2
    """Groups smaller than this are not scored as progressions."""
    related_window: float = 86_400.0
    """Seconds before the first / after the last chain alert searched for related alerts."""
    max_related: int = 50
    """Most related alerts and signals listed per incident (closest in time first)."""
    fragment_window: float = 21_600.0
    """Two groups of a tenant that share an entity and follow each other within this many
    seconds, one of them holding an attack alert and one below the threshold, are scored
    together and merged when the model scores the union higher (0: never; see
    :mod:`fusion_ml.fragments`)."""
    merge_window: float = 600.0
    """Chains of one tenant that share an entity (any: a busy host too) and, on it, overlap in
    time or follow each other within this many seconds make one incident (0: one incident per
    chain). Grouping never links a host that carries more than a tenant's
    ``burst_max_share`` of alerts, so in a small tenant one intrusion's steps on its
    workstation fall into several groups that each score as an attack; two such chains at
    the same minutes are the same attack. Longer windows join separate campaigns (see the
    README)."""
    restart_gap: float = 14_400.0
    """A chain that reached lateral movement or later and, at least this many seconds after
    its previous alert, goes on with an alert no later than initial access is split there
    into two incidents (0: never; see :mod:`fusion_ml.incidents`)."""
    exclude_patterns: tuple[tuple[str, ...], ...] = ()
    """Alert-type or tactic sequences whose incidents are closed with ``excluded-pattern``."""
    exclude_providers: tuple[str, ...] = ()
    """Providers whose alerts are dropped before grouping."""
    severity_overrides: Mapping[str, str] = field(default_factory=dict)
    """Provider -> severity, applied to that provider's alerts first."""

    def validate(self) -> IncidentConfig:
        """Check every knob; returns ``self``. Errors name the key (``incidents.<key>``)."""
        if self.threshold is not None:
            _unit(self.threshold, "threshold")
        _unit(self.alert_threshold, "alert_threshold")
        for name in ("max_size", "min_group_size", "max_related"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (
                    2 if name == "max_size" else 1):
                raise _error(name, f"an int >= {2 if name == 'max_size' else 1}", value)
        for name in ("related_window", "fragment_window", "merge_window", "restart_gap"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise _error(name, "a number of seconds >= 0", value)
        for i, pattern in enumerate(self.exclude_patterns):
            if (not isinstance(pattern, tuple) or not pattern
                    or not all(isinstance(p, str) and p for p in pattern)):
                raise _error(f"exclude_patterns[{i}]", "a non-empty list of alert types or "
                             "tactics", pattern)
        for i, provider in enumerate(self.exclude_providers):
            if not isinstance(provider, str) or not provider:
                raise _error(f"exclude_providers[{i}]", "a provider name", provider)
        if not isinstance(self.severity_overrides, Mapping):
            raise _error("severity_overrides", "a table of provider = severity",
                         self.severity_overrides)
        for provider, severity in self.severity_overrides.items():
            if severity not in SEVERITIES:
                raise _error(f"severity_overrides.{provider}", f"one of {SEVERITIES}", severity)
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain values (JSON / TOML)."""
        out = asdict(self)
        out["exclude_patterns"] = [list(p) for p in self.exclude_patterns]
        out["exclude_providers"] = list(self.exclude_providers)
        out["severity_overrides"] = dict(self.severity_overrides)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IncidentConfig:
        """Build and validate from plain values (unknown keys are an error)."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{SECTION}: expected a table of settings, got {data!r}")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{SECTION}: unknown key(s) {unknown}; expected some of "
                              f"{sorted(known)}")
        values = dict(data)
        if "exclude_patterns" in values:
            patterns = values["exclude_patterns"]
            if not isinstance(patterns, list | tuple):
                raise _error("exclude_patterns", "a list of lists of alert types or tactics",
                             patterns)
            values["exclude_patterns"] = tuple(
                tuple(p) if isinstance(p, list | tuple) else p for p in patterns)
        if "exclude_providers" in values:
            providers = values["exclude_providers"]
            if not isinstance(providers, list | tuple):
                raise _error("exclude_providers", "a list of provider names", providers)
            values["exclude_providers"] = tuple(providers)
        if "severity_overrides" in values and isinstance(values["severity_overrides"], Mapping):
            values["severity_overrides"] = dict(values["severity_overrides"])
        for name in ("related_window", "fragment_window", "merge_window", "restart_gap",
                     "threshold", "alert_threshold"):
            if isinstance(values.get(name), int) and not isinstance(values[name], bool):
                values[name] = float(values[name])
        return cls(**values).validate()

    @classmethod
    def from_toml(cls, path: str | Path) -> IncidentConfig:
        """The ``[incidents]`` table of a TOML file (defaults when the table is absent)."""
        path = Path(path)
        data = read_toml(path)
        try:
            return cls.from_dict(data.get(SECTION, {}))
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None


def read_toml(path: Path) -> dict[str, Any]:
    """The tables of a TOML file; a :class:`ConfigError` naming the file when it is missing or
    not valid TOML."""
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: expected a TOML configuration file, found nothing "
                          "there") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def _unit(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise _error(name, "a number in [0, 1]", value)


def _error(key: str, expected: str, got: object) -> ConfigError:
    return ConfigError(f"{SECTION}.{key}: expected {expected}, got {got!r}")
