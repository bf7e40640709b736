"""librosa's filter banks and tempo estimator at the settings the features use, in plain NumPy.

Importing ``librosa.filters`` pulls in scipy.signal, numba and joblib (about 1 s of CPU), which the
live path cannot afford before its first window. These functions reproduce
``librosa.filters.mel``, ``librosa.filters.chroma`` and ``librosa.feature.tempo`` (librosa 0.11
defaults) and are checked against them in the tests. The tempo estimate's power spectra run in the
optional C kernel (``gtzan.features._spectral``) where it was built, with NumPy's arithmetic.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from gtzan.features import kernels

_F_SP = 200.0 / 3
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def periodic_hann(n: int) -> np.ndarray:
    """``scipy.signal.get_window('hann', n, fftbins=True)``."""
    fac = np.linspace(-np.pi, np.pi, n + 1)[:-1]
    w = np.zeros(n)
    w += 0.5
    w += 0.5 * np.cos(fac)
    return w


def hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney mel scale (librosa's default, htk=False)."""
    f = np.asanyarray(f, dtype=np.float64)
    mels = f / _F_SP
    log_t = f >= _MIN_LOG_HZ
    mels[log_t] = _MIN_LOG_MEL + np.log(f[log_t] / _MIN_LOG_HZ) / _LOGSTEP
    return mels


def mel_to_hz(mels: np.ndarray) -> np.ndarray:
    mels = np.asanyarray(mels, dtype=np.float64)
    freqs = _F_SP * mels
    log_t = mels >= _MIN_LOG_MEL
    freqs[log_t] = _MIN_LOG_HZ * np.exp(_LOGSTEP * (mels[log_t] - _MIN_LOG_MEL))
    return freqs


