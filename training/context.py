"""Would a 30-second context model read a track better than averaging the 3-second blend over it?

A model trained on the 30 s table (``features_30_sec.csv``: the 58 features of a whole 30 s clip, one
row a track) sees a track's statistics over its whole length, which the 3 s members never do. This
measures it in the cross-validation's own track folds: each fold's 30 s model is fitted on the 30 s
rows of the other folds' tracks and predicts the fold's tracks. Three track verdicts are compared on
the tracks of the 3 s table:

- ``averaged``: the genre of highest mean calibrated blend probability over the track's 3 s windows
  (the nested blend: weights and temperature chosen on the other folds), as gtzan-listen sums a file up;
- ``context``: the 30 s model alone;
- ``combined``: ``(1 - a) * averaged + a * context``, the share ``a`` chosen on the other folds' tracks.

The same three are measured on our own windows of the audio tracks, where the listener's pooled 30 s
rows (gtzan.context.pool_windows of a track's windows) take the 30 s table's place: the shift from the
older librosa's 30 s rows to what the listener feeds the model. The model trains with ``length`` set to
one value (gtzan.context.with_context_length). gtzan-export ships it (:func:`fit_context`) with the share
that reads the most table tracks right out of fold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gtzan.context import pool_windows, with_context_length

from .dataset import FeatureTable
from .evaluate import track_sums

__all__ = ["SHARES", "OurRows", "context_comparison", "fit_context"]

SHARES = tuple(round(0.1 * i, 1) for i in range(11))  # the context model's share a, searched per fold


def _model(quick: bool, seed: int) -> Any:
    from xgboost import XGBClassifier

    return XGBClassifier(
        n_estimators=30 if quick else 300,
        learning_rate=0.05,
        max_depth=4,
        subsample=0.8,
        colsample_bytree=0.8,
        n_jobs=2,
        random_state=seed,
        tree_method="hist",
    )


def fit_context(context: FeatureTable, *, quick: bool = False, seed: int = 0) -> Any:
    """The context model on every 30 s row (what gtzan-export ships)."""
    return _model(quick, seed).fit(with_context_length(context.X), context.y)


def model_text(quick: bool) -> str:
    return (
        f"XGBoost on the 30 s table's rows ({30 if quick else 300} rounds, learning rate 0.05, depth 4; "
        "length set to one value)"
    )


@dataclass(frozen=True)
class OurRows:
    """Our own windows of the audio tracks: their track, fold, features (as the members saw them) and
    out-of-fold calibrated blend probabilities."""

    tracks: np.ndarray
    folds: np.ndarray
    X: np.ndarray
    probs: np.ndarray
    y: np.ndarray


def _ours(ours: OurRows, models: dict[int, Any], shares: dict[int, float]) -> dict[str, Any]:
    """The three verdicts on our windows' tracks, each track's windows pooled into its 30 s row."""
    names, sums, counts, first = track_sums(ours.tracks, ours.probs)
    avg = sums / counts[:, None]
    y = ours.y[first]
    tf = ours.folds[first]
    pooled = np.stack([pool_windows(ours.X[ours.tracks == t]) for t in names])
    ctx = np.zeros_like(avg)
    for f in np.unique(tf):
        own = tf == f
        ctx[own] = models[int(f)].predict_proba(pooled[own])
    a = np.array([shares[int(f)] for f in tf])[:, None]
    verdicts = {"averaged": avg, "context": ctx, "combined": (1 - a) * avg + a * ctx}
    return {
        "tracks": int(names.size),
        "accuracy": {k: float(np.mean(v.argmax(axis=1) == y)) for k, v in verdicts.items()},
        "right": {k: int(np.sum(v.argmax(axis=1) == y)) for k, v in verdicts.items()},
    }


def _best_share(avg: np.ndarray, ctx: np.ndarray, y: np.ndarray) -> float:
    """The share of the context model that reads the most tracks right (the smaller share on a tie)."""
    accs = [np.mean(((1 - a) * avg + a * ctx).argmax(axis=1) == y) for a in SHARES]
    return SHARES[int(np.argmax(accs))]


def context_comparison(
    context: FeatureTable,
    tracks: np.ndarray,
    folds: np.ndarray,
    probs: np.ndarray,
    *,
    quick: bool = False,
    seed: int = 0,
    ours: OurRows | None = None,
) -> dict[str, Any]:
    """Track accuracies of the three verdicts (module docstring), overall and per fold, and the share to ship.

    ``tracks``, ``folds`` and ``probs`` are the 3 s rows to average (their track, fold and out-of-fold
    calibrated blend probabilities); ``context`` holds one 30 s row per track. Tracks missing from
    either side are left out, and counted. ``ours`` adds the measurement on our windows of the audio.
    """
    fold_of = dict(zip(tracks.tolist(), folds.tolist()))
    keep = np.array([t in fold_of for t in context.tracks])
    names = np.asarray(context.tracks)[keep]
    X, y = with_context_length(context.X[keep]), context.y[keep]
    tf = np.array([fold_of[t] for t in names], dtype=np.int64)
    have = np.isin(tracks, names)
    sorted_names, sums, counts, _ = track_sums(tracks[have], probs[have])
    avg = (sums / counts[:, None])[np.searchsorted(sorted_names, names)]  # in the context table's order
    ctx = np.zeros_like(avg)
    models: dict[int, Any] = {}
    for f in np.unique(tf):
        train, test = tf != f, tf == f
        models[int(f)] = _model(quick, seed).fit(X[train], y[train])
        ctx[test] = models[int(f)].predict_proba(X[test])
    combined = np.zeros_like(avg)
    shares: dict[int, float] = {}
    for f in np.unique(tf):
        other, own = tf != f, tf == f
        a = shares[int(f)] = _best_share(avg[other], ctx[other], y[other])
        combined[own] = (1 - a) * avg[own] + a * ctx[own]
    verdicts = {"averaged": avg, "context": ctx, "combined": combined}
    out = {
        "tracks": int(names.size),
        "tracks_without_context_row": int(np.unique(tracks[~have]).size),
        "accuracy": {k: float(np.mean(v.argmax(axis=1) == y)) for k, v in verdicts.items()},
        "per_fold": {
            k: [float(np.mean(v[tf == f].argmax(axis=1) == y[tf == f])) for f in np.unique(tf)]
            for k, v in verdicts.items()
        },
        "shares": list(shares.values()),
        "shipped_share": _best_share(avg, ctx, y),
        "model": model_text(quick) + ", of the other folds' tracks",
    }
    if ours is not None and ours.tracks.size and set(np.unique(ours.folds).tolist()) <= set(shares):
        out["ours"] = _ours(ours, models, shares)
    return out
