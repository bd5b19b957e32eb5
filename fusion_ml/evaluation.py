"""Evaluation of group scorers on held-out tenants: metrics, three baselines, PR curves.

Every scorer maps :class:`~fusion_ml.dataset.Examples` to one score per example (higher =
more likely an attack progression); its decision threshold is the F1-best one on the
validation split, then applied unchanged to the test split. Baselines, fitted on the same
training split or read from the same (training-tenant) catalog:

* :class:`BagOfTypesBaseline`: logistic regression (scikit-learn) on counts of alert types;
* :class:`RuleScoreBaseline`: the best confidence of a prevalent sequential rule of the
  catalog whose pattern occurs, in order, in the group;
* :class:`CooccurrenceBaseline`: the best confidence of an mlxtend co-occurrence rule of the
  catalog whose items all occur in the group (order-blind).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

from fusion_ml.dataset import Examples
from fusion_ml.nn import best_threshold

if TYPE_CHECKING:  # pragma: no cover
    from fusion_ml.mining.catalog import PatternCatalog

METRIC_COLUMNS = ("scorer", "split", "pr_auc", "roc_auc", "f1", "precision", "recall",
                  "threshold", "positives", "negatives")
"""Columns of the metrics table."""


class GroupScorer(Protocol):
    """Anything that scores examples."""

    name: str

    def score(self, examples: Examples) -> np.ndarray:
        """One score per row of ``examples.labels``."""
        ...


def _sequences(examples: Examples) -> list[list[str]]:
    """Alert types of each example, in time order, in ``examples.labels`` order."""
    by_group = examples.alerts.groupby("group_id", sort=False)["alert_type"].agg(list)
    return [by_group.get(g, []) for g in examples.labels["group_id"]]


class BagOfTypesBaseline:
    """Logistic regression on a bag of alert types (order-blind, catalog-blind)."""

    name = "bag-of-types logistic regression"

    def __init__(self, C: float = 1.0, seed: int = 0) -> None:
        self.C = C
        self.seed = seed

    def fit(self, examples: Examples) -> BagOfTypesBaseline:
        """Fit the vocabulary and the regression on training examples."""
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.linear_model import LogisticRegression

        self.vectorizer_ = CountVectorizer(analyzer=_identity, lowercase=False)
        counts = self.vectorizer_.fit_transform(_sequences(examples))
        self.model_ = LogisticRegression(C=self.C, max_iter=2000, random_state=self.seed,
                                         class_weight="balanced").fit(counts, examples.y)
        return self

    def score(self, examples: Examples) -> np.ndarray:
        """Probability of the attack class."""
        return self.model_.predict_proba(self.vectorizer_.transform(_sequences(examples)))[:, 1]


def _identity(items: list[str]) -> list[str]:
    return items


def _is_subsequence(pattern: tuple[str, ...], sequence: list[str]) -> bool:
    it = iter(sequence)
    return all(item in it for item in pattern)


class RuleScoreBaseline:
    """Best confidence of a prevalent alert-type rule whose pattern occurs in order."""

    name = "best catalog rule"

    def __init__(self, catalog: PatternCatalog) -> None:
        rules = catalog.rules
        rules = rules[(rules["level"] == "alert_type") & (rules["kind"] == "prevalent")]
        self.by_first: dict[str, list[tuple[tuple[str, ...], float]]] = defaultdict(list)
        for pattern, confidence in zip(rules["pattern"], rules["confidence"], strict=True):
            self.by_first[pattern[0]].append((tuple(pattern), float(confidence)))

    def score(self, examples: Examples) -> np.ndarray:
        """Best matching rule confidence per example (0 when none matches)."""
        out = np.zeros(len(examples.labels))
        for i, sequence in enumerate(_sequences(examples)):
            best = 0.0
            for first in set(sequence):
                for pattern, confidence in self.by_first.get(first, ()):
                    if confidence > best and _is_subsequence(pattern, sequence):
                        best = confidence
            out[i] = best
        return out


class CooccurrenceBaseline:
    """Best confidence of a co-occurrence rule (mlxtend fpgrowth + association_rules, kept
    in the catalog) whose items all occur in the group."""

    name = "co-occurrence itemsets (mlxtend)"

    def __init__(self, catalog: PatternCatalog) -> None:
        self.by_first: dict[str, list[tuple[frozenset[str], float]]] = defaultdict(list)
        table = catalog.cooccurrence
        for antecedents, consequents, confidence in zip(
                table["antecedents"], table["consequents"], table["confidence"], strict=True):
            items = frozenset(antecedents) | frozenset(consequents)
            self.by_first[min(items)].append((items, float(confidence)))

    def score(self, examples: Examples) -> np.ndarray:
        """Best matching rule confidence per example (0 when none matches)."""
        out = np.zeros(len(examples.labels))
        for i, sequence in enumerate(_sequences(examples)):
            present = set(sequence)
            best = 0.0
            for first in present:
                for items, confidence in self.by_first.get(first, ()):
                    if confidence > best and items <= present:
                        best = confidence
            out[i] = best
        return out


@dataclass
class Evaluation:
    """Metrics (columns :data:`METRIC_COLUMNS`) and PR curves (``{(scorer, split):
    (recall, precision)}``) of several scorers."""

    metrics: pd.DataFrame
    curves: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]

    def metric(self, scorer: str, split: str, name: str = "pr_auc") -> float:
        """One figure of the table."""
        row = self.metrics[(self.metrics["scorer"] == scorer) & (self.metrics["split"] == split)]
        return float(row[name].iloc[0])


def binary_metrics(y: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """PR-AUC (average precision), ROC-AUC, and F1 / precision / recall at ``threshold``."""
    from sklearn.metrics import (
        average_precision_score,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    both = 0 < y.sum() < len(y)
    predicted = scores >= threshold
    return {
        "pr_auc": float(average_precision_score(y, scores)) if both else float("nan"),
        "roc_auc": float(roc_auc_score(y, scores)) if both else float("nan"),
        "f1": float(f1_score(y, predicted, zero_division=0)),
        "precision": float(precision_score(y, predicted, zero_division=0)),
        "recall": float(recall_score(y, predicted, zero_division=0)),
        "threshold": float(threshold),
        "positives": int(y.sum()),
        "negatives": int(len(y) - y.sum()),
    }


def evaluate_scorers(scorers: list[GroupScorer], validation: Examples,
                     tests: dict[str, Examples],
                     thresholds: dict[str, float] | None = None) -> Evaluation:
    """Score every test split with every scorer; each scorer's threshold is F1-best on
    ``validation`` unless given in ``thresholds`` (by scorer name)."""
    from sklearn.metrics import precision_recall_curve

    rows, curves = [], {}
    for scorer in scorers:
        threshold = (thresholds or {}).get(scorer.name)
        if threshold is None:
            threshold = best_threshold(validation.y, scorer.score(validation))
        for split, examples in tests.items():
            scores = scorer.score(examples)
            y = examples.y
            rows.append({"scorer": scorer.name, "split": split,
                         **binary_metrics(y, scores, threshold)})
            if 0 < y.sum() < len(y):
                precision, recall, _ = precision_recall_curve(y, scores)
                curves[(scorer.name, split)] = (recall, precision)
    return Evaluation(pd.DataFrame(rows, columns=list(METRIC_COLUMNS)), curves)


def plot_pr_curves(evaluation: Evaluation, path: str | Path, title: str = "") -> Path:
    """A PNG with one panel per split: each scorer's precision-recall curve and PR-AUC."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    splits = list(dict.fromkeys(evaluation.metrics["split"]))
    fig, axes = plt.subplots(1, max(len(splits), 1), figsize=(5.5 * max(len(splits), 1), 4.6),
                             squeeze=False)
    for ax, split in zip(axes[0], splits, strict=False):
        for scorer in dict.fromkeys(evaluation.metrics["scorer"]):
            curve = evaluation.curves.get((scorer, split))
            if curve is None:
                continue
            ax.step(curve[0], curve[1], where="post",
                    label=f"{scorer} (PR-AUC {evaluation.metric(scorer, split):.3f})")
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_title(split)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left", fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def format_metrics(metrics: pd.DataFrame) -> str:
    """The metrics table as aligned text (for the CLI and logs)."""
    lines = [f"{'scorer':<36} {'split':<16} {'PR-AUC':>7} {'ROC-AUC':>7} {'F1':>6} "
             f"{'prec':>6} {'recall':>6} {'pos':>5} {'neg':>6}"]
    for row in metrics.itertuples(index=False):
        lines.append(f"{row.scorer:<36} {row.split:<16} {row.pr_auc:>7.3f} {row.roc_auc:>7.3f} "
                     f"{row.f1:>6.3f} {row.precision:>6.3f} {row.recall:>6.3f} "
                     f"{row.positives:>5} {row.negatives:>6}")
    return "\n".join(lines)


class ModelScorer:
    """A :class:`~fusion_ml.nn.SequenceModel` (or anything with ``predict_proba(alerts)`` ->
    Series by ``group_id``) as a scorer."""

    def __init__(self, model, name: str = "sequence model") -> None:
        self.model = model
        self.name = name

    def score(self, examples: Examples) -> np.ndarray:
        """The model's probability per example."""
        scores = self.model.predict_proba(examples.alerts)
        return scores.reindex(examples.labels["group_id"].astype(str)).to_numpy(dtype=float)
