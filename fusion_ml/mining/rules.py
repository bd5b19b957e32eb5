"""Sequential association rules from frequent patterns, with tests against incidental
co-occurrence and a kill-chain plausibility flag.

For every frequent pattern ``Q = P + <x>`` (length >= 2) the rule ``P => x`` gets:

* ``support`` (groups holding ``Q``), ``tenants`` (distinct tenants), ``confidence``
  (``support(Q) / support(P)``) and ``lift`` (confidence over the share of groups holding x);
* an **order statistic** for the step from ``a`` (the last item of ``P``) to ``x``: the number
  of groups where ``a`` comes before ``x`` and never after (``order_ab``), the reverse
  (``order_ba``) and ``order_share = order_ab / (order_ab + order_ba)``;
* ``p_order``: a one-sided sign test of that order against the null model that keeps each
  group's alerts but shuffles their order (under it both orders are equally likely);
* ``p_cooccurrence``: a hypergeometric test that ``a`` and ``x`` share groups more often than
  if groups were drawn independently;
* ``q_order`` and ``q_cooccurrence``: Benjamini-Hochberg adjusted over the *testable* rules
  (Tarone): a rule whose smallest achievable p-value (all ordered groups one way, or the
  largest possible overlap) is above ``alpha`` cannot become significant and does not enlarge
  the family; its q-value is 1;
* ``plausible``: every step of ``Q`` is allowed by the :class:`KillChainPolicy`.

``kind`` sums it up: ``prevalent`` (co-occurrence and order both significant, plausible),
``incidental`` (co-occurring beyond chance but in no consistent order), ``implausible``
(significant but against the kill chain), ``weak`` (no significant co-occurrence).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
from numba import njit
from scipy import stats

from fusion_ml.errors import NotFittedError, param_error
from fusion_ml.mining.killchain import KillChainPolicy
from fusion_ml.mining.sequences import SequenceSet

RULE_COLUMNS = (
    "antecedent", "consequent", "pattern", "length", "support", "tenants", "confidence", "lift",
    "order_ab", "order_ba", "order_share", "p_order", "p_cooccurrence", "q_order",
    "q_cooccurrence", "plausible", "kind",
)
"""Columns of ``rules_`` (see the module docstring)."""


@njit(cache=True)
def _pair_counts(items, offsets, n_vocab):  # pragma: no cover - compiled
    """``together[a, b]`` groups holding both; ``only_before[a, b]`` groups where some ``a``
    precedes some ``b`` and no ``b`` precedes any ``a``; ``single[a]`` groups holding ``a``."""
    together = np.zeros((n_vocab, n_vocab), np.int64)
    only_before = np.zeros((n_vocab, n_vocab), np.int64)
    single = np.zeros(n_vocab, np.int64)
    first = np.full(n_vocab, -1, np.int64)
    last = np.full(n_vocab, -1, np.int64)
    distinct = np.empty(n_vocab, np.int64)
    for s in range(len(offsets) - 1):
        n = 0
        for p in range(offsets[s], offsets[s + 1]):
            x = items[p]
            if first[x] < 0:
                first[x] = p
                distinct[n] = x
                n += 1
            last[x] = p
        for i in range(n):
            a = distinct[i]
            single[a] += 1
            for j in range(n):
                b = distinct[j]
                if a == b:
                    continue
                together[a, b] += 1
                if first[a] < last[b] and not first[b] < last[a]:
                    only_before[a, b] += 1
        for i in range(n):
            first[distinct[i]] = -1
            last[distinct[i]] = -1
    return together, only_before, single


def tarone_bh(p_values: np.ndarray, min_achievable: np.ndarray, alpha: float) -> np.ndarray:
    """Benjamini-Hochberg over the tests whose smallest achievable p-value is <= ``alpha``;
    the other tests get q = 1."""
    p = np.asarray(p_values, dtype=float)
    q = np.ones(len(p))
    testable = np.asarray(min_achievable) <= alpha
    q[testable] = benjamini_hochberg(p[testable])
    return q


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values), same order as the input."""
    p = np.asarray(p_values, dtype=float)
    n = len(p)
    if n == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * n / np.arange(1, n + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(adjusted, 1.0)
    return out


class SequentialRuleMiner:
    """Rules ``prefix => next`` from a fitted pattern table (an estimator).

    ``fit(sequences, patterns, tactics_of)``: ``patterns`` is a miner's ``patterns_``;
    ``tactics_of`` maps each item (alert type or tactic) to its tactics. ``alpha`` is the false
    discovery rate for both tests; ``min_confidence`` drops weaker rules; ``policy`` decides
    plausibility.
    """

    def __init__(self, alpha: float = 0.05, min_confidence: float = 0.0,
                 policy: KillChainPolicy | None = None) -> None:
        self.alpha = alpha
        self.min_confidence = min_confidence
        self.policy = policy

    def fit(self, sequences: SequenceSet, patterns: pd.DataFrame,
            tactics_of: Mapping[str, Iterable[str]]) -> SequentialRuleMiner:
        """Derive and test the rules; sets ``rules_`` (columns :data:`RULE_COLUMNS`)."""
        owner = type(self).__name__
        if not 0 < self.alpha < 1:
            raise param_error(owner, "alpha", "a number in (0, 1)", self.alpha)
        if not 0 <= self.min_confidence <= 1:
            raise param_error(owner, "min_confidence", "a number in [0, 1]", self.min_confidence)
        policy = self.policy or KillChainPolicy()
        n_groups = max(len(sequences), 1)
        index = {label: i for i, label in enumerate(sequences.vocabulary)}
        together, only_before, single = _pair_counts(
            sequences.items.astype(np.int64), sequences.offsets.astype(np.int64),
            max(len(sequences.vocabulary), 1))
        support_of = dict(zip(patterns["pattern"], patterns["support"], strict=True))
        rules = patterns[patterns["length"] >= 2][["pattern", "length", "support", "tenants"]]
        rules = rules.assign(antecedent=[tuple(p[:-1]) for p in rules["pattern"]],
                             consequent=[p[-1] for p in rules["pattern"]])
        base = rules["antecedent"].map(support_of)
        rules = rules[base.notna()].assign(confidence=rules["support"] / base)
        rules = rules[rules["confidence"] >= self.min_confidence]
        a = np.array([index[p[-2]] for p in rules["pattern"]], dtype=np.int64)
        b = np.array([index[p[-1]] for p in rules["pattern"]], dtype=np.int64)
        step_ok: dict[tuple[str, str], bool] = {}

        def plausible(pattern: tuple[str, ...]) -> bool:
            for pair in zip(pattern, pattern[1:], strict=False):
                if pair not in step_ok:
                    step_ok[pair] = policy.step(tactics_of.get(pair[0], ()),
                                                tactics_of.get(pair[1], ()))
                if not step_ok[pair]:
                    return False
            return True

        rules = rules.assign(
            lift=rules["confidence"] / (single[b] / n_groups),
            order_ab=only_before[a, b], order_ba=only_before[b, a], together=together[a, b],
            n_a=single[a], n_b=single[b],
            plausible=[plausible(tuple(p)) for p in rules["pattern"]],
        )
        ordered = rules["order_ab"] + rules["order_ba"]
        rules["order_share"] = np.where(ordered > 0, rules["order_ab"] / ordered.clip(lower=1),
                                        0.5)
        rules["p_order"] = stats.binom.sf(rules["order_ab"] - 1, ordered, 0.5) \
            if len(rules) else []
        rules["p_cooccurrence"] = stats.hypergeom.sf(
            rules["together"] - 1, n_groups, rules["n_a"], rules["n_b"]) if len(rules) else []
        best_order = 0.5 ** ordered.to_numpy(dtype=float)
        overlap = np.minimum(rules["n_a"], rules["n_b"])
        best_cooc = stats.hypergeom.sf(overlap - 1, n_groups, rules["n_a"], rules["n_b"]) \
            if len(rules) else np.ones(0)
        rules["q_order"] = tarone_bh(rules["p_order"].to_numpy(), best_order, self.alpha)
        rules["q_cooccurrence"] = tarone_bh(rules["p_cooccurrence"].to_numpy(), best_cooc,
                                            self.alpha)
        cooccur = rules["q_cooccurrence"] < self.alpha
        ordered_ok = rules["q_order"] < self.alpha
        rules["kind"] = np.select(
            [cooccur & ordered_ok & rules["plausible"], cooccur & ordered_ok, cooccur],
            ["prevalent", "implausible", "incidental"], default="weak")
        rules = rules.sort_values(["kind", "tenants", "support", "pattern"],
                                  ascending=[True, False, False, True], kind="stable")
        self.rules_ = rules[list(RULE_COLUMNS)].reset_index(drop=True)
        self.n_groups_ = len(sequences)
        return self

    def prevalent(self) -> pd.DataFrame:
        """The rules of kind ``prevalent``."""
        if not hasattr(self, "rules_"):
            raise NotFittedError("SequentialRuleMiner is not fitted: call fit(...) first")
        return self.rules_[self.rules_["kind"] == "prevalent"].reset_index(drop=True)


def tactics_by_alert_type(alerts: pd.DataFrame) -> dict[str, list[str]]:
    """Each alert type's tactics (union over its alerts); at the tactic level use
    ``{t: [t] for t in KILL_CHAIN}``."""
    exploded = alerts[["alert_type", "tactics"]].copy()
    exploded["tactics"] = [list(t) if t is not None else [] for t in exploded["tactics"]]
    exploded = exploded.explode("tactics").dropna()
    return {k: sorted(set(v)) for k, v in exploded.groupby("alert_type")["tactics"]}
