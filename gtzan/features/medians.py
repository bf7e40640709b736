"""The HPSS median filters: exact 31-point medians across frames (harmonic) and across bins (percussive).

They are most of the cost of the features, so they run in a small C extension (``gtzan.features._median``,
built at install when a C compiler is present) and otherwise in NumPy. A median is an order statistic:
both give the same float, so features do not depend on which one ran. Borders follow scipy.ndimage's
'reflect' mode, as in ``librosa.decompose.hpss``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from gtzan.features import kernels

KERNEL = 31
_H = KERNEL // 2
_LANES = 16  # floats the C kernel compares at once


def compiled() -> bool:
    """Whether the C kernel is in use."""
    return kernels.median is not None


def reflect_index(start: int, stop: int, n: int, h: int = _H) -> np.ndarray:
    """Indices start-h .. stop+h-1 into a length-n axis, reflected at its ends (``d c b a | a b c d``)."""
    idx = np.mod(np.arange(start - h, stop + h), 2 * n)
    return np.where(idx >= n, 2 * n - 1 - idx, idx)


@lru_cache(maxsize=64)
def _index(start: int, stop: int, n: int) -> np.ndarray:
    """``reflect_index`` as the kernel takes it (int64, read-only), kept: a stream asks for the same few."""
    idx = reflect_index(start, stop, n).astype(np.int64)
    idx.flags.writeable = False
    return idx


def time_median(mag: np.ndarray, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Median across 31 frames of a (frames, bins) float32 array, for rows start..stop."""
    n = mag.shape[0]
    stop = n if stop is None else stop
    idx = _index(start, stop, n)
    kernel = kernels.median
    if kernel is not None:
        x = np.ascontiguousarray(mag, dtype=np.float32)
        out = np.empty((stop - start, x.shape[1]), dtype=np.float32)
        kernel.sliding(x, idx, x.shape[1], x.shape[1], out, x.shape[1])
        return out
    # bins-major copy: partitioning contiguous rows of 31 is the fastest exact median NumPy offers
    win = sliding_window_view(np.ascontiguousarray(mag[idx].T), KERNEL, axis=1).copy()
    win.partition(_H, axis=-1)
    return np.ascontiguousarray(win[..., _H].T)


def freq_median(mag: np.ndarray) -> np.ndarray:
    """Median across 31 frequency bins of a (frames, bins) float32 array."""
    n_frames, n_bins = mag.shape
    kernel = kernels.median
    if kernel is not None and n_frames:
        # Frames are the kernel's lanes: padded to whole vectors of 16 (zeros, whose medians are dropped),
        # since the kernel fills a partial vector one lane at a time, slower than a whole vector.
        lanes = -(-n_frames // _LANES) * _LANES
        xt = np.empty((n_bins, lanes), dtype=np.float32)
        xt[:, :n_frames] = mag.T
        xt[:, n_frames:] = 0.0
        out = np.empty((n_bins, lanes), dtype=np.float32)
        kernel.sliding(xt, _index(0, n_bins, n_bins), lanes, lanes, out, lanes)
        return np.ascontiguousarray(out[:, :n_frames].T)
    import bottleneck as bn  # only without the kernel: importing it costs every start 3 ms

    padded = np.pad(mag, ((0, 0), (_H, _H)), mode="symmetric")
    return bn.move_median(padded, KERNEL, axis=1)[:, 2 * _H :]
