"""How the 58 features move with a gain g: measured on audio, and the exact transform gtzan.gain applies.

The features of g * x are compared with ``apply_gain(features(x), g)`` on every window of real tracks
and on a synthetic clip, feature by feature, to 1e-5 of the feature's spread; then the limits: clipping,
and the dB conversion's amin floor near silence.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gtzan import gain
from gtzan.audio import load_audio
from gtzan.constants import WINDOW_SAMPLES
from gtzan.daemon.pipeline import level_dbfs
from gtzan.features import FEATURE_NAMES, clip_features, window_starts
from gtzan.gain import apply_gain, is_exact, loudest_band_db
from tests import wavgen

GAINS = (0.1, 0.5, 2.0)  # -20, -6, +6 dB; 2.0 takes samples past full scale, kept as float (no clipping)
RTOL = 1e-5  # of the feature's spread (see spread)
DISCRETE = ("length", "tempo")  # must match exactly
NAME = {n: i for i, n in enumerate(FEATURE_NAMES)}


def spread(f: np.ndarray) -> np.ndarray:
    """A feature's natural scale: its magnitude, and for a mean at least the standard deviation beside it
    (a mean near zero, such as harmony_mean or mfcc16_mean, is rounded relative to that spread)."""
    s = np.abs(f).astype(np.float64)
    for name, i in NAME.items():
        var = name.removesuffix("_mean") + "_var"
        if name.endswith("_mean") and var in NAME:
            s[i] = max(s[i], np.sqrt(max(f[NAME[var]], 0.0)))
    return s


def misfit(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """|got - want| in units of the feature's spread."""
    return np.abs(got - want) / np.maximum(spread(want), 1e-300)


def assert_transform_holds(x: np.ndarray, g: float, label: str, base: np.ndarray | None = None) -> float:
    """features(g * x) == apply_gain(features(x), g) feature by feature; returns the worst misfit.
    ``base`` is features(x), when known."""
    got = clip_features(x * np.float32(g))
    want = apply_gain(clip_features(x) if base is None else base, g)
    for name in DISCRETE:
        assert got[NAME[name]] == want[NAME[name]], (label, g, name)
    err = misfit(got, want)
    bad = {FEATURE_NAMES[i]: (got[i], want[i]) for i in np.flatnonzero(err > RTOL)}
    assert not bad, (label, g, bad)
    return float(err.max())


@pytest.fixture(scope="module")
def synthetic() -> np.ndarray:
    return wavgen.music_like(3.0)[:WINDOW_SAMPLES]


@pytest.fixture(scope="module")
def tracks(gtzan_audio: Path) -> dict[str, np.ndarray]:
    """The first track of three genres that span the levels: quiet classical, jazz, loud hip-hop."""
    out = {}
    for genre in ("classical", "jazz", "hiphop"):
        path = sorted((gtzan_audio / genre).glob(f"{genre}.*"))[0]
        out[path.stem] = load_audio(path)
    return out


def measured_relation(x: np.ndarray, g: float) -> dict[str, str]:
    """Each feature's behaviour under gain g, read off the numbers: 'g', 'g^2', 'shift' or 'same'."""
    a, b = clip_features(x), clip_features(x * np.float32(g))
    tol = 1e-6 * spread(a)
    out = {}
    for name, i in NAME.items():
        if abs(b[i] - a[i]) <= tol[i]:
            out[name] = "same"
        elif abs(b[i] - g * a[i]) <= g * tol[i]:
            out[name] = "g"
        elif abs(b[i] - g * g * a[i]) <= g * g * tol[i]:
            out[name] = "g^2"
        else:
            out[name] = "shift"
    return out


@pytest.mark.parametrize("g", [0.1, 2.0])
def test_each_feature_scales_as_the_transform_says(synthetic: np.ndarray, g: float) -> None:
    rel = measured_relation(synthetic, g)
    assert sorted(n for n, r in rel.items() if r == "g") == sorted(gain.LINEAR)
    assert sorted(n for n, r in rel.items() if r == "g^2") == sorted(gain.QUADRATIC)
    assert [n for n, r in rel.items() if r == "shift"] == list(gain.DB_SHIFTED)
    same = [n for n, r in rel.items() if r == "same"]
    assert len(same) == 58 - 7 and "tempo" in same and "chroma_stft_mean" in same and "mfcc1_var" in same


def test_mfcc1_mean_moves_by_sqrt128_per_db(synthetic: np.ndarray) -> None:
    base = clip_features(synthetic)[NAME["mfcc1_mean"]]
    for g in GAINS:
        moved = clip_features(synthetic * np.float32(g))[NAME["mfcc1_mean"]] - base
        assert moved == pytest.approx(np.sqrt(128) * 20 * np.log10(g), rel=1e-6, abs=1e-4)


