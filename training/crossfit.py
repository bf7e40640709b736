"""Cross-validate, choose the blend on out-of-fold predictions, refit on every row: one run.

This is what both ``gtzan-export`` and ``python -m gtzan.training`` do for the grouped protocols
(through :func:`gtzan.training.orchestrate.cross_fit_rows`):

1. folds grouped by the protocol (:func:`gtzan.training.splits.cv_folds`);
2. out-of-fold probabilities of every member (:func:`gtzan.training.crossval.cross_validate`);
3. the blend rule, integer weights and temperature tuned on them, and the same choice made inside
   the folds for an honest estimate (:mod:`gtzan.training.ensemble`);
4. scores of every member and of the blend on the out-of-fold rows, per source of rows;
5. optionally the members refitted on all rows at the lengths the folds chose.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gtzan.blend import RULES, calibrate, weighted_probs

from .crossval import CrossValResult, cross_validate, refit_lengths
from .dataset import FeatureTable
from .ensemble import BlendChoice, blend_labels, choose_blend, nested_blend
from .evaluate import score_predictions
from .members import REPORT_BLEND, TrainedMember, blend_candidates, fit_members
from .splits import cv_folds

__all__ = ["CrossFit", "UNCERTAIN_BELOW", "cross_fit", "protocol_note", "score_oof"]

UNCERTAIN_BELOW = 0.5  # calibrated probability under which the listener calls its verdict uncertain

_NOTES = {
    "track": "{k}-fold cross-validation grouped by track (a track, its exact duplicates and its same-artist-"
    "and-title partners in one fold); every row predicted by members that never saw its track",
    "artist": "{k}-fold cross-validation grouped by artist (Sturm's index; an unknown artist is its own group); "
    "every row predicted by members that never heard its artist",
    "paper": "{k}-fold cross-validation over random 3-second rows, as the report split them: windows of one track "
    "sit in several folds, so these numbers are optimistic",
}


def protocol_note(protocol: str, n_folds: int) -> str:
    """What a cross-validated protocol's numbers mean, in one sentence."""
    return _NOTES[protocol].format(k=n_folds)


@dataclass
class CrossFit:
    protocol: str
    n_folds: int
    seed: int
    quick: bool
    sources: np.ndarray  # (n,) where each row came from, e.g. "table" or "ours"
    trainable: np.ndarray  # (n,) bool: rows the members may train on
    cv: CrossValResult
    choice: BlendChoice
    nested: dict[str, Any]
    evaluation: dict[str, Any]
    lengths: dict[str, Any]
    members: list[TrainedMember] = field(default_factory=list)  # refitted on all trainable rows
    timings: dict[str, float] = field(default_factory=dict)
    context_model: Any = None  # the 30 s context model fitted on every 30 s row (with ``context`` and refit)
    tracks: np.ndarray | None = None  # (n,) every row's track
    y: np.ndarray | None = None  # (n,) every row's genre

    def save_oof(self, path: Any) -> None:
        """The out-of-fold probabilities with what they belong to (rows' track, genre, source, fold; every
        member's and the nested blend's calibrated probabilities), so that track rules can be compared
        later without cross-fitting again."""
        members = sorted(self.cv.oof)
        np.savez_compressed(
            path,
            tracks=np.asarray(self.tracks, dtype=str),
            y=np.asarray(self.y),
            sources=self.sources,
            folds=self.cv.folds,
            members=np.array(members),
            member_probs=np.stack([self.cv.oof[m] for m in members]).astype(np.float32),
            nested_probs=np.asarray(self.nested["probs"], dtype=np.float32),
        )


def score_oof(
    table: FeatureTable,
    cv: CrossValResult,
    choice: BlendChoice,
    nested: dict[str, Any],
    rows: np.ndarray,
    names: tuple[str, ...] = REPORT_BLEND,
) -> dict[str, Any]:
    """Scores on the out-of-fold predictions of ``rows``: every member, the shipped blend, the nested blend
    (``names``: the members the blend was chosen from)."""
    y, tracks = table.y[rows], table.tracks[rows]
    probs = cv.probs(names)[:, rows]
    out: dict[str, Any] = {}
    for name, p in cv.oof.items():
        out[name] = score_predictions(y, p[rows].argmax(axis=1), p[rows], tracks)
    labels = {}
    for rule in RULES:
        wr = tuple(choice.searched[rule][n] for n in names)
        labels[rule] = blend_labels(probs, wr, rule)
        pr = weighted_probs(probs, wr)
        if rule == choice.rule:  # the shipped blend's probabilities, as the listener shows them
            pr = calibrate(pr, choice.temperature)
        out[f"blend_{rule}"] = score_predictions(y, labels[rule], pr, tracks)
    out["blend"] = out[f"blend_{choice.rule}"]  # the shipped blend: the chosen rule with its searched weights
    lab = labels[choice.rule]
    nest = nested["labels"]["chosen"][rows]
    out["blend_nested"] = score_predictions(y, nest, nested["probs"][rows], tracks)
    folds = cv.folds[rows]
    out["per_fold"] = {
        "blend": [float(np.mean(lab[folds == f] == y[folds == f])) for f in range(cv.n_folds) if np.any(folds == f)],
        "blend_nested": [
            float(np.mean(nest[folds == f] == y[folds == f])) for f in range(cv.n_folds) if np.any(folds == f)
        ],
    }
    return out


