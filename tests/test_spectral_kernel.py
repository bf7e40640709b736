"""The per-frame C kernel (gtzan.features._spectral) gives the NumPy path's floats, bit for bit."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from gtzan.constants import SR
from gtzan.features import clip_features, filters, kernels, medians
from gtzan.features import frames as fr
from gtzan.features import window as wn
from gtzan.features.stream import StreamingExtractor
from tests import wavgen as wg

needs_kernel = pytest.mark.skipif(
    not fr.compiled(), reason="C spectral kernel not built (no C compiler at install): NumPy path only"
)


def signals() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    loud = np.clip(rng.standard_normal(40000) * 3, -1, 1).astype(np.float32)
    half_silent = np.concatenate([np.zeros(20000, np.float32), wg.noise(1.0, amp=0.2)])
    return {
        "music": wg.music_like(4.0),
        "chirp": wg.chirp(seconds=2.0),
        "clicks": wg.clicks(seconds=2.0),
        "clipped noise": loud,
        "half silent": half_silent,
        "silence": np.zeros(30000, np.float32),
        "dc": np.full(30000, 0.5, np.float32),
        "tiny": (rng.standard_normal(30000) * 1e-12).astype(np.float32),
        "impulse": np.eye(1, 30000, 15000, dtype=np.float32)[0],
    }


def both_paths(monkeypatch, fn):
    """fn() with the kernel, then with the NumPy path."""
    with_kernel = fn()
    monkeypatch.setattr(kernels, "spectral", None)
    without = fn()
    monkeypatch.undo()
    return with_kernel, without


def assert_same_frames(a: fr.FrameData, b: fr.FrameData) -> None:
    for field in dataclasses.fields(fr.FrameData):
        x, y = getattr(a, field.name), getattr(b, field.name)
        if isinstance(x, list):
            assert len(x) == len(y) and all(np.array_equal(p, q) for p, q in zip(x, y, strict=True)), field.name
        else:
            assert x.dtype == y.dtype and np.array_equal(x, y), field.name


@needs_kernel
@pytest.mark.parametrize("name", list(signals()))
def test_frames_equal_numpys(monkeypatch, name):
    frames, zc = wn.centred_frames(signals()[name])
    assert_same_frames(*both_paths(monkeypatch, lambda: fr.analyze(frames, zc)))


@needs_kernel
@pytest.mark.gtzan
def test_frames_of_gtzan_tracks_equal_numpys(monkeypatch, gtzan_audio):
    from gtzan.audio import load_audio

    tracks = sorted(gtzan_audio.glob("*/*.*"))[::9]
    assert tracks
    for track in tracks:
        frames, zc = wn.centred_frames(load_audio(track)[: 20 * SR])
        assert_same_frames(*both_paths(monkeypatch, lambda f=frames, z=zc: fr.analyze(f, z)))


@needs_kernel
@pytest.mark.parametrize("name", ["music", "half silent", "silence", "impulse"])
def test_harmonic_frames_equal_numpys(monkeypatch, name):
    fd = fr.analyze(*wn.centred_frames(signals()[name]))
    harm = medians.time_median(fd.mag)
    a, b = both_paths(monkeypatch, lambda: wn.harmonic_frames(fd.D, fd.perc, harm))
    assert a.dtype == b.dtype and np.array_equal(a, b)
    a, b = both_paths(monkeypatch, lambda: fr.overlap_add(wn.harmonic_frames(fd.D, fd.perc, harm), 3 * SR))
    assert np.array_equal(a, b)


@needs_kernel
@pytest.mark.parametrize("shape", [(130, 385), (1, 385), (3, 129), (9, 1)])
def test_tempo_power_spectra_equal_numpys(monkeypatch, shape):
    rng = np.random.default_rng(11)
    spec = rng.standard_normal(shape) * 1e3 + 1j * rng.standard_normal(shape)
    spec[0, :2] = 0.0  # silent bins
    (p, s), (q, t) = both_paths(monkeypatch, lambda: filters._power_sums(spec))
    assert np.array_equal(p, q) and np.array_equal(s, t)


@needs_kernel
@pytest.mark.parametrize("name", ["music", "clicks", "half silent"])
def test_tempo_equals_numpys(monkeypatch, name):
    fd = fr.analyze(*wn.centred_frames(signals()[name]))
    env = wn.onset_envelope(fd, wn.db_floor(fd))
    assert env.any()
    a, b = both_paths(monkeypatch, lambda: wn.tempo(env))
    assert a == b > 0


@needs_kernel
def test_window_features_equal_numpys(monkeypatch):
    y = np.concatenate([wg.music_like(6.0), np.zeros(SR, np.float32), wg.noise(2.0)])
    a, b = both_paths(monkeypatch, lambda: StreamingExtractor(22).push(y))
    assert len(a) == len(b) >= 10
    for p, q in zip(a, b, strict=True):
        assert np.array_equal(p.features, q.features), p.start
    a, b = both_paths(monkeypatch, lambda: clip_features(y[: 3 * SR]))
    assert np.array_equal(a, b)


@needs_kernel
def test_kernel_rejects_mismatched_buffers():
    k = kernels.spectral
    assert k is not None
    x, z, out = np.zeros((2, 2048)), np.zeros((2, 2048), np.float32), np.zeros(2)
    with pytest.raises(ValueError):
        k.time_stats(x, z[:1], 2048, 1e-10, out, out.copy())
    with pytest.raises(ValueError):
        k.time_stats(x, z, 2048, 1e-10, np.zeros(3), out)
    mag = np.zeros((2, fr.N_BINS), np.float32)
    cols, vals, starts = fr._mel_runs()
    args = [np.empty_like(mag), np.zeros(2), np.zeros(2), np.zeros(2), np.zeros((2, fr.N_MELS), np.float32)]
    with pytest.raises(IndexError):
        k.spectral_stats(mag, fr.N_BINS, fr.fft_freqs(), cols + fr.N_BINS, vals, starts, *args)
    with pytest.raises(ValueError):
        k.spectral_stats(mag, fr.N_BINS, fr.fft_freqs(), cols, vals, starts[::-1].copy(), *args)
    with pytest.raises(ValueError):
        k.spectral_stats(mag, fr.N_BINS, fr.fft_freqs(), cols, vals, starts, *args[:4], np.zeros(3, np.float32))
    small = np.zeros(3, np.int64)
    with pytest.raises(ValueError):  # output buffers too small for every bin of every frame
        k.peaks(mag, fr.N_BINS, 10, 20, 0.1, float(SR), 2048, small, small.astype(np.float32), np.zeros(3, np.float32))
    with pytest.raises(ValueError):  # one row short
        k.overlap_add(np.zeros((3, 2048), np.float32), fr.hann(), 512, np.zeros((5, 512)))
    with pytest.raises(ValueError):
        k.overlap_add(np.zeros((3, 2048), np.float32), fr.hann(), 500, np.zeros((6, 512)))
    with pytest.raises(ValueError):  # one sum short
        k.power_sums(np.zeros((3, 5), np.complex128), np.zeros((3, 5)), np.zeros(2))
    with pytest.raises(ValueError):  # complex64 spectra
        k.power_sums(np.zeros((3, 5), np.complex64), np.zeros((3, 5)), np.zeros(3))
    with pytest.raises(ValueError):
        k.harmonic_spectrum(
            np.zeros((2, 4), np.complex64),
            np.zeros((2, 3), np.float32),
            np.zeros((2, 4), np.float32),
            np.zeros((2, 4), np.complex64),
        )


def test_kernel_built_where_required():
    """CI sets GTZAN_REQUIRE_C_EXTENSIONS=1: there a silent fallback to NumPy would hide the slower path."""
    if os.environ.get("GTZAN_REQUIRE_C_EXTENSIONS") != "1":
        pytest.skip("GTZAN_REQUIRE_C_EXTENSIONS not set: the C kernel is optional here")
    assert fr.compiled(), "gtzan.features._spectral was not built: is a C compiler installed?"
