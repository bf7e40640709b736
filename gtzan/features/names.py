"""The names of the 58 GTZAN features, in the column order of the Kaggle tables and of every model."""

from __future__ import annotations

# statistics with a mean and a variance, in table order (harmony/perceptr: the HPSS waveforms)
STATS: tuple[str, ...] = (
    "chroma_stft",
    "rms",
    "spectral_centroid",
    "spectral_bandwidth",
    "rolloff",
    "zero_crossing_rate",
    "harmony",
    "perceptr",
)
N_MFCC = 20
MFCCS: tuple[str, ...] = tuple(f"mfcc{i}" for i in range(1, N_MFCC + 1))

FEATURE_NAMES: tuple[str, ...] = (
    ("length",)
    + tuple(f"{s}_{m}" for s in STATS for m in ("mean", "var"))
    + ("tempo",)
    + tuple(f"{s}_{m}" for s in MFCCS for m in ("mean", "var"))
)
assert len(FEATURE_NAMES) == 58
