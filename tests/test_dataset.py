"""The feature table: built from audio (cached, bad tracks reported) and read from Kaggle CSVs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from gtzan.constants import GENRES, WINDOW_SAMPLES
from gtzan.features import FEATURE_NAMES, clip_features
from gtzan.training import dataset as ds
from gtzan.training.dataset import (
    DatasetError,
    FeatureTable,
    audio_fingerprint,
    build_feature_table,
    read_features_csv,
)
from tests import wavgen


@pytest.fixture
def audio_dir(tmp_path: Path) -> Path:
    root = tmp_path / "audio"
    for g in ("blues", "rock", "jazz"):
        (root / g).mkdir(parents=True)
    wavgen.write(root / "blues" / "blues.00000.wav", wavgen.music_like(seconds=6.5, seed=1))  # 2 windows
    wavgen.write(root / "rock" / "rock.00007.wav", wavgen.chirp(seconds=3.1))  # 1 window
    wavgen.corrupt_header(root / "jazz" / "jazz.00002.wav")
    wavgen.write(root / "jazz" / "jazz.00003.wav", wavgen.tone(seconds=1.0))  # shorter than a window
    (root / "jazz" / "notes.txt").write_text("not audio")
    return root


def test_builds_rows_named_like_kaggle_and_reports_bad_tracks(audio_dir, tmp_path, capsys):
    t = build_feature_table(audio_dir, n_jobs=1, cache_dir=tmp_path / "cache", progress=False)
    assert t.filenames.tolist() == ["blues.00000.0.wav", "blues.00000.1.wav", "rock.00007.0.wav"]
    assert t.tracks.tolist() == ["blues.00000", "blues.00000", "rock.00007"]
    assert [GENRES[i] for i in t.y] == ["blues", "blues", "rock"]
    assert t.X.shape == (3, 58) and t.X.dtype == np.float64
    y = np.asarray(__import__("soundfile").read(audio_dir / "blues" / "blues.00000.wav", dtype="float32")[0])
    np.testing.assert_allclose(t.X[1], clip_features(y[WINDOW_SAMPLES : 2 * WINDOW_SAMPLES]), rtol=1e-6)
    skipped = dict(t.skipped)
    assert set(skipped) == {str(audio_dir / "jazz" / n) for n in ("jazz.00002.wav", "jazz.00003.wav", "notes.txt")}
    assert "shorter than one" in skipped[str(audio_dir / "jazz" / "jazz.00003.wav")]
    assert "jazz.00002.wav" in capsys.readouterr().err


def test_rerun_uses_the_cache_and_hop_changes_the_key(audio_dir, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = build_feature_table(audio_dir, n_jobs=1, cache_dir=cache, progress=False)
    calls = []
    real = ds.clip_features
    monkeypatch.setattr(ds, "clip_features", lambda y: calls.append(1) or real(y))
    again = build_feature_table(audio_dir, n_jobs=1, cache_dir=cache, progress=False)
    assert calls == [] and np.array_equal(first.X, again.X)
    more = build_feature_table(audio_dir, hop=WINDOW_SAMPLES // 2, n_jobs=1, cache_dir=cache, progress=False)
    assert len(calls) == len(more) == 3 + 1  # blues: 3 half-overlapping windows, rock: 1
    assert more.filenames.tolist()[:2] == ["blues.00000.0.wav", "blues.00000.1.wav"]


def test_no_audio_is_an_error(tmp_path):
    (tmp_path / "blues").mkdir()
    with pytest.raises(DatasetError, match="no audio"):
        build_feature_table(tmp_path, progress=False)
    with pytest.raises(DatasetError, match="not a folder"):
        build_feature_table(tmp_path / "missing", progress=False)


def test_fingerprint_follows_content(audio_dir):
    a = audio_fingerprint(audio_dir)
    assert a == audio_fingerprint(audio_dir) and len(a) == 64
    wavgen.write(audio_dir / "rock" / "rock.00007.wav", wavgen.chirp(seconds=3.2))
    assert audio_fingerprint(audio_dir) != a


def _synthetic_table(per_genre: int = 2) -> FeatureTable:
    rng = np.random.default_rng(0)
    names, tracks, y = [], [], []
    for g, genre in enumerate(GENRES):
        for w in range(per_genre):
            names.append(f"{genre}.00001.{w}.wav")
            tracks.append(f"{genre}.00001")
            y.append(g)
    X = rng.normal(size=(len(y), 58)) * 1000
    X[:, 0] = WINDOW_SAMPLES
    return FeatureTable(X, np.array(y), np.array(names), np.array(tracks))


def test_csv_round_trip_is_exact(tmp_path):
    t = _synthetic_table()
    t.to_csv(tmp_path / "f.csv")
    header = (tmp_path / "f.csv").read_text().splitlines()[0].split(",")
    assert header == ["filename", *FEATURE_NAMES, "label"]
    back = FeatureTable.from_csv(tmp_path / "f.csv")
    np.testing.assert_array_equal(back.X, t.X)
    assert back.filenames.tolist() == t.filenames.tolist() and back.y.tolist() == t.y.tolist()
    assert back.tracks.tolist() == t.tracks.tolist()


@pytest.mark.parametrize("mutate, message", [
    (lambda rows: rows[0].__setitem__(1, "length_x"), "not a Kaggle"),
    (lambda rows: rows[1].__setitem__(5, "nan"), "rms_var is not finite"),
    (lambda rows: rows[1].__setitem__(5, "abc"), "non-numeric"),
    (lambda rows: rows[1].__setitem__(-1, "rock"), "does not match label"),
    (lambda rows: rows[1].__setitem__(-1, "polka"), "unknown label"),
    (lambda rows: rows[2].__setitem__(0, rows[1][0]), "more than once"),
    (lambda rows: rows[1].pop(), "fields"),
    (lambda rows: [rows.pop(i) for i in (2, 1)], "no rows for genre"),
])
def test_bad_csv_gives_a_clear_error(tmp_path, mutate, message):
    p = tmp_path / "f.csv"
    _synthetic_table().to_csv(p)
    rows = [line.split(",") for line in p.read_text().splitlines()]
    mutate(rows)
    p.write_text("\n".join(",".join(r) for r in rows) + "\n")
    with pytest.raises(DatasetError, match=message) as e:
        read_features_csv(p)
    assert "\n" not in str(e.value)


def test_missing_or_empty_csv(tmp_path):
    with pytest.raises(DatasetError, match="cannot open"):
        read_features_csv(tmp_path / "none.csv")
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(DatasetError, match="empty"):
        read_features_csv(tmp_path / "e.csv")


@pytest.mark.gtzan
def test_reads_the_kaggle_30_second_table(gtzan_dir):
    path = gtzan_dir / "features_30_sec.csv"
    t = read_features_csv(path)
    lines = [ln for ln in path.read_text().splitlines()[1:] if ln.strip()]
    assert len(t) == len(lines) == np.unique(t.tracks).size  # one row per track, whatever the table holds
    assert sum(t.counts().values()) == len(t) and min(t.counts().values()) > 0
    assert list(t.filenames) == [ln.split(",", 1)[0] for ln in lines]
    assert t.tracks[0] == "blues.00000" and t.filenames[0] == "blues.00000.wav"


@pytest.mark.gtzan
def test_real_track_gives_ten_windows(gtzan_audio, tmp_path):
    root = tmp_path / "a"
    (root / "blues").mkdir(parents=True)
    shutil.copy(gtzan_audio / "blues" / "blues.00000.flac", root / "blues")
    t = build_feature_table(root, n_jobs=1, cache_dir=tmp_path / "c", progress=False)
    assert len(t) == 10 and t.filenames[-1] == "blues.00000.9.wav"
    assert np.all(t.X[:, 0] == WINDOW_SAMPLES) and np.all(np.isfinite(t.X))


def test_feature_cache_follows_the_numbers_not_the_source(audio_dir, tmp_path, monkeypatch):
    from gtzan import fingerprint
    from gtzan.features import sources

    build_feature_table(audio_dir, n_jobs=1, cache_dir=tmp_path / "c", progress=False)
    calls = []
    real = ds.clip_features
    monkeypatch.setattr(ds, "clip_features", lambda y: calls.append(1) or real(y))
    monkeypatch.setattr(sources, "feature_code_sha256", lambda: "0" * 64)  # edited source, same numbers
    build_feature_table(audio_dir, n_jobs=1, cache_dir=tmp_path / "c", progress=False)
    assert calls == []
    moved = fingerprint.probe_features()
    moved[FEATURE_NAMES.index("perceptr_var")] *= 1.001
    monkeypatch.setattr(fingerprint, "probe_features", lambda: moved)
    build_feature_table(audio_dir, n_jobs=1, cache_dir=tmp_path / "c", progress=False)
    assert len(calls) == 3


def test_table_and_audio_dir_needs_both(tmp_path, monkeypatch) -> None:
    from gtzan.datadir import ENV_VAR, table_and_audio_dir

    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert table_and_audio_dir() is None
    (tmp_path / "features_3_sec.csv").write_text("filename,label\n")
    assert table_and_audio_dir() is None  # no audio folder
    (tmp_path / "audio").mkdir()
    assert table_and_audio_dir() == tmp_path
    (tmp_path / "features_3_sec.csv").unlink()
    assert table_and_audio_dir() is None  # no table
