"""Per-frame analysis: everything about a 2048-sample STFT frame that does not depend on its neighbours.

Both the batch features and the streaming extractor build on these frames, so a frame computed once in
a stream is bit-for-bit the frame the batch function would compute from the same samples. Matrix
products run in float64 and are rounded to float32, which makes them independent of how many frames
are processed together. The per-frame statistics, the harmonic soft mask and the overlap-add run in a
small C extension (``gtzan.features._spectral``, built at install when a C compiler is present) that
gives NumPy's own floats, and otherwise in NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from gtzan.constants import HOP, N_FFT, SR
from gtzan.features import filters, kernels, medians
from gtzan.features.names import N_MFCC

N_BINS = N_FFT // 2 + 1
N_MELS = 128
N_CHROMA = 12
TOP_DB = 80.0
AMIN = 1e-10
HPSS_KERNEL = medians.KERNEL
ZC_THRESHOLD = 1e-10
PIP_FMIN, PIP_FMAX, PIP_THRESHOLD = 150.0, 4000.0, 0.1


def compiled() -> bool:
    """Whether the C kernel computes the per-frame statistics."""
    return kernels.spectral is not None


@lru_cache(maxsize=1)
def hann() -> np.ndarray:
    """Periodic Hann window, as librosa's ``get_window('hann', n_fft, fftbins=True)``."""
    return filters.periodic_hann(N_FFT)


@lru_cache(maxsize=1)
def fft_freqs() -> np.ndarray:
    return np.fft.rfftfreq(N_FFT, 1.0 / SR)


@lru_cache(maxsize=1)
def mel_basis() -> np.ndarray:
    return filters.mel(SR, N_FFT, N_MELS).astype(np.float64)


@lru_cache(maxsize=1)
def _mel_runs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each mel filter's nonzero weights: columns, values and where each filter's run starts (contiguous
    int64 and float64, as the C kernel reads them)."""
    basis = mel_basis()
    rows, cols = np.nonzero(basis)
    starts = np.searchsorted(rows, np.arange(basis.shape[0]))
    assert np.all(np.diff(starts) > 0) and starts[-1] < len(rows), "every mel filter covers at least one bin"
    return np.ascontiguousarray(cols, np.int64), basis[rows, cols], np.ascontiguousarray(starts, np.int64)


def mel_spectrum(power: np.ndarray) -> np.ndarray:
    """``power @ mel_basis().T`` in float64, rounded to float32, over the filters' nonzero bins only.

    A triangular filter spans a few adjacent bins, so this is 2,018 products a frame instead of 131,200.
    """
    cols, vals, starts = _mel_runs()
    # np.take along the bins, and a float32 x float64 product (exact, like a cast first): fewer passes
    return np.add.reduceat(np.multiply(np.take(power, cols, axis=1), vals), starts, axis=1).astype(np.float32)


@lru_cache(maxsize=1)
def dct_matrix() -> np.ndarray:
    """Orthonormal DCT-II rows 0..19, the transform ``scipy.fftpack.dct(norm='ortho')`` applies."""
    n = np.arange(N_MELS)
    k = np.arange(N_MFCC)[:, None]
    m = np.cos(np.pi * k * (2 * n + 1) / (2 * N_MELS)) * np.sqrt(2.0 / N_MELS)
    m[0] /= np.sqrt(2.0)
    return m


@lru_cache(maxsize=128)
def chroma_basis(tuning: float) -> np.ndarray:
    return filters.chroma(SR, N_FFT, tuning, N_CHROMA).astype(np.float64)


def f32_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """float64 product rounded to float32: stable whatever the batch size."""
    return (np.asarray(a, dtype=np.float64) @ np.asarray(b, dtype=np.float64)).astype(np.float32)


@dataclass
class FrameData:
    """Per-frame quantities for n frames; every array has the frame axis first.

    A window's summary may leave the spectra (D, mag, power, perc) out: its statistics need only the
    per-frame values.
    """

    D: np.ndarray | None  # (n, 1025) complex64 STFT
    mag: np.ndarray | None  # (n, 1025) float32 |D|
    power: np.ndarray | None  # (n, 1025) float32 |D|**2
    perc: np.ndarray | None  # (n, 1025) float32 median of mag across 31 frequency bins (HPSS percussive filter)
    rms: np.ndarray  # (n,)
    zcr: np.ndarray  # (n,)
    centroid: np.ndarray  # (n,)
    bandwidth: np.ndarray  # (n,)
    rolloff: np.ndarray  # (n,)
    db: np.ndarray  # (n, 128) float32 mel power in dB, before the window's top_db clip
    db_min: np.ndarray  # (n,)
    db_max: np.ndarray  # (n,)
    mfcc: np.ndarray  # (n, 20) float32 MFCCs of the unclipped dB frame
    # per frame, one (k, 2) float32 array: piptrack's magnitudes of the peaks in [150, 4000) Hz and their
    # tuning residuals (fraction of a semitone), side by side so that a window joins one list, not two
    pitch: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.db) if self.db is not None else len(self.D)


@lru_cache(maxsize=1)
def _pitch_bins() -> tuple[int, int]:
    """Bins whose centre frequency lies in piptrack's [fmin, fmax) range."""
    f = fft_freqs()
    k = np.flatnonzero((PIP_FMIN <= f) & (f < PIP_FMAX))
    return int(k[0]), int(k[-1]) + 1


