"""The 30 s context model measured against averaging the 3 s blend over a track (gtzan.training.context)."""

from __future__ import annotations

import numpy as np
import pytest

from gtzan.constants import GENRES
from gtzan.training.dataset import FeatureTable

pytest.importorskip("xgboost")


def _tracks(per_genre: int = 24) -> tuple[np.ndarray, np.ndarray]:
    names = np.array([f"{g}.{t:05d}" for g in GENRES for t in range(per_genre)])
    y = np.repeat(np.arange(len(GENRES)), per_genre)
    return names, y


def test_an_informative_context_model_reads_tracks_that_the_averaged_windows_miss():
    from gtzan.training.context import context_comparison

    rng = np.random.default_rng(0)
    names, y = _tracks()
    folds_of_track = np.arange(names.size) % 4
    # 30 s rows: the genre is plain in chroma_stft_mean; 3 s windows: probabilities that know nothing
    X = rng.normal(size=(names.size, 58))
    X[:, 1] += 10.0 * y
    context = FeatureTable(X, y, np.array([f"{n}.wav" for n in names]), names)
    windows = 3
    tracks = np.repeat(names, windows)
    folds = np.repeat(folds_of_track, windows)
    probs = rng.dirichlet(np.ones(len(GENRES)), size=tracks.size)
    extra = np.array(["blues.09999"] * 2)  # a track with no 30 s row: left out, and counted
    out = context_comparison(
        context,
        np.concatenate([tracks, extra]),
        np.concatenate([folds, [0, 0]]),
        np.vstack([probs, rng.dirichlet(np.ones(len(GENRES)), size=2)]),
    )
    acc = out["accuracy"]
    assert out["tracks"] == names.size and out["tracks_without_context_row"] == 1
    assert acc["context"] > 0.9 and acc["averaged"] < 0.4
    assert acc["combined"] >= acc["context"] - 0.05
    assert len(out["shares"]) == 4 and all(a > 0 for a in out["shares"])  # the context gets a say
    assert len(out["per_fold"]["combined"]) == 4


def test_the_context_model_never_reads_the_clip_length():
    """The 30 s table's lengths say which clips were cut short, not their genre: the model trains without them."""
    from gtzan.training.context import fit_context

    rng = np.random.default_rng(5)
    names, y = _tracks(12)
    X = rng.normal(size=(names.size, 58))
    X[:, 0] = 661794 - 1000 * y  # a genre that the length alone would give away
    model = fit_context(FeatureTable(X, y, names, names), quick=True)
    fresh = rng.normal(size=X.shape)  # new rows with the same lengths: nothing else to go by
    fresh[:, 0] = X[:, 0]
    assert (model.predict_proba(fresh).argmax(axis=1) == y).mean() < 0.3


def test_the_averaged_verdict_is_the_mean_probability_of_a_tracks_windows():
    from gtzan.training.context import context_comparison

    rng = np.random.default_rng(1)
    names, y = _tracks(4)
    context = FeatureTable(rng.normal(size=(names.size, 58)), y, names, names)  # a context that knows nothing
    tracks = np.repeat(names, 2)
    probs = np.zeros((tracks.size, len(GENRES)))
    probs[0::2, :] = 0.05
    probs[np.arange(0, tracks.size, 2), y] = 0.55  # first window: the right genre at 0.55
    probs[1::2, :] = 0.1  # second window: flat
    out = context_comparison(context, tracks, np.arange(tracks.size) // 2 % 2, probs, quick=True)
    assert out["accuracy"]["averaged"] == 1.0


def test_our_windows_are_pooled_into_their_tracks_30_second_rows_and_measured():
    """The listener's side: a track's windows pooled (gtzan.context) and read by the same fold's model."""
    from gtzan.context import pool_windows
    from gtzan.training.context import OurRows, context_comparison, fit_context

    rng = np.random.default_rng(2)
    names, y = _tracks(12)
    folds_of_track = np.arange(names.size) % 3
    mean0 = 5.0 * y  # the genre shows in the windows' pooled first _mean feature
    X = rng.normal(size=(names.size, 58))
    X[:, 1] += mean0  # column 1 is chroma_stft_mean
    context = FeatureTable(X, y, names, names)
    probs = rng.dirichlet(np.ones(len(GENRES)), size=names.size * 2)
    tracks, folds = np.repeat(names, 2), np.repeat(folds_of_track, 2)
    win = rng.normal(size=(names.size * 4, 58))
    win[:, 1] += np.repeat(mean0, 4)
    ours = OurRows(np.repeat(names, 4), np.repeat(folds_of_track, 4), win,
                   rng.dirichlet(np.ones(len(GENRES)), size=names.size * 4), np.repeat(y, 4))
    out = context_comparison(context, tracks, folds, probs, quick=True, ours=ours)
    o = out["ours"]
    assert o["tracks"] == names.size and o["accuracy"]["context"] > 0.8 > o["accuracy"]["averaged"]
    assert o["right"]["combined"] >= o["right"]["averaged"]
    assert 0.0 < out["shipped_share"] <= 1.0
    model = fit_context(context, quick=True)
    pooled = np.stack([pool_windows(win[ours.tracks == t]) for t in names[:5]])
    assert (model.predict_proba(pooled).argmax(axis=1) == y[:5]).mean() >= 0.8
