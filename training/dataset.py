"""The 3-second feature table: built from GTZAN-layout audio (cached) or read from a Kaggle CSV.

A table row is one window of a track (the report's ten 66,149-sample windows of a 30 s track by
default), named like the Kaggle ``features_3_sec.csv`` rows: ``blues.00000.3.wav``. Feature vectors
come from :func:`gtzan.features.clip_features`, the one definition the daemon also uses.
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
import re
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import gtzan
from gtzan.constants import GENRES, WINDOW_SAMPLES
from gtzan.features import FEATURE_NAMES, clip_features, window_starts

from .augment import AUGMENT_KINDS, AUGMENT_VERSIONS, COPY_KINDS, GAIN_DB, degrade_track, gain_rows

__all__ = [
    "AUDIO_EXTENSIONS",
    "DatasetError",
    "add_augmented_rows",
    "FeatureTable",
    "Track",
    "AUDIO_ROWS",
    "SOURCES",
    "audio_fingerprint",
    "build_feature_table",
    "default_cache_dir",
    "find_tracks",
    "load_sources",
    "read_features_csv",
    "trainable_rows",
    "track_features",
]

AUDIO_EXTENSIONS = (".wav", ".au", ".flac", ".ogg", ".mp3", ".aif", ".aiff")
_TRACK_RE = re.compile(r"^(?P<genre>[a-z]+)\.(?P<num>\d{5})$")
_ROW_RE = re.compile(r"^(?P<track>(?P<genre>[a-z]+)\.\d{5})(\.(?P<win>\d+))?\.(wav|au)$")
N_FEATURES = len(FEATURE_NAMES)


class DatasetError(Exception):
    """A feature table or audio folder that cannot be used; str() is a one-line message."""


@dataclass
class FeatureTable:
    """Rows of 58 features with labels; ``tracks`` groups the windows of one recording."""

    X: np.ndarray  # (n, 58) float64
    y: np.ndarray  # (n,) int64, index into GENRES
    filenames: np.ndarray  # (n,) str, e.g. 'blues.00000.3.wav'
    tracks: np.ndarray  # (n,) str, e.g. 'blues.00000'
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason) left out

    def __post_init__(self) -> None:
        self.X = np.asarray(self.X, dtype=np.float64).reshape(-1, N_FEATURES)
        self.y = np.asarray(self.y, dtype=np.int64).ravel()
        self.filenames = np.asarray(self.filenames, dtype=str).ravel()
        self.tracks = np.asarray(self.tracks, dtype=str).ravel()
        n = self.X.shape[0]
        if not (self.y.size == self.filenames.size == self.tracks.size == n):
            raise DatasetError(
                f"feature table parts disagree in length: {n} rows of features, "
                f"{self.y.size} labels, {self.filenames.size} filenames, {self.tracks.size} tracks"
            )

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def labels(self) -> list[str]:
        return [GENRES[i] for i in self.y]

    def subset(self, idx: np.ndarray) -> FeatureTable:
        idx = np.asarray(idx)
        return FeatureTable(self.X[idx], self.y[idx], self.filenames[idx], self.tracks[idx])

    def counts(self) -> dict[str, int]:
        """Rows per genre."""
        c = np.bincount(self.y, minlength=len(GENRES))
        return {g: int(c[i]) for i, g in enumerate(GENRES)}

    def to_csv(self, path: str | os.PathLike) -> None:
        """Write in the Kaggle layout (filename, 58 features, label); written to a temp file, then renamed."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["filename", *FEATURE_NAMES, "label"])
            for fn, row, lab in zip(self.filenames, self.X, self.y):
                vals = [repr(float(v)) for v in row]
                if float(row[0]).is_integer():
                    vals[0] = str(int(row[0]))
                w.writerow([fn, *vals, GENRES[lab]])
        os.replace(tmp, path)

    @classmethod
    def from_csv(cls, path: str | os.PathLike) -> FeatureTable:
        return read_features_csv(path)

    @classmethod
    def concat(cls, tables: Iterable[FeatureTable]) -> FeatureTable:
        """Rows of several tables, in order (e.g. the Kaggle table and our own windows of the audio)."""
        ts = list(tables)
        return cls(
            np.concatenate([t.X for t in ts]),
            np.concatenate([t.y for t in ts]),
            np.concatenate([t.filenames for t in ts]),
            np.concatenate([t.tracks for t in ts]),
            skipped=[s for t in ts for s in t.skipped],
        )


