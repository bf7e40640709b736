"""The benchmark's degradations: levels, signal-to-noise ratios, band limits, codecs, and their seeds."""

from __future__ import annotations

import numpy as np
import pytest

from gtzan.constants import SR
from gtzan.degrade import CONDITIONS, degrade, pink, rms, rng_for
from tests import wavgen

pytest.importorskip("scipy")  # the band limits and the room


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return wavgen.music_like(4.0)


def band_power(y: np.ndarray, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(len(y), 1 / SR)
    return float(spec[(f >= lo) & (f < hi)].sum())


@pytest.mark.parametrize("name", list(CONDITIONS))
def test_every_condition_keeps_rate_length_and_full_scale(clip: np.ndarray, name: str) -> None:
    y = degrade(clip, name, rng_for(0, name, "t"))
    assert y.dtype == np.float32 and abs(len(y) - len(clip)) <= SR // 100
    assert np.all(np.isfinite(y)) and np.abs(y).max() <= 1.0


def test_seeded_by_condition_and_track(clip: np.ndarray) -> None:
    a = degrade(clip, "white30", rng_for(0, "white30", "rock.00002"))
    assert np.array_equal(a, degrade(clip, "white30", rng_for(0, "white30", "rock.00002")))
    assert not np.array_equal(a, degrade(clip, "white30", rng_for(0, "white30", "jazz.00001")))
    assert not np.array_equal(a, degrade(clip, "white30", rng_for(1, "white30", "rock.00002")))


def test_gains_and_clipping(clip: np.ndarray) -> None:
    quiet = degrade(clip, "gain-12", rng_for(0, "gain-12", "t"))
    assert 20 * np.log10(rms(quiet) / rms(clip)) == pytest.approx(-12.0, abs=0.01)
    loud = degrade(clip, "gain+6", rng_for(0, "gain+6", "t"))
    assert np.mean(np.abs(loud) >= 0.999) > 0.01 and rms(loud) < 2 * rms(clip)


@pytest.mark.parametrize("name,snr", [("white30", 30), ("pink20", 20)])
def test_noise_at_its_snr(clip: np.ndarray, name: str, snr: float) -> None:
    noise = degrade(clip, name, rng_for(0, name, "t")) - clip
    assert 20 * np.log10(rms(clip) / rms(noise)) == pytest.approx(snr, abs=0.1)


def test_pink_noise_falls_by_3_db_an_octave() -> None:
    x = pink(1 << 18, np.random.default_rng(0))
    per_hz = [band_power(x, f, 2 * f) / f for f in (500.0, 1000.0, 2000.0)]
    assert 10 * np.log10(per_hz[0] / per_hz[1]) == pytest.approx(3.0, abs=0.5)
    assert 10 * np.log10(per_hz[1] / per_hz[2]) == pytest.approx(3.0, abs=0.5)


def test_band_limits(clip: np.ndarray) -> None:
    noise = wavgen.noise(4.0, amp=0.2)
    low = degrade(noise, "lowpass4k", rng_for(0, "lowpass4k", "t"))
    assert band_power(low, 6000, 11025) < 1e-4 * band_power(noise, 6000, 11025)
    high = degrade(noise, "highpass200", rng_for(0, "highpass200", "t"))
    assert band_power(high, 20, 80) < 1e-3 * band_power(noise, 20, 80)
    assert band_power(high, 1000, 4000) == pytest.approx(band_power(noise, 1000, 4000), rel=0.05)


def test_room_keeps_the_level_and_spreads_the_clicks() -> None:
    clicks = wavgen.clicks(60.0, 4.0)
    wet = degrade(clicks, "room", rng_for(0, "room", "t"))
    assert rms(wet) == pytest.approx(rms(clicks), rel=0.05)
    gap = slice(int(0.1 * SR), int(0.25 * SR))  # between clicks 1 s apart: the reverberant tail
    assert rms(wet[gap]) > 30 * rms(clicks[gap]) + 1e-4
