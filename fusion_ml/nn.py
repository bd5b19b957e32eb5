"""The sequence model: a small Transformer encoder over the alerts of a candidate group that
scores how likely the group is an attack progression.

Per alert, an embedding of its alert type and provider is concatenated with its dense
features (:mod:`fusion_ml.features`), projected, and given a learned position embedding; a
masked Transformer encoder contextualizes the group. The group logit is an attention-weighted
sum of per-alert evidence, each alert's state concatenated with a summary of the whole group (mean
and maximum of its dense features, and its size)::

    logit = bias + sum_i a_i * s_i      (a = softmax over the group's alerts)

so ``a_i * s_i`` is alert ``i``'s exact contribution to the logit, which
:meth:`SequenceModel.explain` returns. During training alert types are replaced by ``UNK``
with probability ``type_dropout``, which teaches the model to score unknown alert types
through their other features. A share ``novelty_dropout`` of the training groups is shown as
if its playbook were new: every alert type ``UNK`` and no alert-type evidence from the catalog
(rules between tactics stay). Without it the model leans on the catalog, which was mined on
the same training tenants and knows every seen playbook's transitions, and scores a new
playbook's progression, whose transitions it never saw, as benign (see ``ModelConfig``).
Early stopping judges, keeps and ships an exponential moving average of the weights
(``ema_decay``), which is steadier than the weights after any one epoch.

A second head reads the same per-alert states and is trained, next to the group loss, to tell
whether each alert belongs to the attack (``alert_score``; the incident builder keeps an
incident's chain to the alerts it accepts). Benign alerts inside attack groups weigh
``bystander_weight`` times more in that loss, so that an alert which merely shares the victim's
host or account is not taken for part of the attack.

:class:`SequenceModel` is the estimator (``fit``, ``predict_proba``, ``explain``, ``save``,
``load``); weights are a ``state_dict`` loaded with ``torch.load(weights_only=True)``, the rest
is JSON.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from fusion_ml.dataset import ALERT_LABEL
from fusion_ml.errors import ConfigError, NotFittedError, SchemaError, param_error
from fusion_ml.features import PAD, UNK, EncodedGroups, FeatureEncoder
from fusion_ml.incident_config import IncidentConfig

log = logging.getLogger(__name__)

CONFIG_FILE = "model.json"
WEIGHTS_FILE = "weights.pt"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ModelConfig:
    """Hyperparameters of :class:`SequenceModel`."""

    d_model: int = 48
    layers: int = 2
    heads: int = 4
    type_dim: int = 24
    provider_dim: int = 8
    dropout: float = 0.1
    type_dropout: float = 0.15
    novelty_dropout: float = 0.5
    """Share of training groups shown as if their playbook were new: every alert type
    ``UNK`` and no alert-type rule evidence from the catalog (see the module docstring). On
    the demo month, together with the late-start positives of :mod:`fusion_ml.dataset`, 0.5
    lifts the held-out-playbook PR-AUC from 0.76-0.86 to 0.87-0.90 (model seeds 0-2); without
    late-start positives it scored more benign groups high (4-41% incidents without an attack
    alert at a fixed 0.5 threshold over four seeds) and reached 0.78-0.82. 0 turns it off."""
    max_length: int = 64
    """Longer groups keep their first ``max_length`` alerts for scoring."""
    batch_size: int = 128
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    max_epochs: int = 60
    patience: int = 8
    """Epochs without a better validation PR-AUC before training stops."""
    max_seconds: float = 100.0
    """Wall-time budget of one fit; training stops after the epoch that passes it."""
    negative_ratio: float | None = 5.0
    """At most this many negatives per positive in each epoch (drawn afresh per epoch);
    ``None`` keeps all."""
    alert_loss_weight: float = 0.5
    """Weight of the per-alert auxiliary loss (0 turns it off)."""
    bystander_weight: float = 40.0
    """Weight, in the per-alert loss, of the benign alerts inside attack groups (bystanders
    that share an entity with the campaign, a few per attack group). With weight 1 the head
    learns "in an attack group, so part of the attack" and scores them near 1, and one of
    them in a short chain breaks its purity; 40 (chosen on the demo month: 10, 20, 40, 80)
    teaches it to keep them out."""
    ema_decay: float = 0.995
    """Validate, keep and score an exponential moving average of the weights, updated after
    every optimizer step with this decay (after a warm-up, see ``_WeightAverage``; 0: the raw
    weights). The raw weights after an epoch swing with its last batches; the average smooths
    them out. On the demo month (split 0, model seeds 0-3) it lifted the held-out-tenant
    PR-AUC from 0.982-0.987 to 0.988-0.991, the held-out-playbook PR-AUC from 0.851-0.896 to
    0.901-0.903 and campaigns detected from 92.9-93.9% to 94.2-95.9%."""
    incident_precision: float = 0.95
    """Validation precision the incident threshold (``incident_threshold_``) aims at: the
    lowest validation score reaching it. It used to be floored at the F1-best ``threshold_``,
    which on a validation set full of hard negatives sat at 0.79-0.99 and left campaigns
    scored 0.91-0.98 out of incidents (see the README)."""
    seed: int = 0
    threads: int | None = 1
    """torch intra-op threads during fit and scoring (``None``: torch's default). One thread
    is the default: these tensors are small, and on a busy 2-core machine two OpenMP threads
    spin against each other (measured 2-5x slower)."""

    def validate(self) -> ModelConfig:
        """Check every parameter; returns ``self``."""
        owner = type(self).__name__
        for name in ("d_model", "layers", "heads", "type_dim", "provider_dim", "max_length",
                     "batch_size", "max_epochs", "patience"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (
                    0 if name == "max_epochs" else 1):
                raise param_error(owner, name, "a positive int", value)
        if self.d_model % self.heads:
            raise param_error(owner, "d_model", f"a multiple of heads ({self.heads})",
                              self.d_model)
        if not 0 < self.incident_precision <= 1:
            raise param_error(owner, "incident_precision", "a number in (0, 1]",
                              self.incident_precision)
        for name in ("dropout", "type_dropout", "novelty_dropout", "ema_decay"):
            if not 0 <= getattr(self, name) < 1:
                raise param_error(owner, name, "a number in [0, 1)", getattr(self, name))
        if not self.bystander_weight >= 0:
            raise param_error(owner, "bystander_weight", "a number >= 0", self.bystander_weight)
        for name in ("learning_rate", "max_seconds"):
            if not getattr(self, name) > 0:
                raise param_error(owner, name, "a number > 0", getattr(self, name))
        if self.negative_ratio is not None and not self.negative_ratio > 0:
            raise param_error(owner, "negative_ratio", "a number > 0 or None",
                              self.negative_ratio)
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain values (JSON)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict` (unknown keys are an error)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"model config: unknown keys {unknown}; expected some of "
                              f"{sorted(known)}")
        return cls(**data)


class GroupClassifier(nn.Module):
    """The network (see the module docstring)."""

    def __init__(self, n_types: int, n_providers: int, n_dense: int, config: ModelConfig):
        super().__init__()
        self.type_embedding = nn.Embedding(n_types, config.type_dim, padding_idx=PAD)
        self.provider_embedding = nn.Embedding(n_providers, config.provider_dim,
                                               padding_idx=PAD)
        self.project = nn.Linear(config.type_dim + config.provider_dim + n_dense,
                                 config.d_model)
        self.position = nn.Embedding(config.max_length, config.d_model)
        layer = nn.TransformerEncoderLayer(config.d_model, config.heads, 2 * config.d_model,
                                           config.dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.summary = nn.Sequential(nn.Linear(2 * n_dense + 1, config.d_model), nn.GELU())
        self.evidence = nn.Sequential(nn.Linear(2 * config.d_model, config.d_model), nn.GELU(),
                                      nn.Linear(config.d_model, 1))
        self.attention = nn.Linear(2 * config.d_model, 1)
        self.alert_head = nn.Linear(2 * config.d_model, 1)

    def forward(self, type_ids: torch.Tensor, provider_ids: torch.Tensor, dense: torch.Tensor,
                mask: torch.Tensor, alert_logits: bool = False):
        """Group logits ``[B]`` and per-alert contributions ``[B, L]`` (0 on padding);
        ``mask`` is True on real alerts. With ``alert_logits``, also the auxiliary per-alert
        logits (is this alert part of an attack?) used as a training signal."""
        x = torch.cat([self.type_embedding(type_ids), self.provider_embedding(provider_ids),
                       dense], dim=-1)
        positions = torch.arange(type_ids.shape[1], device=type_ids.device)
        h = self.project(x) + self.position(positions)[None]
        h = self.encoder(h, src_key_padding_mask=~mask)
        real = mask.unsqueeze(-1).float()
        count = real.sum(dim=1).clamp(min=1.0)
        summary = torch.cat([(dense * real).sum(dim=1) / count,
                             dense.masked_fill(~mask.unsqueeze(-1), -1e4).amax(dim=1),
                             torch.log1p(count) / 4.0], dim=-1)
        h = torch.cat([h, self.summary(summary)[:, None].expand(-1, h.shape[1], -1)], dim=-1)
        scores = self.evidence(h).squeeze(-1)
        weights = self.attention(h).squeeze(-1).masked_fill(~mask, -1e9).softmax(dim=-1)
        contributions = (weights * scores).masked_fill(~mask, 0.0)
        if alert_logits:
            return contributions.sum(dim=-1), contributions, self.alert_head(h).squeeze(-1)
        return contributions.sum(dim=-1), contributions


def _positions(encoded: EncodedGroups, index: np.ndarray, max_length: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """Row positions ``[B, L]`` of the alerts of the groups at ``index`` (first ``max_length``
    of each) and the mask of real alerts."""
    lengths = np.minimum(encoded.lengths[index], max_length)
    width = max(int(lengths.max()) if len(index) else 1, 1)
    steps = np.arange(width)
    mask = steps[None, :] < lengths[:, None]
    positions = np.where(mask, encoded.offsets[index][:, None] + steps[None, :], 0)
    return positions, mask


def _batch(encoded: EncodedGroups, index: np.ndarray, max_length: int
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Padded tensors for the groups at ``index``."""
    positions, mask = _positions(encoded, index, max_length)
    type_ids = np.where(mask, encoded.type_ids[positions], PAD)
    provider_ids = np.where(mask, encoded.provider_ids[positions], PAD)
    dense = encoded.dense[positions] * mask[..., None]
    return (torch.from_numpy(type_ids), torch.from_numpy(provider_ids),
            torch.from_numpy(dense.astype(np.float32, copy=False)), torch.from_numpy(mask))


def _batches(encoded: EncodedGroups, index: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """``index`` cut into batches of similar length (less padding)."""
    ordered = index[np.argsort(encoded.lengths[index], kind="stable")]
    return [ordered[i:i + batch_size] for i in range(0, len(ordered), batch_size)]


class _WeightAverage:
    """An exponential moving average of a network's weights: after update ``n`` each weight
    moves ``1 - d`` of the way to the network's, ``d = min(decay, (1 + n) / (10 + n))`` (the
    warm-up lets the average follow the fast early changes instead of staying near the
    initial weights on short fits)."""

    def __init__(self, network: nn.Module, decay: float) -> None:
        self.module = copy.deepcopy(network)
        self.decay = decay
        self.updates = 0

    def update(self, network: nn.Module) -> None:
        """Move the average towards ``network``'s current weights."""
        self.updates += 1
        weight = 1.0 - min(self.decay, (1 + self.updates) / (10 + self.updates))
        with torch.no_grad():
            for average, current in zip(self.module.parameters(), network.parameters(),
                                        strict=True):
                average.lerp_(current, weight)


class _Threads:
    """Set torch's intra-op threads for a block (restored afterwards)."""

    def __init__(self, threads: int | None) -> None:
        self.threads = threads

    def __enter__(self) -> None:
        self.before = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.before)


class SequenceModel:
    """Estimator over grouped alerts (see the module docstring).

    ``fit(alerts, y, validation=(alerts, y), catalog=None)``: ``alerts`` hold the member alerts
    of the training groups (``group_id`` per alert) and ``y`` one label per group, a Series
    indexed by ``group_id``. Early stopping keeps the weights of the epoch with the best
    validation PR-AUC; the decision ``threshold_`` maximizes F1 on the validation groups, and
    ``incident_threshold_`` (what incidents use by default) is the lowest score at which the
    validation precision reaches ``incident_precision`` (``threshold_`` when none does).
    """

    def __init__(self, config: ModelConfig | None = None,
                 encoder: FeatureEncoder | None = None) -> None:
        self.config = config or ModelConfig()
        self.encoder = encoder

    # -- training --------------------------------------------------------------------------
    def fit(self, alerts: pd.DataFrame, y: pd.Series,
            validation: tuple[pd.DataFrame, pd.Series], catalog=None,
            progress: bool = False) -> SequenceModel:
        """Train (see the class docstring); sets ``network_``, ``encoder_``,
        ``threshold_``, ``history_`` (one dict per epoch) and ``best_epoch_``.

        When ``alerts`` has an :data:`ALERT_LABEL` column (1 for alerts that belong to an
        attack, as :func:`fusion_ml.dataset.label_groups` adds), a per-alert auxiliary loss
        (weight ``alert_loss_weight``) teaches each alert's state whether it is part of an
        attack."""
        from sklearn.metrics import average_precision_score

        config = self.config.validate()
        rng = np.random.default_rng(config.seed)
        torch_rng = torch.Generator().manual_seed(config.seed)
        encoder = copy.deepcopy(self.encoder) if self.encoder is not None else FeatureEncoder()
        self.encoder_ = encoder.fit(alerts, catalog)
        train = self.encoder_.transform(alerts)
        train_y = _labels_for(train, y, "training")
        alert_y = _alert_labels(alerts, train) if config.alert_loss_weight > 0 else None
        if alert_y is not None:
            alert_y = torch.from_numpy(alert_y)
        val = self.encoder_.transform(validation[0])
        val_y = _labels_for(val, validation[1], "validation")
        val_alert_y = _alert_labels(validation[0], val)
        if train_y.min() == train_y.max():
            raise ConfigError("training labels: expected both classes, got only "
                              f"{int(train_y[0])}")
        with _Threads(config.threads):
            torch.manual_seed(config.seed)  # parameter init; reseeded per fit, not at import
            network = GroupClassifier(len(self.encoder_.types_), len(self.encoder_.providers_),
                                      self.encoder_.n_dense, config)
            optimizer = torch.optim.AdamW(network.parameters(), lr=config.learning_rate,
                                          weight_decay=config.weight_decay)
            positives = np.flatnonzero(train_y == 1)
            negatives = np.flatnonzero(train_y == 0)
            type_evidence = torch.zeros(self.encoder_.n_dense, dtype=torch.bool)
            type_evidence[list(self.encoder_.type_evidence_columns)] = True
            pos_weight = 1.0
            average = _WeightAverage(network, config.ema_decay) if config.ema_decay else None
            best, best_state, stale = -1.0, None, 0
            history = []
            started = time.perf_counter()
            for epoch in range(config.max_epochs):
                network.train()
                chosen = negatives
                if config.negative_ratio is not None:
                    limit = int(config.negative_ratio * max(len(positives), 1))
                    if len(negatives) > limit:
                        chosen = rng.choice(negatives, limit, replace=False)
                index = np.concatenate([positives, chosen])
                pos_weight = len(chosen) / max(len(positives), 1)
                batches = _batches(train, index, config.batch_size)
                rng.shuffle(batches)
                loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(min(pos_weight, 10.0)))
                total = 0.0
                for batch in batches:
                    type_ids, provider_ids, dense, mask = _batch(train, batch, config.max_length)
                    if config.type_dropout:
                        drop = torch.rand(type_ids.shape, generator=torch_rng) < \
                            config.type_dropout
                        type_ids = type_ids.masked_fill(drop & mask, UNK)
                    if config.novelty_dropout:
                        novel = torch.rand(len(batch), generator=torch_rng) < \
                            config.novelty_dropout
                        type_ids = type_ids.masked_fill(novel[:, None] & mask, UNK)
                        dense = dense.masked_fill(novel[:, None, None] & type_evidence, 0.0)
                    logits, _, per_alert = network(type_ids, provider_ids, dense, mask,
                                                   alert_logits=True)
                    loss = loss_fn(logits, torch.from_numpy(train_y[batch]).float())
                    if alert_y is not None:
                        positions, _ = _positions(train, batch, config.max_length)
                        target = alert_y[torch.from_numpy(positions)]
                        in_attack = torch.from_numpy(train_y[batch] == 1)[:, None]
                        weight = torch.ones_like(target).masked_fill(
                            in_attack & (target == 0), config.bystander_weight)
                        aux = nn.functional.binary_cross_entropy_with_logits(
                            per_alert[mask], target[mask], weight=weight[mask])
                        loss = loss + config.alert_loss_weight * aux
                    optimizer.zero_grad()
                    loss.backward()
                    nn.utils.clip_grad_norm_(network.parameters(), 1.0)
                    optimizer.step()
                    if average is not None:
                        average.update(network)
                    total += float(loss.detach()) * len(batch)
                judged = average.module if average is not None else network  # what is kept
                logits, _, val_alert = _forward_all(judged, val, config)
                scores = _sigmoid(logits)
                pr_auc = float(average_precision_score(val_y, scores)) if val_y.max() > 0 \
                    else float("nan")
                elapsed = time.perf_counter() - started
                history.append({"epoch": epoch + 1, "loss": total / max(len(index), 1),
                                "val_pr_auc": pr_auc, "seconds": round(elapsed, 2)})
                if val_alert_y is not None:
                    history[-1]["val_pure_chains"] = pure_chain_rate(val, val_y, val_alert_y,
                                                                     val_alert)
                if progress:
                    log.info("epoch %d: loss %.4f, validation PR-AUC %.4f (%.0f s)", epoch + 1,
                             history[-1]["loss"], pr_auc, elapsed)
                if pr_auc > best + 1e-4 or best_state is None:
                    best, stale = pr_auc, 0
                    best_state = copy.deepcopy(judged.state_dict())
                    self.best_epoch_ = epoch + 1
                else:
                    stale += 1
                if stale >= config.patience or elapsed > config.max_seconds:
                    break
            if best_state is not None:
                network.load_state_dict(best_state)
            else:
                self.best_epoch_ = 0
            network.eval()
            self.network_ = network
            self.history_ = history
            val_scores = _predict(network, val, config)
            self.threshold_ = best_threshold(val_y, val_scores)
            self.incident_threshold_ = precision_threshold(
                val_y, val_scores, config.incident_precision, self.threshold_)
        return self

    # -- inference -------------------------------------------------------------------------
    def _check(self) -> None:
        if not hasattr(self, "network_"):
            raise NotFittedError("SequenceModel is not fitted: call fit(...) or load(...) first")

    def predict_proba(self, alerts: pd.DataFrame) -> pd.Series:
        """Attack-progression probability per group (Series indexed by ``group_id``, in the
        order groups first appear when sorted by id)."""
        self._check()
        encoded = self.encoder_.transform(alerts)
        with _Threads(self.config.threads):
            scores = _predict(self.network_, encoded, self.config)
        return pd.Series(scores, index=pd.Index(encoded.group_ids, name="group_id"),
                         name="score")

    def explain(self, alerts: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
        """Group scores (as :meth:`predict_proba`) and, per alert, ``group_id``, ``alert_id``,
        ``row`` (its position in ``alerts``), ``position`` (in its group, by time),
        ``contribution`` (its exact share of the group's logit) and ``alert_score`` (the
        auxiliary head's probability that the alert is part of an attack; meaningful when
        the model was trained with per-alert labels). Alerts past ``max_length`` get 0."""
        self._check()
        encoded = self.encoder_.transform(alerts)
        with _Threads(self.config.threads):
            logits, contributions, alert_scores = _forward_all(self.network_, encoded,
                                                               self.config)
        lengths = encoded.lengths
        scores = pd.Series(_sigmoid(logits), index=pd.Index(encoded.group_ids, name="group_id"),
                           name="score")
        per_alert = pd.DataFrame({
            "group_id": np.repeat(encoded.group_ids, lengths),
            "alert_id": encoded.alert_ids,
            "row": encoded.rows,
            "position": np.arange(len(encoded.alert_ids)) - np.repeat(encoded.offsets[:-1],
                                                                      lengths),
            "contribution": contributions,
            "alert_score": alert_scores,
        })
        return scores, per_alert

    # -- persistence -----------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write ``model.json`` (config, encoder, threshold, history) and ``weights.pt``."""
        self._check()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(self.network_.state_dict(), folder / WEIGHTS_FILE)
        state = {"schema_version": SCHEMA_VERSION, "config": self.config.to_dict(),
                 "encoder": self.encoder_.to_dict(), "threshold": self.threshold_,
                 "incident_threshold": self.incident_threshold_,
                 "best_epoch": self.best_epoch_, "history": self.history_}
        (folder / CONFIG_FILE).write_text(json.dumps(state, indent=1))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> SequenceModel:
        """Read a folder written by :meth:`save` (weights with ``weights_only=True``)."""
        folder = Path(folder)
        for name in (CONFIG_FILE, WEIGHTS_FILE):
            if not (folder / name).exists():
                raise SchemaError(f"{folder}: expected a saved sequence model, missing {name}")
        state = json.loads((folder / CONFIG_FILE).read_text())
        if state.get("schema_version") != SCHEMA_VERSION:
            raise SchemaError(f"{folder / CONFIG_FILE}: expected schema_version "
                              f"{SCHEMA_VERSION}, got {state.get('schema_version')!r}")
        model = cls(ModelConfig.from_dict(state["config"]))
        model.encoder_ = FeatureEncoder.from_dict(state["encoder"])
        network = GroupClassifier(len(model.encoder_.types_), len(model.encoder_.providers_),
                                  model.encoder_.n_dense, model.config)
        network.load_state_dict(torch.load(folder / WEIGHTS_FILE, weights_only=True,
                                           map_location="cpu"))
        network.eval()
        model.network_ = network
        model.threshold_ = float(state["threshold"])
        model.incident_threshold_ = float(state.get("incident_threshold", model.threshold_))
        model.best_epoch_ = state["best_epoch"]
        model.history_ = state["history"]
        return model


def _labels_for(encoded: EncodedGroups, y: pd.Series, name: str) -> np.ndarray:
    """Labels aligned to ``encoded``'s groups; every group needs one."""
    aligned = pd.Series(y).reindex(encoded.group_ids)
    if aligned.isna().any():
        missing = aligned.index[aligned.isna()][:3].tolist()
        raise SchemaError(f"{name} labels: expected one label per group_id, none for {missing}")
    return aligned.to_numpy(dtype=np.int64)


def _alert_labels(alerts: pd.DataFrame, encoded: EncodedGroups) -> np.ndarray | None:
    """The :data:`ALERT_LABEL` column (1: the alert belongs to an attack) in ``encoded``'s
    row order, or ``None`` when ``alerts`` has none."""
    if ALERT_LABEL not in alerts.columns:
        return None
    return pd.to_numeric(alerts[ALERT_LABEL]).fillna(0).to_numpy(np.float32)[encoded.rows]


def _forward_all(network: GroupClassifier, encoded: EncodedGroups, config: ModelConfig
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logits per group; contributions and auxiliary attack probabilities per alert (row
    order of ``encoded``; alerts past ``max_length`` get 0)."""
    logits = np.zeros(len(encoded), np.float32)
    contributions = np.zeros(len(encoded.type_ids), np.float32)
    alert_scores = np.zeros(len(encoded.type_ids), np.float32)
    if not len(encoded):
        return logits, contributions, alert_scores
    network.eval()
    with torch.inference_mode():
        for batch in _batches(encoded, np.arange(len(encoded)), 512):
            tensors = _batch(encoded, batch, config.max_length)
            out, per_alert, alert_logits = network(*tensors, alert_logits=True)
            logits[batch] = out.numpy()
            positions, mask = _positions(encoded, batch, config.max_length)
            contributions[positions[mask]] = per_alert.numpy()[mask]
            alert_scores[positions[mask]] = torch.sigmoid(alert_logits).numpy()[mask]
    return logits, contributions, alert_scores


def pure_chain_rate(encoded: EncodedGroups, y: np.ndarray, alert_y: np.ndarray,
                    alert_scores: np.ndarray,
                    alert_threshold: float = IncidentConfig.alert_threshold,
                    min_purity: float = 0.9, min_coverage: float = 0.5) -> float:
    """Share of the attack groups (``y == 1``) whose chain, as the incident builder takes it
    (alerts with ``alert_scores`` >= ``alert_threshold``, by default the incidents' default,
    at least the best two), is at least
    ``min_purity`` attack alerts (``alert_y``) and holds at least ``min_coverage`` of the
    group's attack alerts; ``alert_y`` and ``alert_scores`` in ``encoded``'s row order."""
    lengths = encoded.lengths
    group = np.repeat(np.arange(len(encoded)), lengths)
    order = np.lexsort((-alert_scores, group))
    rank = np.empty(len(group), np.int64)
    rank[order] = np.arange(len(group)) - np.repeat(encoded.offsets[:-1], lengths)
    chain = (alert_scores >= alert_threshold) | (rank < 2)
    size = np.bincount(group, chain, len(encoded))
    hits = np.bincount(group, chain & (alert_y == 1), len(encoded))
    attack = np.bincount(group, alert_y == 1, len(encoded))
    ok = (hits >= min_purity * size) & (hits >= min_coverage * attack)
    positive = y == 1
    return float(ok[positive].mean()) if positive.any() else float("nan")


def _predict(network: GroupClassifier, encoded: EncodedGroups, config: ModelConfig
             ) -> np.ndarray:
    return _sigmoid(_forward_all(network, encoded, config)[0])


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))


def precision_threshold(y: np.ndarray, scores: np.ndarray, precision: float,
                        fallback: float) -> float:
    """The lowest score threshold whose precision on ``(y, scores)`` reaches ``precision``
    (``fallback`` when none does or there are no positives)."""
    from sklearn.metrics import precision_recall_curve

    if len(y) == 0 or y.max() == 0:
        return fallback
    values, _, thresholds = precision_recall_curve(y, scores)
    reached = np.flatnonzero(values[:-1] >= precision)
    return float(thresholds[reached[0]]) if len(reached) else fallback


def best_threshold(y: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold that maximizes F1 on ``(y, scores)`` (0.5 without positives)."""
    from sklearn.metrics import precision_recall_curve

    if len(y) == 0 or y.max() == 0:
        return 0.5
    precision, recall, thresholds = precision_recall_curve(y, scores)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    best = int(np.argmax(f1[:-1])) if len(thresholds) else 0
    value = float(thresholds[best]) if len(thresholds) else 0.5
    return value if math.isfinite(value) else 0.5