def cross_fit(
    table: FeatureTable,
    protocol: str,
    *,
    sources: np.ndarray | None = None,
    trainable: np.ndarray | None = None,
    tune: np.ndarray | None = None,
    n_folds: int = 5,
    seed: int = 0,
    quick: bool = False,
    data_dir: Any = None,
    refit: bool = True,
    progress: bool = True,
    console: Any = None,
    blend_members: tuple[str, ...] = REPORT_BLEND,
    context: FeatureTable | None = None,
    sample_weight: np.ndarray | None = None,
    fold_refit: bool = True,
    keras_hidden: tuple[int, ...] | None = None,
) -> CrossFit:
    """Run steps 1-5 of the module docstring on ``table``.

    ``trainable`` rows are what members may train on; ``tune`` rows (default: the trainable ones) are
    what the blend and its calibration are chosen on, so that augmented copies train the members without
    steering the blend. ``blend_members`` are the members the blend may give a weight (the others get 0).
    ``context`` (one 30 s row per track) adds the measurement of gtzan.training.context, on the table's
    rows and on our windows of the audio, and (with ``refit``) the context model fitted on all its rows.
    ``sample_weight`` (one per row) weighs the rows in the members' fits (gtzan.training.members.fit_members).
    ``fold_refit`` trains each fold's members again on all its training rows before they predict it
    (gtzan.training.crossval). ``keras_hidden`` sets the Keras networks' hidden layer widths.
    """
    blend_members = blend_candidates(blend_members)
    timings: dict[str, float] = {}
    n = len(table)
    sources = np.full(n, "table") if sources is None else np.asarray(sources, dtype=str)
    trainable = np.ones(n, dtype=bool) if trainable is None else np.asarray(trainable, dtype=bool)
    t0 = time.perf_counter()
    folds, groups = cv_folds(table, protocol, n_folds=n_folds, seed=seed, data_dir=data_dir)
    cv = cross_validate(
        table,
        folds,
        groups,
        train_mask=trainable,
        quick=quick,
        seed=seed,
        progress=progress,
        console=console,
        sample_weight=sample_weight,
        fold_refit=fold_refit,
        keras_hidden=keras_hidden,
    )
    timings["cross-validation"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    tr = np.flatnonzero(trainable)
    tune = trainable if tune is None else np.asarray(tune, dtype=bool) & trainable
    tu = np.flatnonzero(tune)
    probs = cv.probs(blend_members)
    choice = choose_blend(probs[:, tu], table.y[tu], blend_members, quick=quick)
    nested = nested_blend(probs, table.y, folds, blend_members, quick=quick, tune=tune)
    timings["blend search"] = time.perf_counter() - t0

    evaluation: dict[str, Any] = {
        "protocol": protocol,
        "n_folds": n_folds,
        "seed": seed,
        "quick": quick,
        "fold_refit": fold_refit,
        "lengths_per_fold": cv.chosen,
        "fold_seconds": cv.seconds,
        "nested_folds": nested["folds"],
        "by_source": {},
    }
    for src in np.unique(sources):
        rows = np.flatnonzero(sources == src)
        evaluation["by_source"][str(src)] = {
            "rows": int(rows.size),
            "tracks": int(np.unique(table.tracks[rows]).size),
            "trained_on": bool(trainable[rows].any()),
            "scores": score_oof(table, cv, choice, nested, rows, blend_members),
        }
    if context is not None:
        from .context import OurRows, context_comparison

        on = tune & (sources == "table")
        on = on if on.any() else tune
        mine = np.flatnonzero(sources == "ours")
        ours = OurRows(table.tracks[mine], folds[mine], table.X[mine], nested["probs"][mine], table.y[mine])
        t0 = time.perf_counter()
        evaluation["context"] = context_comparison(
            context, table.tracks[on], folds[on], nested["probs"][on], quick=quick, seed=seed, ours=ours
        )
        timings["context model"] = time.perf_counter() - t0
    lengths = refit_lengths(cv.chosen)
    fit = CrossFit(
        protocol,
        n_folds,
        seed,
        quick,
        sources,
        trainable,
        cv,
        choice,
        nested,
        evaluation,
        lengths,
        timings=timings,
        tracks=table.tracks,
        y=table.y,
    )
    if refit:
        t0 = time.perf_counter()
        if console is not None:
            console.print(f"refit on all {tr.size} rows at the folds' lengths {lengths}", highlight=False)
        fit.members = fit_members(
            table,
            tr,
            None,
            quick=quick,
            seed=seed,
            progress=progress,
            fixed=lengths,
            sample_weight=sample_weight,
            keras_hidden=keras_hidden,
        )
        if context is not None:
            from .context import fit_context

            fit.context_model = fit_context(context, quick=quick, seed=seed)
        timings["refit"] = time.perf_counter() - t0
    return fit
