"""The run both command lines make: load the rows, hold a fold out, mark what trains, augment, cross-fit.

``gtzan-export`` (one protocol, refitted to ship) and ``python -m gtzan.training`` (each cross-validated
protocol, scored only) go through :func:`load_rows` and :func:`cross_fit_rows`, so a bundle's out-of-fold
numbers are the ones the training report gives for the same inputs, grouped protocol and seed. Each command
adds only its own ends: the export converts and writes the bundle; training adds single splits, the sweep
and a report.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from gtzan.constants import WINDOW_SAMPLES

from .crossfit import CrossFit, cross_fit
from .dataset import (
    DatasetError,
    FeatureTable,
    add_augmented_rows,
    load_sources,
    read_features_csv,
    trainable_rows,
)
from .members import REPORT_BLEND
from .splits import cv_folds

__all__ = ["HOLD_OUT_FOLDS", "RowSpec", "Rows", "cross_fit_rows", "hold_out", "load_rows"]

HOLD_OUT_FOLDS = 5  # --hold-out-fold K leaves fold K of a 5-fold track-grouped split out of everything

T = TypeVar("T")


class Stage(Protocol):
    """Runs one named step of the run: the export times each and prints a line when it is done."""

    def __call__(self, name: str, fn: Callable[..., T], /, *args: Any, **kw: Any) -> T: ...


def _call(name: str, fn: Callable[..., T], /, *args: Any, **kw: Any) -> T:
    return fn(*args, **kw)


@dataclass(frozen=True)
class RowSpec:
    """Which rows a run trains and scores on: the inputs both command lines take."""

    features_csv: Path | None = None  # a Kaggle-format table
    audio_dir: Path | None = None  # GTZAN-layout audio, windowed by our feature code
    audio_rows: str = "train"  # with both inputs: our windows train, or are only scored (dataset.AUDIO_ROWS)
    hop: int = WINDOW_SAMPLES  # samples between the starts of our windows of a track
    n_jobs: int | None = None  # processes for feature extraction
    cache_dir: Path | None = None  # feature cache
    augment: tuple[str, ...] = ()  # augment.AUGMENT_KINDS
    augment_copies: int = 4  # degraded copies of each audio track
    augment_weight: float = 1.0  # what an augmented row counts for in the members' fits (a real row: 1)
    hold_out_fold: int | None = None  # fold of a 5-fold track-grouped split left out of everything
    level_rms: float | None = None  # every row brought to this level (gtzan.gain.at_level), as the listener does
    context_csv: Path | None = None  # a 30 s table (features_30_sec.csv): measure a context model (training.context)


@dataclass
class Rows:
    """The rows of a run and what each is for."""

    table: FeatureTable
    sources: np.ndarray  # (n,) where each row came from: table, ours, gain, degraded
    trainable: np.ndarray  # (n,) bool: rows the members may train on
    tune: np.ndarray  # (n,) bool: rows the blend and its calibration are chosen on (never augmented ones)
    info: dict[str, Any]  # where the rows came from (dataset.load_sources), held-out tracks, augmentation
    context: FeatureTable | None = None  # one 30 s row per track, to measure a context model against
    weight: np.ndarray | None = None  # (n,) what each row counts for in the members' fits; None: 1 each

    def trainable_table(self) -> FeatureTable:
        """The rows the members may train on, as their own table (for the single-split protocols)."""
        return self.table.subset(np.flatnonzero(self.trainable))


def hold_out(
    table: FeatureTable, sources: np.ndarray, fold: int, seed: int, data_dir: Path | None = None
) -> tuple[FeatureTable, np.ndarray, list[str]]:
    """The table without one fold of a 5-fold track-grouped split, and that fold's tracks (sorted).

    A bundle trained this way can be measured on those tracks' audio (benchmarks/bench_robustness.py
    reads them from the manifest's ``data.held_out_tracks``).
    """
    if not 0 <= fold < HOLD_OUT_FOLDS:
        raise DatasetError(f"the held-out fold must be 0..{HOLD_OUT_FOLDS - 1}, got {fold}")
    folds, _ = cv_folds(table, "track", n_folds=HOLD_OUT_FOLDS, seed=seed, data_dir=data_dir)
    keep = np.flatnonzero(folds != fold)
    held = sorted(set(map(str, table.tracks[folds == fold])))
    return table.subset(keep), np.asarray(sources)[keep], held


def _check_inputs(spec: RowSpec) -> None:
    if spec.features_csv is not None and not Path(spec.features_csv).is_file():
        raise DatasetError(f"features CSV not found: {spec.features_csv}")
    if spec.audio_dir is not None and not Path(spec.audio_dir).is_dir():
        raise DatasetError(f"audio folder not found: {spec.audio_dir}")
    if spec.context_csv is not None and not Path(spec.context_csv).is_file():
        raise DatasetError(f"30-second features CSV not found: {spec.context_csv}")
    if not 0.0 < spec.augment_weight <= 1.0:
        raise DatasetError(f"the augmented rows' weight must be in (0, 1], got {spec.augment_weight}")


def load_rows(
    spec: RowSpec, *, seed: int = 0, data_dir: Path | None = None, progress: bool = True, stage: Stage = _call
) -> Rows:
    """The rows ``spec`` names, less the held-out fold, plus the augmented rows; DatasetError if unusable.

    ``stage`` runs the two long steps, ``features`` and ``augment`` (the export times and reports each).
    """
    _check_inputs(spec)
    table, sources, info = stage(
        "features",
        load_sources,
        spec.features_csv,
        spec.audio_dir,
        hop=spec.hop,
        n_jobs=spec.n_jobs,
        cache_dir=spec.cache_dir,
        progress=progress,
    )
    if len(np.unique(table.y)) < 2:
        raise DatasetError("the dataset has fewer than two genres; nothing to learn")
    if spec.hold_out_fold is not None:
        table, sources, info["held_out_tracks"] = hold_out(table, sources, spec.hold_out_fold, seed, data_dir)
    trainable = trainable_rows(sources, spec.audio_rows)
    weight = None
    tune = trainable.copy()  # the blend is chosen on real rows only
    if spec.augment:
        table, sources, trainable, info["augmented"] = stage(
            "augment",
            add_augmented_rows,
            table,
            sources,
            trainable,
            spec.augment,
            audio_dir=spec.audio_dir,
            copies=spec.augment_copies,
            seed=seed,
            hop=spec.hop,
            n_jobs=spec.n_jobs,
            cache_dir=spec.cache_dir,
            progress=progress,
        )
        tune = np.concatenate([tune, np.zeros(len(table) - tune.size, dtype=bool)])
        if spec.augment_weight != 1.0:
            weight = np.where(trainable & ~tune, spec.augment_weight, 1.0)
            info["augment_weight"] = spec.augment_weight
    context = read_features_csv(spec.context_csv) if spec.context_csv is not None else None
    if spec.level_rms is not None:  # a bundle records it and gtzan.bundle feeds its members the same
        from gtzan.gain import at_level

        table = dataclasses.replace(table, X=at_level(table.X, spec.level_rms))
        if context is not None:
            context = dataclasses.replace(context, X=at_level(context.X, spec.level_rms))
        info["level_rms"] = spec.level_rms
    return Rows(table, sources, trainable, tune, info, context, weight)


def cross_fit_rows(
    rows: Rows,
    protocol: str,
    *,
    n_folds: int = 5,
    seed: int = 0,
    quick: bool = False,
    data_dir: Path | None = None,
    refit: bool = True,
    console: Any = None,
    blend_members: tuple[str, ...] = REPORT_BLEND,
    fold_refit: bool = True,
    keras_hidden: tuple[int, ...] | None = None,
) -> CrossFit:
    """Cross-validate ``rows`` under ``protocol``, choose the blend on the tune rows, optionally refit on all."""
    return cross_fit(
        rows.table,
        protocol,
        sources=rows.sources,
        trainable=rows.trainable,
        tune=rows.tune,
        n_folds=n_folds,
        seed=seed,
        quick=quick,
        data_dir=data_dir,
        refit=refit,
        console=console,
        blend_members=blend_members,
        context=rows.context,
        sample_weight=rows.weight,
        fold_refit=fold_refit,
        keras_hidden=keras_hidden,
    )
