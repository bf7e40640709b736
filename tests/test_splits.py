"""Split protocols: no leakage of tracks or duplicate pairs, every genre everywhere, seeded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gtzan.constants import GENRES
from gtzan.training.dataset import FeatureTable
from gtzan.training.splits import Split, SplitError, make_split


def _table(tracks_per_genre=(8, 8, 12, 8, 8, 10, 8, 10, 9, 8), windows: int = 10) -> FeatureTable:
    rng = np.random.default_rng(0)
    names, tracks, y = [], [], []
    for g, n in enumerate(tracks_per_genre):
        for t in range(n):
            tr = f"{GENRES[g]}.{t:05d}"
            for w in range(windows):
                names.append(f"{tr}.{w}.wav")
                tracks.append(tr)
                y.append(g)
    return FeatureTable(rng.normal(size=(len(y), 58)), np.array(y), np.array(names), np.array(tracks))


def _sides(split: Split) -> np.ndarray:
    n = split.train.size + split.val.size + split.test.size
    side = np.full(n, -1)
    for s, idx in enumerate((split.train, split.val, split.test)):
        assert np.all(side[idx] == -1)
        side[idx] = s
    return side


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    (tmp_path / "metadata").mkdir()
    (tmp_path / "metadata" / "exact_duplicate_pairs_from_features_30_sec.csv").write_text(
        "track_a,track_b,cross_genre,evidence\nmetal.00001,metal.00005,False,x\nmetal.00002,rock.00003,True,x\n")
    d = tmp_path / "splits" / "kereliuk2015_filtered"
    d.mkdir(parents=True)
    lists = {"train": [], "valid": [], "test": []}
    for g in GENRES:
        for t in range(8):
            part = "train" if t < 4 else "valid" if t < 6 else "test"
            lists[part].append(f"{g}/{g}.{t:05d}.wav")
    for part, lines in lists.items():
        (d / f"{part}_filtered.txt").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_track_protocol_keeps_tracks_whole_and_every_genre_everywhere(data_dir):
    table = _table()
    sp = make_split(table, "track", seed=3, data_dir=data_dir)
    side = _sides(sp)
    assert np.all(side >= 0)  # every row used
    for t in np.unique(table.tracks):
        assert np.unique(side[table.tracks == t]).size == 1, t
    for idx in (sp.train, sp.val, sp.test):
        assert set(table.y[idx]) == set(range(10))
    n_tracks = {k: v["tracks"] for k, v in sp.summary(table).items()}
    assert n_tracks["train"] > n_tracks["val"] and n_tracks["train"] > n_tracks["test"]
    # exact duplicates (also across genres) share a side
    for a, b in (("metal.00001", "metal.00005"), ("metal.00002", "rock.00003")):
        assert side[table.tracks == a][0] == side[table.tracks == b][0]


def test_paper_protocol_is_a_row_split_and_says_it_is_optimistic(data_dir):
    table = _table()
    sp = make_split(table, "paper", seed=0, data_dir=data_dir)
    side = _sides(sp)
    assert np.all(side >= 0)
    assert sp.test.size == pytest.approx(0.2 * len(table), abs=10)
    straddling = sum(np.unique(side[table.tracks == t]).size > 1 for t in np.unique(table.tracks))
    assert straddling > 0 and "optimistic" in sp.note
    # the same window of two duplicate tracks is the same audio: same side
    for w in range(10):
        a = np.flatnonzero(table.filenames == f"metal.00001.{w}.wav")[0]
        b = np.flatnonzero(table.filenames == f"metal.00005.{w}.wav")[0]
        assert side[a] == side[b]


def test_filtered_protocol_uses_the_lists(data_dir):
    table = _table()
    sp = make_split(table, "filtered", data_dir=data_dir)
    def tracks(idx):
        return set(table.tracks[idx].tolist())
    assert tracks(sp.train) == {f"{g}.{t:05d}" for g in GENRES for t in range(4)}
    # metal.00005 (valid) duplicates metal.00001 (train): the later copy is left out
    assert tracks(sp.val) == {f"{g}.{t:05d}" for g in GENRES for t in (4, 5)} - {"metal.00005"}
    assert tracks(sp.test) == {f"{g}.{t:05d}" for g in GENRES for t in (6, 7)}
    assert "1 duplicate copy" in sp.note


def test_filtered_without_lists_is_a_clear_error(tmp_path):
    with pytest.raises(SplitError, match="split list not found"):
        make_split(_table(), "filtered", data_dir=tmp_path)


def test_seeded_and_seed_dependent(data_dir):
    table = _table()
    a = make_split(table, "track", seed=1, data_dir=data_dir)
    b = make_split(table, "track", seed=1, data_dir=data_dir)
    c = make_split(table, "track", seed=2, data_dir=data_dir)
    assert np.array_equal(a.test, b.test) and not np.array_equal(a.test, c.test)


def test_bad_protocol_and_too_few_tracks(data_dir):
    with pytest.raises(SplitError, match="unknown protocol"):
        make_split(_table(), "random", data_dir=data_dir)
    with pytest.raises(SplitError, match="at least 3"):
        make_split(_table((2,) + (5,) * 9), "track", data_dir=data_dir)


@pytest.mark.gtzan
def test_real_filtered_lists_cover_the_30_second_table(gtzan_dir):
    from gtzan.training.dataset import read_features_csv

    table = read_features_csv(gtzan_dir / "features_30_sec.csv")
    sp = make_split(table, "filtered", data_dir=gtzan_dir)
    lists = gtzan_dir / "splits" / "kereliuk2015_filtered"
    present = set(table.tracks.tolist())
    want = [len({Path(ln).stem for ln in (lists / f"{n}_filtered.txt").read_text().split()} & present)
            for n in ("train", "valid", "test")]
    assert (sp.train.size, sp.val.size, sp.test.size) == tuple(want)
    assert sum(want) > 0.9 * len(table)  # the lists cover the table (70 tracks of GTZAN are in none)
    sp = make_split(table, "track", data_dir=gtzan_dir)
    side = _sides(sp)
    assert side[table.tracks == "metal.00058"][0] == side[table.tracks == "rock.00016"][0]