# ------------------------------------------------------------------------------------ Kaggle CSV


def read_features_csv(path: str | os.PathLike) -> FeatureTable:
    """Read and validate a Kaggle-format table (``features_3_sec.csv`` or ``features_30_sec.csv``)."""
    path = Path(path)
    try:
        f = open(path, newline="", encoding="utf-8-sig")
    except OSError as e:
        raise DatasetError(f"{path}: cannot open ({e.strerror or e})") from e
    expected = ["filename", *FEATURE_NAMES, "label"]
    X: list[list[float]] = []
    y: list[int] = []
    names: list[str] = []
    tracks: list[str] = []
    with f:
        try:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise DatasetError(f"{path}: empty file")
            header = [h.strip() for h in header]
            if header != expected:
                missing = [c for c in expected if c not in header]
                extra = [c for c in header if c not in expected]
                detail = (f"missing {missing[:4]}" if missing else "") + (f" unexpected {extra[:4]}" if extra else "")
                raise DatasetError(
                    f"{path}: not a Kaggle GTZAN features table "
                    f"({detail.strip() or 'columns out of order'}; "
                    "expected filename, 58 features, label)"
                )
            for line_no, row in enumerate(reader, start=2):
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) != len(expected):
                    raise DatasetError(f"{path}:{line_no}: {len(row)} fields, expected {len(expected)}")
                fn, label = row[0].strip(), row[-1].strip()
                if label not in GENRES:
                    raise DatasetError(f"{path}:{line_no}: unknown label {label!r}")
                m = _ROW_RE.match(fn)
                if m is None or m["genre"] != label:
                    raise DatasetError(f"{path}:{line_no}: filename {fn!r} does not match label {label!r}")
                try:
                    vals = [float(v) for v in row[1:-1]]
                except ValueError as e:
                    raise DatasetError(f"{path}:{line_no}: non-numeric feature ({e})") from e
                if not all(math.isfinite(v) for v in vals):
                    bad = FEATURE_NAMES[next(i for i, v in enumerate(vals) if not math.isfinite(v))]
                    raise DatasetError(f"{path}:{line_no}: {bad} is not finite")
                X.append(vals)
                y.append(GENRES.index(label))
                names.append(fn)
                tracks.append(m["track"])
        except (csv.Error, UnicodeDecodeError) as e:
            raise DatasetError(f"{path}: not a readable CSV ({e})") from e
    if not X:
        raise DatasetError(f"{path}: no data rows")
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise DatasetError(f"{path}: filename {dup!r} appears more than once")
    table = FeatureTable(np.array(X), np.array(y), np.array(names), np.array(tracks))
    absent = [g for g, c in table.counts().items() if c == 0]
    if absent:
        raise DatasetError(f"{path}: no rows for genre(s) {', '.join(absent)}; all 10 genres are needed")
    return table


# -------------------------------------------------------------------------------------- audio


@dataclass(frozen=True)
class Track:
    name: str  # 'blues.00000'
    genre: int
    path: Path


def find_tracks(audio_dir: str | os.PathLike) -> tuple[list[Track], list[tuple[str, str]]]:
    """Audio files in ``<genre>/<genre>.NNNNN.ext`` layout, plus (file, reason) for files that are not."""
    root = Path(audio_dir)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    tracks: list[Track] = []
    ignored: list[tuple[str, str]] = []
    seen: dict[str, Path] = {}
    for gi, genre in enumerate(GENRES):
        gdir = root / genre
        if not gdir.is_dir():
            continue
        for p in sorted(gdir.iterdir()):
            if not p.is_file() or p.name.startswith("."):
                continue
            if p.suffix.lower() not in AUDIO_EXTENSIONS:
                ignored.append((str(p), f"not an audio file extension ({', '.join(AUDIO_EXTENSIONS)})"))
                continue
            m = _TRACK_RE.match(p.stem)
            if m is None or m["genre"] != genre:
                ignored.append((str(p), f"name is not {genre}.NNNNN{p.suffix}"))
                continue
            if p.stem in seen:
                ignored.append((str(p), f"same track as {seen[p.stem].name}"))
                continue
            seen[p.stem] = p
            tracks.append(Track(p.stem, gi, p))
    if not tracks:
        raise DatasetError(f"{root}: no audio in <genre>/<genre>.NNNNN.<ext> layout (genres: {', '.join(GENRES)})")
    return tracks, ignored


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def audio_fingerprint(audio_dir: str | os.PathLike) -> str:
    """sha256 over the sorted relative paths and contents of the tracks: names the training audio."""
    root = Path(audio_dir)
    tracks, _ = find_tracks(root)
    h = hashlib.sha256()
    for t in sorted(tracks, key=lambda t: t.path.relative_to(root).as_posix()):
        h.update(t.path.relative_to(root).as_posix().encode() + b"\0")
        h.update(_file_sha256(t.path).encode() + b"\n")
    return h.hexdigest()


