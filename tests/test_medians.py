"""The HPSS median filters: the C kernel and the NumPy path agree with scipy.ndimage, bit for bit."""

from __future__ import annotations

import os

import numpy as np
import pytest

from gtzan.features import medians

scipy_ndimage = pytest.importorskip("scipy.ndimage")

needs_kernel = pytest.mark.skipif(not medians.compiled(),
                                  reason="C median kernel not built (no C compiler at install): NumPy path only")


@pytest.fixture(params=["c", "numpy"])
def path(request, monkeypatch):
    if request.param == "c" and not medians.compiled():
        pytest.skip("C median kernel not built (no C compiler at install)")
    if request.param == "numpy":
        monkeypatch.setattr(medians, "_kernel", None)
    return request.param


def spectra(seed: int, frames: int, bins: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    smooth = (rng.random((frames, bins)) ** 4).astype(np.float32)
    ties = rng.integers(0, 3, (frames, bins)).astype(np.float32)  # many equal values
    spiky = np.where(rng.random((frames, bins)) < 0.05, 1e6, rng.random((frames, bins))).astype(np.float32)
    return [smooth, ties, spiky, np.zeros((frames, bins), np.float32)]


@pytest.mark.parametrize("frames,bins", [(52, 1025), (32, 1025), (7, 40), (130, 17), (1, 16), (45, 1)])
def test_time_median_matches_scipy(path, frames, bins):
    for mag in spectra(frames * bins, frames, bins):
        want = scipy_ndimage.median_filter(mag, size=(31, 1), mode="reflect")
        np.testing.assert_array_equal(medians.time_median(mag), want)
        lo, hi = frames // 3, frames - frames // 4
        np.testing.assert_array_equal(medians.time_median(mag, lo, hi), want[lo:hi])


@pytest.mark.parametrize("frames,bins", [(26, 1025), (3, 1025), (17, 31), (40, 20)])
def test_freq_median_matches_scipy(path, frames, bins):
    for mag in spectra(frames + bins, frames, bins):
        want = scipy_ndimage.median_filter(mag, size=(1, 31), mode="reflect")
        np.testing.assert_array_equal(medians.freq_median(mag), want)


def test_time_median_of_a_strided_view(path):
    mag = spectra(3, 80, 1025)[0]
    view = mag[10:60]
    want = scipy_ndimage.median_filter(np.ascontiguousarray(view), size=(31, 1), mode="reflect")
    np.testing.assert_array_equal(medians.time_median(view), want)


def batcher_median_network(wires: int = 32, middle: int = 15) -> list[tuple[int, int]]:
    """Batcher's odd-even merge sort, pruned to the middle wire, without the always-largest last wire."""
    net = []
    p = 1
    while p < wires:
        k = p
        while k >= 1:
            for j in range(k % p, wires - k, 2 * k):
                for i in range(min(k, wires - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        net.append((i + j, i + j + k))
            k //= 2
        p *= 2
    live, kept = {middle}, []
    for a, b in reversed(net):
        if a in live or b in live:
            live |= {a, b}
            kept.append((a, b))
    return [(a, b) for a, b in reversed(kept) if b != wires - 1]


@needs_kernel
def test_kernel_network_is_batchers_pruned():
    assert [tuple(c) for c in medians._kernel.network()] == batcher_median_network()


@needs_kernel
def test_kernel_rejects_bad_buffers():
    x = np.zeros((40, 16), np.float32)
    out = np.zeros((10, 16), np.float32)
    k = medians._kernel
    with pytest.raises(IndexError):
        k.sliding(x, np.arange(40, 80, dtype=np.int64), 16, 16, out, 16)  # rows past the input
    with pytest.raises(IndexError):
        k.sliding(x, np.arange(0, 40, dtype=np.int64), 16, 16, out[:5], 16)  # output too small
    with pytest.raises(IndexError):
        k.sliding(x, np.full(31, -1, dtype=np.int64), 16, 16, out, 16)
    with pytest.raises(ValueError):
        k.sliding(x, np.arange(0, 20, dtype=np.int64), 16, 16, out, 16)  # fewer than 31 indices
    with pytest.raises(TypeError):
        k.sliding(x, np.arange(0, 40, dtype=np.int64), 16, 16, out.T, 16)  # not contiguous


def test_kernel_built_where_required():
    """CI sets GTZAN_REQUIRE_C_MEDIAN=1: there a silent fallback to NumPy would hide a 2x slowdown."""
    if os.environ.get("GTZAN_REQUIRE_C_MEDIAN") != "1":
        pytest.skip("GTZAN_REQUIRE_C_MEDIAN not set: the C kernel is optional here")
    assert medians.compiled(), "gtzan.features._median was not built: is a C compiler installed?"
