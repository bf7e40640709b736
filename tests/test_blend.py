"""The blend rules, their calibration and the exhaustive weight search (checked against a plain Python loop)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from gtzan.blend import (
    blend_predict,
    blend_scores,
    calibrate,
    mean_predict,
    predict,
    search_weights,
    vote_counts,
    weighted_probs,
)


def _rand_probs(rng: np.random.Generator, m: int, n: int, k: int, quantised: bool = False) -> np.ndarray:
    p = rng.random((m, n, k)) ** 3
    if quantised:  # KNN-like fractions: many exact ties in votes and in the tie-break sums
        p = np.round(p * 2) / 2
    p = p + 1e-3
    return p / p.sum(axis=2, keepdims=True)


def _loop_predict(probs: np.ndarray, w) -> list[int]:
    m, n, k = probs.shape
    out = []
    for r in range(n):
        votes = [0.0] * k
        tb = [0.0] * k
        for i in range(m):
            votes[int(np.argmax(probs[i, r]))] += w[i]
        for c in range(k):
            acc = w[0] * float(probs[0, r, c])
            for i in range(1, m):
                acc = acc + w[i] * float(probs[i, r, c])
            tb[c] = acc
        top = max(votes)
        best = None
        for c in range(k):  # lowest index wins equal tie-break sums
            if votes[c] == top and (best is None or tb[c] > tb[best]):
                best = c
        out.append(best)
    return out


def test_rule_on_the_reports_example():
    # weights (1,1,0,0,3,2); members vote 2,6,3,2,2,3 -> genre 2 gets 1+0+3 = 4 votes
    votes = [2, 6, 3, 2, 2, 3]
    probs = np.full((6, 1, 10), 0.01)
    for i, v in enumerate(votes):
        probs[i, 0, v] = 0.91
    w = (1, 1, 0, 0, 3, 2)
    assert blend_predict(probs, w).tolist() == [2]
    s = blend_scores(probs, w)
    assert s[0, 2] == pytest.approx(4 / 7) and s.sum() == pytest.approx(1.0)
    assert vote_counts(probs, w)[0, 3] == 2


def test_vote_tie_goes_to_weighted_probability_then_lowest_index():
    probs = np.zeros((2, 2, 3))
    probs[0, 0] = [0.6, 0.4, 0.0]  # votes 0
    probs[1, 0] = [0.0, 0.9, 0.1]  # votes 1: tie 1-1, weighted probs 0.6 vs 1.3 -> genre 1
    probs[0, 1] = [0.5, 0.0, 0.5]  # votes 0 (lowest index)
    probs[1, 1] = [0.0, 0.5, 0.5]  # votes 1: weighted probs 0.5, 0.5, 1.0 -> only 0,1 tied in votes
    assert blend_predict(probs, (1, 1)).tolist() == [1, 0]
    wp = weighted_probs(probs, (1, 1))
    np.testing.assert_allclose(wp.sum(axis=1), 1.0)


@pytest.mark.parametrize("quantised", [False, True])
def test_matches_plain_loop_for_every_weight_vector(quantised):
    rng = np.random.default_rng(7 + quantised)
    probs = _rand_probs(rng, 4, 60, 5, quantised)
    for w in itertools.product(range(4), repeat=4):
        if any(w):
            assert blend_predict(probs, w).tolist() == _loop_predict(probs, w), w


@pytest.mark.parametrize("quantised", [False, True])
def test_search_matches_brute_force_loop(quantised):
    rng = np.random.default_rng(3 + quantised)
    m, n, k = 4, 80, 5
    probs = _rand_probs(rng, m, n, k, quantised)
    y = rng.integers(0, k, n)
    # members right about 60 % of the time so that weights matter
    for i in range(m):
        hit = rng.random(n) < 0.6
        probs[i, hit, y[hit]] += 2.0
    probs /= probs.sum(axis=2, keepdims=True)
    best_key, best_w = None, None
    for w in itertools.product(range(4), repeat=m):
        if not any(w):
            continue
        acc = sum(p == t for p, t in zip(_loop_predict(probs, w), y))
        key = (-acc, sum(w), w)
        if best_key is None or key < best_key:
            best_key, best_w = key, w
    w, acc, hist = search_weights(probs, y, start_max=3, stop_max=3, chunk_size=37)
    assert w == best_w
    assert acc == pytest.approx(-best_key[0] / n)
    assert hist[-1]["evaluated"] == 4**m - 1


def test_search_counts_match_blend_predict_for_all_vectors():
    from gtzan.blend import _count_correct, _Patterns, _weight_block

    rng = np.random.default_rng(11)
    probs = _rand_probs(rng, 3, 50, 4, quantised=True)
    y = rng.integers(0, 4, 50)
    W = _weight_block(1, 5**3, 5, 3)
    got = _count_correct(_Patterns(probs, y), W)
    want = [int((blend_predict(probs, w) == y).sum()) for w in W]
    assert got.tolist() == want


def test_widening_stops_when_weights_stop_changing():
    rng = np.random.default_rng(0)
    probs = _rand_probs(rng, 3, 40, 4)
    y = probs[0].argmax(axis=1)  # member 0 is always right: (1, 0, 0) wins at once
    w, acc, hist = search_weights(probs, y, start_max=2, stop_max=6)
    assert w == (1, 0, 0) and acc == 1.0
    assert [h["max"] for h in hist] == [2, 3]
    assert hist[1]["evaluated"] == 4**3 - 3**3


def test_bad_input_is_rejected():
    probs = np.ones((2, 3, 4)) / 4
    with pytest.raises(ValueError):
        blend_predict(probs, (0, 0))
    with pytest.raises(ValueError):
        blend_predict(probs, (1, 2, 3))
    with pytest.raises(ValueError):
        search_weights(probs, np.zeros(5))


# ----------------------------------------------------------------------------- the mean rule, calibration

def test_mean_rule_follows_confidence_where_the_vote_follows_the_majority():
    probs = np.full((3, 1, 10), 0.7 / 9)
    probs[0, 0, 1] = probs[1, 0, 1] = 0.3  # two lukewarm votes for genre 1
    probs[:2, 0, 7] = 0.01
    probs[2, 0] = 0.01 / 9
    probs[2, 0, 7] = 0.99  # one confident vote for genre 7
    assert blend_predict(probs, (1, 1, 1)).tolist() == [1]
    assert mean_predict(probs, (1, 1, 1)).tolist() == [7]
    assert predict(probs, (1, 1, 1), "vote").tolist() == [1]
    assert predict(probs, (1, 1, 1), "mean").tolist() == [7]
    assert mean_predict(probs, (2, 2, 0)).tolist() == [1]  # weight 0: no part in the average


def test_mean_rule_is_the_argmax_of_the_weighted_average_lowest_index_on_ties():
    rng = np.random.default_rng(5)
    probs = _rand_probs(rng, 3, 50, 6)
    for w in [(1, 0, 0), (1, 2, 3), (0, 4, 1)]:
        np.testing.assert_array_equal(mean_predict(probs, w), weighted_probs(probs, w).argmax(axis=1))
    tie = np.zeros((2, 1, 4))
    tie[0, 0] = [0.0, 0.5, 0.0, 0.5]
    tie[1, 0] = [0.0, 0.0, 0.5, 0.5]
    assert mean_predict(tie, (1, 1)).tolist() == [3]
    tie[1, 0] = [0.0, 0.5, 0.0, 0.5]
    assert mean_predict(tie, (1, 1)).tolist() == [1]


def test_unknown_rule_is_refused():
    with pytest.raises(ValueError, match="unknown blend rule"):
        predict(np.ones((1, 2, 3)) / 3, (1,), "median")


def test_calibrate_t1_is_the_identity_on_distributions():
    p = _rand_probs(np.random.default_rng(1), 1, 40, 10)[0]
    np.testing.assert_allclose(calibrate(p, 1.0), p, rtol=1e-12, atol=1e-15)
    q = np.array([[0.0, 1.0, 0.0], [0.25, 0.25, 0.5]])  # zeros are floored at 1e-12, not log(0)
    np.testing.assert_allclose(calibrate(q, 1.0), q, atol=1e-11)


def test_calibrate_higher_temperature_flattens_and_keeps_the_order():
    p = _rand_probs(np.random.default_rng(2), 1, 40, 10)[0]
    prev = p
    for t in (1.5, 3.0, 10.0):
        c = calibrate(p, t)
        np.testing.assert_allclose(c.sum(axis=1), 1.0)
        np.testing.assert_array_equal(c.argmax(axis=1), p.argmax(axis=1))
        np.testing.assert_array_equal(np.argsort(c, axis=1, kind="stable"), np.argsort(p, axis=1, kind="stable"))
        assert np.all(c.max(axis=1) < prev.max(axis=1))  # the top probability comes down
        prev = c
    sharp = calibrate(p, 0.5)
    assert np.all(sharp.max(axis=1) > p.max(axis=1))
    np.testing.assert_allclose(calibrate(p, 1e6), 1 / 10, atol=1e-4)  # towards uniform


def test_calibrate_matches_the_formula():
    p = np.array([[0.6, 0.3, 0.1]])
    z = np.log(p) / 2.0
    np.testing.assert_allclose(calibrate(p, 2.0), np.exp(z) / np.exp(z).sum())


@pytest.mark.parametrize("t", [0.0, -1.0, float("nan"), float("inf")])
def test_calibrate_refuses_bad_temperatures(t):
    with pytest.raises(ValueError, match="temperature"):
        calibrate(np.full((1, 4), 0.25), t)
