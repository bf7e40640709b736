"""The numbers every part of gtzan-listen agrees on: sample rate, STFT geometry, window length, hop, genres.

They sit below everything else so that audio input, features, bundles and the listener import them
without importing each other.
"""

from __future__ import annotations

import math

SR = 22050  # the GTZAN tracks' sample rate: features are defined at this rate only
N_FFT = 2048  # librosa's default STFT frame
HOP = 512  # librosa's default STFT hop
WINDOW_SAMPLES = 66149  # the `length` of every row of the Kaggle 3-second table


def hop_frames(hop_seconds: float, sr: int = SR) -> int:
    """A hop in seconds (gtzan-listen's --hop) as the whole number (>= 1) of 512-sample frames it is
    rounded to; everything past the command line counts the hop in frames."""
    if not math.isfinite(hop_seconds) or hop_seconds <= 0:
        raise ValueError(f"hop must be a positive number of seconds, got {hop_seconds}")
    return max(1, round(hop_seconds * sr / HOP))


DEFAULT_HOP_FRAMES = hop_frames(0.5)  # gtzan-listen's default --hop (22 frames, 0.5108 s)

GENRES: tuple[str, ...] = (
    "blues",
    "classical",
    "country",
    "disco",
    "hiphop",
    "jazz",
    "metal",
    "pop",
    "reggae",
    "rock",
)
