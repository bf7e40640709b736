"""The blend rules shared by training and the daemon (NumPy only), and the calibration of their output.

Two rules combine the members' probabilities ``p_i`` with integer weights ``w_i`` (members with weight 0
take no part):

* ``"mean"``: the weighted average ``p_w = sum_i w_i p_i / sum(w)`` (:func:`weighted_probs`); the label is
  its argmax, the lowest genre index on a tie (:func:`mean_predict`).
* ``"vote"``: every member votes for the argmax of its probabilities (lowest genre index on a tie);
  ``votes[n, k] = sum_i w_i * onehot_i[n, k]``. The predicted genre is the argmax of the votes; a tie in
  votes is broken by ``sum_i w_i * p_i[n, k]`` over the tied genres, and a tie there by the lowest genre
  index (:func:`blend_predict`). Its scores are the vote share ``votes / sum(w)`` (:func:`blend_scores`).

Vote shares take only the few values that sums of the weights allow and reach 100% whenever the members
agree, right or wrong, so they are no measure of confidence. :func:`calibrate` turns ``p_w`` into probabilities with
one temperature fitted on held-out data, whichever rule gives the label.

:func:`search_weights` enumerates every integer weight vector in ``[0, R]^m`` (all-zero excluded), as the
report did with a brute-force C++ program, but grouped by vote pattern so that ``[0, 10]^6`` (1.77 M
vectors) takes seconds. Among weight vectors with the same accuracy the winner is the one with the
smallest sum of weights, then the lexicographically smallest vector (so ``(1, 1)`` beats ``(2, 2)``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

__all__ = [
    "RULES",
    "PROB_FLOOR",
    "member_votes",
    "vote_counts",
    "weighted_probs",
    "blend_scores",
    "blend_predict",
    "mean_predict",
    "predict",
    "calibrate",
    "search_weights",
]

RULES = ("mean", "vote")
PROB_FLOOR = 1e-12  # log(0) has no place in a softmax; a probability this small is as good as zero


def _check(probs: np.ndarray, weights: Any) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs)
    if probs.ndim != 3:
        raise ValueError(f"probs must have shape (members, rows, classes), got {probs.shape}")
    w = np.asarray(weights)
    if w.shape != (probs.shape[0],):
        raise ValueError(f"need one weight per member ({probs.shape[0]}), got shape {w.shape}")
    if np.any(w < 0) or not np.any(w > 0):
        raise ValueError("weights must be non-negative and not all zero")
    return probs, w


def member_votes(probs: np.ndarray) -> np.ndarray:
    """Each member's vote (m, n): argmax of its probabilities, lowest index on a tie."""
    return np.asarray(probs).argmax(axis=2)


def vote_counts(probs: np.ndarray, weights: Any) -> np.ndarray:
    """Weighted votes (n, k): ``sum_i w_i * onehot(argmax p_i)``."""
    probs, w = _check(probs, weights)
    m, n, k = probs.shape
    votes = np.zeros((n, k), dtype=np.float64)
    rows = np.arange(n)
    for i, v in enumerate(member_votes(probs)):
        np.add.at(votes, (rows, v), float(w[i]))
    return votes


def weighted_probs(probs: np.ndarray, weights: Any) -> np.ndarray:
    """``sum_i w_i p_i / sum(w)`` (n, k): the tie-break signal, normalised to a distribution."""
    probs, w = _check(probs, weights)
    return _weighted_sum(probs, w.astype(np.float64)) / float(np.sum(w))


def _weighted_sum(probs: np.ndarray, w: np.ndarray) -> np.ndarray:
    # Accumulated member by member in a fixed order so the search reproduces it bit for bit.
    acc = w[0] * probs[0].astype(np.float64)
    for i in range(1, probs.shape[0]):
        acc = acc + w[i] * probs[i].astype(np.float64)
    return acc


def blend_scores(probs: np.ndarray, weights: Any) -> np.ndarray:
    """Blended scores (n, k): the weighted vote share ``votes / sum(w)`` (rows sum to 1)."""
    _, w = _check(probs, weights)
    return vote_counts(probs, weights) / float(np.sum(w))


