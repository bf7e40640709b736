"""Integer blend weights for the probability-averaging rule, and the temperature that calibrates it.

The report searched integer vote weights exhaustively (:func:`gtzan.blend.search_weights`). The same
search for the ``mean`` rule (label = argmax of ``sum_i w_i p_i``) is a matrix product per block of
weight vectors: ``[0, 6]^6`` (117,648 vectors) over 8,100 rows takes about a minute on one core. Ties
between weight vectors go, as for the vote search, to the smallest sum of weights, then the
lexicographically smallest vector.

:func:`fit_temperature` finds the ``T`` for which ``softmax(log p / T)`` has the lowest log-loss: one
scalar, so the ranking of genres (and the accuracy) never changes, only how sure the blend claims to be.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from gtzan.blend import calibrate

__all__ = ["expected_calibration_error", "fit_temperature", "mean_accuracy", "reliability", "search_mean_weights"]


def _weight_vectors(r: int, m: int) -> np.ndarray:
    """Every vector of [0, r]^m except all-zero, in lexicographic order."""
    grids = np.indices((r + 1,) * m).reshape(m, -1).T
    return grids[1:].astype(np.float64)


def mean_accuracy(probs: np.ndarray, y: np.ndarray, weights: Any) -> float:
    """Accuracy of argmax ``sum_i w_i p_i`` (lowest genre index on a tie)."""
    w = np.asarray(weights, dtype=np.float64)
    return float(np.mean(np.tensordot(w, probs, axes=1).argmax(axis=1) == y))


def search_mean_weights(
    probs: np.ndarray, y: np.ndarray, max_weight: int = 6, *, block: int = 512
) -> tuple[tuple[int, ...], float, dict[str, Any]]:
    """Best integer weights in ``[0, max_weight]^m`` for the mean rule: (weights, accuracy, info)."""
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    m, n, k = probs.shape
    if n != y.size or n == 0:
        raise ValueError(f"probs (members, rows, classes) must match y: {probs.shape} vs {y.shape}")
    t0 = time.perf_counter()
    W = _weight_vectors(max_weight, m)
    flat = probs.reshape(m, n * k)
    correct = np.empty(W.shape[0], dtype=np.int64)
    for s in range(0, W.shape[0], block):
        scores = (W[s : s + block] @ flat).reshape(-1, n, k)
        correct[s : s + block] = np.count_nonzero(scores.argmax(axis=2) == y, axis=1)
    best = np.flatnonzero(correct == correct.max())
    sums = W[best].sum(axis=1)
    j = best[np.argmin(sums)]  # first minimum: lexicographically smallest
    weights = tuple(int(v) for v in W[j])
    return (
        weights,
        float(correct[j] / n),
        {"max_weight": max_weight, "evaluated": int(W.shape[0]), "seconds": time.perf_counter() - t0},
    )


def _nll(p: np.ndarray, y: np.ndarray, t: float) -> float:
    q = calibrate(p, t)
    return float(-np.mean(np.log(np.clip(q[np.arange(y.size), y], 1e-15, None))))


def fit_temperature(p: np.ndarray, y: np.ndarray, lo: float = 0.05, hi: float = 20.0) -> float:
    """The temperature with the lowest log-loss (golden-section search on log T; the loss is unimodal)."""
    y = np.asarray(y, dtype=np.int64)
    a, b = np.log(lo), np.log(hi)
    g = (np.sqrt(5.0) - 1.0) / 2.0
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = _nll(p, y, np.exp(c)), _nll(p, y, np.exp(d))
    for _ in range(60):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = _nll(p, y, np.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = _nll(p, y, np.exp(d))
    return float(np.exp((a + b) / 2.0))


def reliability(p: np.ndarray, y: np.ndarray, bins: int = 10) -> dict[str, list[float]]:
    """Per confidence bin: mean confidence, accuracy and row count (equal-width bins on [0, 1])."""
    conf = p.max(axis=1)
    right = p.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    out: dict[str, list[float]] = {"confidence": [], "accuracy": [], "count": [], "lower": [], "upper": []}
    for b in range(bins):
        sel = idx == b
        out["lower"].append(float(edges[b]))
        out["upper"].append(float(edges[b + 1]))
        out["count"].append(int(sel.sum()))
        out["confidence"].append(float(conf[sel].mean()) if sel.any() else float("nan"))
        out["accuracy"].append(float(right[sel].mean()) if sel.any() else float("nan"))
    return out


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Row-weighted mean |accuracy - confidence| over equal-width confidence bins."""
    r = reliability(p, y, bins)
    n = sum(r["count"])
    return float(sum(c * abs(a - f) for c, a, f in zip(r["count"], r["accuracy"], r["confidence"]) if c) / n)
