"""The 58-feature definition: names, robustness, agreement with librosa and with the Kaggle table."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from gtzan.constants import GENRES, WINDOW_SAMPLES
from gtzan.features import FEATURE_NAMES, clip_features, window_starts
from tests import librosa_reference as _reference
from tests import wavgen as wg

TEMPO = FEATURE_NAMES.index("tempo")


def test_names_follow_the_kaggle_table_order():
    assert len(FEATURE_NAMES) == 58 and len(set(FEATURE_NAMES)) == 58
    assert FEATURE_NAMES[:3] == ("length", "chroma_stft_mean", "chroma_stft_var")
    assert FEATURE_NAMES[17] == "tempo" and FEATURE_NAMES[-1] == "mfcc20_var"
    assert GENRES == ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")


def test_window_starts_give_the_reports_ten_windows():
    assert window_starts(661794) == [i * WINDOW_SAMPLES for i in range(10)]
    assert len(window_starts(661504)) == 10
    assert window_starts(WINDOW_SAMPLES - 1) == []
    assert len(window_starts(30 * 22050, hop=11025)) == 55


@pytest.mark.parametrize(
    "name,signal",
    [
        ("music", wg.music_like(4)),
        ("noise", wg.noise(3.5)),
        ("chirp", wg.chirp(seconds=3.1)),
        ("clicks", wg.clicks(120, 4)),
        ("tone", wg.tone(seconds=3)),
        ("clipped", np.clip(wg.music_like(4) * 10, -1, 1)),
        ("quiet", wg.music_like(4) * 1e-5),
        ("short", wg.noise(0.01)),
    ],
)
def test_agrees_with_plain_librosa(name, signal):
    pytest.importorskip("librosa")
    ours = clip_features(signal)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = _reference.clip_features(signal)
    assert ours[TEMPO] == ref[TEMPO]
    np.testing.assert_allclose(ours, ref, rtol=1e-3, atol=1e-6, err_msg=name)


@pytest.mark.parametrize(
    "signal",
    [
        np.zeros(WINDOW_SAMPLES, np.float32),
        np.full(WINDOW_SAMPLES, 0.5, np.float32),
        np.full(WINDOW_SAMPLES, -1.0, np.float32),
        wg.music_like(3.1) * 1e-9,
        np.sign(wg.music_like(3.1)).astype(np.float32),
        np.array([0.25], np.float32),
        np.zeros(10, np.float32),
    ],
    ids=["silence", "dc", "negative-full-scale", "very-quiet", "square-clipped", "one-sample", "tiny-silence"],
)
def test_degenerate_input_gives_finite_features(signal):
    f = clip_features(signal)
    assert f.shape == (58,) and np.all(np.isfinite(f))
    assert f[0] == len(signal)


def test_clicks_at_known_tempo():
    for bpm in (90, 120, 150):
        f = clip_features(wg.clicks(bpm, 3.0)[:WINDOW_SAMPLES])
        assert abs(f[TEMPO] - bpm) / bpm < 0.05, (bpm, f[TEMPO])


def test_rejects_what_it_cannot_define():
    with pytest.raises(ValueError, match="22050"):
        clip_features(wg.tone(), sr=44100)
    with pytest.raises(ValueError, match="mono"):
        clip_features(np.zeros((100, 2), np.float32))
    with pytest.raises(ValueError, match="non-empty"):
        clip_features(np.zeros(0, np.float32))
    with pytest.raises(ValueError, match="NaN"):
        clip_features(np.array([0.0, np.nan] * 2000, np.float32))


def _table(gtzan_dir: Path) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rows = {}
    with open(gtzan_dir / "features_30_sec.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            rows[r["filename"].rsplit(".", 1)[0]] = np.array([float(r[n]) for n in FEATURE_NAMES])
    return rows, np.std(np.stack(list(rows.values())), axis=0)


@pytest.mark.gtzan
@pytest.mark.slow
def test_whole_tracks_match_the_kaggle_table(gtzan_dir, gtzan_audio):
    """Every track against its features_30_sec.csv row: 0.05 std per feature, tempo equal on >= 95%."""
    rows, std = _table(gtzan_dir)
    tracks = sorted(gtzan_audio.glob("*/*.flac"))
    assert len(tracks) >= 80
    worst = np.zeros(58)
    tempo_equal = 0
    for path in tracks:
        y, sr = sf.read(path, dtype="float32")
        f = clip_features(y, sr)
        ref = rows[path.stem]
        d = np.abs(f - ref) / std
        tempo_equal += f[TEMPO] == ref[TEMPO]
        d[TEMPO] = 0
        worst = np.maximum(worst, d)
    assert worst.max() < 0.05, dict(zip(FEATURE_NAMES, worst.round(4)))
    assert tempo_equal >= 0.95 * len(tracks), f"tempo equal on {tempo_equal}/{len(tracks)}"


@pytest.mark.parametrize(
    "y, harm",
    [
        (wg.music_like(3.1), lambda y: 0.7 * y.astype(np.float64) + 0.01),
        (np.full(WINDOW_SAMPLES, 0.5, np.float32), lambda y: np.full(len(y), 0.5)),  # DC: no variance
        (np.zeros(WINDOW_SAMPLES, np.float32), lambda y: np.zeros(len(y))),
        (wg.tone(seconds=3.0) * 1e-5, lambda y: y.astype(np.float64) * (1 - 1e-6)),  # quiet, tiny percussive part
    ],
    ids=["music", "dc", "silence", "quiet-tone"],
)
def test_harmonic_and_percussive_statistics_from_sums_equal_two_pass_ones(y, harm):
    from gtzan.features.recipe import split_mean_var

    h = harm(y)
    p = y.astype(np.float64) - h
    got = split_mean_var(y, h)
    want = (h.mean(), h.var(), p.mean(), p.var())
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-15)
    assert min(got[1], got[3]) >= 0.0


def test_centroid_and_bandwidth_from_moments_equal_librosas_formula():
    from gtzan.features import frames as fr

    rng = np.random.default_rng(3)
    m = rng.random((6, fr.N_BINS)) ** 4
    m[1] = 0.0  # silence
    m[2] = 0.0
    m[2, 40] = 1.0  # one bin: no spread
    m[3] *= 1e-42  # sums below float32's tiny stay unnormalised, as librosa leaves them
    f = fr.fft_freqs()
    tot = m.sum(axis=1, keepdims=True)
    norm = m / np.where(tot < np.finfo(np.float32).tiny, 1.0, tot)
    centroid = np.sum(norm * f, axis=1)
    bandwidth = np.sqrt(np.sum(norm * (f - centroid[:, None]) ** 2, axis=1))
    c, b = fr._centroid_bandwidth(m)
    np.testing.assert_allclose(c, centroid, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(b, bandwidth, rtol=1e-9, atol=1e-6)


def test_centroid_and_bandwidth_of_a_frame_do_not_depend_on_the_batch():
    """--fast's second process analyses other batches of frames than the stream: the same bits."""
    from gtzan.features import frames as fr

    m = np.random.default_rng(4).random((37, fr.N_BINS)) ** 3
    whole = fr._centroid_bandwidth(m)
    for n in (1, 5, 16):
        parts = [fr._centroid_bandwidth(m[i : i + n]) for i in range(0, len(m), n)]
        assert np.array_equal(np.concatenate([c for c, _ in parts]), whole[0])
        assert np.array_equal(np.concatenate([b for _, b in parts]), whole[1])


