"""Plain librosa version of the features: the independent check of gtzan.features (needs librosa)."""

from __future__ import annotations

import numpy as np


def clip_features(y: np.ndarray, sr: int = 22050) -> np.ndarray:
    import librosa

    y = np.asarray(y, dtype=np.float32)
    out = [float(len(y))]
    for f in (
        lambda: librosa.feature.chroma_stft(y=y, sr=sr),
        lambda: librosa.feature.rms(y=y),
        lambda: librosa.feature.spectral_centroid(y=y, sr=sr),
        lambda: librosa.feature.spectral_bandwidth(y=y, sr=sr),
        lambda: librosa.feature.spectral_rolloff(y=y, sr=sr),
        lambda: librosa.feature.zero_crossing_rate(y),
    ):
        v = f()
        out += [float(np.mean(v)), float(np.var(v))]
    h, p = librosa.effects.hpss(y)
    out += [float(np.mean(h)), float(np.var(h)), float(np.mean(p)), float(np.var(p))]
    tempo, _ = librosa.beat.beat_track(y=y, sr=sr)
    out.append(float(np.atleast_1d(tempo)[0]))
    m = librosa.feature.mfcc(y=y, sr=sr)
    for row in m:
        out += [float(np.mean(row)), float(np.var(row))]
    return np.asarray(out, dtype=np.float64)
