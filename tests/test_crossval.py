"""Grouped folds, the mean-rule weight search, the temperature fit and the out-of-fold blend choice."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from gtzan.blend import calibrate, weighted_probs
from gtzan.constants import GENRES
from gtzan.training.blend_search import (
    expected_calibration_error,
    fit_temperature,
    mean_accuracy,
    reliability,
    search_mean_weights,
)
from gtzan.training.dataset import FeatureTable
from gtzan.training.splits import SplitError, artists, cv_folds, group_tracks

pytest.importorskip("sklearn")


def _table(per_genre: int = 6, windows: int = 3) -> FeatureTable:
    rng = np.random.default_rng(0)
    names, tracks, y = [], [], []
    for g, genre in enumerate(GENRES):
        for t in range(per_genre):
            for w in range(windows):
                names.append(f"{genre}.{t:05d}.{w}.wav")
                tracks.append(f"{genre}.{t:05d}")
                y.append(g)
    return FeatureTable(rng.normal(size=(len(y), 58)), np.array(y), np.array(names), np.array(tracks))


@pytest.fixture()
def meta(tmp_path: Path) -> Path:
    m = tmp_path / "metadata"
    m.mkdir()
    (m / "exact_duplicate_pairs_from_features_30_sec.csv").write_text(
        "track_a,track_b,cross_genre,evidence\nmetal.00000,rock.00001,True,x\n")
    (m / "same_artist_title_groups_from_sturm_index.csv").write_text(
        "artist_title,tracks\na|b,pop.00002;pop.00003;disco.00004\n")
    (m / "sturm2012_GTZANindex.txt").write_text(
        "## header\njazz.00000.wav ::: Miles Davis ::: So What\njazz.00001.wav ::: miles davis ::: Blue\n"
        "jazz.00002.wav ::: ::: \nblues.00000.wav ::: Miles Davis ::: x\n")
    return tmp_path


def _together(groups: np.ndarray, t: FeatureTable, a: str, b: str) -> bool:
    return bool(groups[t.tracks == a][0] == groups[t.tracks == b][0])


def test_groups_join_duplicates_titles_and_artists(meta: Path):
    t = _table()
    g = group_tracks(t.tracks, "track", meta)
    assert _together(g, t, "metal.00000", "rock.00001") and _together(g, t, "pop.00002", "disco.00004")
    assert not _together(g, t, "jazz.00000", "jazz.00001")
    ga = group_tracks(t.tracks, "artist", meta)
    assert _together(ga, t, "jazz.00000", "jazz.00001")
    assert _together(ga, t, "jazz.00000", "blues.00000")  # the artist's name compared case-insensitively
    assert not _together(ga, t, "jazz.00002", "jazz.00003")  # unknown artists stay apart
    assert _together(ga, t, "metal.00000", "rock.00001")  # duplicates still joined
    assert artists(meta) == {"jazz.00000": "miles davis", "jazz.00001": "miles davis", "blues.00000": "miles davis"}


@pytest.mark.parametrize("protocol", ["track", "artist", "paper"])
def test_folds_never_split_a_group(meta: Path, protocol: str):
    t = _table()
    folds, groups = cv_folds(t, protocol, n_folds=4, seed=1, data_dir=meta)
    assert folds.min() == 0 and folds.max() == 3
    for grp in np.unique(groups):
        assert np.unique(folds[groups == grp]).size == 1, grp
    for f in range(4):  # stratified: every genre in every fold
        assert np.unique(t.y[folds == f]).size == len(GENRES)
    if protocol == "paper":  # windows of one track spread over folds
        assert any(np.unique(folds[t.tracks == tr]).size > 1 for tr in np.unique(t.tracks))
    else:
        assert all(np.unique(folds[t.tracks == tr]).size == 1 for tr in np.unique(t.tracks))


def test_artist_folds_need_the_index(tmp_path: Path):
    with pytest.raises(SplitError, match="Sturm"):
        group_tracks(_table().tracks, "artist", tmp_path)


def _probs(m: int, n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(m, n, k)) + 1.2 * np.eye(k)[y] * rng.uniform(0, 2, (m, 1, 1))
    p = np.exp(logits)
    return p / p.sum(axis=2, keepdims=True), y


def test_mean_weight_search_equals_a_plain_loop():
    probs, y = _probs(4, 150, 5, seed=2)
    w, acc, info = search_mean_weights(probs, y, max_weight=3, block=7)
    best = None
    for cand in itertools.product(range(4), repeat=4):
        if not any(cand):
            continue
        a = mean_accuracy(probs, y, cand)
        key = (-a, sum(cand), cand)
        best = key if best is None or key < best else best
    assert best is not None
    assert w == best[2] and acc == pytest.approx(-best[0]) and info["evaluated"] == 4**4 - 1


def test_temperature_fit_minimises_log_loss_and_keeps_the_ranking():
    probs, y = _probs(1, 2000, 10, seed=3)
    p = probs[0] ** 3  # overconfident
    p /= p.sum(axis=1, keepdims=True)
    t = fit_temperature(p, y)
    assert t > 1.5  # it softens an overconfident model

    def nll(tt: float) -> float:
        q = calibrate(p, tt)
        return float(-np.mean(np.log(q[np.arange(y.size), y])))

    assert nll(t) <= min(nll(t * 0.9), nll(t * 1.1), nll(1.0))
    q = calibrate(p, t)
    assert np.array_equal(q.argmax(axis=1), p.argmax(axis=1))
    assert expected_calibration_error(q, y) < expected_calibration_error(p, y)


def test_reliability_bins_count_every_row():
    probs, y = _probs(1, 500, 10, seed=4)
    r = reliability(probs[0], y, bins=10)
    assert sum(r["count"]) == 500 and len(r["accuracy"]) == 10
    perfect = np.eye(10)[y]
    assert expected_calibration_error(perfect, y) == 0.0


def test_blend_choice_beats_or_equals_every_single_member():
    from gtzan.training.ensemble import blend_labels, choose_blend, nested_blend

    probs, y = _probs(6, 600, 10, seed=5)
    names = tuple(f"m{i}" for i in range(6))
    ch = choose_blend(probs, y, names, quick=True)
    w = tuple(ch.weights[n] for n in names)
    acc = float(np.mean(blend_labels(probs, w, ch.rule) == y))
    assert acc == pytest.approx(ch.oof_accuracy[ch.rule])
    assert acc >= max(np.mean(p.argmax(1) == y) for p in probs)
    assert ch.calibration["ece_after"] <= ch.calibration["ece_before"] + 1e-9
    folds = np.arange(y.size) % 3
    nested = nested_blend(probs, y, folds, names, quick=True)
    assert nested["labels"]["chosen"].shape == y.shape and len(nested["folds"]) == 3
    assert np.array_equal(weighted_probs(probs, w).argmax(1), blend_labels(probs, w, "mean"))


def test_the_svm_is_scored_out_of_fold_and_weighted_only_when_named(meta: Path):
    from gtzan.features import FEATURE_NAMES
    from gtzan.training.crossfit import cross_fit

    t = _table(per_genre=6, windows=4)
    means = [i for i, n in enumerate(FEATURE_NAMES) if n.endswith("_mean")][:10]
    t.X[:, means] += 6.0 * np.eye(10)[t.y]  # learnable: one feature per genre (not a logged variance)
    fit = cross_fit(t, "track", n_folds=3, quick=True, data_dir=meta, refit=False, progress=False,
                    blend_members=("xgb", "svm"))
    oof = fit.cv.oof["svm"]
    assert oof.shape == (len(t), 10) and np.mean(oof.argmax(1) == t.y) > 0.8  # every row predicted out of fold
    assert set(fit.choice.weights) == {"xgb", "svm"} and any(fit.choice.weights.values())
    scores = fit.evaluation["by_source"]["table"]["scores"]
    assert "svm" in scores and "rf" in scores  # every member is scored, candidate or not
    with pytest.raises(ValueError, match="blend members"):
        cross_fit(t, "track", n_folds=3, quick=True, data_dir=meta, refit=False, progress=False,
                  blend_members=("svm", "numpy_net"))


@pytest.mark.parametrize("fold_refit", [True, False])
def test_each_fold_refits_its_members_on_all_its_training_rows(monkeypatch, fold_refit: bool):
    """With fold_refit, members chosen on a fold's inner split are trained again on the whole fold at the
    lengths chosen, and those predict the fold; without it, the inner split's members predict it."""
    from types import SimpleNamespace

    from gtzan.training import crossval
    from gtzan.training.members import LENGTH_KINDS, MEMBERS

    params = {"keras1": {"best_epoch": 4}, "keras2": {"best_epoch": 5}, "keras3": {"best_epoch": 6},
              "xgb": {"n_estimators": 70}, "knn": {"n_neighbors": 3}, "numpy_net": {"best_epoch": 2}}
    calls: list[tuple[np.ndarray, np.ndarray | None, dict | None]] = []
    first_kinds: list = []

    def fake_fit(table, train, val=None, *, fixed=None, kinds=None, **kw):
        calls.append((np.asarray(train), None if val is None else np.asarray(val), fixed))
        if fixed is None:
            first_kinds.append(kinds)
        code = len(train) / 1e4  # each member's probabilities say how many rows trained it

        def predict(X, code=code):
            return np.full((len(X), 10), code)

        return [SimpleNamespace(name=m.name, params=params.get(m.name, {}), predict_proba=predict)
                for m in MEMBERS if kinds is None or m.kind in kinds]

    monkeypatch.setattr(crossval, "fit_members", fake_fit)
    t = _table(per_genre=7, windows=2)
    folds = np.arange(len(t)) // 2 % 3  # both windows of a track in one fold
    groups = t.tracks
    cv = crossval.cross_validate(t, folds, groups, progress=False, fold_refit=fold_refit)
    assert len(calls) == (6 if fold_refit else 3)
    for f in range(3):
        pool = np.flatnonzero(folds != f)
        inner_train, inner_val, fixed = calls[2 * f if fold_refit else f]
        assert fixed is None and inner_val is not None and inner_val.size
        assert np.array_equal(np.sort(np.concatenate([inner_train, inner_val])), pool)
        used = inner_train.size
        if fold_refit:
            train, val, fixed = calls[2 * f + 1]
            assert np.array_equal(train, pool) and val is None
            assert fixed == {"keras_epochs": [4, 5, 6], "xgb_rounds": 70, "knn_k": 3, "numpy_epochs": 2}
            used = pool.size
        assert cv.chosen[f]["xgb_rounds"] == 70
        for name in ("xgb", "rf"):  # the forest has no length to choose: with the refit, fitted once
            assert np.all(cv.oof[name][folds == f] == used / 1e4), name
    assert all(k == (LENGTH_KINDS if fold_refit else None) for k in first_kinds) and len(first_kinds) == 3
