"""Robustness of gtzan-listen to how music reaches it: accuracy per degraded condition beside clean.

  python benchmarks/bench_robustness.py [--models DIR] [--tracks-from LIST|MANIFEST|BUNDLE]
                                        [--audio-dir DIR] [--conditions a,b,...] [--jobs N] [--limit N]
                                        [--seed 0] [--hop 0.5] [--mic N] [--out DIR] [--list-conditions]

Each held-out track is degraded under each named, seeded condition (gtzan.degrade: gain -20..+6 dB
with clipping, white and pink noise at 30 and 20 dB SNR, low-pass 4 kHz, high-pass 200 Hz, a
synthetic room with noise, MP3 and Ogg re-encoding) and run through the listener's own pipeline
(gtzan.daemon.pipeline.Pipeline: the streaming extractor, the bundle, its blend, hop 0.5 s, silence
below -60 dBFS) as ``gtzan-listen --file --fast`` runs it. Reported per condition: window accuracy
(windows given the track's genre, silent windows counting as wrong), track accuracy (the run's
verdict, gtzan.daemon.summary's, with the bundle's 30 s context model when it has one), silent windows
and the level warnings raised. Written to ``--out``: results.json, results.md (the table) and
robustness.png (a bar chart).

The tracks: ``--tracks-from`` names a text file of track names (``rock.00002``, one a line, ``#``
comments), or a bundle (folder or manifest.json) whose manifest lists its held-out tracks
(``data.held_out_tracks`` or ``data.test_tracks``); by default the ``--models`` bundle's own. Their
audio is found in ``--audio-dir`` (GTZAN layout, default ../shared/data/gtzan/audio).

``--mic N`` adds the row ``mic48k``: the first N tracks (one a genre first), clean, resampled to 48 kHz
and played at real-time pace into a virtual microphone (tests/vmic.VirtualMic: a private PulseAudio
server) that the real ``gtzan-listen --json --duration`` captures as its default input. It runs in
real time, about 30 s a track, after the other runs, and is skipped with a note where PulseAudio is
missing. Only windows lying wholly inside the played track are counted (see mic_counts). PortAudio
opens the virtual device at 22,050 Hz, which the sound server accepts, so PulseAudio resamples the
48 kHz source as a desktop's sound server would (each run records ``device_rate``); the row compares
with clean on the same tracks in results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
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
MIC = "mic48k"
MIC_RATE = 48000
MIC_DESCRIPTION = "the clean track played into a virtual microphone at 48 kHz, captured live by gtzan-listen"
MIC_MARGIN = 1.0  # seconds captured past the track's end, so that its last whole window is surely emitted
MIC_TOLERANCE = 0.05  # seconds a kept window may overhang the track (the sound server's resampler delay)
DESCRIPTIONS = {MIC: MIC_DESCRIPTION}  # rows that are not gtzan.degrade conditions


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
    from gtzan.constants import hop_frames
    from gtzan.daemon.pipeline import Pipeline
    from gtzan.daemon.summary import SummaryBuilder, track_context

    pipe = Pipeline(_BUNDLE, hop_frames=hop_frames(hop))
    summary = SummaryBuilder(tuple(_BUNDLE.genres), _BUNDLE.uncertain_below, track_context(_BUNDLE))
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
    return {"condition": condition, "track": name, "genre": genre, "seconds": round(time.perf_counter() - t0, 2), **out}


def run_all(tasks: list[tuple[str, str, str, int, float]], models: str | None, jobs: int) -> list[dict[str, Any]]:
    done: list[dict[str, Any]] = []
    tty = sys.stderr.isatty()

    def note(r: dict[str, Any]) -> None:
        done.append(r)
        if tty:
            print(
                f"\r{len(done)}/{len(tasks)} {r['condition']:<12} {r['track']:<16}", end="", file=sys.stderr, flush=True
            )

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


# --- through a microphone ----------------------------------------------------------------------


def _cli() -> list[str]:
    """The installed console script, as users run it; else the module."""
    script = Path(sys.executable).parent / "gtzan-listen"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "gtzan.daemon.cli"]


def mic_counts(
    windows: list[dict[str, Any]],
    genre: str,
    track_seconds: float,
    offset: float = 0.0,
    tolerance: float = MIC_TOLERANCE,
) -> dict[str, Any]:
    """classify()'s counts from ``gtzan-listen --json`` window objects, over the windows wholly inside the track.

    The track occupies stream seconds [offset, offset + track_seconds]. Windows are kept by their
    ``start``/``end`` times, not by the silence flag: a window straddling either edge of the track
    holds part music, part the feeder's zeros, so it is not silent, yet it is not the track's audio
    either and would be counted against the models unfairly (the in-process runs never see such
    windows). The verdict is recomputed over the kept windows by the summary's rule (gtzan.daemon.
    summary.ranking: the largest summed calibrated probability, ties to more windows, then the lower genre index),
    since the summary line also counts the windows past the track.
    """
    from gtzan.daemon.summary import ranking

    lo, hi = offset - tolerance, offset + track_seconds + tolerance
    kept = [w for w in windows if w["start"] >= lo and w["end"] <= hi]
    classified = [w for w in kept if not w["silence"] and w["genre"] is not None]
    genres = list(classified[0]["probs"]) if classified else []
    counts, prob_sum = np.zeros(len(genres), dtype=np.int64), np.zeros(len(genres))
    for w in classified:
        counts[genres.index(w["genre"])] += 1
        prob_sum += [w["probs"][g] for g in genres]
    ranked = ranking(counts, prob_sum)
    return {
        "windows": len(kept),
        "correct": sum(w["genre"] == genre for w in classified),
        "silent": len(kept) - len(classified),
        "quiet": sum(w["level_warning"] == "quiet" for w in kept),
        "clipping": sum(w["level_warning"] == "clipping" for w in kept),
        "verdict": genres[ranked[0]] if ranked else None,
    }


def run_mic(name: str, path: str, models: str | None, hop: float, work: Path) -> dict[str, Any]:
    """One clean track played into a 48 kHz virtual microphone and captured live by gtzan-listen."""
    import soundfile as sf

    from gtzan.audio import load_audio
    from gtzan.constants import SR
    from gtzan.resample import resample
    from tests.vmic import VirtualMic

    genre = name.split(".", 1)[0]
    t0 = time.perf_counter()
    y = degrade(load_audio(path), "clean", rng_for(0, "clean", name))
    track_seconds = len(y) / SR
    wav = work / f"{name}.48k.wav"
    # resampling may overshoot full scale a little: clip rather than let the 16-bit conversion wrap
    sf.write(str(wav), np.clip(resample(y, SR, MIC_RATE), -1.0, 32767 / 32768), MIC_RATE, subtype="PCM_16")
    cmd = [*_cli(), "--json", "--duration", f"{track_seconds + MIC_MARGIN:.3f}", "--hop", str(hop)]
    if models:
        cmd += ["--models", models]
    with VirtualMic(rate=MIC_RATE) as mic:
        p = subprocess.Popen(cmd, env=mic.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            if not mic.wait_for_capture(p, timeout=120):
                raise RuntimeError(f"gtzan-listen did not open the virtual microphone: {p.communicate(timeout=10)[1]}")
            # No lead-in: VirtualMic starts feeding only once the capture stream is connected, and its pipe
            # source delivers nothing before that, so stream second 0 is the track's first sample (offset 0):
            # on blues.00000 every window's level_dbfs matched the --file run's to 0.01 dB.
            mic.feed(wav, then="silence")
            out, err = p.communicate(timeout=track_seconds + MIC_MARGIN + 120)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    if p.returncode != 0:
        raise RuntimeError(f"gtzan-listen exited {p.returncode} on {name}: {err.strip()[-500:]}")
    objs = [json.loads(line) for line in out.splitlines() if line.strip()]
    summary = next((o["summary"] for o in objs if "summary" in o), {})
    windows = [o for o in objs if "summary" not in o]
    src = summary.get("source", {})
    return {
        "condition": MIC,
        "track": name,
        "genre": genre,
        "seconds": round(time.perf_counter() - t0, 2),
        **mic_counts(windows, genre, track_seconds),
        "captured_windows": len(windows),
        "summary_verdict": summary.get("verdict"),
        "device_rate": src.get("samplerate"),
        "resampled": src.get("resampled"),
        "overflows": summary.get("overflows"),
        "dropped": summary.get("dropped"),
    }


def run_mic_all(tracks: list[str], paths: dict[str, str], models: str | None, hop: float) -> list[dict[str, Any]]:
    """run_mic on each track in turn (real time: nothing else of the benchmark runs meanwhile)."""
    done = []
    with tempfile.TemporaryDirectory(prefix="bench-mic.") as work:
        for i, t in enumerate(tracks, 1):
            print(f"{MIC} {i}/{len(tracks)} {t} (real time)", file=sys.stderr, flush=True)
            try:
                r = run_mic(t, paths[t], models, hop, Path(work))
            except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as e:
                print(f"{MIC} {t}: left out ({e})", file=sys.stderr)
                continue
            if r["overflows"] or r["dropped"]:
                print(
                    f"{MIC} {t}: {r['overflows']} input overflows, {r['dropped']} dropped blocks (busy machine?)",
                    file=sys.stderr,
                )
            done.append(r)
    return done


# --- report ------------------------------------------------------------------------------------


def tally(runs: list[dict[str, Any]], conditions: list[str]) -> list[dict[str, Any]]:
    """Per condition: window and track accuracy, silent windows and warnings, in the given order."""
    rows = []
    for c in conditions:
        rs = [r for r in runs if r["condition"] == c]
        windows = sum(r["windows"] for r in rs)
        rows.append(
            {
                "condition": c,
                "description": CONDITIONS[c].description if c in CONDITIONS else DESCRIPTIONS[c],
                "tracks": len(rs),
                "tracks_right": sum(r["verdict"] == r["genre"] for r in rs),
                "track_accuracy": sum(r["verdict"] == r["genre"] for r in rs) / max(1, len(rs)),
                "windows": windows,
                "window_accuracy": sum(r["correct"] for r in rs) / max(1, windows),
                "silent": sum(r["silent"] for r in rs),
                "quiet": sum(r["quiet"] for r in rs),
                "clipping": sum(r["clipping"] for r in rs),
            }
        )
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    clean = next((r for r in rows if r["condition"] == "clean"), None)

    def delta(r: dict[str, Any], key: str) -> str:
        return "" if clean is None or r is clean else f" ({100 * (r[key] - clean[key]):+.1f})"

    out = [
        "| condition | what | window accuracy (vs clean, points) | tracks right (vs clean) | silent windows "
        "| quiet / clipping windows |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['condition']} | {r['description']} "
            f"| {100 * r['window_accuracy']:.1f}%{delta(r, 'window_accuracy')} "
            f"| {r['tracks_right']}/{r['tracks']}{delta(r, 'track_accuracy')} | {r['silent']}/{r['windows']} "
            f"| {r['quiet']} / {r['clipping']} |"
        )
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
    p.add_argument(
        "--tracks-from",
        type=Path,
        help="track-name list, or a bundle / manifest.json with held-out tracks (default: --models')",
    )
    p.add_argument("--audio-dir", type=Path, help="GTZAN-layout audio (default ../shared/data/gtzan/audio)")
    p.add_argument("--conditions", help="comma-separated condition names (default: all); clean is always run")
    p.add_argument("--jobs", type=int, default=1, help="processes (default 1)")
    p.add_argument("--limit", type=int, help="only N tracks, one a genre first (smoke runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hop", type=float, default=0.5)
    p.add_argument(
        "--mic",
        type=int,
        default=0,
        metavar="N",
        help=f"also play the first N tracks into a {MIC_RATE} Hz virtual microphone (row {MIC}; real time)",
    )
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
        print(
            f"{len(named) - len(found)} of {len(named)} held-out tracks have no audio in {audio}; "
            f"measuring the other {len(found)}",
            file=sys.stderr,
        )
    tracks = across_genres(list(found))[: a.limit]
    paths = {t: str(found[t]) for t in tracks}
    tasks = [(c, t, paths[t], a.seed, a.hop) for c in conditions for t in tracks]
    t0 = time.perf_counter()
    mic_tracks: list[str] = []
    if a.mic > 0:
        from tests.vmic import VirtualMic

        reason = VirtualMic.unavailable()
        if reason:
            print(f"skipping {MIC}: no virtual microphone ({reason})", file=sys.stderr)
        else:
            mic_tracks = tracks[: a.mic]
    runs = run_all(tasks, a.models, max(1, min(a.jobs, os.cpu_count() or 1)))
    if mic_tracks:
        mic_runs = run_mic_all(mic_tracks, paths, a.models, a.hop)
        mic_tracks = [r["track"] for r in mic_runs]
        runs += mic_runs
        if mic_runs:
            conditions.append(MIC)
    rows = tally(runs, conditions)
    a.out.mkdir(parents=True, exist_ok=True)
    meta = {
        "models": str(a.models or default_bundle_dir()),
        "tracks": tracks,
        "seed": a.seed,
        "hop": a.hop,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    note = ""
    if mic_tracks:
        # the mic row may cover fewer tracks than clean: give clean on the same tracks beside it
        same = tally([r for r in runs if r["condition"] == "clean" and r["track"] in mic_tracks], ["clean"])[0]
        meta["mic"] = {"tracks": mic_tracks, "rate": MIC_RATE, "clean_same_tracks": same}
        note = (
            f"\n{MIC} on {len(mic_tracks)} tracks; clean on the same tracks: {100 * same['window_accuracy']:.1f}% "
            f"of windows, {same['tracks_right']}/{same['tracks']} tracks right\n"
        )
    (a.out / "results.json").write_text(json.dumps({"meta": meta, "conditions": rows, "runs": runs}, indent=1))
    table = markdown(rows)
    (a.out / "results.md").write_text(f"{len(tracks)} tracks, seed {a.seed}, models {meta['models']}\n\n{table}{note}")
    chart(rows, a.out / "robustness.png", f"gtzan-listen on {len(tracks)} held-out tracks, by condition")
    print(table + note)
    print(f"written to {a.out}/ (results.json, results.md, robustness.png) in {meta['seconds']} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