def blend_predict(probs: np.ndarray, weights: Any) -> np.ndarray:
    """Blended labels (n,): most votes, then highest weighted probability, then lowest index."""
    probs, w = _check(probs, weights)
    votes = vote_counts(probs, w)
    tied = votes == votes.max(axis=1, keepdims=True)
    tb = np.where(tied, _weighted_sum(probs, w.astype(np.float64)), -np.inf)
    return tb.argmax(axis=1)


def mean_predict(probs: np.ndarray, weights: Any) -> np.ndarray:
    """Labels (n,) of the ``"mean"`` rule: argmax of the weighted average probabilities, lowest index on a tie."""
    return weighted_probs(probs, weights).argmax(axis=1)


def predict(probs: np.ndarray, weights: Any, rule: str) -> np.ndarray:
    """Labels (n,) of the named rule (one of :data:`RULES`), so that training and the bundle agree on it."""
    if rule == "mean":
        return mean_predict(probs, weights)
    if rule == "vote":
        return blend_predict(probs, weights)
    raise ValueError(f"unknown blend rule {rule!r} (expected one of {', '.join(RULES)})")


def calibrate(p: np.ndarray, temperature: float) -> np.ndarray:
    """Temperature-scaled probabilities (n, k): ``softmax(log(max(p, 1e-12)) / T)`` per row.

    ``T = 1`` returns a normalised ``p`` unchanged (up to rounding, entries below 1e-12 raised to it),
    ``T > 1`` flattens it and ``T < 1`` sharpens it; the order of the genres in a row, and so the argmax,
    never changes. One temperature fitted on held-out rows lets the probability of the verdict be read as
    how often such verdicts are right, which raw averaged member probabilities are not.
    """
    t = float(temperature)
    if not np.isfinite(t) or t <= 0.0:
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"p must have shape (rows, classes), got {p.shape}")
    z = np.log(np.maximum(p, PROB_FLOOR)) / t
    z -= z.max(axis=1, keepdims=True)  # exp never overflows; the largest term is 1
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


# ----------------------------------------------------------------------------------------- search


def _weight_block(start: int, stop: int, base: int, m: int) -> np.ndarray:
    """Weight vectors number start..stop-1 of [0, base-1]^m in lexicographic order (int16)."""
    idx = np.arange(start, stop, dtype=np.int64)
    out = np.empty((idx.size, m), dtype=np.int16)
    for j in range(m - 1, -1, -1):
        out[:, j] = idx % base
        idx //= base
    return out


class _Patterns:
    """Rows grouped by vote pattern up to relabelling: which members agree and where the truth is."""

    def __init__(self, probs: np.ndarray, y: np.ndarray):
        m, n, _ = probs.shape
        votes = member_votes(probs).T  # (n, m)
        canon = np.empty((n, m + 1), dtype=np.int16)
        for r in range(n):
            seen: dict[int, int] = {}
            for i in range(m):
                canon[r, i] = seen.setdefault(int(votes[r, i]), len(seen))
            canon[r, m] = seen.get(int(y[r]), -1)
        keys, inverse = np.unique(canon, axis=0, return_inverse=True)
        self.m = m
        self.groups = []
        for g, key in enumerate(keys):
            rows = np.flatnonzero(inverse.ravel() == g)
            n_blocks = int(key[:m].max()) + 1
            masks = [sum(1 << i for i in range(m) if key[i] == b) for b in range(n_blocks)]
            self.groups.append((masks, int(key[m]), rows))
        self.votes = votes
        self.probs = probs


