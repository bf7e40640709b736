"""Train the members on a split and choose the blend (the report's single-split procedure).

The members and how each is fitted are the table in ``training.members``. The blend's rule (the report's
weighted vote, or the weighted mean of the probabilities) and its weights are chosen on the validation
part by :func:`gtzan.training.ensemble.choose_blend`, as the cross-validated protocols choose them on
out-of-fold rows; the report's own procedure, vote weights tuned on the test part, is kept separately as
``weights_test_tuned`` and is optimistic by construction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from gtzan.blend import search_weights

from .dataset import FeatureTable
from .ensemble import BlendChoice, blend_labels, choose_blend
from .members import REPORT_BLEND, SETTINGS, TrainedMember, blend_candidates, fit_members
from .splits import Split

__all__ = ["TrainedModels", "train_members"]


@dataclass
class TrainedModels:
    members: list[TrainedMember]
    choice: BlendChoice  # rule, weights and temperature chosen on the validation part
    weights_test_tuned: dict[str, int]  # the report's procedure: vote weights tuned on the test part itself
    blend_test_tuned_accuracy: float
    search: dict[str, Any]  # search histories and timings
    split: Split
    seed: int
    quick: bool
    blend_members: tuple[str, ...] = REPORT_BLEND  # the members the weights were searched over

    @property
    def weights(self) -> dict[str, int]:
        """The chosen rule's weights, tuned on validation."""
        return self.choice.weights

    @property
    def blend_val_accuracy(self) -> float:
        return self.choice.oof_accuracy[self.choice.rule]

    def member(self, name: str) -> TrainedMember:
        for m in self.members:
            if m.name == name:
                return m
        raise KeyError(name)

    def blend_predict(self, X_raw: np.ndarray) -> np.ndarray:
        """Labels of the blend chosen on validation."""
        probs = np.stack([self.member(n).predict_proba(X_raw) for n in self.blend_members])
        return blend_labels(probs, [self.weights[n] for n in self.blend_members], self.choice.rule)


def train_members(
    table: FeatureTable,
    split: Split,
    *,
    quick: bool = False,
    seed: int = 0,
    progress: bool = True,
    include_numpy: bool = True,
    numpy_config: str = "256-256-relu",
    blend_members: tuple[str, ...] = REPORT_BLEND,
    keras_hidden: tuple[int, ...] | None = None,
) -> TrainedModels:
    """Fit every member on the training part, then choose the blend of ``blend_members`` (by default the
    report's six) on validation, and tune the report's vote weights on test as it did."""
    cfg = SETTINGS["quick" if quick else "full"]
    names = blend_candidates(blend_members)
    X, y = table.X, table.y
    members = fit_members(
        table,
        split.train,
        split.val,
        quick=quick,
        seed=seed,
        progress=progress,
        include_numpy=include_numpy,
        numpy_config=numpy_config,
        keras_hidden=keras_hidden,
    )
    by_name = {m.name: m for m in members}

    def tune(idx: np.ndarray) -> tuple[dict[str, int], float, dict[str, Any]]:
        probs = np.stack([by_name[n].predict_proba(X[idx]) for n in names])
        t0 = time.perf_counter()
        w, acc, hist = search_weights(probs, y[idx], start_max=5, step=1, stop_max=cfg["blend_stop_max"])
        return dict(zip(names, w)), acc, {"history": hist, "seconds": time.perf_counter() - t0}

    t0 = time.perf_counter()
    val_probs = np.stack([by_name[n].predict_proba(X[split.val]) for n in names])
    choice = choose_blend(val_probs, y[split.val], names, quick=quick)
    s_val = {"history": [], "seconds": time.perf_counter() - t0}
    w_test, acc_test, s_test = tune(split.test)
    searches = {"val": s_val, "test": s_test}
    return TrainedModels(members, choice, w_test, acc_test, searches, split, seed, quick, names)