def feature_code_hash() -> str:
    """Cache key of the feature definition: the package version and the digest of its probe features.

    Numbers rather than source text (gtzan.fingerprint), so cached features outlive a refactor that
    leaves them alone.
    """
    from gtzan.fingerprint import digest

    return hashlib.sha256(f"{gtzan.__version__}\0{digest()}".encode()).hexdigest()


def default_cache_dir() -> Path:
    env = os.environ.get("GTZAN_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gtzan-listen"


def track_features(
    path: str | os.PathLike,
    hop: int = WINDOW_SAMPLES,
    copy: int | None = None,
    copy_seed: int = 0,
    copy_kind: str = "degraded",
) -> np.ndarray:
    """Features (w, 58) of the whole windows of one track, or of its randomly degraded copy number ``copy``
    of kind ``copy_kind`` (:func:`gtzan.training.augment.degrade_track`); raises on unreadable audio."""
    from gtzan.audio import load_audio

    y = load_audio(path)
    if copy is not None:
        y, _ = degrade_track(y, Path(path).stem, copy, copy_seed, copy_kind)
    if not np.all(np.isfinite(y)):
        raise DatasetError(f"{path}: audio contains NaN or infinite samples")
    starts = window_starts(y.size, hop=hop)
    if not starts:
        raise DatasetError(f"{path}: shorter than one {WINDOW_SAMPLES}-sample window ({y.size} samples)")
    out = np.stack([clip_features(y[s : s + WINDOW_SAMPLES]) for s in starts])
    if not np.all(np.isfinite(out)):
        raise DatasetError(f"{path}: features are not finite (silent or broken audio)")
    return out


def _worker(
    path: str, hop: int, copy: int | None = None, copy_seed: int = 0, copy_kind: str = "degraded"
) -> tuple[str, np.ndarray | None, str]:
    try:
        return path, track_features(path, hop, copy, copy_seed, copy_kind), ""
    except Exception as e:  # any decoding failure means: report and skip this track
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if msg.startswith(path):  # the report names the file already
            msg = msg[len(path) :].lstrip(": ") or type(e).__name__
        return path, None, msg


def build_feature_table(
    audio_dir: str | os.PathLike,
    *,
    hop: int = WINDOW_SAMPLES,
    n_jobs: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    progress: bool = True,
    copies: int = 0,
    copy_seed: int = 0,
    copy_kind: str = "degraded",
) -> FeatureTable:
    """Features of every window of every track under ``audio_dir``, in parallel and cached.

    The cache key of a track is its content hash, the package version, the feature code hash and
    ``hop``, so a rerun on the same audio does no feature work. Unreadable or too-short tracks are
    reported on stderr and left out (listed in ``table.skipped``). With ``copies`` > 0, the rows are
    instead those of that many randomly degraded copies of each track (training augmentation; ``copy_kind``
    picks the chain), each named and grouped as its track.
    """
    if hop < 1:
        raise DatasetError(f"hop must be a positive number of samples, got {hop}")
    tracks, ignored = find_tracks(audio_dir)
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    cache = cache / "features"
    code = feature_code_hash()
    keys: dict[tuple[str, int | None], str] = {}
    results: dict[tuple[str, int | None], np.ndarray] = {}
    todo: list[tuple[Track, int | None]] = []
    units: list[tuple[Track, int | None]] = [(t, c) for t in tracks for c in (range(copies) if copies else [None])]
    digests = {t.name: _file_sha256(t.path) for t in tracks}  # once a track, however many copies it has
    for t, c in units:
        copy_key = "" if c is None else f"|copy={c}|seed={copy_seed}|{AUGMENT_VERSIONS[copy_kind]}"
        key = hashlib.sha256(f"{digests[t.name]}|{code}|hop={hop}{copy_key}".encode()).hexdigest()
        keys[(t.name, c)] = key
        f = cache / f"{key}.npy"
        if use_cache and f.is_file():
            try:
                arr = np.load(f, allow_pickle=False)
                if arr.ndim == 2 and arr.shape[1] == N_FEATURES and np.all(np.isfinite(arr)):
                    results[(t.name, c)] = arr
                    continue
            except (OSError, ValueError):
                pass
        todo.append((t, c))
    skipped = list(ignored)
    by_job = {(str(t.path), c): t for t, c in todo}
    for path, c, arr, err in _run(list(by_job), hop, n_jobs, progress, copy_seed, copy_kind):
        t = by_job[(path, c)]
        if arr is None:
            skipped.append((path if c is None else f"{path} (copy {c})", err))
            continue
        results[(t.name, c)] = arr
        if use_cache:
            cache.mkdir(parents=True, exist_ok=True)
            tmp = cache / f"{keys[(t.name, c)]}.{os.getpid()}.tmp.npy"
            np.save(tmp, arr)
            os.replace(tmp, cache / f"{keys[(t.name, c)]}.npy")
    if skipped:
        _report_skipped(skipped)
    if not results:
        raise DatasetError(f"{audio_dir}: no usable track ({len(skipped)} skipped)")
    X, y, names, trk = [], [], [], []
    for t, c in units:
        if (t.name, c) not in results:
            continue
        arr = results[(t.name, c)]
        X.append(arr)
        y += [t.genre] * len(arr)
        names += [f"{t.name}.{i}.wav" for i in range(len(arr))]
        trk += [t.name] * len(arr)
    return FeatureTable(np.concatenate(X), np.array(y), np.array(names), np.array(trk), skipped=skipped)


SOURCES = ("table", "ours")  # rows of a Kaggle-format CSV; rows our feature code computed from audio
AUDIO_ROWS = ("train", "evaluate")  # what our rows of the audio are for, when a CSV is given too


def trainable_rows(sources: np.ndarray, audio_rows: str = "train") -> np.ndarray:
    """Which rows the members may train on: all, or (``evaluate``, with a CSV) all but our audio rows."""
    if audio_rows not in AUDIO_ROWS:
        raise DatasetError(f"audio rows must be one of {', '.join(AUDIO_ROWS)}, not {audio_rows!r}")
    if audio_rows == "evaluate" and np.any(sources != "ours"):
        return sources != "ours"
    return np.ones(len(sources), dtype=bool)


def load_sources(
    features_csv: str | os.PathLike | None = None,
    audio_dir: str | os.PathLike | None = None,
    *,
    hop: int = WINDOW_SAMPLES,
    n_jobs: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> tuple[FeatureTable, np.ndarray, dict[str, object]]:
    """The rows of a features CSV and/or of an audio folder, each row's source, and where they came from.

    The Kaggle table was computed by an older librosa; our windows of the same tracks come from the
    feature code the listener runs. Keeping the source of each row lets training use both and score each.
    """
    if features_csv is None and audio_dir is None:
        raise DatasetError("give a features CSV, an audio folder, or both")
    tables: list[FeatureTable] = []
    names: list[str] = []
    info: dict[str, object] = {}
    if features_csv is not None:
        p = Path(features_csv)
        tables.append(read_features_csv(p))
        names.append("table")
        info.update(kind="features_csv", path=p.name, features_csv_sha256=_file_sha256(p))
    if audio_dir is not None:
        d = Path(audio_dir)
        t = build_feature_table(d, hop=hop, n_jobs=n_jobs, cache_dir=cache_dir, progress=progress)
        tables.append(t)
        names.append("ours")
        info.update(
            kind="features_csv+audio" if info else "audio",
            audio_path=d.name,
            hop=hop,
            audio_fingerprint=audio_fingerprint(d),
        )
        info.setdefault("path", d.name)
    table = FeatureTable.concat(tables)
    sources = np.concatenate([np.full(len(t), n) for t, n in zip(tables, names)])
    label = {"audio": "audio folder", "features_csv": "features CSV"}.get(str(info["kind"]), "features CSV and audio")
    info.update(
        source=f"{label} {info['path']}",
        rows=len(table),
        tracks=int(np.unique(table.tracks).size),
        sources={n: int(np.sum(sources == n)) for n in names},
        counts=table.counts(),
    )
    return table, sources, info


def _run(
    jobs: list[tuple[str, int | None]],
    hop: int,
    n_jobs: int | None,
    progress: bool,
    copy_seed: int = 0,
    copy_kind: str = "degraded",
) -> Iterable[tuple[str, int | None, np.ndarray | None, str]]:
    """(path, copy, features or None, error) of each (path, copy) job, in parallel with a progress bar."""
    if not jobs:
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    n_jobs = max(1, min(n_jobs or os.cpu_count() or 1, len(jobs)))
    label = "features" if all(c is None for _, c in jobs) else f"{copy_kind} copies"
    bar = Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not progress,
        transient=False,
    )
    with bar:
        task = bar.add_task("tracks", total=len(jobs))
        if n_jobs == 1:
            for p, c in jobs:
                yield (p, c, *_worker(p, hop, c, copy_seed, copy_kind)[1:])
                bar.advance(task)
            return
        with ProcessPoolExecutor(max_workers=n_jobs) as pool:
            futures = {pool.submit(_worker, p, hop, c, copy_seed, copy_kind): (p, c) for p, c in jobs}
            for fut in as_completed(futures):
                p, c = futures[fut]
                yield (p, c, *fut.result()[1:])
                bar.advance(task)


def _report_skipped(skipped: list[tuple[str, str]]) -> None:
    from rich.console import Console

    con = Console(stderr=True)
    con.print(f"[yellow]skipped {len(skipped)} file(s):[/yellow]")
    for path, why in skipped:
        con.print(f"  {path}: {why}", markup=False, highlight=False, soft_wrap=True)


_CHAIN_TEXT = {
    "degraded": "1-2 of noise, low-pass, high-pass, room, MP3, Ogg, then a gain of -24..+8 dB",
    "severe": "noise at 8-25 dB SNR, a 1.5-5 kHz low-pass, or both, then a gain of -24..+8 dB",
}


def add_augmented_rows(
    table: FeatureTable,
    sources: np.ndarray,
    trainable: np.ndarray,
    kinds: Iterable[str],
    *,
    audio_dir: str | os.PathLike | None = None,
    copies: int = 4,
    seed: int = 0,
    hop: int = WINDOW_SAMPLES,
    n_jobs: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> tuple[FeatureTable, np.ndarray, np.ndarray, dict[str, object]]:
    """The table with augmented rows appended (sources ``gain``, ``degraded``, ``severe``), and which rows may train.

    ``gain``: one copy of every trainable row at a random gain (exact feature transform). ``degraded``:
    our windows of ``copies`` randomly degraded copies of each audio track in the table (``severe``: of the
    harsher chain, :func:`gtzan.training.augment.severe_chain`); they may train
    only where their track's own rows may. Augmented rows keep their track's name, so grouped folds keep
    them with it.
    """
    kinds = list(dict.fromkeys(kinds))
    unknown = [k for k in kinds if k not in AUGMENT_KINDS]
    if unknown:
        raise DatasetError(f"unknown augmentation {unknown[0]!r}; choose from {', '.join(AUGMENT_KINDS)}")
    parts, srcs, trn = [table], [np.asarray(sources, dtype=str)], [np.asarray(trainable, dtype=bool)]
    info: dict[str, object] = {}
    allowed = np.unique(table.tracks[trn[0] & (srcs[0] == "ours")])  # tracks whose own windows train
    for kind in (k for k in COPY_KINDS if k in kinds):
        if audio_dir is None:
            raise DatasetError(f"{kind} copies need the audio: give an audio folder too")
        if copies < 1:
            raise DatasetError(f"{kind} copies: need at least one copy a track, got {copies}")
        d = build_feature_table(
            audio_dir,
            hop=hop,
            n_jobs=n_jobs,
            cache_dir=cache_dir,
            progress=progress,
            copies=copies,
            copy_seed=seed,
            copy_kind=kind,
        )
        d = d.subset(np.flatnonzero(np.isin(d.tracks, table.tracks)))  # tracks held out of the table stay out
        parts.append(d)
        srcs.append(np.full(len(d), kind))
        trn.append(np.isin(d.tracks, allowed))
        info[kind] = {
            "copies": copies,
            "seed": seed,
            "rows": len(d),
            "version": AUGMENT_VERSIONS[kind],
            "chain": _CHAIN_TEXT[kind],
        }
    if "gain" in kinds:
        base = np.flatnonzero(trn[0])
        rng = np.random.default_rng([seed, 0x6A1])
        g = FeatureTable(gain_rows(table.X[base], rng), table.y[base], table.filenames[base], table.tracks[base])
        parts.append(g)
        srcs.append(np.full(len(g), "gain"))
        trn.append(np.ones(len(g), dtype=bool))
        info["gain"] = {"rows": len(g), "db": list(GAIN_DB), "seed": seed}
    return FeatureTable.concat(parts), np.concatenate(srcs), np.concatenate(trn), info
