"""The listener's 30 s context rows: features pooled from its 3 s windows (gtzan.context)."""

from __future__ import annotations

import numpy as np
import pytest

from gtzan.constants import SR, WINDOW_SAMPLES
from gtzan.context import CONTEXT_LENGTH, CONTEXT_SAMPLES, ContextSpans, pool_windows, with_context_length
from gtzan.features import FEATURE_NAMES
from gtzan.features.recipe import clip_features
from gtzan.features.stream import StreamingExtractor

N_F = len(FEATURE_NAMES)


def _col(name: str) -> int:
    return FEATURE_NAMES.index(name)


def test_pooling_one_window_gives_that_window_with_the_context_length():
    w = np.random.default_rng(0).uniform(1, 2, size=N_F)
    p = pool_windows(w[None, :])
    expect = w.copy()
    expect[_col("length")] = CONTEXT_LENGTH
    np.testing.assert_allclose(p, expect, rtol=1e-12)


def test_pooled_variance_counts_the_spread_between_windows():
    w = np.zeros((2, N_F))
    w[:, _col("rms_mean")] = [0.1, 0.3]
    w[:, _col("rms_var")] = [0.01, 0.01]
    w[:, _col("tempo")] = [100.0, 140.0]
    p = pool_windows(w)
    assert p[_col("rms_mean")] == pytest.approx(0.2)
    assert p[_col("rms_var")] == pytest.approx(0.01 + 0.01)  # within-window 0.01 plus between-window 0.1**2
    assert p[_col("tempo")] == pytest.approx(120.0)


def test_pooled_windows_come_close_to_the_features_of_the_whole_30_seconds():
    """On steady audio the pooled windows and a direct analysis of the 30 s agree closely."""
    rng = np.random.default_rng(1)
    t = np.arange(CONTEXT_SAMPLES) / SR
    y = (0.2 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    windows = StreamingExtractor(hop_frames=43).push(y)
    pooled = pool_windows(np.stack([w.features for w in windows]))
    whole = clip_features(y)
    for name in ("rms_mean", "spectral_centroid_mean", "spectral_bandwidth_mean", "zero_crossing_rate_mean",
                 "mfcc1_mean", "mfcc2_mean", "chroma_stft_mean"):
        assert pooled[_col(name)] == pytest.approx(whole[_col(name)], rel=0.1), name
    assert pooled[_col("length")] == CONTEXT_LENGTH != whole[_col("length")]


def test_with_context_length_sets_only_the_length_and_copies():
    X = np.ones((3, N_F))
    out = with_context_length(X)
    assert np.all(out[:, _col("length")] == CONTEXT_LENGTH) and np.all(np.delete(out, _col("length"), 1) == 1)
    assert np.all(X == 1)


def _feed(spans: ContextSpans, seconds: float, hop: int = 11264, silent=lambda s: False, offset: int = 0) -> list:
    rows = []
    for start in range(offset, offset + int(seconds * SR) - WINDOW_SAMPLES + 1, hop):
        f = np.full(N_F, float(start // CONTEXT_SAMPLES) + 1.0)
        spans.add(start, None if silent(start) else f)
        rows.append(f)
    return rows


def test_a_30_second_track_is_one_span_and_a_short_one_none():
    s = ContextSpans()
    _feed(s, 30.01)
    assert len(s) == 1
    s = ContextSpans()
    _feed(s, 20.0)
    assert len(s) == 0 and s.pooled().shape == (0, N_F)


def test_a_long_stream_gives_a_span_every_30_seconds_and_drops_its_short_tail():
    s = ContextSpans()
    _feed(s, 95.0)  # spans 0-30, 30-60, 60-90 full; 90-95 a tail
    pooled = s.pooled()
    assert pooled.shape == (3, N_F)
    assert pooled[:, _col("rms_mean")].tolist() == [1.0, 2.0, 3.0]  # each span's own windows


def test_a_mostly_silent_span_is_not_pooled():
    s = ContextSpans()
    _feed(s, 30.01, silent=lambda start: start > 8 * SR)  # classified windows cover 11 s
    assert len(s) == 0
    s = ContextSpans()
    _feed(s, 30.01, silent=lambda start: (start // SR) % 3 == 0)  # a third silent, spread over the span
    assert len(s) == 1


# --------------------------------------------------------------------------- the listener's track verdict


def _summary_with_context(seconds: float, share: float = 0.5):
    from gtzan.constants import GENRES
    from gtzan.daemon.summary import SummaryBuilder, TrackContext
    from tests.helpers import HOP_SAMPLES, window

    seen: list[np.ndarray] = []

    def predict(pooled: np.ndarray) -> np.ndarray:
        seen.append(pooled)
        p = np.zeros((len(pooled), len(GENRES)))
        p[:, GENRES.index("metal")] = 1.0  # the context model hears metal
        return p

    ctx = TrackContext(share, lambda f: np.asarray(f, dtype=np.float32)[None, :], predict)
    b = SummaryBuilder(GENRES, 0.5, ctx)
    n = (int(seconds * SR) - WINDOW_SAMPLES) // HOP_SAMPLES + 1
    for i in range(n):
        r = window(i, GENRES.index("rock"), p=0.6)  # every window: rock 0.6, the rest 0.0444 each
        r.features = np.full(N_F, 1.0 + i)
        b.add(r)
    return b.as_dict("end", {}, seconds, 0, 0), seen


def test_a_full_span_mixes_the_context_models_probabilities_into_the_verdict():
    d, seen = _summary_with_context(30.01, share=0.5)
    assert len(seen) == 1 and seen[0].shape == (1, N_F)
    assert seen[0][0, _col("rms_mean")] == pytest.approx(np.mean(1.0 + np.arange(53)))  # the 53 windows pooled
    assert d["verdict"] == "metal"  # 0.5 * 0.044 + 0.5 * 1.0 beats 0.5 * 0.6
    assert d["probability"] == pytest.approx(0.5 * 0.4 / 9 + 0.5)
    c = d["context"]
    assert c["spans"] == 1 and c["share"] == 0.5 and c["probs"]["metal"] == 1.0
    assert c["windows_verdict"] == "rock" and c["windows_probability"] == pytest.approx(0.6)
    assert d["ranking"][0] == "metal" and d["shares"]["rock"] == 1.0  # the windows' own labels stay as they were


def test_a_run_shorter_than_a_span_is_read_from_its_windows_alone():
    d, seen = _summary_with_context(20.0)
    assert seen == [] and d["verdict"] == "rock" and d["probability"] == pytest.approx(0.6)
    assert d["context"]["spans"] == 0 and d["context"]["probs"] is None


def test_a_context_share_of_zero_leaves_the_verdict_to_the_windows():
    d, _ = _summary_with_context(30.01, share=0.0)
    assert d["verdict"] == "rock" and d["probability"] == pytest.approx(0.6)


def test_the_verdict_line_says_when_the_context_model_took_part():
    from gtzan.daemon.summary import verdict_text

    d, _ = _summary_with_context(30.01, share=0.5)
    assert verdict_text(d).startswith("metal, probability with the 30 s context ")
    d, _ = _summary_with_context(20.0)
    assert verdict_text(d) == "rock, mean probability 60%"
