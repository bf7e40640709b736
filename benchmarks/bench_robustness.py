"""Robustness of gtzan-listen to how music reaches it: accuracy per degraded condition beside clean.

  python benchmarks/bench_robustness.py [--models DIR] [--tracks-from LIST|MANIFEST|BUNDLE]
                                        [--audio-dir DIR] [--conditions a,b,...] [--jobs N] [--limit N]
                                        [--seed 0] [--hop 0.5] [--out DIR] [--list-conditions]

Each held-out track is degraded under each named, seeded condition (gtzan.degrade: gain -20..+6 dB
with clipping, white and pink noise at 30 and 20 dB SNR, low-pass 4 kHz, high-pass 200 Hz, a
synthetic room with noise, MP3 and Ogg re-encoding) and run through the listener's own pipeline
(gtzan.daemon.pipeline.Pipeline: the streaming extractor, the bundle, its blend, hop 0.5 s, silence
below -60 dBFS) as ``gtzan-listen --file --fast`` runs it. Reported per condition: window accuracy
(windows given the track's genre, silent windows counting as wrong), track accuracy (the run's
verdict: the majority of its windows), silent windows and the level warnings raised. Written to
``--out``: results.json, results.md (the table) and robustness.png (a bar chart).

The tracks: ``--tracks-from`` names a text file of track names (``rock.00002``, one a line, ``#``
comments), or a bundle (folder or manifest.json) whose manifest lists its held-out tracks
(``data.held_out_tracks`` or ``data.test_tracks``); by default the ``--models`` bundle's own. Their
audio is found in ``--audio-dir`` (GTZAN layout, default ../shared/data/gtzan/audio).

Not yet here: a real pass through a microphone at 48 kHz (play the track into tests/vmic.VirtualMic at
48 kHz and capture with ``gtzan-listen --json --duration``); it runs in real time, 30 s a track.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gtzan.degrade import CONDITIONS, degrade, rng_for  # noqa: E402

_BUNDLE: Any = None  # one per process
_BLOCK = 65536  # samples a push, as --fast reads a file


# --- tracks ------------------------------------------------------------------------------------


def read_track_names(source: Path) -> list[str]:
    """Track names from a list file or a bundle's manifest."""
    manifest = source / "manifest.json" if source.is_dir() else source
    if manifest.suffix == ".json":
        data = json.loads(manifest.read_text()).get("data", {})
        for key in ("held_out_tracks", "test_tracks"):
            if data.get(key):
                return [str(t) for t in data[key]]
        raise SystemExit(f"{manifest}: no data.held_out_tracks or data.test_tracks")
    lines = (line.split("#", 1)[0].strip() for line in source.read_text().splitlines())
    return [line for line in lines if line]


def across_genres(names: list[str]) -> list[str]:
    """The tracks in rounds of one per genre, so that the first N of them span N genres."""
    by_genre: dict[str, list[str]] = {}
    for n in names:
        by_genre.setdefault(n.split(".", 1)[0], []).append(n)
    rounds = max((len(v) for v in by_genre.values()), default=0)
    return [v[i] for i in range(rounds) for v in by_genre.values() if i < len(v)]


def find_audio(audio_dir: Path, name: str) -> Path | None:
    genre = name.split(".", 1)[0]
    hits = sorted((audio_dir / genre).glob(f"{name}.*"))
    return hits[0] if hits else None


# --- one run -----------------------------------------------------------------------------------


def _load(models: str | None) -> None:
    global _BUNDLE
    from gtzan.bundle import load_bundle
    from gtzan.memory import keep_freed_blocks

    keep_freed_blocks()
    _BUNDLE = load_bundle(models)


def classify(y: np.ndarray, genre: str, hop: float) -> dict[str, Any]:
    """The listener's verdicts on a whole clip: window counts, the verdict, the level warnings."""
    from gtzan.daemon.pipeline import Pipeline
    from gtzan.daemon.summary import SummaryBuilder

    pipe = Pipeline(_BUNDLE, hop_seconds=hop)
    summary = SummaryBuilder(tuple(_BUNDLE.genres), _BUNDLE.uncertain_below)
    results = [r for i in range(0, len(y), _BLOCK) for r in pipe.push(y[i : i + _BLOCK], 0.0)]
    for r in results:
        summary.add(r)
    want = list(_BUNDLE.genres).index(genre)
    verdict = summary.verdict()
    return {
        "windows": len(results),
        "correct": sum(r.label == want for r in results),
        "silent": sum(r.silent for r in results),
        "quiet": summary.warnings["quiet"],
        "clipping": summary.warnings["clipping"],
        "verdict": None if verdict is None else _BUNDLE.genres[verdict],
    }


def run_one(task: tuple[str, str, str, int, float]) -> dict[str, Any]:
    """One track under one condition."""
    from gtzan.audio import load_audio

    condition, name, path, seed, hop = task
    genre = name.split(".", 1)[0]
    t0 = time.perf_counter()
    y = degrade(load_audio(path), condition, rng_for(seed, condition, name))
    out = classify(y, genre, hop)
    return {"condition": condition, "track": name, "genre": genre, "seconds": round(time.perf_counter() - t0, 2),
            **out}


def run_all(tasks: list[tuple[str, str, str, int, float]], models: str | None, jobs: int) -> list[dict[str, Any]]:
    done: list[dict[str, Any]] = []
    tty = sys.stderr.isatty()

    def note(r: dict[str, Any]) -> None:
        done.append(r)
        if tty:
            print(f"\r{len(done)}/{len(tasks)} {r['condition']:<12} {r['track']:<16}", end="", file=sys.stderr,
                  flush=True)

    if jobs <= 1:
        _load(models)
        for t in tasks:
            note(run_one(t))
    else:
        with ProcessPoolExecutor(jobs, mp_context=get_context("fork"), initializer=_load, initargs=(models,)) as ex:
            for r in ex.map(run_one, tasks, chunksize=1):
                note(r)
    if tty:
        print(file=sys.stderr)
    return done


