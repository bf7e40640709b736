"""The one definition of the 58 GTZAN features (Kaggle ``features_3_sec.csv`` / ``features_30_sec.csv``).

The Kaggle tables use plain librosa defaults (n_fft 2048, hop 512, centred frames): mean and variance
over frames of chroma_stft, rms, spectral centroid / bandwidth / rolloff, zero-crossing rate, of the
harmonic and percussive waveforms of ``librosa.effects.hpss``, and of 20 MFCCs; tempo from
``librosa.beat.beat_track``; length in samples. This module computes exactly that, but from per-frame
pieces (``gtzan.frames``) so that ``gtzan.stream`` can share frames between overlapping windows and
still produce the same numbers.
"""

from __future__ import annotations

import numpy as np

from gtzan import filters, medians
from gtzan import frames as fr
from gtzan.frames import HOP, N_FFT, SR, FrameData

WINDOW_SAMPLES = 66149  # the `length` of every row of the report's 3-second table

GENRES: tuple[str, ...] = (
    "blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock",
)

_STATS = (
    "chroma_stft", "rms", "spectral_centroid", "spectral_bandwidth", "rolloff",
    "zero_crossing_rate", "harmony", "perceptr",
)
FEATURE_NAMES: tuple[str, ...] = (
    ("length",)
    + tuple(f"{s}_{m}" for s in _STATS for m in ("mean", "var"))
    + ("tempo",)
    + tuple(f"mfcc{i}_{m}" for i in range(1, 21) for m in ("mean", "var"))
)
assert len(FEATURE_NAMES) == 58

__all__ = [
    "SR", "N_FFT", "HOP", "WINDOW_SAMPLES", "GENRES", "FEATURE_NAMES",
    "clip_features", "window_starts", "n_frames",
]


def n_frames(n_samples: int) -> int:
    """Number of centred STFT frames of a clip."""
    return 1 + n_samples // HOP


def window_starts(n_samples: int, hop: int = WINDOW_SAMPLES, length: int = WINDOW_SAMPLES) -> list[int]:
    """Start samples of the whole windows in a track: hop = length gives the report's ten per 30 s track."""
    if n_samples < length:
        return []
    return list(range(0, n_samples - length + 1, hop))


