"""Train / validation / test splits of a feature table under three protocols.

``paper``    random 80/20 of the 3-second rows, as in the report. Windows of one track land on both
             sides, so test accuracy is optimistic (the model has heard the rest of the song).
``track``    stratified by track: every window of a track on one side, every genre in every part.
``filtered`` Kereliuk et al. (2015) artist-filtered track lists, restricted to the tracks present.

Every protocol carves a validation part out of the training side (early stopping, blend tuning)
and keeps each exact-duplicate pair of tracks on one side.

Cross-validation (:func:`cv_folds`) assigns every row a fold so that whole groups move together:
``track`` groups a track with its exact duplicates and its same-artist-and-title partners (Sturm's
index); ``artist`` groups every track of one artist (an unknown artist is its own group) on top of
that; ``paper`` folds are random over the 3-second rows (a window and its exact duplicates together), so
windows of one track sit in several folds, as in the report. Folds are stratified by genre
(scikit-learn's ``StratifiedGroupKFold``).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gtzan.constants import GENRES

from .dataset import DatasetError, FeatureTable

__all__ = [
    "CV_PROTOCOLS",
    "PROTOCOLS",
    "Split",
    "SplitError",
    "artists",
    "cv_folds",
    "duplicate_pairs",
    "group_tracks",
    "make_split",
    "same_title_groups",
]

PROTOCOLS = ("paper", "track", "filtered")
CV_PROTOCOLS = ("track", "artist", "paper")
DUPLICATES_CSV = Path("metadata") / "exact_duplicate_pairs_from_features_30_sec.csv"
SAME_TITLE_CSV = Path("metadata") / "same_artist_title_groups_from_sturm_index.csv"
STURM_INDEX = Path("metadata") / "sturm2012_GTZANindex.txt"
FILTERED_DIR = Path("splits") / "kereliuk2015_filtered"


class SplitError(DatasetError):
    """A split that cannot be made; str() is a one-line message."""


@dataclass
class Split:
    train: np.ndarray  # int row indices into the table
    val: np.ndarray
    test: np.ndarray
    protocol: str
    note: str
    seed: int = 0

    def parts(self) -> dict[str, np.ndarray]:
        return {"train": self.train, "val": self.val, "test": self.test}

    def summary(self, table: FeatureTable) -> dict[str, dict[str, int]]:
        """Rows and tracks per part."""
        return {
            name: {"rows": int(idx.size), "tracks": int(np.unique(table.tracks[idx]).size)}
            for name, idx in self.parts().items()
        }


def _window_index(filename: str) -> int:
    m = re.match(r"^[a-z]+\.\d{5}\.(\d+)\.", filename)
    return int(m.group(1)) if m else 0


def duplicate_pairs(data_dir: str | Path | None) -> list[tuple[str, str]]:
    """Pairs of track names that hold the same audio (empty when the metadata file is absent)."""
    if data_dir is None:
        return []
    p = Path(data_dir) / DUPLICATES_CSV
    if not p.is_file():
        return []
    with open(p, newline="") as f:
        return [(r["track_a"].strip(), r["track_b"].strip()) for r in csv.DictReader(f)]


def same_title_groups(data_dir: str | Path | None) -> list[list[str]]:
    """Groups of tracks with the same artist and title in Sturm's index (likely repetitions)."""
    p = Path(data_dir) / SAME_TITLE_CSV if data_dir is not None else None
    if p is None or not p.is_file():
        return []
    with open(p, newline="") as f:
        return [[t.strip() for t in r["tracks"].split(";") if t.strip()] for r in csv.DictReader(f)]


def artists(data_dir: str | Path | None) -> dict[str, str]:
    """Track name -> artist from Sturm's index; tracks with no known artist are left out."""
    p = Path(data_dir) / STURM_INDEX if data_dir is not None else None
    if p is None or not p.is_file():
        return {}
    out = {}
    for line in p.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("#") or ":::" not in line:
            continue
        track, artist, *_ = (part.strip() for part in line.split(":::"))
        if artist:
            out[Path(track).stem] = artist.lower()
    return out


def _links(data_dir: str | Path | None) -> list[tuple[str, str]]:
    """Pairs of tracks that must share a group: exact duplicates and same artist-and-title partners."""
    links = list(duplicate_pairs(data_dir))
    for g in same_title_groups(data_dir):
        links += [(g[0], t) for t in g[1:]]
    return links


def _track_groups(tracks: np.ndarray, data_dir: str | Path | None, filenames: np.ndarray | None) -> np.ndarray:
    return _canonical_tracks(tracks, _links(data_dir))


def _artist_groups(tracks: np.ndarray, data_dir: str | Path | None, filenames: np.ndarray | None) -> np.ndarray:
    if not (Path(data_dir or ".") / STURM_INDEX).is_file():
        raise SplitError("the artist protocol needs Sturm's index in the data folder's metadata/")
    links = _links(data_dir)
    by_artist: dict[str, str] = {}
    for t, a in sorted(artists(data_dir).items()):
        links.append((by_artist.setdefault(a, t), t))
    return _canonical_tracks(tracks, links)


