"""How gtzan-listen's cost grows with its input: one file of 30 s, 10 min and 1 h with --fast, and
folders of 1, 20 and 200 thirty-second files in one call; wall time, CPU and peak memory of each.

    python benchmarks/bench_scaling.py [--cases file-30s,file-10min,...] [--repeat 1]
                                       [--compare PYTHON] [--out DIR]

The inputs are made in a temporary folder from the GTZAN FLAC tracks (``../shared/data/gtzan/audio``
or ``$GTZAN_DATA``): the 10-minute file joins 20 of them, the 1-hour file repeats those 6 times (both
FLAC, 22,050 Hz, 16-bit), and the folders hold links to the tracks (cycled for 200). Each command runs
as its own process (``python -P -m gtzan.daemon.cli ...``, JSON to a temporary file); its figures are
the kernel's for the process and its children (wait4: user + system CPU, the largest resident set).

``--compare PYTHON``: also run each case with another interpreter (e.g. one whose ``gtzan`` is an
earlier checkout), alternating with this one, and report the ratios: this machine's speed drifts,
so only figures measured side by side compare. The results go to ``DIR/scaling.json`` and a plot to
``DIR/scaling.png`` (times real time and peak memory against the audio's length).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# the in-process machine reference (the extractor alone) runs as gtzan-listen does, with one BLAS thread;
# OpenBLAS's default threads doubled its CPU per hop (8.3 against 4.0 ms, measured)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CASES = ("file-30s", "file-10min", "file-1h", "folder-1", "folder-20", "folder-200")
TRACKS_10MIN = 20


def tracks() -> list[Path]:
    from gtzan.datadir import audio_dir

    d = audio_dir()
    found = sorted(d.glob("*/*.flac")) if d is not None else []
    if len(found) < TRACKS_10MIN:
        sys.exit("needs at least 20 GTZAN FLAC tracks in ../shared/data/gtzan/audio (or $GTZAN_DATA)")
    return found


def joined(paths: list[Path], repeat: int, out: Path) -> Path:
    """The tracks one after the other, ``repeat`` times, as one 16-bit FLAC at 22,050 Hz (written in blocks)."""
    import soundfile as sf

    from gtzan.audio import load_audio

    parts = [load_audio(p) for p in paths]
    with sf.SoundFile(str(out), "w", samplerate=22050, channels=1, subtype="PCM_16", format="FLAC") as f:
        for _ in range(repeat):
            for y in parts:
                f.write(y)
    return out


def folder(paths: list[Path], n: int, out: Path) -> Path:
    """A folder of n links to the tracks (cycled), each under its own name."""
    out.mkdir()
    for i in range(n):
        src = paths[i % len(paths)]
        (out / f"{i:03d}-{src.name}").symlink_to(src)
    return out


def make_inputs(tmp: Path, cases: list[str]) -> dict[str, tuple[list[str], float]]:
    """Each case's command-line arguments and its seconds of audio."""
    import soundfile as sf

    paths = tracks()
    pick = paths[:: max(1, len(paths) // TRACKS_10MIN)][:TRACKS_10MIN]  # across the genres
    out: dict[str, tuple[list[str], float]] = {}

    def seconds(files: list[Path]) -> float:
        return sum(sf.info(str(p)).duration for p in files)

    for case in cases:
        if case == "file-30s":
            f = sorted(p for p in paths if p.name.startswith("rock."))[0]
            out[case] = (["--file", str(f), "--fast", "--json"], seconds([f]))
        elif case in ("file-10min", "file-1h"):
            f = joined(pick, 1 if case == "file-10min" else 6, tmp / f"{case}.flac")
            out[case] = (["--file", str(f), "--fast", "--json"], sf.info(str(f)).duration)
        elif case.startswith("folder-"):
            n = int(case.split("-")[1])
            d = folder(paths, n, tmp / case)
            out[case] = ([str(d), "--json"], seconds([paths[i % len(paths)] for i in range(n)]))
        else:
            sys.exit(f"unknown case {case!r} (known: {', '.join(CASES)})")
    return out


def measure(python: str, args: list[str], cwd: Path, timeout: float) -> dict[str, float]:
    """One run: wall seconds, CPU seconds and peak RSS (MB) of the process and its children."""
    out = cwd / "out.jsonl"
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    with open(out, "wb") as stdout:
        t0 = time.perf_counter()
        p = subprocess.Popen(
            [python, "-P", "-m", "gtzan.daemon.cli", *args], stdout=stdout, stderr=subprocess.DEVNULL, cwd=cwd, env=env
        )
        try:
            _, status, ru = os.wait4(p.pid, 0)
        except BaseException:
            p.kill()
            raise
        wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"{python} {' '.join(args)} exited {p.returncode}")
    lines = out.read_bytes().count(b"\n")
    return {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "peak_mb": ru.ru_maxrss / 1024, "lines": lines}


def summarise(runs: list[dict[str, float]], audio_s: float) -> dict[str, float]:
    wall = statistics.median(r["wall_s"] for r in runs)
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(statistics.median(r["cpu_s"] for r in runs), 3),
        "peak_mb": round(max(r["peak_mb"] for r in runs), 1),
        "x_realtime": round(audio_s / wall, 1),
        "wall_s_runs": [round(r["wall_s"], 3) for r in runs],
    }


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for kind, marker in (("file", "o"), ("folder", "s")):
        rows = [(c, r) for c, r in results["cases"].items() if c.startswith(kind)]
        if not rows:
            continue
        x = [r["audio_s"] for _, r in rows]
        for who, style in (("this", "-"), ("compare", "--")):
            if who not in rows[0][1]:
                continue
            label = f"{kind}s" + ("" if who == "this" else f" ({results.get('compare_label', 'compared')})")
            ax1.plot(x, [r[who]["x_realtime"] for _, r in rows], style, marker=marker, label=label)
            ax2.plot(x, [r[who]["peak_mb"] for _, r in rows], style, marker=marker, label=label)
        for c, r in rows:
            ax1.annotate(
                c, (r["audio_s"], r["this"]["x_realtime"]), fontsize=7, xytext=(3, 3), textcoords="offset points"
            )
    ax1.axhline(300, color="grey", lw=0.8, ls=":")
    ax1.set(xscale="log", xlabel="audio (s)", ylabel="times real time (wall)", title="throughput")
    ax2.set(xscale="log", xlabel="audio (s)", ylabel="peak RSS (MB, largest process)", title="memory")
    for ax in (ax1, ax2):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    ref = results.get("reference_ms_per_hop")
    speed = f" (extractor {ref[0]}-{ref[1]} ms per hop)" if ref else ""
    fig.suptitle("gtzan-listen --fast / folders on 2 cores" + speed, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--compare", help="another Python whose gtzan-listen to run side by side")
    ap.add_argument("--compare-label", default="compared")
    ap.add_argument("--out", type=Path, default=Path("."))
    ap.add_argument("--timeout", type=float, default=3600)
    a = ap.parse_args()
    from bench_daemon import byte_compile, reference_ms_per_hop

    cases = a.cases.split(",")
    byte_compile()
    results: dict = {"cases": {}, "compare_label": a.compare_label}
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        inputs = make_inputs(tmp, cases)
        ref_track = inputs.get("file-30s", (["", str(tracks()[0])],))[0][1]
        before = reference_ms_per_hop(Path(ref_track))
        for case in cases:
            args, audio_s = inputs[case]
            mine, theirs = [], []
            for _ in range(a.repeat):
                mine.append(measure(sys.executable, args, tmp, a.timeout))
                if a.compare:
                    theirs.append(measure(a.compare, args, tmp, a.timeout))
            row = {"audio_s": round(audio_s, 1), "this": summarise(mine, audio_s)}
            if theirs:
                row["compare"] = summarise(theirs, audio_s)
                for key in ("wall_s", "cpu_s"):  # pair by pair, then the median
                    ratios = [m[key] / t[key] for m, t in zip(mine, theirs, strict=True)]
                    row[key.replace("_s", "_ratio")] = round(float(np.median(ratios)), 3)
            results["cases"][case] = row
            print(case, json.dumps(row), flush=True)
        results["reference_ms_per_hop"] = [before, reference_ms_per_hop(Path(ref_track))]
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "scaling.json").write_text(json.dumps(results, indent=1) + "\n")
    plot(results, a.out / "scaling.png")
    print("machine reference (extractor CPU per hop, before and after):", results["reference_ms_per_hop"])
    print(f"wrote {a.out / 'scaling.json'} and {a.out / 'scaling.png'}")


if __name__ == "__main__":
    main()