@lru_cache(maxsize=4)
def mel(sr: int, n_fft: int, n_mels: int = 128) -> np.ndarray:
    """``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)``: Slaney-normalised, float32."""
    fftfreqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(np.array([0.0]))[0], hz_to_mel(np.array([sr / 2.0]))[0], n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    weights = np.zeros((n_mels, 1 + n_fft // 2), dtype=np.float32)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights


@lru_cache(maxsize=128)
def chroma(sr: int, n_fft: int, tuning: float = 0.0, n_chroma: int = 12) -> np.ndarray:
    """``librosa.filters.chroma(sr=sr, n_fft=n_fft, tuning=tuning, n_chroma=n_chroma)``, float32."""
    frequencies = np.linspace(0, sr, n_fft, endpoint=False)[1:]
    a440 = 440.0 * 2.0 ** (tuning / n_chroma)
    frqbins = n_chroma * np.log2(frequencies / (float(a440) / 16))
    frqbins = np.concatenate(([frqbins[0] - 1.5 * n_chroma], frqbins))
    binwidthbins = np.concatenate((np.maximum(frqbins[1:] - frqbins[:-1], 1.0), [1]))
    keep = int(1 + n_fft / 2)  # every step below is column by column: the others are never used
    frqbins, binwidthbins = frqbins[:keep], binwidthbins[:keep]
    D = np.subtract.outer(frqbins, np.arange(0, n_chroma, dtype="d")).T
    half = np.round(float(n_chroma) / 2)
    D = np.remainder(D + half + 10 * n_chroma, n_chroma) - half
    wts = np.exp(-0.5 * (2 * D / np.tile(binwidthbins, (n_chroma, 1))) ** 2)
    length = np.sqrt(np.sum(np.abs(wts) ** 2, axis=0, keepdims=True))
    length[length < np.finfo(wts.dtype).tiny] = 1.0
    wts = wts / length
    wts *= np.tile(np.exp(-0.5 * (((frqbins / n_chroma - 5.0) / 2.0) ** 2)), (n_chroma, 1))
    wts = np.roll(wts, -3 * (n_chroma // 12), axis=0)
    return np.ascontiguousarray(wts, dtype=np.float32)


@lru_cache(maxsize=4)
def _tempo_setup(sr: int, hop: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, int, np.ndarray]:
    win = int(int(8.0 * sr) // hop)  # ac_size 8 s
    bpms = np.zeros(win)
    bpms[0] = np.inf
    bpms[1:] = 60.0 * sr / (hop * np.arange(1.0, win))
    with np.errstate(divide="ignore"):
        logprior = -0.5 * ((np.log2(bpms) - np.log2(120.0)) / 1.0) ** 2
    logprior[: int(np.argmax(bpms < 320.0))] = -np.inf
    return win, bpms, logprior, periodic_hann(win), _fft_size(2 * win - 1), np.arange(win // 2, dtype=np.float64)


def _fft_size(n: int) -> int:
    """The smallest 2^k or 3 * 2^k >= n: an autocorrelation's FFT length with no wrap-around.

    librosa pads to scipy's next_fast_len (720 for the 687 lags of an 8 s window); any length from
    687 up gives the same autocorrelation up to float rounding, and NumPy's FFT is faster at 768:
    257 against 377 us for a window's 130 frames (measured).
    """
    size = 1
    while size < n:
        size *= 2
    return 3 * size // 4 if 3 * size // 4 >= n else size


def strided_frames(y: np.ndarray, length: int, hop: int) -> np.ndarray:
    """Read-only view of the frames ``y[i * hop : i * hop + length]`` of a 1-D array (no copy).

    sliding_window_view followed by a step, without its checks: it is called a few times per window.
    (librosa.util.frame, for the framing the features and the tempo estimate need.) A contiguous ``y``
    is viewed through the ndarray constructor, a third of as_strided's cost (its array-interface round
    trip); the same view either way.
    """
    y = np.asarray(y)
    n = 0 if len(y) < length else 1 + (len(y) - length) // hop
    s = y.strides[0]
    if not y.flags.c_contiguous:
        return np.lib.stride_tricks.as_strided(y, shape=(n, length), strides=(hop * s, s), writeable=False)
    frames = np.ndarray((n, length), dtype=y.dtype, buffer=y, strides=(hop * s, s))
    frames.flags.writeable = False
    return frames


def tempo(onset_envelope: np.ndarray, sr: int, hop_length: int) -> float:
    """``librosa.feature.tempo(onset_envelope=..., sr=sr, hop_length=hop_length)[0]``.

    librosa averages the frames' autocorrelations, each divided by its peak (its lag 0). The inverse FFT
    is linear, so this divides each frame's power spectrum by that peak (Parseval: the spectrum's sum),
    sums over frames and takes one inverse FFT instead of one per frame: the same tempogram up to float
    rounding, and the same BPM on every window of the 89 GTZAN audio tracks.
    """
    win, bpms, logprior, window, n_pad, ramp = _tempo_setup(sr, hop_length)
    env = np.asarray(onset_envelope)
    n = env.shape[-1]
    h = win // 2
    # np.pad(env, h, mode="linear_ramp", end_values=0), with the arithmetic of its np.linspace calls
    # (float64 steps, rounded to the envelope's dtype) and none of their generic machinery
    padded = np.empty(n + 2 * h, dtype=env.dtype)
    padded[:h] = ramp * (float(env[0]) / h)
    padded[h : h + n] = env
    padded[h + n :] = (ramp * (float(env[-1]) / h))[::-1]
    # (n, win): one frame a row, float64 before framing so that the product needs no cast (same values),
    # written into zeros of the FFT's length: NumPy's rfft pads a shorter row more slowly (same result)
    x = np.zeros((n, n_pad))
    np.multiply(strided_frames(padded.astype(np.float64), win, 1)[:n], window, out=x[:, :win])
    spec = np.fft.rfft(x, axis=1)
    power, sums = _power_sums(spec)
    # n_pad x each frame's lag-0 autocorrelation: the full spectrum's sum (n_pad is even)
    peak = 2.0 * sums - power[:, 0] - power[:, -1]
    quiet = peak < np.finfo(np.float64).tiny * n_pad  # librosa leaves a (near) silent frame undivided
    scale = np.divide(n_pad, peak, out=np.ones_like(peak), where=~quiet)
    tg = np.fft.irfft(scale @ power, n=n_pad)[:win] / n
    best = np.argmax(np.log1p(1e6 * tg) + logprior)
    return float(bpms[best])


def _power_sums(spec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``spec.real**2 + spec.imag**2`` of complex128 rows and each row's sum (the C kernel: one pass)."""
    kernel = kernels.spectral
    if kernel is not None and spec.size:
        power, sums = np.empty(spec.shape), np.empty(spec.shape[0])
        kernel.power_sums(np.ascontiguousarray(spec), power, sums)
        return power, sums
    power = spec.real**2 + spec.imag**2
    return power, power.sum(axis=1)