def _paper_groups(tracks: np.ndarray, data_dir: str | Path | None, filenames: np.ndarray | None) -> np.ndarray:
    if filenames is None:
        raise SplitError("paper folds need the rows' file names (window numbers)")
    windows = np.array([str(_window_index(f)) for f in filenames])
    return np.char.add(np.char.add(_canonical_tracks(tracks, duplicate_pairs(data_dir)), "."), windows)


_GROUPS = {"track": _track_groups, "artist": _artist_groups, "paper": _paper_groups}


def group_tracks(
    tracks: np.ndarray, protocol: str, data_dir: str | Path | None, filenames: np.ndarray | None = None
) -> np.ndarray:
    """One group name per row: rows of a group must stay on one side of any split (see module doc)."""
    if protocol not in _GROUPS:
        raise SplitError(f"unknown grouping {protocol!r}; choose one of {', '.join(CV_PROTOCOLS)}")
    return _GROUPS[protocol](tracks, data_dir, filenames)


def cv_folds(
    table: FeatureTable, protocol: str, *, n_folds: int = 5, seed: int = 0, data_dir: str | Path | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(fold 0..n_folds-1, group name) of every row: whole groups per fold, genres balanced across folds."""
    from sklearn.model_selection import StratifiedGroupKFold

    if data_dir is None:
        from gtzan.datadir import data_dir as _dd

        data_dir = _dd()
    groups = group_tracks(table.tracks, protocol, data_dir, table.filenames)
    n_groups = np.unique(groups).size
    if n_groups < n_folds:
        raise SplitError(f"{protocol} cross-validation needs at least {n_folds} groups, the table has {n_groups}")
    fold = np.full(len(table), -1, dtype=np.int64)
    skf = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for f, (_, test) in enumerate(skf.split(np.zeros(len(table)), table.y, groups)):
        fold[test] = f
    return fold, groups


def _canonical_tracks(tracks: np.ndarray, pairs: list[tuple[str, str]]) -> np.ndarray:
    """Map every track to one representative of its duplicate group (union-find over the pairs)."""
    parent: dict[str, str] = {}

    def find(a: str) -> str:
        while parent.get(a, a) != a:
            a = parent[a]
        return a

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([find(t) for t in tracks], dtype=str)


def _stratified_groups(
    group_of_row: np.ndarray,
    genre_of_row: np.ndarray,
    fracs: tuple[float, float],
    rng: np.random.Generator,
    *,
    min_each: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Assign whole groups to train/val/test per genre; (val, test) fractions of each genre's groups."""
    groups, first = np.unique(group_of_row, return_index=True)
    g_genre = genre_of_row[first]
    side = np.zeros(groups.size, dtype=np.int8)  # 0 train, 1 val, 2 test
    for k in range(len(GENRES)):
        ids = np.flatnonzero(g_genre == k)
        if ids.size == 0:
            continue
        ids = ids[rng.permutation(ids.size)]
        n = ids.size
        n_test = int(round(fracs[1] * n))
        n_val = int(round(fracs[0] * n))
        if min_each:
            if n < 3:
                raise SplitError(
                    f"genre {GENRES[k]} has {n} track(s); the track protocol needs at least 3 "
                    "(one each for train, validation and test)"
                )
            n_test, n_val = max(1, n_test), max(1, n_val)
            while n_test + n_val > n - 1:
                if n_val >= n_test and n_val > 1:
                    n_val -= 1
                else:
                    n_test -= 1
        side[ids[:n_test]] = 2
        side[ids[n_test : n_test + n_val]] = 1
    row_side = side[np.searchsorted(groups, group_of_row)]
    return tuple(np.flatnonzero(row_side == s) for s in (0, 1, 2))  # type: ignore[return-value]


def _read_list(p: Path) -> set[str]:
    if not p.is_file():
        raise SplitError(f"{p}: split list not found (the filtered protocol needs the data folder's splits/)")
    out = set()
    for line in p.read_text().splitlines():
        line = line.strip()
        if line:
            out.add(Path(line).stem)
    return out


@dataclass
class _SplitInputs:
    table: FeatureTable
    canon: np.ndarray  # each row's track, duplicates merged into one representative
    dup_note: str
    rng: np.random.Generator
    data_dir: str | Path | None
    test_size: float
    val_size: float | None


Parts = tuple[np.ndarray, np.ndarray, np.ndarray, str]  # train, validation, test rows and a note


def _paper_split(inp: _SplitInputs) -> Parts:
    table = inp.table
    vs = 0.1 if inp.val_size is None else inp.val_size
    windows = np.array([_window_index(f) for f in table.filenames])
    group = np.char.add(np.char.add(inp.canon, "."), windows.astype(str))
    # stratified by genre at the row level, like a seeded random 80/20 split
    tr, va, te = _stratified_groups(group, table.y, (vs, inp.test_size), inp.rng, min_each=False)
    if np.unique(table.tracks).size < len(table):
        note = (
            "random split of 3-second rows as in the report: windows of one track appear in both "
            f"training and test, so test accuracy is optimistic; {inp.dup_note}"
        )
    else:
        note = f"random split of rows as in the report (one row per track here, so no track straddles); {inp.dup_note}"
    return tr, va, te, note


def _track_split(inp: _SplitInputs) -> Parts:
    vs = 0.2 if inp.val_size is None else inp.val_size
    tr, va, te = _stratified_groups(inp.canon, inp.table.y, (vs, inp.test_size), inp.rng, min_each=True)
    return (
        tr,
        va,
        te,
        (f"stratified by track: all windows of a track on one side, every genre in every part; {inp.dup_note}"),
    )


def _filtered_split(inp: _SplitInputs) -> Parts:
    table, canon = inp.table, inp.canon
    if inp.data_dir is None:
        raise SplitError("the filtered protocol needs the GTZAN data folder (set GTZAN_DATA)")
    d = Path(inp.data_dir) / FILTERED_DIR
    lists = [_read_list(d / f"{n}_filtered.txt") for n in ("train", "valid", "test")]
    side = np.full(len(table), -1)
    for s, names in enumerate(lists):
        side[np.isin(table.tracks, list(names))] = s
    dropped = int(np.unique(table.tracks[side < 0]).size)
    # a duplicate pair across lists would leak: keep the copy on the earliest side, drop the other
    leaked = 0
    for c in np.unique(canon[side >= 0]):
        rows = np.flatnonzero((canon == c) & (side >= 0))
        first = side[rows].min()
        later = rows[side[rows] > first]
        if later.size:
            leaked += int(np.unique(table.tracks[later]).size)
            side[later] = -1
    tr, va, te = (np.flatnonzero(side == s) for s in range(3))
    missing = [
        f"{name}:{GENRES[k]}"
        for name, idx in (("train", tr), ("valid", va), ("test", te))
        for k in range(len(GENRES))
        if not np.any(table.y[idx] == k)
    ]
    note = (
        f"Kereliuk et al. (2015) artist-filtered lists restricted to the tracks present; their valid "
        f"list is the validation part; {dropped} track(s) in none of the lists left out"
    )
    if leaked:
        note += f"; {leaked} duplicate copy(ies) listed on a later side than their twin left out"
    if missing:
        note += f"; genres absent from a part: {', '.join(missing)}"
    return tr, va, te, note


_SPLITS = {"paper": _paper_split, "track": _track_split, "filtered": _filtered_split}


def make_split(
    table: FeatureTable,
    protocol: str,
    *,
    seed: int = 0,
    data_dir: str | Path | None = None,
    test_size: float = 0.2,
    val_size: float | None = None,
) -> Split:
    """Split ``table`` under ``protocol`` (paper, track or filtered); see the module docstring.

    ``data_dir`` (default: :func:`gtzan.datadir.data_dir`) supplies the duplicate pairs and the
    filtered lists. ``val_size`` is the validation share of all rows (paper: 0.1, track: 0.2).
    """
    if protocol not in _SPLITS:
        raise SplitError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    if data_dir is None:
        from gtzan.datadir import data_dir as _dd

        data_dir = _dd()
    pairs = duplicate_pairs(data_dir)
    canon = _canonical_tracks(table.tracks, pairs)
    n_merged = int(np.unique(table.tracks).size - np.unique(canon).size)
    dup_note = (
        f"{n_merged} exact-duplicate track pair(s) kept on one side"
        if pairs
        else "no duplicate-pair list found; duplicates not checked"
    )
    inputs = _SplitInputs(table, canon, dup_note, np.random.default_rng(seed), data_dir, test_size, val_size)
    tr, va, te, note = _SPLITS[protocol](inputs)
    for name, idx in (("train", tr), ("validation", va), ("test", te)):
        if idx.size == 0:
            raise SplitError(f"{protocol} split left the {name} part empty ({len(table)} rows)")
    _check_pairs(table, canon, (tr, va, te), by_window=protocol == "paper")
    return Split(np.sort(tr), np.sort(va), np.sort(te), protocol, note, seed)


def _check_pairs(table: FeatureTable, canon: np.ndarray, parts: tuple[np.ndarray, ...], by_window: bool) -> None:
    """A duplicate group (or, for the paper protocol, one window of it) must not straddle parts."""
    side: dict[tuple[str, int], int] = {}
    for s, idx in enumerate(parts):
        wins = [_window_index(f) for f in table.filenames[idx]] if by_window else [0] * idx.size
        for key in set(zip(canon[idx].tolist(), wins)):
            if side.setdefault(key, s) != s:
                raise SplitError(f"duplicate tracks of {key[0]} ended on two sides of the split")
