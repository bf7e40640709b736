"""Train the members on a split and tune the blend weights (the report's single-split procedure).

The members and how each is fitted are the table in ``training.members``. Blend weights are tuned on
the validation part (``weights``); the report's own procedure, tuning on the test part, is kept
separately as ``weights_test_tuned`` and is optimistic by construction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from gtzan.blend import blend_predict, search_weights

from .dataset import FeatureTable
from .members import REPORT_BLEND, SETTINGS, TrainedMember, fit_members
from .splits import Split

__all__ = ["TrainedModels", "train_members"]


@dataclass
class TrainedModels:
    members: list[TrainedMember]
    weights: dict[str, int]  # blend weights tuned on the validation part
    weights_test_tuned: dict[str, int]  # the report's procedure: tuned on the test part itself
    blend_val_accuracy: float
    blend_test_tuned_accuracy: float
    search: dict[str, Any]  # search histories and timings
    split: Split
    seed: int
    quick: bool

    def member(self, name: str) -> TrainedMember:
        for m in self.members:
            if m.name == name:
                return m
        raise KeyError(name)

    def blend_predict(self, X_raw: np.ndarray, weights: dict[str, int] | None = None) -> np.ndarray:
        w = weights or self.weights
        probs = np.stack([self.member(n).predict_proba(X_raw) for n in REPORT_BLEND])
        return blend_predict(probs, [w[n] for n in REPORT_BLEND])


def train_members(
    table: FeatureTable,
    split: Split,
    *,
    quick: bool = False,
    seed: int = 0,
    progress: bool = True,
    include_numpy: bool = True,
    numpy_config: str = "256-256-relu",
) -> TrainedModels:
    """Fit every member on the training part, then tune blend weights on validation (and test)."""
    cfg = SETTINGS["quick" if quick else "full"]
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
    )
    by_name = {m.name: m for m in members}

    def tune(idx: np.ndarray) -> tuple[dict[str, int], float, dict[str, Any]]:
        probs = np.stack([by_name[n].predict_proba(X[idx]) for n in REPORT_BLEND])
        t0 = time.perf_counter()
        w, acc, hist = search_weights(probs, y[idx], start_max=5, step=1, stop_max=cfg["blend_stop_max"])
        return dict(zip(REPORT_BLEND, w)), acc, {"history": hist, "seconds": time.perf_counter() - t0}

    w_val, acc_val, s_val = tune(split.val)
    w_test, acc_test, s_test = tune(split.test)
    return TrainedModels(members, w_val, w_test, acc_val, acc_test, {"val": s_val, "test": s_test}, split, seed, quick)
