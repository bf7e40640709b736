"""gtzan.features.filters against librosa itself: the mel and chroma filter banks and the tempo estimate
are the same numbers, bit for bit, at the settings the features use (and a few others)."""

from __future__ import annotations

import numpy as np
import pytest

from gtzan.constants import HOP, N_FFT, SR
from gtzan.features import filters

librosa = pytest.importorskip("librosa")
scipy_signal = pytest.importorskip("scipy.signal")


def test_periodic_hann_is_scipys():
    for n in (N_FFT, 344, 7):
        np.testing.assert_array_equal(filters.periodic_hann(n), scipy_signal.get_window("hann", n, fftbins=True))


@pytest.mark.parametrize("sr, n_fft, n_mels", [(SR, N_FFT, 128), (SR, 1024, 64), (16000, 512, 40)])
def test_mel_bank_is_librosas(sr, n_fft, n_mels):
    want = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)
    got = filters.mel(sr, n_fft, n_mels)
    assert got.dtype == want.dtype == np.float32
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("tuning", [0.0, -0.5, -0.17, 0.01, 0.33, 0.49])
def test_chroma_bank_is_librosas(tuning):
    want = librosa.filters.chroma(sr=SR, n_fft=N_FFT, tuning=tuning, n_chroma=12)
    got = filters.chroma(SR, N_FFT, tuning, 12)
    assert got.dtype == want.dtype == np.float32
    np.testing.assert_array_equal(got, want)


def _envelopes() -> list[np.ndarray]:
    """Onset envelopes of a 3 s window (130 frames): clicks at several tempi, noise, silence at one end,
    silence (no frame of the tempogram sees anything: librosa leaves them undivided), one click."""
    rng = np.random.default_rng(7)
    out = []
    for period in (10, 13, 21, 34):
        env = np.zeros(130, dtype=np.float32)
        env[5::period] = 4.0
        out.append(env + rng.random(130, dtype=np.float32) * 0.3)
    out.append(rng.random(130, dtype=np.float32))
    quiet = rng.random(130, dtype=np.float32)
    quiet[:60] = 0
    out.append(quiet)
    out.append(np.zeros(130, dtype=np.float32))
    click = np.zeros(130, dtype=np.float32)
    click[64] = 1.0
    out.append(click)
    return out


@pytest.mark.parametrize("env", _envelopes(), ids=["p10", "p13", "p21", "p34", "noise", "half-silent", "silent", "click"])
def test_tempo_is_librosas(env):
    want = librosa.feature.tempo(onset_envelope=env, sr=SR, hop_length=HOP)[0]
    assert filters.tempo(env, SR, HOP) == float(want)


def test_strided_frames_are_librosas_frames():
    y = np.arange(5000, dtype=np.float32)
    want = librosa.util.frame(y, frame_length=N_FFT, hop_length=HOP, axis=0)
    np.testing.assert_array_equal(filters.strided_frames(y, N_FFT, HOP), want)


@pytest.mark.parametrize("step", [1, 3])
def test_strided_frames_views_read_only(step):
    """Contiguous input goes through the ndarray constructor, strided input through as_strided: the
    frames are the same, read-only, and share the input's memory."""
    base = np.arange(3 * 5000, dtype=np.float32)
    y = base[: 5000 * step : step]
    frames = filters.strided_frames(y, N_FFT, HOP)
    want = librosa.util.frame(np.ascontiguousarray(y), frame_length=N_FFT, hop_length=HOP, axis=0)
    np.testing.assert_array_equal(frames, want)
    assert not frames.flags.writeable and np.shares_memory(frames, base)
    assert filters.strided_frames(y[:100], N_FFT, HOP).shape == (0, N_FFT)