def centred_frames(y: np.ndarray, first: int = 0, last: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Frames first..last-1 of ``y`` padded as librosa pads: zeros for the STFT, edge values for ZCR."""
    n = n_frames(len(y))
    last = n if last is None else last
    half = N_FFT // 2
    lo, hi = first * HOP - half, (last - 1) * HOP + half
    a, b = max(lo, 0), min(hi, len(y))
    zpad = np.zeros(hi - lo, dtype=y.dtype)
    zpad[a - lo : b - lo] = y[a:b]
    epad = zpad.copy()
    if b > a:  # edge padding repeats the first and last samples
        epad[: a - lo] = y[a]
        epad[b - lo :] = y[b - 1]
    return filters.strided_frames(zpad, N_FFT, HOP), filters.strided_frames(epad, N_FFT, HOP)


def median(a: np.ndarray) -> np.ndarray:
    """np.median along the last axis (non-empty, no NaN), the same arithmetic without np.median's NaN
    check: that check imports numpy.ma, 6-13 ms at the first call of every process."""
    n = a.shape[-1]
    k = n // 2
    part = np.partition(a, [k - 1, k] if n % 2 == 0 else k, axis=-1)
    return np.mean(part[..., k - 1 + n % 2 : k + 1], axis=-1)


# --- per-window pieces -------------------------------------------------------------------------


def estimate_tuning(fd: FrameData) -> float:
    """librosa.estimate_tuning on the window's piptrack peaks (resolution 0.01 semitone)."""
    mags = np.concatenate(fd.pitch_mag) if fd.pitch_mag else np.zeros(0, np.float32)
    if mags.size == 0:
        return 0.0
    res = np.concatenate(fd.pitch_res)
    sel = res[mags >= median(mags)]
    if sel.size == 0:
        return 0.0
    bins = np.linspace(-0.5, 0.5, 101)
    counts, edges = np.histogram(sel, bins)
    return float(edges[np.argmax(counts)])


def chroma_frames(power: np.ndarray, tuning: float) -> np.ndarray:
    """Chroma of each frame, normalised to a maximum of 1 (librosa.feature.chroma_stft)."""
    raw = fr.f32_matmul(power, fr.chroma_basis(round(float(tuning), 2)).T)
    peak = raw.max(axis=1, keepdims=True)
    return raw / np.where(peak < np.finfo(np.float32).tiny, 1.0, peak).astype(np.float32)


def db_floor(fd: FrameData) -> np.float32:
    """power_to_db's top_db clip level for a window: its loudest mel bin minus 80 dB."""
    return np.float32(fd.db_max.max() - fr.TOP_DB)


def mfcc_frames(fd: FrameData, floor: np.float32) -> np.ndarray:
    """MFCCs of the clipped dB frames; frames untouched by the clip keep their precomputed MFCCs."""
    out = fd.mfcc.copy()
    hit = np.flatnonzero(fd.db_min < floor)
    if hit.size:
        out[hit] = fr.f32_matmul(np.maximum(fd.db[hit], floor), fr.dct_matrix().T)
    return out


def onset_diffs(db: np.ndarray, prev_db: np.ndarray) -> np.ndarray:
    """Onset strength of frames (beat_track's: median over mel of the positive dB increase)."""
    return median(np.maximum(np.float32(0), db - prev_db))


def onset_envelope(fd: FrameData, floor: np.float32, diffs: np.ndarray | None = None,
                   reuse: np.ndarray | None = None) -> np.ndarray:
    """librosa.onset.onset_strength(aggregate=np.median) of a window, lag 1, centred.

    ``diffs[t]`` may hold a precomputed strength of frame t (from frame t-1) valid where ``reuse[t]``.
    """
    n = len(fd)
    env = np.zeros(n, dtype=np.float32)
    lag_pad = 1 + N_FFT // (2 * HOP)
    m = n - lag_pad  # frames 1..m of the difference are kept after the centring shift
    if m <= 0:
        return env
    need = np.arange(1, m + 1)
    d = np.empty(m, dtype=np.float32)
    ok = np.zeros(m, dtype=bool)
    if diffs is not None and reuse is not None:  # unclipped neighbours: the stream's value holds
        ok = reuse[need] & (fd.db_min[need] >= floor) & (fd.db_min[need - 1] >= floor)
        d[ok] = diffs[need[ok]]
    todo = need[~ok]
    if todo.size:
        d[~ok] = onset_diffs(np.maximum(fd.db[todo], floor), np.maximum(fd.db[todo - 1], floor))
    env[lag_pad:] = d
    return env


def tempo(env: np.ndarray) -> float:
    """beat_track's tempo estimate (BPM) from an onset envelope; 0 for an envelope with no onsets."""
    if not env.any():
        return 0.0
    return filters.tempo(env, SR, HOP)


def harmonic_frames(D: np.ndarray, perc: np.ndarray, harm: np.ndarray) -> np.ndarray:
    """Windowed inverse FFTs of the harmonic part of STFT frames (HPSS soft mask, power 2, margin 1).

    ``perc`` and ``harm`` are the frames' frequency and time medians. The percussive mask is one minus
    the harmonic one, so the percussive waveform is the signal minus the harmonic waveform and needs
    no second inverse transform.
    """
    return fr.masked_frames(D, fr.softmask(harm, perc))


def assemble(n_samples: int, fd: FrameData, chroma: np.ndarray, mfcc: np.ndarray, bpm: float,
             y_harm: np.ndarray, y_perc: np.ndarray) -> np.ndarray:
    """The 58-vector in FEATURE_NAMES order from a window's frame-level pieces."""
    per_frame = np.stack([fd.rms, fd.centroid, fd.bandwidth, fd.rolloff, fd.zcr], axis=1).astype(np.float64)
    m, v = per_frame.mean(axis=0), per_frame.var(axis=0)
    c = chroma.astype(np.float64)
    yh, yp = np.asarray(y_harm, dtype=np.float64), np.asarray(y_perc, dtype=np.float64)
    mf = mfcc.astype(np.float64)
    out = np.empty(58)
    out[0] = n_samples
    out[1:3] = c.mean(), c.var()
    out[3:13] = np.stack([m, v], axis=1).ravel()
    out[13:17] = yh.mean(), yh.var(), yp.mean(), yp.var()
    out[17] = bpm
    out[18:] = np.stack([mf.mean(axis=0), mf.var(axis=0)], axis=1).ravel()
    return out


def clip_features(y: np.ndarray, sr: int = SR) -> np.ndarray:
    """The 58 features of one mono clip at 22,050 Hz (a 3 s window or a whole track), float64."""
    if sr != SR:
        raise ValueError(f"features are defined at {SR} Hz, got {sr} Hz: resample first")
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"need a non-empty mono signal, got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("signal contains NaN or infinite samples")
    fd = fr.analyze(*centred_frames(y))
    floor = db_floor(fd)
    chroma = chroma_frames(fd.power, estimate_tuning(fd))
    mfcc = mfcc_frames(fd, floor)
    bpm = tempo(onset_envelope(fd, floor))
    y_h = fr.overlap_add(harmonic_frames(fd.D, fd.perc, medians.time_median(fd.mag)), len(y))
    return assemble(len(y), fd, chroma, mfcc, bpm, y_h, y - y_h)
