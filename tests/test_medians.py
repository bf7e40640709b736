"""The HPSS median filters: the C kernel and the NumPy path agree with scipy.ndimage, bit for bit."""

from __future__ import annotations

import os

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from gtzan.features import kernels, medians

scipy_ndimage = pytest.importorskip("scipy.ndimage")

needs_kernel = pytest.mark.skipif(not medians.compiled(),
                                  reason="C median kernel not built (no C compiler at install): NumPy path only")


@pytest.fixture(params=["c", "numpy"])
def path(request, monkeypatch):
    if request.param == "c" and not medians.compiled():
        pytest.skip("C median kernel not built (no C compiler at install)")
    if request.param == "numpy":
        monkeypatch.setattr(kernels, "median", None)
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


def batcher_network(real: int, outputs: set[int], wires: int = 32) -> list[tuple[int, int]]:
    """Batcher's odd-even merge sort on 32 wires, without comparators that touch a wire past the ``real``
    values (those hold +inf: such a comparator moves nothing), pruned to what ``outputs`` depend on."""
    net = []
    p = 1
    while p < wires:
        k = p
        while k >= 1:
            for j in range(k % p, wires - k, 2 * k):
                for i in range(min(k, wires - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p) and i + j + k < real:
                        net.append((i + j, i + j + k))
            k //= 2
        p *= 2
    live, kept = set(outputs), []
    for a, b in reversed(net):
        if a in live or b in live:
            live |= {a, b}
            kept.append((a, b))
    return kept[::-1]


@needs_kernel
def test_kernel_networks_are_batchers_pruned():
    assert [tuple(c) for c in kernels.median.network()] == batcher_network(31, {15})
    assert [tuple(c) for c in kernels.median.shared_network()] == batcher_network(28, {12, 13, 14, 15})


@needs_kernel
def test_kernel_equals_partition_on_any_windows():
    """Windows taken four at a time (sharing 28 values) and one at a time, full and partial lanes, any
    indices (repeated ones too): every output is the median NumPy's partition picks."""
    rng = np.random.default_rng(7)
    for trial in range(200):
        n_out, lanes, rows = int(rng.integers(1, 40)), int(rng.integers(1, 50)), int(rng.integers(1, 60))
        x = spectra(trial, rows, lanes)[trial % 4]
        idx = rng.integers(0, rows, n_out + 30).astype(np.int64)
        out = np.full((n_out, lanes + 3), -1.0, np.float32)  # a wider row: the kernel writes `lanes` of it
        kernels.median.sliding(x, idx, lanes, lanes, out, lanes + 3)
        win = x[sliding_window_view(idx, 31)]  # (n_out, 31, lanes)
        np.testing.assert_array_equal(out[:, :lanes], np.partition(win, 15, axis=1)[:, 15])
        assert np.all(out[:, lanes:] == -1.0)


@needs_kernel
def test_kernel_rejects_bad_buffers():
    x = np.zeros((40, 16), np.float32)
    out = np.zeros((10, 16), np.float32)
    k = kernels.median
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
    """CI sets GTZAN_REQUIRE_C_EXTENSIONS=1: there a silent fallback to NumPy would hide a 2x slowdown."""
    if os.environ.get("GTZAN_REQUIRE_C_EXTENSIONS") != "1":
        pytest.skip("GTZAN_REQUIRE_C_EXTENSIONS not set: the C kernel is optional here")
    assert medians.compiled(), "gtzan.features._median was not built: is a C compiler installed?"
