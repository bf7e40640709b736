"""Choose the blend from out-of-fold predictions: rule, integer weights, temperature.

Both rules get the report's exhaustive integer-weight search on the out-of-fold probabilities of the
whole training table: ``vote`` (the report's weighted vote, :func:`gtzan.blend.search_weights`) and
``mean`` (argmax of the weighted mean of the probabilities). The rule with the higher out-of-fold
accuracy ships. Because those weights are tuned on the very rows they are scored on, the choice is
also made again inside the folds (weights tuned on the other folds' rows, scored on the fold's own),
which is the honest estimate of the blend reported beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gtzan.blend import RULES, calibrate, search_weights, weighted_probs
from gtzan.blend import predict as blend_labels

from .blend_search import (
    expected_calibration_error,
    fit_temperature,
    reliability,
    search_mean_weights,
)

__all__ = ["BlendChoice", "blend_labels", "choose_blend", "nested_blend"]

VOTE_STOP_MAX = 10
MEAN_MAX_WEIGHT = 6


def _search(probs: np.ndarray, y: np.ndarray, rule: str, quick: bool) -> tuple[tuple[int, ...], float]:
    if rule == "vote":
        w, acc, _ = search_weights(probs, y, start_max=3 if quick else 5, stop_max=3 if quick else VOTE_STOP_MAX)
        return w, acc
    w, acc, _ = search_mean_weights(probs, y, max_weight=3 if quick else MEAN_MAX_WEIGHT)
    return w, acc


@dataclass
class BlendChoice:
    rule: str
    weights: dict[str, int]
    temperature: float
    oof_accuracy: dict[str, float]  # rule -> accuracy with its own searched weights (tuned on these rows)
    searched: dict[str, dict[str, int]]  # rule -> its searched weights
    calibration: dict[str, Any] = field(default_factory=dict)


def choose_blend(probs: np.ndarray, y: np.ndarray, names: tuple[str, ...], *, quick: bool = False) -> BlendChoice:
    """Search both rules on out-of-fold probabilities, keep the better one, fit its temperature."""
    searched, accs = {}, {}
    for rule in RULES:
        w, acc = _search(probs, y, rule, quick)
        searched[rule], accs[rule] = dict(zip(names, w)), acc
    rule = max(RULES, key=lambda r: (accs[r], r == "mean"))
    w = tuple(searched[rule][n] for n in names)
    p = weighted_probs(probs, w)
    t = fit_temperature(p, y)
    q = calibrate(p, t)
    conf = q.max(axis=1)
    cal = {
        "method": "temperature",
        "temperature": t,
        "fitted_on": "out-of-fold blend probabilities of the training table",
        "ece_before": expected_calibration_error(p, y),
        "ece_after": expected_calibration_error(q, y),
        "reliability_before": reliability(p, y),
        "reliability_after": reliability(q, y),
        "mean_confidence": float(conf.mean()),
    }
    return BlendChoice(rule, searched[rule], t, accs, searched, cal)


def nested_blend(
    probs: np.ndarray,
    y: np.ndarray,
    folds: np.ndarray,
    names: tuple[str, ...],
    *,
    quick: bool = False,
    tune: np.ndarray | None = None,
) -> dict[str, Any]:
    """Each fold's labels from a blend chosen on the other folds only: the honest blend estimate.

    Returns per rule the out-of-fold labels and, under ``chosen``, the labels of the rule each
    fold's outer search would have shipped; ``probs`` holds that blend's calibrated probabilities (its
    temperature fitted on the other folds too), from which a track's verdict is read. ``tune`` (bool per
    row) limits the rows the searches see.
    """
    n = y.size
    tune = np.ones(n, dtype=bool) if tune is None else np.asarray(tune, dtype=bool)
    labels = {r: np.empty(n, dtype=np.int64) for r in (*RULES, "chosen")}
    chosen_probs = np.zeros((n, probs.shape[2]))
    per_fold: list[dict[str, Any]] = []
    for f in range(int(folds.max()) + 1):
        inner, outer = (folds != f) & tune, folds == f
        rec: dict[str, Any] = {"fold": f}
        best = None
        for rule in RULES:
            w, acc = _search(probs[:, inner], y[inner], rule, quick)
            labels[rule][outer] = blend_labels(probs[:, outer], w, rule)
            rec[rule] = {"weights": dict(zip(names, w)), "inner_accuracy": acc}
            if best is None or (acc, rule == "mean") > best[0]:
                best = ((acc, rule == "mean"), rule, w)
        assert best is not None
        labels["chosen"][outer] = labels[best[1]][outer]
        t = fit_temperature(weighted_probs(probs[:, inner], best[2]), y[inner])
        chosen_probs[outer] = calibrate(weighted_probs(probs[:, outer], best[2]), t)
        rec["chosen"] = best[1]
        rec["temperature"] = t
        per_fold.append(rec)
    return {"labels": labels, "probs": chosen_probs, "folds": per_fold}