# --- report ------------------------------------------------------------------------------------


def tally(runs: list[dict[str, Any]], conditions: list[str]) -> list[dict[str, Any]]:
    """Per condition: window and track accuracy, silent windows and warnings, in the given order."""
    rows = []
    for c in conditions:
        rs = [r for r in runs if r["condition"] == c]
        windows = sum(r["windows"] for r in rs)
        rows.append({
            "condition": c,
            "description": CONDITIONS[c].description,
            "tracks": len(rs),
            "tracks_right": sum(r["verdict"] == r["genre"] for r in rs),
            "track_accuracy": sum(r["verdict"] == r["genre"] for r in rs) / max(1, len(rs)),
            "windows": windows,
            "window_accuracy": sum(r["correct"] for r in rs) / max(1, windows),
            "silent": sum(r["silent"] for r in rs),
            "quiet": sum(r["quiet"] for r in rs),
            "clipping": sum(r["clipping"] for r in rs),
        })
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    clean = next((r for r in rows if r["condition"] == "clean"), None)

    def delta(r: dict[str, Any], key: str) -> str:
        return "" if clean is None or r is clean else f" ({100 * (r[key] - clean[key]):+.1f})"

    out = ["| condition | what | window accuracy (vs clean, points) | tracks right (vs clean) | silent windows "
           "| quiet / clipping windows |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['condition']} | {r['description']} "
                   f"| {100 * r['window_accuracy']:.1f}%{delta(r, 'window_accuracy')} "
                   f"| {r['tracks_right']}/{r['tracks']}{delta(r, 'track_accuracy')} | {r['silent']}/{r['windows']} "
                   f"| {r['quiet']} / {r['clipping']} |")
    return "\n".join(out) + "\n"


def chart(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * len(rows) + 2), 4.2))
    ax.bar(x - 0.2, [100 * r["window_accuracy"] for r in rows], 0.4, label="window accuracy")
    ax.bar(x + 0.2, [100 * r["track_accuracy"] for r in rows], 0.4, label="track accuracy")
    clean = next((r for r in rows if r["condition"] == "clean"), None)
    if clean is not None:
        ax.axhline(100 * clean["window_accuracy"], color="C0", ls="--", lw=0.8)
        ax.axhline(100 * clean["track_accuracy"], color="C1", ls="--", lw=0.8)
    ax.set_xticks(x, [r["condition"] for r in rows], rotation=45, ha="right")
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --- command line ------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", help="model bundle folder (default: the shipped one)")
    p.add_argument("--tracks-from", type=Path,
                   help="track-name list, or a bundle / manifest.json with held-out tracks (default: --models')")
    p.add_argument("--audio-dir", type=Path, help="GTZAN-layout audio (default ../shared/data/gtzan/audio)")
    p.add_argument("--conditions", help="comma-separated condition names (default: all); clean is always run")
    p.add_argument("--jobs", type=int, default=1, help="processes (default 1)")
    p.add_argument("--limit", type=int, help="only N tracks, one a genre first (smoke runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hop", type=float, default=0.5)
    p.add_argument("--out", type=Path, default=Path("out/robustness"), help="default out/robustness")
    p.add_argument("--list-conditions", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a.list_conditions:
        for c in CONDITIONS.values():
            print(f"{c.name:<12} {c.description}")
        return 0
    from gtzan.bundle import default_bundle_dir
    from gtzan.datadir import audio_dir

    names = a.conditions.split(",") if a.conditions else list(CONDITIONS)
    unknown = [c for c in names if c not in CONDITIONS]
    if unknown:
        raise SystemExit(f"unknown condition(s) {unknown}; --list-conditions shows them")
    conditions = ["clean", *[c for c in names if c != "clean"]]
    audio = a.audio_dir or audio_dir()
    if audio is None:
        raise SystemExit("no GTZAN audio: pass --audio-dir")
    named = read_track_names(a.tracks_from or Path(a.models or default_bundle_dir()))
    found = {t: p for t in named if (p := find_audio(audio, t)) is not None}
    if not found:
        raise SystemExit(f"none of the {len(named)} held-out tracks has audio in {audio}")
    if len(found) < len(named):
        print(f"{len(named) - len(found)} of {len(named)} held-out tracks have no audio in {audio}; "
              f"measuring the other {len(found)}", file=sys.stderr)
    tracks = across_genres(list(found))[: a.limit]
    paths = {t: str(found[t]) for t in tracks}
    tasks = [(c, t, paths[t], a.seed, a.hop) for c in conditions for t in tracks]
    t0 = time.perf_counter()
    runs = run_all(tasks, a.models, max(1, min(a.jobs, os.cpu_count() or 1)))
    rows = tally(runs, conditions)
    a.out.mkdir(parents=True, exist_ok=True)
    meta = {"models": str(a.models or default_bundle_dir()), "tracks": tracks, "seed": a.seed, "hop": a.hop,
            "seconds": round(time.perf_counter() - t0, 1)}
    (a.out / "results.json").write_text(json.dumps({"meta": meta, "conditions": rows, "runs": runs}, indent=1))
    table = markdown(rows)
    (a.out / "results.md").write_text(f"{len(tracks)} tracks, seed {a.seed}, models {meta['models']}\n\n{table}")
    chart(rows, a.out / "robustness.png", f"gtzan-listen on {len(tracks)} held-out tracks, by condition")
    print(table)
    print(f"written to {a.out}/ (results.json, results.md, robustness.png) in {meta['seconds']} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
