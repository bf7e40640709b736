"""The numbers every part of gtzan-listen agrees on: sample rate, STFT geometry, window length, genres.

They sit below everything else so that audio input, features, bundles and the listener import them
without importing each other.
"""

from __future__ import annotations

SR = 22050  # the GTZAN tracks' sample rate: features are defined at this rate only
N_FFT = 2048  # librosa's default STFT frame
HOP = 512  # librosa's default STFT hop
WINDOW_SAMPLES = 66149  # the `length` of every row of the Kaggle 3-second table

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