def _count_correct(pat: _Patterns, W: np.ndarray, max_cells: int = 1 << 21) -> np.ndarray:
    """Correct rows (int64, len(W)) of the blend for every weight vector in W."""
    m = pat.m
    correct = np.zeros(W.shape[0], dtype=np.int64)
    cache: dict[int, np.ndarray] = {0: np.zeros(W.shape[0], dtype=np.int16)}

    def subset_sum(mask: int) -> np.ndarray:
        if mask not in cache:
            low = mask & -mask
            cache[mask] = subset_sum(mask ^ low) + W[:, low.bit_length() - 1]
        return cache[mask]

    Wf = None
    for masks, true_block, rows in pat.groups:
        if true_block < 0:
            continue  # no member voted for the truth: wrong for every weight vector
        if len(masks) == 1:
            correct += rows.size
            continue
        blocks = [subset_sum(mk) for mk in masks]
        t = blocks[true_block]
        others = [b for b in range(len(masks)) if b != true_block]
        om = blocks[others[0]]
        for b in others[1:]:
            om = np.maximum(om, blocks[b])
        correct += (t > om) * rows.size
        tie = np.flatnonzero(t == om)
        if tie.size == 0:
            continue
        # Tied in votes: the weighted probabilities decide, row by row (same arithmetic as blend_predict).
        if Wf is None:
            Wf = W.astype(np.float64)
        wt = Wf[tie]
        tt = t[tie]
        tied = {b: blocks[b][tie] == tt for b in others}
        members = [int(mk & -mk).bit_length() - 1 for mk in masks]  # one member of each block
        labels = pat.votes[rows][:, members]  # (G, b) genre of each block in each row
        step = max(1, max_cells // tie.size)
        for c in range(0, rows.size, step):
            rc, lc = rows[c : c + step], labels[c : c + step]

            def score(b: int, rc: np.ndarray = rc, lc: np.ndarray = lc, wt: np.ndarray = wt) -> np.ndarray:
                p = pat.probs[:, rc, lc[:, b]]  # (m, Gc)
                s = wt[:, 0:1] * p[0]
                for i in range(1, m):
                    s = s + wt[:, i : i + 1] * p[i]
                return s  # (T, Gc)

            st = score(true_block)
            win = np.ones(st.shape, dtype=bool)
            for b in others:
                sb = score(b)
                lower = lc[:, true_block] < lc[:, b]
                win &= (st > sb) | ((st == sb) & lower) | ~tied[b][:, None]
            correct[tie] += np.count_nonzero(win, axis=1)
    return correct


def search_weights(
    probs: np.ndarray,
    y: np.ndarray,
    start_max: int = 5,
    *,
    step: int = 1,
    stop_max: int = 10,
    chunk_size: int = 1 << 17,
) -> tuple[tuple[int, ...], float, list[dict[str, Any]]]:
    """Best integer weights for :func:`blend_predict` by exhaustive search.

    Searches ``[0, start_max]^m``, then widens the upper bound by ``step`` and searches again until the
    best weights stop changing or ``stop_max`` is reached. Each widening only visits the new vectors.
    Returns ``(weights, accuracy, history)``; history has one dict per range with ``max``, ``weights``,
    ``accuracy``, ``evaluated`` and ``seconds``.
    """
    probs = np.asarray(probs)
    y = np.asarray(y).astype(np.int64).ravel()
    if probs.ndim != 3 or probs.shape[1] != y.size or y.size == 0:
        raise ValueError(f"probs (members, rows, classes) must match y: {probs.shape} vs {y.shape}")
    if start_max < 1 or step < 1:
        raise ValueError("start_max and step must be >= 1")
    m = probs.shape[0]
    pat = _Patterns(probs, y)
    best: tuple[int, int, tuple[int, ...]] | None = None  # (-correct, sum, weights)
    history: list[dict[str, Any]] = []
    prev_max, cur_max = -1, start_max
    while True:
        t0 = time.perf_counter()
        base = cur_max + 1
        total = base**m
        evaluated = 0
        for start in range(1, total, chunk_size):
            W = _weight_block(start, min(total, start + chunk_size), base, m)
            if prev_max >= 0:
                W = W[W.max(axis=1) > prev_max]
                if W.shape[0] == 0:
                    continue
            evaluated += W.shape[0]
            corr = _count_correct(pat, W)
            cand = np.flatnonzero(corr == corr.max())
            sums = W[cand].astype(np.int64).sum(axis=1)
            j = cand[np.argmin(sums)]  # first minimum = lexicographically smallest (enumeration order)
            key = (-int(corr[j]), int(sums.min()), tuple(int(v) for v in W[j]))
            if best is None or key < best:
                best = key
        assert best is not None
        prev_best = history[-1]["weights"] if history else None
        history.append(
            {
                "max": cur_max,
                "weights": best[2],
                "accuracy": -best[0] / y.size,
                "evaluated": evaluated,
                "seconds": time.perf_counter() - t0,
            }
        )
        if best[2] == prev_best or cur_max + step > stop_max:
            break
        prev_max, cur_max = cur_max, cur_max + step
    return best[2], -best[0] / y.size, history
