"""Types of the optional C kernel (``_spectral.c``): per-frame statistics with NumPy's exact arithmetic."""

import numpy as np

def time_stats(
    x: np.ndarray, zc_frames: np.ndarray, frame_len: int, zc_threshold: float, rms: np.ndarray, zcr: np.ndarray, /
) -> None: ...
def spectral_stats(
    mag: np.ndarray,
    n_bins: int,
    freqs: np.ndarray,
    mel_cols: np.ndarray,
    mel_vals: np.ndarray,
    mel_starts: np.ndarray,
    power: np.ndarray,
    centroid: np.ndarray,
    bandwidth: np.ndarray,
    rolloff: np.ndarray,
    mel: np.ndarray,
    /,
) -> None: ...
def peaks(
    power: np.ndarray,
    n_bins: int,
    k0: int,
    k1: int,
    threshold: float,
    sr: float,
    n_fft: int,
    rows: np.ndarray,
    pitch: np.ndarray,
    mag: np.ndarray,
    /,
) -> int: ...
def harmonic_spectrum(D: np.ndarray, harm: np.ndarray, perc: np.ndarray, out: np.ndarray, /) -> None: ...
def overlap_add(td: np.ndarray, window: np.ndarray, hop: int, out: np.ndarray, /) -> None: ...
def power_sums(spec: np.ndarray, power: np.ndarray, sums: np.ndarray, /) -> None: ...
