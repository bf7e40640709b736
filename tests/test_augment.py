"""Augmented training rows: reproducible degraded copies, exact gain rows, and how they join a table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gtzan.constants import WINDOW_SAMPLES
from gtzan.features import FEATURE_NAMES, clip_features
from gtzan.gain import apply_gain
from gtzan.training.augment import GAIN_DB, degrade_track, gain_rows, random_chain, severe_chain
from gtzan.training.dataset import DatasetError, FeatureTable, add_augmented_rows, build_feature_table
from tests import wavgen

_I = {n: FEATURE_NAMES.index(n) for n in ("rms_mean", "spectral_centroid_mean", "chroma_stft_mean")}


@pytest.fixture
def audio_dir(tmp_path: Path) -> Path:
    root = tmp_path / "audio"
    for g in ("blues", "rock"):
        (root / g).mkdir(parents=True)
    wavgen.write(root / "blues" / "blues.00000.wav", wavgen.music_like(seconds=6.5, seed=1))  # 2 windows
    wavgen.write(root / "rock" / "rock.00007.wav", wavgen.music_like(seconds=3.2, seed=2))  # 1 window
    return root


def test_a_degraded_copy_depends_only_on_seed_track_and_copy() -> None:
    y = wavgen.music_like(seconds=4.0, seed=3).astype(np.float32)
    a, ca = degrade_track(y, "rock.00001", 2, seed=0)
    b, cb = degrade_track(y, "rock.00001", 2, seed=0)
    c, _ = degrade_track(y, "rock.00001", 3, seed=0)
    assert ca.names == cb.names and np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.dtype == np.float32 and np.max(np.abs(a)) <= 1.0 and abs(a.size - y.size) <= 1


def test_chains_cover_every_kind_and_end_with_a_gain() -> None:
    rng = np.random.default_rng(0)
    chains = [random_chain(rng) for _ in range(200)]
    kinds = {n for c in chains for n in c.names[:-1]}
    assert kinds == {"noise", "lowpass", "highpass", "room", "mp3", "ogg"}
    assert all(c.names[-1].startswith("gain") and 2 <= len(c.names) <= 3 for c in chains)


def test_severe_chains_are_strong_noise_or_a_low_pass_and_differ_from_the_mild_copies() -> None:
    rng = np.random.default_rng(0)
    chains = [severe_chain(rng) for _ in range(100)]
    assert {n for c in chains for n in c.names[:-1]} == {"noise", "lowpass"}
    assert all(c.names[-1].startswith("gain") for c in chains)
    y = wavgen.music_like(seconds=4.0, seed=3).astype(np.float32)
    a, _ = degrade_track(y, "rock.00001", 0, kind="severe")
    b, _ = degrade_track(y, "rock.00001", 0, kind="severe")
    mild, _ = degrade_track(y, "rock.00001", 0)
    assert np.array_equal(a, b) and not np.array_equal(a, mild)


def test_gain_rows_are_the_exact_transform_at_gains_in_range() -> None:
    y = wavgen.music_like(seconds=3.2, seed=4).astype(np.float32)[:WINDOW_SAMPLES]
    X = np.stack([clip_features(y), clip_features(0.5 * y)])
    G = gain_rows(X, np.random.default_rng(1))
    db = 20 * np.log10(G[:, _I["rms_mean"]] / X[:, _I["rms_mean"]])
    assert np.all((db >= GAIN_DB[0]) & (db <= GAIN_DB[1]))
    np.testing.assert_allclose(G, apply_gain(X, 10 ** (db / 20)), rtol=1e-9)
    for name in ("spectral_centroid_mean", "chroma_stft_mean"):  # shape features do not move with level
        np.testing.assert_array_equal(G[:, _I[name]], X[:, _I[name]])


def test_degraded_copies_are_cached_rows_of_their_track(audio_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    clean = build_feature_table(audio_dir, n_jobs=1, cache_dir=cache, progress=False)
    copies = build_feature_table(audio_dir, n_jobs=1, cache_dir=cache, progress=False, copies=2)
    assert copies.tracks.tolist() == ["blues.00000"] * 4 + ["rock.00007"] * 2
    assert not np.any(np.all(copies.X[:2] == clean.X[:2], axis=1))  # degraded, not the clean windows
    again = build_feature_table(audio_dir, n_jobs=1, cache_dir=cache, progress=False, copies=2)
    assert np.array_equal(again.X, copies.X)
    other = build_feature_table(audio_dir, n_jobs=1, cache_dir=cache, progress=False, copies=2, copy_seed=1)
    assert not np.array_equal(other.X, copies.X)


def test_augmented_rows_join_with_their_source_and_train_only_where_their_track_does(audio_dir: Path,
                                                                                    tmp_path: Path) -> None:
    clean = build_feature_table(audio_dir, n_jobs=1, cache_dir=tmp_path / "c", progress=False)
    table = FeatureTable.concat([clean])
    sources = np.array(["ours"] * len(table))
    trainable = table.tracks != "rock.00007"  # as if rock.00007 were only evaluated
    t, s, tr, info = add_augmented_rows(table, sources, trainable, ["degraded", "gain"], audio_dir=audio_dir,
                                        copies=2, cache_dir=tmp_path / "c", progress=False)
    assert s.tolist() == ["ours"] * 3 + ["degraded"] * 6 + ["gain"] * 2
    assert tr.tolist() == [True, True, False] + [True] * 4 + [False] * 2 + [True] * 2
    assert t.tracks[s == "gain"].tolist() == ["blues.00000"] * 2
    assert info["degraded"]["rows"] == 6 and info["gain"]["rows"] == 2
    t2, s2, _, info2 = add_augmented_rows(table, sources, trainable, ["severe", "degraded"], audio_dir=audio_dir,
                                          copies=1, cache_dir=tmp_path / "c", progress=False)
    assert s2.tolist() == ["ours"] * 3 + ["degraded"] * 3 + ["severe"] * 3  # in a fixed order
    assert info2["severe"]["version"] != info2["degraded"]["version"]
    assert not np.array_equal(t2.X[s2 == "severe"], t2.X[s2 == "degraded"])
    with pytest.raises(DatasetError, match="audio"):
        add_augmented_rows(table, sources, trainable, ["degraded"], progress=False)
    with pytest.raises(DatasetError, match="unknown augmentation"):
        add_augmented_rows(table, sources, trainable, ["louder"], progress=False)
