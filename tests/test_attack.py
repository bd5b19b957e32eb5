import json

import pandas as pd
import pytest

from fusion_ml.attack import (
    KILL_CHAIN,
    AttackCatalog,
    default_bundle_path,
    kill_chain_sorted,
    normalize_tactic,
)
from fusion_ml.schema import pandas_dtypes


def test_kill_chain_has_14_tactics_in_the_bundle_order(catalog):
    assert len(KILL_CHAIN) == 14
    assert KILL_CHAIN[0] == "reconnaissance" and KILL_CHAIN[-1] == "impact"
    assert catalog.kill_chain == KILL_CHAIN  # read from the bundle's x-mitre-matrix


def test_sub_technique_maps_to_its_parents_tactics(catalog):
    assert catalog.lookup("T1059.001").tactics == catalog.lookup("T1059").tactics == ("execution",)
    assert catalog.lookup("T1110.003").tactics == ("credential-access",)


def test_multi_tactic_technique_maps_to_all(catalog):
    assert catalog.lookup("T1078").tactics == (
        "initial-access", "persistence", "privilege-escalation", "defense-evasion",
    )


def test_revoked_deprecated_and_unknown(catalog):
    revoked = catalog.lookup("T1066")
    assert revoked.status == "revoked" and revoked.replaced_by == "T1027.005"
    assert revoked.tactics == ("defense-evasion",)
    deprecated = catalog.lookup("T1062")
    assert deprecated.status == "deprecated" and deprecated.tactics == ("persistence",)
    unknown = catalog.lookup("T9999")
    assert unknown.status == "unknown" and unknown.tactics == ()
    # An unknown sub-technique of a known parent gets the parent's tactics, flagged.
    assert catalog.lookup("t1059.999").tactics == ("execution",)
    assert catalog.lookup("t1059.999").status == "unknown"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("TA0006", "credential-access"),
        ("Credential Access", "credential-access"),
        ("CredentialAccess", "credential-access"),
        ("credential_access", "credential-access"),
        ("Command and Control", "command-and-control"),
        ("CommandAndControl", "command-and-control"),
        ("Initial_Access", "initial-access"),
        ("PreAttack", "pre-attack"),
    ],
)
def test_normalize_tactic(given, expected):
    assert normalize_tactic(given) == expected


def test_kill_chain_sorted():
    assert kill_chain_sorted(["impact", "pre-attack", "execution", "impact"]) == [
        "execution", "impact", "pre-attack",
    ]


def test_enrich_fills_tactics_keeps_unknown_and_does_not_mutate(catalog):
    dtypes = pandas_dtypes()
    frame = pd.DataFrame({
        "techniques": pd.Series([["t1078"], ["T9999"], [], ["T1059.001"], ["T1066"]],
                                dtype=dtypes["techniques"]),
        "tactics": pd.Series([[], [], [], ["Execution"], []], dtype=dtypes["tactics"]),
    })
    before = frame.copy()
    out, report = catalog.enrich(frame)
    pd.testing.assert_frame_equal(frame, before)
    assert out["techniques"].tolist() == [["T1078"], ["T9999"], [], ["T1059.001"], ["T1066"]]
    assert out["tactics"].tolist() == [
        ["initial-access", "persistence", "privilege-escalation", "defense-evasion"],
        [],
        [],
        ["execution"],
        ["defense-evasion"],
    ]
    assert report.filled == 2
    assert dict(report.unknown) == {"T9999": 1}
    assert dict(report.revoked) == {"T1066": 1}


def test_user_bundle_path(tmp_path, monkeypatch):
    bundle = {
        "type": "bundle",
        "objects": [
            {"type": "x-mitre-tactic", "id": "x-mitre-tactic--1", "x_mitre_shortname": "impact"},
            {"type": "x-mitre-matrix", "id": "x-mitre-matrix--1",
             "tactic_refs": ["x-mitre-tactic--1"]},
            {"type": "attack-pattern", "id": "attack-pattern--1", "name": "Future Technique",
             "external_references": [{"source_name": "mitre-attack", "external_id": "T1999"}],
             "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "impact"}]},
        ],
    }
    path = tmp_path / "enterprise-attack.json"
    path.write_text(json.dumps(bundle))
    monkeypatch.setenv("FUSION_ATTACK_BUNDLE", str(path))
    assert default_bundle_path() == path
    catalog = AttackCatalog.from_bundle(path)
    assert catalog.lookup("T1999").tactics == ("impact",)
    assert catalog.kill_chain == ("impact",)
