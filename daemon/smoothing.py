"""A steadier verdict beside the raw per-window blend.

One setting, ``--smooth SECONDS``, together with the hop gives both knobs:

* ``N = max(1, round(smooth / hop))`` windows enter a moving average of the blended scores;
* ``K = max(1, N // 2)`` consecutive windows: how long a new leader of that average must stay
  ahead before the displayed genre switches to it (hysteresis).

With the defaults (smooth 3 s, hop 0.5 s) N = 6 and K = 3: the average covers the last 3 s of
windows and a change of genre shows after 1.5 s of agreement. ``--smooth 0`` gives N = K = 1,
which is exactly the raw blend. A silent window clears the history: after silence a new piece
is judged on its own windows.
"""

from __future__ import annotations

from collections import deque

import numpy as np


def smoothing_params(smooth_seconds: float, hop_seconds: float) -> tuple[int, int]:
    """(N windows averaged, K windows a new leader must hold) for a smoothing span and a hop."""
    n = max(1, int(round(max(0.0, smooth_seconds) / hop_seconds)))
    return n, max(1, n // 2)


def _leader(scores: np.ndarray, tiebreak: np.ndarray) -> int:
    """The blend rule's argmax: highest score, ties broken by the weighted probabilities, then lowest index."""
    top = np.flatnonzero(scores == scores.max())
    if len(top) == 1:
        return int(top[0])
    return int(top[np.argmax(tiebreak[top])])


class Smoother:
    """Moving average over the last ``n`` windows plus a ``k``-window hysteresis on the displayed genre."""

    def __init__(self, n: int, k: int):
        self.n, self.k = int(n), int(k)
        self.reset()

    def reset(self) -> None:
        self._scores: deque[np.ndarray] = deque(maxlen=self.n)
        self._tiebreak: deque[np.ndarray] = deque(maxlen=self.n)
        self.genre: int | None = None
        self._candidate: int | None = None
        self._streak = 0

    def update(self, scores: np.ndarray, tiebreak: np.ndarray) -> tuple[int, np.ndarray]:
        """Add one window's blended scores (and weighted probabilities); return (displayed genre, averaged scores)."""
        self._scores.append(np.asarray(scores, dtype=np.float64))
        self._tiebreak.append(np.asarray(tiebreak, dtype=np.float64))
        avg = np.mean(self._scores, axis=0)
        leader = _leader(avg, np.mean(self._tiebreak, axis=0))
        if self.genre is None or leader == self.genre:
            self.genre = leader
            self._candidate, self._streak = None, 0
        else:
            if leader == self._candidate:
                self._streak += 1
            else:
                self._candidate, self._streak = leader, 1
            if self._streak >= self.k:
                self.genre = leader
                self._candidate, self._streak = None, 0
        return self.genre, avg