@pytest.mark.parametrize("g", GAINS)
def test_transform_is_exact_on_a_synthetic_clip(synthetic: np.ndarray, g: float) -> None:
    assert is_exact(loudest_band_db(synthetic), g)
    assert assert_transform_holds(synthetic, g, "music_like") < RTOL


@pytest.mark.gtzan
def test_transform_is_exact_on_every_window_of_real_tracks(tracks: dict[str, np.ndarray]) -> None:
    worst = 0.0
    for name, y in tracks.items():
        for s in window_starts(len(y)):
            x = y[s : s + WINDOW_SAMPLES]
            loudest, base = loudest_band_db(x), clip_features(x)
            # the margin that keeps the amin floor away: the loudest band sits 41-53 dB above the level
            assert 38.0 < loudest - level_dbfs(base) < 56.0, (name, s)
            for g in GAINS:
                assert is_exact(loudest, g), (name, s, g)
                worst = max(worst, assert_transform_holds(x, g, f"{name}@{s}", base))
    assert worst < RTOL


def test_table_of_rows_with_a_gain_per_row(synthetic: np.ndarray) -> None:
    f = clip_features(synthetic)
    table = np.stack([f, f, f])
    gains = np.array([0.1, 1.0, 2.0])
    out = apply_gain(table, gains)
    assert out.shape == (3, 58) and np.array_equal(table[0], f)  # the input is left alone
    for row, g in zip(out, gains, strict=True):
        np.testing.assert_array_equal(row, apply_gain(f, g))
    np.testing.assert_array_equal(out[1], f)
    with pytest.raises(ValueError):
        apply_gain(f, 0.0)
    with pytest.raises(ValueError):
        apply_gain(f[:57], 2.0)


def test_clipping_is_outside_the_transform(synthetic: np.ndarray) -> None:
    """Samples cut at full scale lose level and add harmonics: the transform no longer describes them."""
    g = 2.0
    assert np.abs(synthetic).max() * g > 1.0
    clipped = clip_features(np.clip(synthetic * np.float32(g), -1.0, 1.0))
    want = apply_gain(clip_features(synthetic), g)
    assert clipped[NAME["rms_mean"]] < 0.99 * want[NAME["rms_mean"]]
    assert misfit(clipped, want)[NAME["spectral_centroid_mean"]] > 100 * RTOL


def test_the_amin_floor_ends_it_near_silence(synthetic: np.ndarray) -> None:
    """Once the loudest band drops under -20 dB, bands at the -100 dB floor stop moving with the gain (and,
    this far down, samples near zero crossings fall within the zero-crossing threshold of 1e-10)."""
    loudest = loudest_band_db(synthetic)
    ok = 10 ** ((gain.LOUDEST_BAND_MIN_DB + 1 - loudest) / 20)  # loudest band at -19 dB
    assert is_exact(loudest, ok)
    assert_transform_holds(synthetic, ok, "at -19 dB")
    low = 10 ** ((gain.LOUDEST_BAND_MIN_DB - 40 - loudest) / 20)  # loudest band at -60 dB
    assert not is_exact(loudest, low)
    err = misfit(clip_features(synthetic * np.float32(low)), apply_gain(clip_features(synthetic), low))
    drifted = {FEATURE_NAMES[i] for i in np.flatnonzero(err > RTOL)}
    assert "mfcc1_mean" in drifted and "mfcc2_var" in drifted
    zcr = {"zero_crossing_rate_mean", "zero_crossing_rate_var"}
    assert drifted <= {n for n in FEATURE_NAMES if n.startswith("mfcc")} | {"tempo"} | zcr


def test_digital_silence_does_not_move() -> None:
    """Every band of silence sits at the amin floor at every gain: its features are those of gain 1."""
    zeros = np.zeros(WINDOW_SAMPLES, np.float32)
    assert loudest_band_db(zeros) == pytest.approx(gain.AMIN_DB) and not is_exact(gain.AMIN_DB, 2.0)
    np.testing.assert_array_equal(clip_features(zeros * np.float32(2.0)), clip_features(zeros))
    assert apply_gain(clip_features(zeros), 2.0)[NAME["mfcc1_mean"]] != clip_features(zeros)[NAME["mfcc1_mean"]]


@pytest.mark.parametrize("g", [0.25, 0.5, 1.0])
def test_at_level_gives_the_same_features_at_any_gain(synthetic: np.ndarray, g: float) -> None:
    """The clip at gain g, brought to one level, is the clip brought to that level: volume cannot matter."""
    f, moved = clip_features(synthetic), clip_features(synthetic * np.float32(g))
    a, b = gain.at_level(f), gain.at_level(moved)
    assert a[NAME["rms_mean"]] == pytest.approx(gain.LEVEL_RMS)
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-4 * np.abs(a).max())
    assert np.array_equal(gain.at_level(np.zeros(58)), np.zeros(58))  # digital silence left as it is
