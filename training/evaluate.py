"""Scores of every member and of the blend on one split: per 3-second segment and per track."""

from __future__ import annotations

from typing import Any

import numpy as np

from gtzan.blend import weighted_probs
from gtzan.constants import GENRES

from .dataset import FeatureTable
from .ensemble import blend_labels
from .pipeline import TrainedModels

__all__ = [
    "REPORTED",
    "confusion_matrix",
    "evaluate",
    "log_loss",
    "score_predictions",
    "track_means",
    "track_sums",
    "track_votes",
]

# The report's accuracies (random 80/20 split of the 1000-track, 10,000-row 3-second table).
REPORTED = {
    "numpy_net": 0.8774,
    "keras": 0.9434,
    "blend": 0.9585,
    "xgb": 0.8972,
    "rf": 0.8222,
    "knn": 0.8145,
}
K = len(GENRES)


def log_loss(y: np.ndarray, p: np.ndarray, eps: float = 1e-15) -> float:
    p = np.clip(np.asarray(p, dtype=np.float64), eps, 1.0)
    p = p / p.sum(axis=1, keepdims=True)
    return float(-np.mean(np.log(p[np.arange(len(y)), y])))


def confusion_matrix(y: np.ndarray, pred: np.ndarray, k: int = K) -> np.ndarray:
    """Rows: true genre, columns: predicted genre (all k genres, present or not)."""
    from sklearn.metrics import confusion_matrix as sk_confusion_matrix

    return sk_confusion_matrix(y, pred, labels=np.arange(k))


def track_sums(tracks: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per track (sorted names): the summed probabilities of its windows, their count, its first row."""
    names, first, inv, counts = np.unique(tracks, return_index=True, return_inverse=True, return_counts=True)
    psum = np.zeros((names.size, probs.shape[1]))
    np.add.at(psum, inv.ravel(), probs)
    return names, psum, counts, first


def track_means(tracks: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A track's verdict as gtzan-listen gives it: the genre of highest mean probability over its windows
    (ties to the lower genre index).

    Returns (track names, predicted genre per track, row index of each track's first window).
    """
    names, psum, _, first = track_sums(tracks, probs)
    return names, psum.argmax(axis=1), first


def track_votes(tracks: np.ndarray, pred: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Majority vote of a track's windows (ties: higher summed probability, then lower genre index).

    Returns (track names, predicted genre per track, row index of each track's first window).
    """
    names, first, inv = np.unique(tracks, return_index=True, return_inverse=True)
    counts = np.zeros((names.size, probs.shape[1]))
    np.add.at(counts, (inv.ravel(), pred), 1.0)
    psum = np.zeros_like(counts)
    np.add.at(psum, inv.ravel(), probs)
    top = counts == counts.max(axis=1, keepdims=True)
    return names, np.where(top, psum, -np.inf).argmax(axis=1), first


def score_predictions(y: np.ndarray, pred: np.ndarray, probs: np.ndarray, tracks: np.ndarray) -> dict[str, Any]:
    """Segment accuracy, log-loss, track accuracy, per-genre recall and confusion matrix.

    ``track_accuracy`` uses the listener's rule (highest mean of ``probs``, which should be the
    probabilities it shows: calibrated, for a blend); ``track_accuracy_majority`` the majority of the
    windows' labels ``pred``, the rule before.
    """
    y = np.asarray(y)
    cm = confusion_matrix(y, pred)
    support = cm.sum(axis=1)
    recall = {g: (float(cm[i, i] / support[i]) if support[i] else None) for i, g in enumerate(GENRES)}
    names, tpred, first = track_means(tracks, probs)
    ty = y[first]
    _, tvote, _ = track_votes(tracks, pred, probs)
    return {
        "rows": int(y.size),
        "accuracy": float(np.mean(pred == y)),
        "log_loss": log_loss(y, probs),
        "tracks": int(names.size),
        "track_accuracy": float(np.mean(tpred == ty)),
        "track_accuracy_majority": float(np.mean(tvote == ty)),
        "recall": recall,
        "confusion": cm.tolist(),
        "track_confusion": confusion_matrix(ty, tpred).tolist(),
    }


def evaluate(models: TrainedModels, table: FeatureTable, parts: tuple[str, ...] = ("val", "test")) -> dict[str, Any]:
    """Scores per model and per blend on the given parts of ``models.split``.

    ``blend`` is the blend chosen on validation (its rule and weights), ``blend_vote`` and ``blend_mean``
    each rule with its own validation-tuned weights. A blend's log-loss uses its weighted probabilities
    ``sum w_i p_i / sum w`` (vote shares put zero on most genres). ``blend_test_tuned`` is the report's
    procedure and is optimistic.
    """
    split = models.split
    out: dict[str, Any] = {
        "protocol": split.protocol,
        "note": split.note,
        "seed": split.seed,
        "quick": models.quick,
        "split": split.summary(table),
        "blend_members": list(models.blend_members),
        "blend_rule": models.choice.rule,
        "rule_val_accuracy": dict(models.choice.oof_accuracy),
        "weights_by_rule": {r: dict(w) for r, w in models.choice.searched.items()},
        "temperature": models.choice.temperature,
        "weights": dict(models.weights),
        "weights_test_tuned": dict(models.weights_test_tuned),
        "blend_search_seconds": {k: v["seconds"] for k, v in models.search.items()},
        "blend_search_history": {
            k: [{**h, "weights": list(h["weights"])} for h in v["history"]] for k, v in models.search.items()
        },
        "members": {m.name: {"kind": m.kind, "params": m.params, "seconds": m.seconds} for m in models.members},
        "histories": {m.name: m.history for m in models.members if m.history},
        "scores": {},
    }
    for part in parts:
        idx = split.parts()[part]
        X, y, tracks = table.X[idx], table.y[idx], table.tracks[idx]
        probs = {m.name: m.predict_proba(X) for m in models.members}
        scores = {name: score_predictions(y, p.argmax(axis=1), p, tracks) for name, p in probs.items()}
        stack = np.stack([probs[n] for n in models.blend_members])
        ch = models.choice
        blends = {
            "blend_vote": ("vote", ch.searched["vote"]),
            "blend_mean": ("mean", ch.searched["mean"]),
            "blend_test_tuned": ("vote", models.weights_test_tuned),
        }
        for label, (rule, w) in blends.items():
            wv = [w[n] for n in models.blend_members]
            scores[label] = score_predictions(y, blend_labels(stack, wv, rule), weighted_probs(stack, wv), tracks)
        scores["blend"] = scores[f"blend_{ch.rule}"]  # the chosen rule with its own weights
        out["scores"][part] = scores
    return out
