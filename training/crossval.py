"""Grouped k-fold cross-validation of every member: out-of-fold probabilities for each row.

Each fold trains the members on the other folds (a grouped, genre-stratified inner part of them for
early stopping and KNN's k) and predicts its own rows, so every row gets probabilities from models
that never saw its track (or, with ``artist`` folds, its artist). With ``fold_refit`` (the default) the
members are then trained again on all of the fold's training rows at the lengths the inner part chose,
as the shipped members are on all rows, and those predict the fold: the inner part is not lost to
training (a seventh fewer tracks cost XGBoost about 2 points of the table's windows, measured).
Those out-of-fold predictions are what the blend weights and the calibration are tuned on, and what
the reported accuracy measures. The lengths the folds chose (epochs, boosting rounds, k) are kept:
the final members are refitted on all rows at those lengths.

Rows can come from several sources (the Kaggle table and our own extractor's windows of the audio
tracks): ``train_mask`` says which rows may be trained on, and every row is predicted by the fold
that holds its track out, so a source that is never trained on is still evaluated honestly.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .dataset import FeatureTable
from .members import LENGTH_KINDS, MEMBER_NAMES, fit_members
from .splits import SplitError

__all__ = ["CrossValResult", "cross_validate", "refit_lengths"]

INNER_VAL_SPLITS = 7  # one seventh of a fold's training groups watches early stopping


@dataclass
class CrossValResult:
    folds: np.ndarray  # (n,) fold of every row
    oof: dict[str, np.ndarray]  # member -> (n, 10) out-of-fold probabilities
    chosen: list[dict[str, Any]]  # per fold: the training lengths early stopping / validation chose
    seconds: list[float] = field(default_factory=list)

    @property
    def n_folds(self) -> int:
        return int(self.folds.max()) + 1

    def probs(self, names: tuple[str, ...]) -> np.ndarray:
        """(members, n, 10) in the order of ``names``."""
        return np.stack([self.oof[n] for n in names])


def _inner_split(groups: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Grouped, genre-stratified (train, validation) positions within a fold's training rows."""
    from sklearn.model_selection import StratifiedGroupKFold

    n_splits = min(INNER_VAL_SPLITS, np.unique(groups).size)
    skf = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    tr, va = next(iter(skf.split(np.zeros(y.size), y, groups)))
    # a genre whose every group landed in validation would be unknown to the members: give it back
    lost = np.setdiff1d(np.unique(y[va]), np.unique(y[tr]))
    if lost.size:
        back = np.isin(y[va], lost)
        tr, va = np.sort(np.concatenate([tr, va[back]])), va[~back]
    if va.size == 0:
        raise SplitError("too few tracks per genre to hold any out for early stopping inside a fold")
    return tr, va


def _lengths(members: list) -> dict[str, Any]:
    by = {m.name: m for m in members}
    out: dict[str, Any] = {
        "keras_epochs": [int(by[f"keras{i}"].params["best_epoch"]) for i in (1, 2, 3)],
        "xgb_rounds": int(by["xgb"].params["n_estimators"]),
        "knn_k": int(by["knn"].params["n_neighbors"]),
    }
    if "numpy_net" in by:
        out["numpy_epochs"] = int(by["numpy_net"].params["best_epoch"])
    return out


def cross_validate(
    table: FeatureTable,
    folds: np.ndarray,
    groups: np.ndarray,
    *,
    train_mask: np.ndarray | None = None,
    quick: bool = False,
    seed: int = 0,
    progress: bool = True,
    include_numpy: bool = True,
    console: Any = None,
    sample_weight: np.ndarray | None = None,
    fold_refit: bool = True,
    keras_hidden: tuple[int, ...] | None = None,
) -> CrossValResult:
    """Out-of-fold probabilities of every member for every row of ``table`` (see module docstring)."""
    n = len(table)
    folds = np.asarray(folds)
    if folds.shape != (n,) or folds.min() < 0:
        raise SplitError("every row needs a fold")
    train_mask = np.ones(n, dtype=bool) if train_mask is None else np.asarray(train_mask, dtype=bool)
    names = MEMBER_NAMES if include_numpy else tuple(m for m in MEMBER_NAMES if m != "numpy_net")
    oof = {m: np.full((n, 10), np.nan) for m in names}
    chosen: list[dict[str, Any]] = []
    seconds: list[float] = []
    k = int(folds.max()) + 1
    for f in range(k):
        t0 = time.perf_counter()
        test = np.flatnonzero(folds == f)
        pool = np.flatnonzero((folds != f) & train_mask)
        tr, va = _inner_split(groups[pool], table.y[pool], seed + f)
        if console is not None:
            console.print(
                f"fold {f + 1}/{k}: training on {pool.size} rows "
                f"({np.unique(table.tracks[pool]).size} tracks), predicting {test.size}",
                highlight=False,
            )
        fit = functools.partial(
            fit_members,
            table,
            quick=quick,
            seed=seed,
            progress=progress,
            include_numpy=include_numpy,
            sample_weight=sample_weight,
            keras_hidden=keras_hidden,
        )
        # with the refit to follow, the first fit is only there to choose lengths: members without any
        # (the forest, the SVM) are fitted once, on all the fold's rows
        members = fit(pool[tr], pool[va], kinds=LENGTH_KINDS if fold_refit else None)
        lengths = _lengths(members)
        if fold_refit:
            members = fit(pool, None, fixed=lengths)
        for m in members:
            oof[m.name][test] = m.predict_proba(table.X[test])
        chosen.append(lengths)
        seconds.append(time.perf_counter() - t0)
    return CrossValResult(folds, oof, chosen, seconds)


def refit_lengths(chosen: list[dict[str, Any]]) -> dict[str, Any]:
    """Training lengths for the final refit on all rows: the median over the folds (KNN: the lower median k)."""

    def med(key: str, i: int | None = None) -> float:
        return float(np.median([c[key] if i is None else c[key][i] for c in chosen]))

    out: dict[str, Any] = {
        "keras_epochs": [max(1, round(med("keras_epochs", i))) for i in range(3)],
        "xgb_rounds": max(1, round(med("xgb_rounds"))),
        "knn_k": int(np.sort([c["knn_k"] for c in chosen])[(len(chosen) - 1) // 2]),
    }
    if all("numpy_epochs" in c for c in chosen):
        out["numpy_epochs"] = max(1, round(med("numpy_epochs")))
    return out
