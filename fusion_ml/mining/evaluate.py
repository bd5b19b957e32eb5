"""How well mined rules recover the simulator's playbooks and reject its benign routines.

Reads ground truth (``campaign_id``, ``playbook``, ``scenario``) that only the evaluation may
read; the miner never sees it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from fusion_ml.simulate.library import PLAYBOOKS, ROUTINES
from fusion_ml.simulate.model import Playbook, Routine


def attack_transitions(playbooks: tuple[Playbook, ...] = PLAYBOOKS) -> dict[tuple[str, str],
                                                                           set[str]]:
    """``{(a, b): playbooks}`` for distinct alert types ``a`` and ``b`` that a playbook raises
    in this order: ``a`` in the same or an earlier step than ``b`` (steps repeat and mix their
    alternatives; signals count with their step)."""
    pairs: dict[tuple[str, str], set[str]] = {}
    for playbook in playbooks:
        types = [step.alert_types + step.signals for step in playbook.steps]
        for i, earlier in enumerate(types):
            for later in types[i:]:
                for a in earlier:
                    for b in later:
                        if a != b:
                            pairs.setdefault((a, b), set()).add(playbook.name)
    return pairs


def step_pairs(playbooks: tuple[Playbook, ...] = PLAYBOOKS) -> set[tuple[str, str]]:
    """Pairs of alert types that a playbook raises in strictly successive steps."""
    pairs = set()
    for playbook in playbooks:
        for i, earlier in enumerate(playbook.steps):
            for later in playbook.steps[i + 1:]:
                pairs |= {(a, b) for a in earlier.alert_types for b in later.alert_types if a != b}
    return pairs


def routine_pairs(routines: tuple[Routine, ...] = ROUTINES) -> set[tuple[str, str]]:
    """Ordered pairs of distinct alert types that one benign routine raises together."""
    return {(a, b) for r in routines for a in r.alert_types for b in r.alert_types if a != b}


@dataclass
class RuleEvaluation:
    """Rule quality against the simulator's ground truth (see :func:`evaluate_rules`)."""

    prevalent_rules: int
    precision: float
    playbooks_expected: int
    playbooks_found: int
    playbook_recall: float
    transitions_expected: int
    transitions_found: int
    transition_recall: float
    routine_only_pairs_tested: int
    routine_only_pairs_prevalent: int

    def to_dict(self) -> dict[str, float | int]:
        """Plain values for logging."""
        return asdict(self)


def evaluate_rules(rules: pd.DataFrame, alerts: pd.DataFrame, min_tenants: int,
                   min_evidence: int = 10) -> RuleEvaluation:
    """Precision and recall of the ``prevalent`` alert-type rules.

    * precision: share of prevalent rules all of whose steps are attack transitions
      (:func:`attack_transitions`);
    * playbooks expected: playbooks with campaigns in >= ``min_tenants`` tenants (and, for the
      order test to have a chance, in >= ``min_evidence`` campaigns); found: those with at least
      one prevalent rule made only of their own transitions;
    * transitions expected: pairs of alert types that follow each other directly in campaigns
      of >= ``min_tenants`` tenants and >= ``min_evidence`` campaigns, belong to successive
      steps (alternatives of one step have no order) and are not also raised together by a
      benign routine; found: those that are a prevalent length-2 rule;
    * routine-only pairs: pairs raised together by routines and never in an attack order;
      how many were tested as rules and how many came out prevalent (ideally none).
    """
    transitions = attack_transitions()
    forward = step_pairs()
    benign = routine_pairs()
    prevalent = rules[rules["kind"] == "prevalent"]
    steps_ok = [all((a, b) in transitions for a, b in zip(p, p[1:], strict=False))
                for p in prevalent["pattern"]]
    precision = sum(steps_ok) / len(prevalent) if len(prevalent) else 0.0

    attacks = alerts[alerts["label"] == 1].sort_values(["campaign_id", "timestamp"])
    per_playbook = attacks.groupby("playbook").agg(tenants=("tenant_id", "nunique"),
                                                   campaigns=("campaign_id", "nunique"))
    expected_playbooks = set(per_playbook[(per_playbook["tenants"] >= min_tenants) &
                                          (per_playbook["campaigns"] >= min_evidence)].index)
    found_playbooks = set()
    for pattern in prevalent["pattern"]:
        owners = [transitions.get((a, b), set()) for a, b in zip(pattern, pattern[1:],
                                                                  strict=False)]
        if owners and all(owners):
            found_playbooks |= set.intersection(*owners)
    found_playbooks &= expected_playbooks

    pair_tenants: dict[tuple[str, str], set[str]] = {}
    pair_campaigns: dict[tuple[str, str], int] = {}
    for (_, tenant), types in attacks.groupby(["campaign_id", "tenant_id"])["alert_type"]:
        sequence = types.tolist()
        for pair in {(a, b) for a, b in zip(sequence, sequence[1:], strict=False)}:
            if pair in forward and pair not in benign:
                pair_tenants.setdefault(pair, set()).add(tenant)
                pair_campaigns[pair] = pair_campaigns.get(pair, 0) + 1
    expected_pairs = {p for p, t in pair_tenants.items()
                      if len(t) >= min_tenants and pair_campaigns[p] >= min_evidence}
    found_pairs = {tuple(p) for p in prevalent.loc[prevalent["length"] == 2, "pattern"]}
    routine_only = benign - set(transitions)
    tested = rules[rules["length"] == 2]
    tested_pairs = {tuple(p) for p in tested["pattern"]} & routine_only
    return RuleEvaluation(
        prevalent_rules=len(prevalent),
        precision=precision,
        playbooks_expected=len(expected_playbooks),
        playbooks_found=len(found_playbooks),
        playbook_recall=len(found_playbooks) / max(len(expected_playbooks), 1),
        transitions_expected=len(expected_pairs),
        transitions_found=len(expected_pairs & found_pairs),
        transition_recall=len(expected_pairs & found_pairs) / max(len(expected_pairs), 1),
        routine_only_pairs_tested=len(tested_pairs),
        routine_only_pairs_prevalent=len(tested_pairs & found_pairs),
    )