def _piptrack(S: np.ndarray) -> list[np.ndarray]:
    """librosa.piptrack on a power spectrogram, frame by frame, keeping only the peaks in range.

    Same arithmetic as librosa (float32 parabolic interpolation around thresholded local maxima),
    evaluated only at the peaks instead of over the whole spectrogram.
    """
    n = S.shape[0]
    k0, k1 = _pitch_bins()
    kernel = kernels.spectral
    if kernel is not None:
        cap = n * (k1 - k0)
        rows, pitch, mag = np.empty(cap, np.int64), np.empty(cap, np.float32), np.empty(cap, np.float32)
        found = kernel.peaks(S, N_BINS, k0, k1, PIP_THRESHOLD, float(SR), N_FFT, rows, pitch, mag)
        rows, pitch, mag = rows[:found], pitch[:found], mag[:found]
    else:
        seg = S[:, k0 - 1 : k1 + 1]  # the bins in range and their neighbours: the only ones compared
        x = seg * (seg > PIP_THRESHOLD * S.max(axis=1, keepdims=True))
        c = x[:, 1:-1]
        peaks = (c > x[:, :-2]) & (c >= x[:, 2:])
        rows, cols = np.nonzero(peaks)
        cols = cols + k0
        left, mid, right = S[rows, cols - 1], S[rows, cols], S[rows, cols + 1]
        a = right + left - 2 * mid
        b = (right - left) / 2
        shift = np.zeros_like(a)
        ok = np.abs(b) < np.abs(a)
        shift[ok] = -b[ok] / a[ok]
        pitch = ((cols + shift) * float(SR) / N_FFT).astype(np.float32)
        mag = (mid + 0.5 * b * shift).astype(np.float32)
    keep = pitch > 0
    rows, pitch, mag = rows[keep], pitch[keep], mag[keep]
    res = np.mod(N_CHROMA * np.log2(pitch / np.float32(440.0 / 16)), 1.0)
    res[res >= 0.5] -= 1.0
    peaks = np.empty((len(mag), 2), dtype=np.float32)
    peaks[:, 0], peaks[:, 1] = mag, res
    cuts = np.searchsorted(rows, np.arange(n + 1)).tolist()
    # slices rather than np.split, which costs a few function calls per frame
    return [peaks[a:b] for a, b in zip(cuts[:-1], cuts[1:])]