def test_tuning_histogram_counts_as_numpys():
    """estimate_tuning bins the residuals with searchsorted: the same bins as np.histogram, edges included."""
    from types import SimpleNamespace

    from gtzan.features import window as wn

    edges = np.linspace(-0.5, 0.5, 101)
    on_edges = edges[:-1].astype(np.float32)  # float32 rounding puts some just below their edge
    near = np.concatenate([on_edges, np.nextafter(on_edges, np.float32(-1)), np.nextafter(on_edges, np.float32(1))])
    rng = np.random.default_rng(5)
    for trial in range(40):
        res = rng.choice(near[(near >= -0.5) & (near < 0.5)], size=rng.integers(1, 300))
        mags = rng.random(len(res)).astype(np.float32)
        pitch = [np.stack([mags, res], axis=1)[i::3] for i in range(3)]
        sel = res[mags >= np.median(mags)]
        counts, _ = np.histogram(sel, edges)
        assert wn.estimate_tuning(SimpleNamespace(pitch=pitch)) == edges[np.argmax(counts)], trial
    assert wn.estimate_tuning(SimpleNamespace(pitch=[np.zeros((0, 2), np.float32)])) == 0.0


@pytest.mark.parametrize("shape", [(1,), (2,), (3001,), (3000,), (22, 128), (5, 127), (4, 1)])
def test_median_is_numpys_bit_for_bit(shape):
    """window.median takes the middle two's mean without np.mean: the same float32 values and types."""
    from gtzan.features import window as wn

    rng = np.random.default_rng(shape[-1])
    for a in (
        rng.standard_normal(shape).astype(np.float32),
        np.maximum(np.float32(0), rng.standard_normal(shape).astype(np.float32)),  # onset rows: many zeros
        (rng.random(shape) * 1e-30).astype(np.float32),  # tiny magnitudes
        rng.standard_normal(shape),  # float64
    ):
        got, want = wn.median(a), np.median(a, axis=-1)
        assert type(got) is type(want) and got.dtype == want.dtype
        assert np.asarray(got).tobytes() == np.asarray(want).tobytes()
