"""The pattern catalog: what cross-tenant mining produces and shares.

A catalog holds alert types, tactics and counts only: every pattern and rule in it was seen in
at least ``min_tenants`` tenants, and :func:`check_privacy` proves that no tenant id or entity
value of the input appears anywhere in it. On disk it is a folder::

    patterns.parquet      frequent sequential patterns (both levels)
    rules.parquet         sequential rules with their tests and plausibility
    cooccurrence.parquet  the order-blind baseline (mlxtend fpgrowth + association_rules)
    summary.json          parameters, counts, evaluation, content hash
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from fusion_ml.attack import KILL_CHAIN
from fusion_ml.errors import ConfigError, FusionError
from fusion_ml.mining.killchain import KillChainPolicy
from fusion_ml.mining.prefixspan import SequentialPatternMiner
from fusion_ml.mining.rules import SequentialRuleMiner, tactics_by_alert_type
from fusion_ml.mining.sequences import SequenceSet
from fusion_ml.schema import arrow_array

CATALOG_FILES = ("patterns.parquet", "rules.parquet", "cooccurrence.parquet", "summary.json")


@dataclass(frozen=True)
class MiningConfig:
    """Mining parameters (see :class:`SequentialPatternMiner` and :class:`SequentialRuleMiner`).

    ``min_support``: groups (int) or share of groups (float); ``min_tenants``: the privacy
    floor and cross-tenant prevalence; ``cooccurrence_min_support``: share of groups for the
    fpgrowth baseline.
    """

    min_support: int | float = 5
    min_tenants: int = 3
    max_length: int = 5
    max_gap: int | None = None
    alpha: float = 0.05
    min_confidence: float = 0.0
    max_backstep: int = 2
    levels: tuple[str, ...] = ("alert_type", "tactic")
    tactic_min_support: float = 0.01
    """Share of groups for the tactic level, where 14 items make far more patterns frequent."""
    cooccurrence_min_support: float = 0.001
    engine: str = "local"

    def to_dict(self) -> dict[str, Any]:
        """Plain values (for logging)."""
        return asdict(self)


@dataclass
class PatternCatalog:
    """Patterns, rules and the co-occurrence baseline of one mining run."""

    patterns: pd.DataFrame
    rules: pd.DataFrame
    cooccurrence: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        """SHA-256 over the catalog's content (not over file bytes)."""
        digest = hashlib.sha256()
        for frame in (self.patterns, self.rules, self.cooccurrence):
            records = frame.to_dict(orient="records")
            digest.update(orjson.dumps(records, default=_jsonable,
                                       option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY))
        return digest.hexdigest()

    def save(self, folder: str | Path) -> Path:
        """Write the catalog files into ``folder``; returns it."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, frame in (("patterns", self.patterns), ("rules", self.rules),
                            ("cooccurrence", self.cooccurrence)):
            _for_parquet(frame).to_parquet(folder / f"{name}.parquet", index=False)
        summary = dict(self.summary, content_hash=self.content_hash)
        (folder / "summary.json").write_text(json.dumps(summary, indent=2, default=_jsonable))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> PatternCatalog:
        """Read a catalog folder written by :meth:`save`."""
        folder = Path(folder)
        missing = [n for n in CATALOG_FILES if not (folder / n).exists()]
        if missing:
            raise ConfigError(f"{folder}: expected a pattern catalog, missing {missing}")
        frames = [_from_parquet(pd.read_parquet(folder / f"{n}.parquet"))
                  for n in ("patterns", "rules", "cooccurrence")]
        return cls(*frames, summary=json.loads((folder / "summary.json").read_text()))


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray | tuple | frozenset | set):
        return sorted(value) if isinstance(value, frozenset | set) else list(value)
    if isinstance(value, np.integer | np.floating | np.bool_):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


_TUPLE_COLUMNS = ("pattern", "antecedent", "antecedents", "consequents")


def _for_parquet(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in _TUPLE_COLUMNS:
        if column in out.columns:
            out[column] = [list(v) for v in out[column]]
    return out


def _from_parquet(frame: pd.DataFrame) -> pd.DataFrame:
    for column in _TUPLE_COLUMNS:
        if column in frame.columns:
            frame[column] = [tuple(v) for v in frame[column]]
    return frame


def cooccurrence_rules(groups: pd.DataFrame, min_support: float, min_tenants: int,
                       min_confidence: float = 0.0) -> pd.DataFrame:
    """The order-blind baseline: mlxtend ``fpgrowth`` itemsets of alert types per group and
    ``association_rules``, kept where the itemset was seen in >= ``min_tenants`` tenants.

    Columns: ``antecedents``, ``consequents`` (sorted tuples), ``support`` (share of groups),
    ``confidence``, ``lift``, ``tenants``.
    """
    from mlxtend.frequent_patterns import association_rules, fpgrowth

    columns = ["antecedents", "consequents", "support", "confidence", "lift", "tenants"]
    pairs = groups[["group_id", "alert_type"]].drop_duplicates()
    if pairs.empty:
        return pd.DataFrame(columns=columns)
    onehot = pd.crosstab(pairs["group_id"], pairs["alert_type"]).astype(bool)
    itemsets = fpgrowth(onehot, min_support=min_support, use_colnames=True, max_len=4)
    multi = itemsets[itemsets["itemsets"].map(len) >= 2] if len(itemsets) else itemsets
    if multi.empty:
        return pd.DataFrame(columns=columns)
    rules = association_rules(itemsets, metric="confidence", min_threshold=min_confidence,
                              num_itemsets=len(onehot))
    tenant_of = pd.factorize(groups.groupby("group_id")["tenant_id"].first()
                             .reindex(onehot.index))[0]
    bits = np.packbits(onehot.to_numpy(), axis=0)  # one bit per group, per alert type
    column = {name: i for i, name in enumerate(onehot.columns)}
    n_groups = len(onehot)
    tenants_of_itemset: dict[frozenset, int] = {}
    for itemset in {a | c for a, c in zip(rules["antecedents"], rules["consequents"],
                                          strict=True)}:
        packed = np.bitwise_and.reduce(bits[:, [column[i] for i in itemset]], axis=1)
        members = np.flatnonzero(np.unpackbits(packed)[:n_groups])
        tenants_of_itemset[itemset] = len(np.unique(tenant_of[members]))
    rules["tenants"] = [tenants_of_itemset[a | c] for a, c in
                        zip(rules["antecedents"], rules["consequents"], strict=True)]
    rules = rules[rules["tenants"] >= min_tenants].copy()
    rules["antecedents"] = [tuple(sorted(a)) for a in rules["antecedents"]]
    rules["consequents"] = [tuple(sorted(c)) for c in rules["consequents"]]
    return rules.sort_values(["lift", "support", "antecedents", "consequents"],
                             ascending=[False, False, True, True])[columns].reset_index(drop=True)


def mine_catalog(groups: pd.DataFrame, config: MiningConfig | None = None) -> PatternCatalog:
    """Mine a grouped alert frame (:func:`fusion_ml.grouping.group_alerts` output) into a
    catalog: patterns and rules at each level, plus the co-occurrence baseline."""
    config = config or MiningConfig()
    policy = KillChainPolicy(max_backstep=config.max_backstep)
    all_patterns, all_rules = [], []
    counts: dict[str, Any] = {}
    for level in config.levels:
        sequences = SequenceSet.from_groups(groups, level=level)
        miner = make_miner(config, level).fit(sequences)
        tactics_of = ({t: [t] for t in KILL_CHAIN} if level == "tactic"
                      else tactics_by_alert_type(groups))
        rules = SequentialRuleMiner(alpha=config.alpha, min_confidence=config.min_confidence,
                                    policy=policy).fit(sequences, miner.patterns_,
                                                       tactics_of).rules_
        all_patterns.append(miner.patterns_.assign(level=level))
        all_rules.append(rules.assign(level=level))
        counts[level] = {"groups": len(sequences), "patterns": len(miner.patterns_),
                         "rules": len(rules),
                         "prevalent_rules": int((rules["kind"] == "prevalent").sum()),
                         "min_count": miner.min_count_}
    cooccurrence = cooccurrence_rules(groups, config.cooccurrence_min_support,
                                      config.min_tenants)
    summary = {
        "schema_version": 1,
        "config": config.to_dict(),
        "kill_chain": policy.to_dict(),
        "groups": int(groups["group_id"].nunique()),
        "tenants": int(groups["tenant_id"].nunique()),
        "alerts": len(groups),
        "levels": counts,
        "cooccurrence_rules": len(cooccurrence),
    }
    return PatternCatalog(pd.concat(all_patterns, ignore_index=True),
                          pd.concat(all_rules, ignore_index=True), cooccurrence, summary)


def make_miner(config: MiningConfig, level: str = "alert_type"):
    """The miner for ``config.engine`` (``local`` or ``spark``) at one level."""
    support = config.tactic_min_support if level == "tactic" else config.min_support
    params = {"min_support": support, "min_tenants": config.min_tenants,
              "max_length": config.max_length, "max_gap": config.max_gap}
    if config.engine == "local":
        return SequentialPatternMiner(**params)
    if config.engine == "spark":
        from fusion_ml.mining.spark import SparkPatternMiner

        return SparkPatternMiner(**params)
    raise ConfigError(f"engine: expected 'local' or 'spark', got {config.engine!r}")


def check_privacy(catalog: PatternCatalog, groups: pd.DataFrame) -> None:
    """Raise :class:`FusionError` if any tenant id or entity value of ``groups`` appears in the
    catalog, or if a pattern or rule was seen in fewer than ``min_tenants`` tenants."""
    import pyarrow as pa

    from fusion_ml.schema import ENTITY_STRUCT

    secrets = set(groups["tenant_id"].astype(str))
    entities = arrow_array(groups["entities"], pa.list_(ENTITY_STRUCT)).flatten()
    secrets |= set(entities.field("value").to_pylist())
    secrets -= set(groups["alert_type"].astype(str))  # an alert type is not a secret
    floor = catalog.summary.get("config", {}).get("min_tenants", 1)
    for name, frame in (("patterns", catalog.patterns), ("rules", catalog.rules),
                        ("cooccurrence", catalog.cooccurrence)):
        if "tenants" in frame.columns and len(frame) and frame["tenants"].min() < floor:
            raise FusionError(f"catalog {name}: a row was seen in {frame['tenants'].min()} "
                              f"tenants, below the floor of {floor}")
        leaked = sorted(_strings(frame.to_dict(orient="list")) & secrets)
        if leaked:
            raise FusionError(f"catalog {name} carries identifiers: {leaked[:5]}")
    leaked = sorted(_strings(catalog.summary) & secrets)
    if leaked:
        raise FusionError(f"catalog summary carries identifiers: {leaked[:5]}")


def _strings(value: Any) -> set[str]:
    """Every string inside nested dicts, lists, tuples and arrays."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.add(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset | np.ndarray):
            stack.extend(item)
    return found