def _centroid_bandwidth(m64: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """librosa's spectral centroid and bandwidth (p=2) of magnitude frames, from three sums per frame.

    librosa normalises each frame to unit sum (a frame summing below float32's tiny stays as it is) and
    takes sum(norm * f) and sqrt(sum(norm * (f - centroid)**2)); expanding the square gives the same
    values from the sums of m, m * f and m * f**2, in five passes over the spectrum instead of eight.
    Row-wise sums, not a matrix product: a frame's values must not depend on how many frames are
    analysed with it (BLAS rounds differently with the batch), or --fast would differ from a stream.
    Within float64 rounding: the window features moved by at most 1.6e-15 (relative) over 812 windows of
    GTZAN tracks.
    """
    f = fft_freqs()
    tot = np.add.reduce(m64, axis=1)
    scale = 1.0 / np.where(tot < np.finfo(np.float32).tiny, 1.0, tot)
    mf = m64 * f
    centroid = np.add.reduce(mf, axis=1) * scale
    mf *= f
    s2 = np.add.reduce(mf, axis=1) * scale
    return centroid, np.sqrt(np.maximum(s2 - centroid * centroid * (2.0 - tot * scale), 0.0))


def _time_stats(x: np.ndarray, zc_frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RMS of each frame (``x``: the frames in float64) and zero-crossing rate of its edge-padded copy."""
    kernel = kernels.spectral
    if kernel is not None:
        rms, zcr = np.empty(len(x)), np.empty(len(x))
        kernel.time_stats(x, np.ascontiguousarray(zc_frames), N_FFT, ZC_THRESHOLD, rms, zcr)
        return rms, zcr
    rms = np.sqrt(np.mean(x**2, axis=1))
    # librosa zeroes samples within ZC_THRESHOLD of 0 and compares sign bits: the sign bit then is set
    # exactly where the sample is below -ZC_THRESHOLD (one comparison instead of three passes)
    sb = zc_frames < -np.float32(ZC_THRESHOLD)
    return rms, np.count_nonzero(sb[:, 1:] != sb[:, :-1], axis=1) / N_FFT


def _spectral_stats(mag: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Power, spectral centroid, bandwidth, 85% roll-off frequency and mel spectrum of magnitude frames."""
    n = len(mag)
    kernel = kernels.spectral
    if kernel is not None:
        power, mel = np.empty_like(mag), np.empty((n, N_MELS), dtype=np.float32)
        centroid, bandwidth, rolloff = np.empty(n), np.empty(n), np.empty(n)
        cols, vals, starts = _mel_runs()
        kernel.spectral_stats(mag, N_BINS, fft_freqs(), cols, vals, starts, power, centroid, bandwidth, rolloff, mel)
        return power, centroid, bandwidth, rolloff, mel
    power = mag**2
    m64 = mag.astype(np.float64)
    centroid, bandwidth = _centroid_bandwidth(m64)
    cum = np.cumsum(m64, axis=1)
    above = cum >= 0.85 * cum[:, -1:]
    return power, centroid, bandwidth, fft_freqs()[np.argmax(above, axis=1)], mel_spectrum(power)


def analyze(frames: np.ndarray, zc_frames: np.ndarray | None = None) -> FrameData:
    """Analyse n time-domain frames (n, 2048) float32; ``zc_frames`` are the edge-padded ones for ZCR."""
    frames = np.asarray(frames, dtype=np.float32)
    zc_frames = frames if zc_frames is None else np.asarray(zc_frames, dtype=np.float32)
    x = frames.astype(np.float64)  # one float64 copy serves the RMS and, windowed in place, the FFT
    rms, zcr = _time_stats(x, zc_frames)
    x *= hann()
    D = np.fft.rfft(x, axis=1).astype(np.complex64)
    mag = np.abs(D)
    power, centroid, bandwidth, rolloff, mel = _spectral_stats(mag)
    db = (10.0 * np.log10(np.maximum(AMIN, mel))).astype(np.float32)
    mfcc = f32_matmul(db, dct_matrix().T)
    return FrameData(
        D=D,
        mag=mag,
        power=power,
        perc=medians.freq_median(mag),
        rms=rms,
        zcr=zcr,
        centroid=centroid,
        bandwidth=bandwidth,
        rolloff=rolloff,
        db=db,
        db_min=db.min(axis=1),
        db_max=db.max(axis=1),
        mfcc=mfcc,
        pitch=_piptrack(power),
    )


def take(fd: FrameData, rows: slice) -> FrameData:
    """A slice of frames (views where possible)."""
    kw = {name: getattr(fd, name)[rows] for name in FrameData.__dataclass_fields__}
    return FrameData(**kw)


def softmask(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """librosa.util.softmask(x, ref, power=2, split_zeros=False).

    The same operations, in place, and the zero-division guard only where some bin is (near) zero in
    both: that is silence, and the guard's two passes cost as much as the mask itself.
    """
    z = np.maximum(x, ref)
    bad = z < np.finfo(z.dtype).tiny
    any_bad = bool(bad.any())
    if any_bad:
        z = np.where(bad, 1, z)
    m = x / z
    m *= m
    r = ref / z
    r *= r
    r += m  # m + r
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(m, r, out=m)
    if any_bad:
        m[bad] = 0.0
    return m


def harmonic_spectrum(D: np.ndarray, harm: np.ndarray, perc: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """STFT frames under the HPSS harmonic soft mask (power 2, margin 1) of their time and frequency
    medians, complex64, in ``out`` (contiguous) if given: frames from several arrays then need no copy."""
    if out is None:
        out = np.empty(D.shape, dtype=np.complex64)
    kernel = kernels.spectral
    if kernel is not None:
        kernel.harmonic_spectrum(np.ascontiguousarray(D), np.ascontiguousarray(harm), np.ascontiguousarray(perc), out)
        return out
    return np.multiply(D, softmask(harm, perc).astype(np.float32, copy=False), out=out)


def inverse_frames(spec: np.ndarray) -> np.ndarray:
    """Inverse FFT of STFT frames (n, 2048) float32; ``ola_blocks`` applies the synthesis window.

    Single precision, like librosa's istft of a complex64 STFT.
    """
    return np.fft.irfft(spec, n=N_FFT, axis=1)


@lru_cache(maxsize=8)
def window_sumsquare(n_frames: int) -> np.ndarray:
    """Sum of squared Hann windows over n_frames overlapping frames (the ISTFT normaliser)."""
    w2 = (hann() ** 2).reshape(N_FFT // HOP, HOP)
    blocks = np.zeros((n_frames + N_FFT // HOP - 1, HOP))
    for j in range(N_FFT // HOP - 1, -1, -1):  # frame after frame, as a loop over the frames adds them
        blocks[j : j + n_frames] += w2[j]
    return blocks.reshape(-1)


def ola_blocks(td: np.ndarray) -> np.ndarray:
    """Overlap-added frames (float32, from ``inverse_frames``) under the Hann window, as (n + 3, 512)
    float64 blocks, before normalising.

    Block b sums frames b, b-1, b-2, b-3 (those that exist) in that order; the streaming extractor
    relies on this order to reuse blocks whose four frames a window shares with the stream.
    """
    n = td.shape[0]
    blocks = np.zeros((n + N_FFT // HOP - 1, HOP))  # n frames of 2048 samples, 512 apart
    kernel = kernels.spectral
    if kernel is not None and n:
        kernel.overlap_add(np.ascontiguousarray(td, dtype=np.float32), hann(), HOP, blocks)
        return blocks
    parts = (td * hann()).reshape(n, N_FFT // HOP, HOP)
    for j in range(N_FFT // HOP):
        blocks[j : j + n] += parts[:, j]
    return blocks


def normalise_ola(blocks: np.ndarray, env: np.ndarray) -> np.ndarray:
    """Divide overlap-added samples by the window normaliser where it is not (near) zero."""
    y = blocks.reshape(-1)
    return np.divide(y, env, out=y, where=env > np.finfo(np.float32).tiny)


@lru_cache(maxsize=1)
def interior_sumsquare() -> np.ndarray:
    """The normaliser of a block with all four of its frames present (the same for every such block)."""
    return window_sumsquare(N_FFT // HOP)[(N_FFT // HOP - 1) * HOP : N_FFT].copy()


def overlap_add(td: np.ndarray, length: int) -> np.ndarray:
    """ISTFT of centred frames: overlap-add, normalise, drop the centre padding, fix the length."""
    n = td.shape[0]
    y = normalise_ola(ola_blocks(td), window_sumsquare(n))
    y = y[N_FFT // 2 : N_FFT // 2 + length]
    if len(y) < length:
        y = np.pad(y, (0, length - len(y)))
    return y
