"""The incremental extractor equals the batch features window by window, however the stream is cut."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from gtzan.constants import HOP, WINDOW_SAMPLES, hop_frames
from gtzan.features import FEATURE_NAMES, clip_features
from gtzan.features.stream import StreamingExtractor
from tests import wavgen as wg

TEMPO = FEATURE_NAMES.index("tempo")
# A feature scale for the 1e-4 tolerance where the Kaggle table is absent: the spread of the batch
# features over the fixtures themselves would be too small for constant ones, so use magnitudes.


def _scale(gtzan_dir=None) -> np.ndarray:
    from gtzan.datadir import data_dir

    d = data_dir()
    if d is not None and (d / "features_30_sec.csv").is_file():
        tab = np.genfromtxt(d / "features_30_sec.csv", delimiter=",", skip_header=1, usecols=range(1, 59))
        return tab.std(axis=0)
    return None


SCALE = _scale()


def feed(signal: np.ndarray, hop: float = 0.5, seed: int | None = 0, max_block: int = 30000):
    ex = StreamingExtractor(hop_frames(hop))
    if seed is None:
        return ex, ex.push(signal)
    rng = np.random.default_rng(seed)
    out, i = [], 0
    while i < len(signal):
        n = int(rng.integers(1, max_block))
        out += ex.push(signal[i : i + n])
        i += n
    return ex, out


def assert_windows_exact(signal: np.ndarray, windows) -> None:
    for w in windows:
        ref = clip_features(signal[w.start_sample : w.start_sample + WINDOW_SAMPLES])
        assert w.features[TEMPO] == ref[TEMPO], w.start
        if SCALE is not None:
            d = np.abs(w.features - ref) / SCALE
            assert d.max() <= 1e-4, (w.start, FEATURE_NAMES[int(np.argmax(d))], d.max())
        else:
            np.testing.assert_allclose(w.features, ref, rtol=1e-6, atol=1e-9)


def test_hop_is_whole_frames():
    assert hop_frames(0.5) == 22 and StreamingExtractor(22).hop_samples == 22 * HOP
    assert StreamingExtractor().hop_frames == 22
    assert hop_frames(0.001) == 1
    for bad in (0, -1, float("nan")):
        with pytest.raises(ValueError):
            hop_frames(bad)
    for frames in (0, -1, 0.5, True):
        with pytest.raises(ValueError):
            StreamingExtractor(frames)


def test_window_count_and_times():
    y = wg.music_like(8)
    ex, wins = feed(y)
    hop = ex.hop_samples
    assert len(wins) == (len(y) - WINDOW_SAMPLES) // hop + 1
    assert [w.start_sample for w in wins] == [k * hop for k in range(len(wins))]
    assert all(abs(w.end - w.start - WINDOW_SAMPLES / 22050) < 1e-12 for w in wins)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_batch_with_random_blocks(seed):
    y = wg.music_like(7, seed=seed)
    _, wins = feed(y, seed=seed)
    assert len(wins) >= 8
    assert_windows_exact(y, wins)


@pytest.mark.parametrize("hop", [0.1, 1.0, 2.9, 3.5, 6.0])
def test_equals_batch_at_other_hops(hop):
    y = np.concatenate([wg.noise(3), wg.clicks(140, 4), wg.chirp(seconds=3)])
    _, wins = feed(y, hop=hop, seed=5)
    assert wins
    assert_windows_exact(y, wins[:12])


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal up to float64 rounding (a BLAS dot product may group terms differently), tempo exactly."""
    return a[TEMPO] == b[TEMPO] and np.allclose(a, b, rtol=1e-12, atol=0)


def test_same_result_however_the_stream_is_cut():
    y = wg.music_like(4.5, seed=3)
    _, whole = feed(y, seed=None)
    _, tiny = feed(y, seed=4, max_block=40)
    _, singles = feed(y[: WINDOW_SAMPLES + 600], seed=None, hop=0.01)
    assert len(whole) == len(tiny) == 3
    for a, b in zip(whole, tiny):
        assert a.start_sample == b.start_sample and same(a.features, b.features)
    ex = StreamingExtractor(hop_frames(0.01))
    one_by_one = [w for s in y[: WINDOW_SAMPLES + 600] for w in ex.push(np.array([s]))]
    assert [w.start_sample for w in one_by_one] == [w.start_sample for w in singles]
    for a, b in zip(one_by_one, singles):
        assert same(a.features, b.features)


def test_silence_dc_and_loud_segments():
    y = np.concatenate([wg.silence(3.5), np.full(30000, 0.4, np.float32), np.clip(wg.noise(3, amp=3), -1, 1)])
    _, wins = feed(y, seed=9)
    assert all(np.all(np.isfinite(w.features)) for w in wins)
    assert_windows_exact(y, wins)


def test_shorter_than_a_window_yields_nothing():
    ex = StreamingExtractor()
    assert ex.push(wg.tone(seconds=2.9)) == []
    assert ex.push(np.zeros(0, np.float32)) == []


def test_memory_stays_bounded():
    ex = StreamingExtractor(hop_frames(0.5))
    block = wg.noise(10, seed=2)
    sizes = []
    for _ in range(12):  # two minutes
        ex.push(block)
        sizes.append((ex._b - ex._a, ex._store.count))
        # the samples' buffer: twice what is kept and a block at most, reused from block to block
        assert ex._buf.size <= 2 * (WINDOW_SAMPLES + 3 * ex.hop_samples + 4096)
    assert max(s for s, _ in sizes) < WINDOW_SAMPLES + 2 * ex.hop_samples + 4096
    assert max(c for _, c in sizes) <= ex._store.cap
    assert sizes[-1] == sizes[-2] or sizes[-1][0] <= sizes[1][0] + ex.hop_samples


def test_reset_starts_a_new_stream():
    y = wg.music_like(4)
    ex = StreamingExtractor()
    a = ex.push(y)
    ex.reset()
    b = ex.push(y)
    assert [w.start_sample for w in a] == [w.start_sample for w in b]
    assert all(same(x.features, z.features) for x, z in zip(a, b))


@pytest.mark.gtzan
@pytest.mark.slow
def test_every_window_of_every_gtzan_track(gtzan_audio):
    tracks = sorted(gtzan_audio.glob("*/*.flac"))
    assert len(tracks) >= 80
    for k, path in enumerate(tracks):
        y, _ = sf.read(path, dtype="float32")
        _, wins = feed(y, seed=k, max_block=100000)
        assert len(wins) == (len(y) - WINDOW_SAMPLES) // (22 * HOP) + 1
        assert_windows_exact(y, wins)


def test_non_finite_samples_are_replaced_not_propagated():
    y = wg.music_like(3.6, seed=4)
    bad = y.copy()
    bad[1000:1010] = np.nan
    bad[5000] = np.inf
    bad[9000] = -np.inf
    clean = np.nan_to_num(bad, nan=0.0, posinf=1.0, neginf=-1.0)
    _, got = feed(bad, seed=None)
    _, want = feed(clean, seed=None)
    assert len(got) == len(want) == 2
    for a, b in zip(got, want):
        assert np.all(np.isfinite(a.features)) and same(a.features, b.features)
