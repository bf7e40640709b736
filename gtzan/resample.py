"""Mono downmix and resampling to the feature rate, one rule for whole signals and for streams.

Whole signals go through ``soxr.resample`` and streams through ``soxr.ResampleStream``, both at
the same quality, so a file decoded block by block gives the same samples as the file decoded at
once. At equal rates nothing is resampled, so 22,050 Hz input reaches the features bit for bit.
"""

from __future__ import annotations

import numpy as np
import soxr

from gtzan.constants import SR

QUALITY = "HQ"  # soxr's default; shared by both paths so that they agree


class AudioError(Exception):
    """Bad or unreadable audio; ``str()`` is a one-line message fit to show the user."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


def to_mono(block: np.ndarray, channels: int | None = None) -> np.ndarray:
    """Mono float32 from a (frames,) or (frames, channels) block of float or integer samples.

    Integers are scaled to [-1, 1) the way libsndfile and PortAudio do (full scale 2**(bits-1)),
    and channels are averaged in float64 so a frame's result does not depend on the block it came in.
    """
    x = np.asarray(block)
    if x.ndim == 1:
        if channels not in (None, 1):
            raise AudioError(f"expected blocks of shape (frames, {channels}), got a 1-D block")
    elif x.ndim == 2:
        if channels is not None and x.shape[1] != channels:
            raise AudioError(f"expected {channels} channel(s), got a block of shape {x.shape}")
        if x.shape[1] < 1:
            raise AudioError("audio block has zero channels")
    else:
        raise AudioError(f"audio blocks must be 1-D or 2-D, got shape {x.shape}")

    if x.dtype.kind in "iu":
        bits = 8 * x.dtype.itemsize
        offset = 2.0 ** (bits - 1) if x.dtype.kind == "u" else 0.0
        scale = 2.0 ** (bits - 1)
        x = (x.astype(np.float64) - offset) / scale
    elif x.dtype.kind != "f":
        raise AudioError(f"audio samples must be floats or integers, got dtype {x.dtype}")

    if x.ndim == 2:
        x = x[:, 0] if x.shape[1] == 1 else x.mean(axis=1, dtype=np.float64)
    return np.ascontiguousarray(x, dtype=np.float32)


def first_non_finite(y: np.ndarray) -> int:
    """Index of the first NaN or infinite sample, or -1 when all are finite."""
    bad = ~np.isfinite(y)
    return int(np.argmax(bad)) if bad.any() else -1


def resample(y: np.ndarray, in_rate: float, out_rate: float = SR) -> np.ndarray:
    """Resample a whole mono float32 signal; equal rates return it unchanged (possibly ``y`` itself)."""
    y = np.ascontiguousarray(y, dtype=np.float32)
    if in_rate == out_rate:
        return y
    _check_rates(in_rate, out_rate)
    if y.size == 0:
        return y
    return soxr.resample(y, in_rate, out_rate, quality=QUALITY)


class StreamResampler:
    """Turn blocks at ``in_rate`` with ``channels`` channels into mono float32 at ``out_rate``.

    Call ``process`` per block and ``flush`` once at the end for the tail; the concatenation
    equals ``resample`` of the whole downmixed signal. After ``flush`` the object starts a new stream.
    """

    def __init__(self, in_rate: float, channels: int = 1, out_rate: float = SR) -> None:
        _check_rates(in_rate, out_rate)
        if int(channels) < 1:
            raise AudioError(f"channel count must be at least 1, got {channels}")
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.channels = int(channels)
        self.passthrough = in_rate == out_rate
        self._stream = (
            None if self.passthrough else soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality=QUALITY)
        )

    def process(self, block: np.ndarray) -> np.ndarray:
        """Downmix and resample one block; may return fewer samples than expected (filter delay)."""
        mono = to_mono(block, self.channels)
        i = first_non_finite(mono)
        if i >= 0:
            raise AudioError(f"audio contains a non-finite sample (NaN or infinity) at block sample {i}")
        if self._stream is None:  # never hand back a view of the caller's (possibly reused) buffer
            return mono.copy() if np.may_share_memory(mono, block) else mono
        return self._stream.resample_chunk(mono)

    def flush(self) -> np.ndarray:
        """The samples still held in the filter; resets for a new stream."""
        if self._stream is None:
            return np.zeros(0, dtype=np.float32)
        tail = self._stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        self._stream.clear()
        return tail

    def reset(self) -> None:
        """Drop buffered samples and start a new stream."""
        if self._stream is not None:
            self._stream.clear()


def _check_rates(in_rate: float, out_rate: float) -> None:
    for name, rate in (("input", in_rate), ("output", out_rate)):
        if not (np.isfinite(rate) and rate > 0):
            raise AudioError(f"{name} sample rate must be positive, got {rate}")
