"""A steadier verdict beside the raw per-window blend.

One setting, ``--smooth SECONDS``, together with the hop gives both knobs:

* ``N = max(1, round(smooth / hop))`` windows enter a moving average of the calibrated blend
  probabilities (gtzan.blend.calibrate); its argmax (lowest genre index on a tie) leads;
* ``K = max(1, N // 2)`` consecutive windows: how long a new leader of that average must stay
  ahead before the displayed genre switches to it (hysteresis).

Probabilities rather than vote shares are averaged because a vote share jumps between a few values
and reads 100% whenever the members agree: the averaged probability of the shown genre is its
confidence, and it is what the uncertainty threshold is compared with.

With the defaults (smooth 3 s, hop 0.5 s) N = 6 and K = 3: the average covers the last 3 s of
windows and a change of genre shows after 1.5 s of agreement. ``--smooth 0`` gives N = K = 1: each
window's own calibrated probabilities, whose argmax is the raw verdict of a ``"mean"`` bundle (a
``"vote"`` bundle's raw verdict is the vote, which can differ from it). A silent window clears the
history: after silence a new piece is judged on its own windows.
"""

from __future__ import annotations

from collections import deque

import numpy as np


def smoothing_params(smooth_seconds: float, hop_seconds: float) -> tuple[int, int]:
    """(N windows averaged, K windows a new leader must hold) for a smoothing span and a hop."""
    n = max(1, int(round(max(0.0, smooth_seconds) / hop_seconds)))
    return n, max(1, n // 2)


class Smoother:
    """Moving average over the last ``n`` windows plus a ``k``-window hysteresis on the displayed genre."""

    def __init__(self, n: int, k: int):
        self.n, self.k = int(n), int(k)
        self.reset()

    def reset(self) -> None:
        self._probs: deque[np.ndarray] = deque(maxlen=self.n)
        self.genre: int | None = None
        self._candidate: int | None = None
        self._streak = 0

    def update(self, probs: np.ndarray) -> tuple[int, np.ndarray]:
        """Add one window's calibrated probabilities; return (displayed genre, averaged probabilities)."""
        self._probs.append(np.asarray(probs, dtype=np.float64))
        avg = np.mean(self._probs, axis=0)
        leader = int(np.argmax(avg))
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
