"""``fusion.toml``: one configuration file for grouping, mining, training and incidents.

Every section is optional and maps onto one configuration class; keys not given keep the
class's default::

    [grouping]   GroupingConfig    (windows and group limits)
    [mining]     MiningConfig      (support, tenants, lengths, test level)
    [split]      SplitConfig       (tenant shares, seed, smallest group)
    [model]      ModelConfig       (network size, training budget)
    [training]   holdout_playbooks
    [incidents]  IncidentConfig    (threshold and Fusion-style tuning knobs)

Errors name the file, the section and the key: ``fusion.toml: [mining] min_tenants: expected
an int, got 'three'``. Unknown sections and keys are errors too (a typo must not silently
fall back to a default).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fusion_ml.dataset import SplitConfig
from fusion_ml.errors import ConfigError, FusionError
from fusion_ml.grouping import GroupingConfig
from fusion_ml.incident_config import read_toml
from fusion_ml.mining.catalog import MiningConfig
from fusion_ml.nn import ModelConfig
from fusion_ml.training import TrainingConfig

SECTIONS = ("grouping", "mining", "split", "model", "training", "incidents")


@dataclass(frozen=True)
class FusionConfig:
    """The parsed file (``incidents`` stays a plain table: :mod:`fusion_ml.incident_config`
    validates it)."""

    grouping: GroupingConfig = field(default_factory=GroupingConfig)
    mining: MiningConfig = field(default_factory=lambda: TrainingConfig().mining)
    split: SplitConfig = field(default_factory=SplitConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    holdout_playbooks: tuple[str, ...] = ()
    incidents: dict[str, Any] = field(default_factory=dict)
    source: str = "defaults"

    def training(self) -> TrainingConfig:
        """The training configuration these sections describe."""
        return TrainingConfig(split=self.split, model=self.model, mining=self.mining,
                              holdout_playbooks=self.holdout_playbooks)


def _expected(default: Any, annotation: str) -> tuple[tuple[type, ...], str]:
    if "float" in annotation and not isinstance(default, bool):
        return (int, float), "a number"
    if isinstance(default, bool):
        return (bool,), "true or false"
    if isinstance(default, int):
        return (int,), "an int"
    if isinstance(default, float):
        return (int, float), "a number"
    if isinstance(default, str):
        return (str,), "a string"
    if isinstance(default, tuple):
        return (list,), "a list"
    return (object,), "a value"


def _section(cls: type, table: dict[str, Any], where: str, base: Any = None) -> Any:
    """``cls`` built from ``table`` over ``base`` (or the defaults), keys and types checked."""
    base = base if base is not None else cls()
    annotations = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    names = list(annotations)
    unknown = sorted(set(table) - set(names))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; expected one of {names}")
    values = {}
    for key, value in table.items():
        default = getattr(base, key)
        types, text = _expected(default, annotations[key])
        if default is None:  # optional: any scalar of the right kind is checked by validate()
            values[key] = value
            continue
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            raise ConfigError(f"{where} {key}: expected {text}, got {value!r}")
        values[key] = tuple(value) if isinstance(default, tuple) else value
    built = dataclasses.replace(base, **values)
    validate = getattr(built, "validate", None)
    if validate is not None:
        try:
            validate()
        except FusionError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return built


def load_config(path: str | Path | None = None) -> FusionConfig:
    """Parse and validate ``path`` (``None``: the defaults)."""
    if path is None:
        return FusionConfig()
    path = Path(path)
    data = read_toml(path)
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{path}: unknown section [{unknown[0]}]; expected some of "
                          f"{list(SECTIONS)}")
    for name, table in data.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [{name}] must be a table, got {table!r}")
    defaults = FusionConfig()
    training = dict(data.get("training", {}))
    holdout = training.pop("holdout_playbooks", [])
    if training:
        raise ConfigError(f"{path}: [training] unknown key {sorted(training)[0]!r}; expected "
                          "['holdout_playbooks']")
    if not isinstance(holdout, list) or not all(isinstance(p, str) for p in holdout):
        raise ConfigError(f"{path}: [training] holdout_playbooks: expected a list of playbook "
                          f"names, got {holdout!r}")
    incidents = data.get("incidents", {})
    if incidents:
        from fusion_ml.incident_config import IncidentConfig

        try:
            IncidentConfig.from_dict(incidents)
        except FusionError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    return FusionConfig(
        grouping=_section(GroupingConfig, data.get("grouping", {}), f"{path}: [grouping]"),
        mining=_section(MiningConfig, data.get("mining", {}), f"{path}: [mining]",
                        defaults.mining),
        split=_section(SplitConfig, data.get("split", {}), f"{path}: [split]"),
        model=_section(ModelConfig, data.get("model", {}), f"{path}: [model]"),
        holdout_playbooks=tuple(holdout), incidents=dict(incidents), source=str(path))
