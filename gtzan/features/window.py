"""The per-window pieces of the features: what a 3 s window computes from its analysed frames.

Each piece is a librosa step at the Kaggle tables' settings (estimate_tuning, chroma_stft, power_to_db's
top_db clip, onset_strength, beat_track's tempo, the HPSS harmonic mask), written against per-frame data
(``gtzan.features.frames``) so that a window can take its interior frames from a stream.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from gtzan.constants import HOP, N_FFT, SR, WINDOW_SAMPLES
from gtzan.features import filters
from gtzan.features import frames as fr
from gtzan.features.frames import FrameData


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
    if n % 2:
        return np.partition(a, k, axis=-1)[..., k][()]
    part = np.partition(a, [k - 1, k], axis=-1)
    # np.mean of the middle two: their sum, then a division by the count, in the array's dtype; without
    # np.mean's generic reduction, which costs twice the partition on a window's onset rows
    return (part[..., k - 1] + part[..., k]) / 2


# --- per-window pieces -------------------------------------------------------------------------


def estimate_tuning(fd: FrameData) -> float:
    """librosa.estimate_tuning on the window's piptrack peaks (resolution 0.01 semitone)."""
    peaks = np.concatenate(fd.pitch) if fd.pitch else np.zeros((0, 2), np.float32)
    if len(peaks) == 0:
        return 0.0
    mags, res = peaks[:, 0], peaks[:, 1]
    sel = res[mags >= median(mags)]
    if sel.size == 0:
        return 0.0
    # np.histogram(sel, edges): the residuals lie in [-0.5, 0.5), so bin i of the histogram is
    # searchsorted's i + 1 (edges[i] <= r < edges[i + 1]); the same counts without its sort
    edges = _tuning_edges()
    counts = np.bincount(np.searchsorted(edges, sel, side="right"), minlength=len(edges))
    return float(edges[np.argmax(counts[1 : len(edges)])])


@lru_cache(maxsize=1)
def _tuning_edges() -> np.ndarray:
    """estimate_tuning's histogram edges: 100 bins of 0.01 semitone."""
    return np.linspace(-0.5, 0.5, 101)


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


def onset_envelope(
    fd: FrameData,
    floor: np.float32,
    diffs: np.ndarray | None = None,
    reuse: np.ndarray | None = None,
    at_floor: np.ndarray | None = None,
    at_floor_ok: np.ndarray | None = None,
) -> np.ndarray:
    """librosa.onset.onset_strength(aggregate=np.median) of a window, lag 1, centred.

    ``diffs[t]`` may hold a precomputed strength of frame t (from frame t-1) valid where ``reuse[t]``
    and neither frame is clipped by ``floor``. ``at_floor[t]`` may hold one computed at this very floor,
    clipped or not, valid where ``at_floor_ok[t]``; the strengths computed here are written back into
    both arrays, for a stream to keep.
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
    if at_floor is not None and at_floor_ok is not None:  # computed at this floor for an earlier window
        kept = ~ok & at_floor_ok[need]
        d[kept] = at_floor[need[kept]]
        ok |= kept
    todo = need[~ok]
    if todo.size:
        d[~ok] = onset_diffs(np.maximum(fd.db[todo], floor), np.maximum(fd.db[todo - 1], floor))
        if at_floor is not None and at_floor_ok is not None:
            at_floor[todo] = d[~ok]
            at_floor_ok[todo] = True
    env[lag_pad:] = d
    return env


def tempo(env: np.ndarray) -> float:
    """beat_track's tempo estimate (BPM) from an onset envelope; 0 for an envelope with no onsets."""
    if not env.any():
        return 0.0
    return filters.tempo(env, SR, HOP)


def harmonic_frames(D: np.ndarray, perc: np.ndarray, harm: np.ndarray) -> np.ndarray:
    """Inverse FFTs of the harmonic part of STFT frames (HPSS soft mask, power 2, margin 1), float32,
    for ``frames.ola_blocks``.

    ``perc`` and ``harm`` are the frames' frequency and time medians. The percussive mask is one minus
    the harmonic one, so the percussive waveform is the signal minus the harmonic waveform and needs
    no second inverse transform.
    """
    return fr.inverse_frames(fr.harmonic_spectrum(D, harm, perc))
