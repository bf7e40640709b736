"""Per-hop cost of the incremental extractor against recomputing every window with librosa.

    python benchmarks/bench_stream.py [--track PATH] [--hop 0.5] [--breakdown] [--numpy-medians] [--numpy-only]
    python benchmarks/bench_stream.py --compare OTHER_CHECKOUT [--rounds 10]
    python benchmarks/bench_stream.py --paced [--rounds 4] [--block 0.1]

Both run in this process on the same 30 s of audio at the same hop, so the ratio is what counts,
with glibc's malloc tuned as gtzan-listen tunes it (gtzan.memory; --default-malloc leaves it alone).
Also measures, in a fresh interpreter, the CPU time from start to the first window's features.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))  # tests/ holds the librosa reference

import numpy as np

from gtzan.constants import HOP, SR, WINDOW_SAMPLES, hop_frames
from gtzan.datadir import audio_dir
from gtzan.features import kernels
from gtzan.features.stream import StreamingExtractor
from tests import librosa_reference as _reference

FIRST_WINDOW = """
import resource, numpy as np
from gtzan.features.stream import StreamingExtractor
y = (np.random.default_rng(0).standard_normal(66149) * 0.1).astype(np.float32)
w = StreamingExtractor().push(y)
assert len(w) == 1
r = resource.getrusage(resource.RUSAGE_SELF)
print(r.ru_utime + r.ru_stime)
"""


# One process per extractor for --compare: on each line read, it streams the track once and prints the CPU
# milliseconds per hop. argv: checkout root, track .npy, hop frames, "tuned" or "default" malloc.
COMPARE_WORKER = """
import sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
if sys.argv[4] == "tuned":
    from gtzan.memory import keep_freed_blocks
    keep_freed_blocks()
from gtzan.constants import WINDOW_SAMPLES
from gtzan.features.stream import StreamingExtractor
y = np.load(sys.argv[2])
def run():
    ex = StreamingExtractor(int(sys.argv[3]))
    ex.push(y[:WINDOW_SAMPLES])
    t = time.process_time()
    n = len(ex.push(y[WINDOW_SAMPLES:]))
    return (time.process_time() - t) / n
run()
print("ready", flush=True)
for _ in sys.stdin:
    print(run() * 1000, flush=True)
"""


def compare(y: np.ndarray, name: str, hop: float, other: str, rounds: int, naive_windows: int, tuned: bool) -> None:
    """This checkout's extractor against another checkout's (``other``) and librosa, in turns in one run.

    On a machine shared with other jobs the speed drifts from one minute to the next; alternating
    A B B A, each pass a whole track, and comparing the passes pair by pair cancels most of that.
    """
    import statistics
    import tempfile

    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    with tempfile.TemporaryDirectory() as tmp:
        track = os.path.join(tmp, "track.npy")
        np.save(track, y)
        args = [track, str(hop_frames(hop)), "tuned" if tuned else "default"]
        procs = {
            k: subprocess.Popen(
                [sys.executable, "-c", COMPARE_WORKER, root, *args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for k, root in (("this", here), ("other", other))
        }
        for p in procs.values():
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        ms: dict[str, list[float]] = {"this": [], "other": [], "librosa": []}
        starts = [k * hop_frames(hop) * 512 for k in range(1, (len(y) - WINDOW_SAMPLES) // (hop_frames(hop) * 512))]
        starts = starts[:: max(1, len(starts) // naive_windows)][:naive_windows]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _reference.clip_features(y[:WINDOW_SAMPLES])  # numba compilation out of the timing
            for r in range(rounds):
                for k in ("this", "other", "other", "this") if r % 2 else ("other", "this", "this", "other"):
                    p = procs[k]
                    assert p.stdin is not None and p.stdout is not None
                    p.stdin.write("go\n")
                    p.stdin.flush()
                    ms[k].append(float(p.stdout.readline()))
                t = time.process_time()
                for s in starts:
                    _reference.clip_features(y[s : s + WINDOW_SAMPLES])
                ms["librosa"].append((time.process_time() - t) / len(starts) * 1000)
        for p in procs.values():
            assert p.stdin is not None
            p.stdin.close()
            p.wait()
    med = {k: statistics.median(v) for k, v in ms.items()}
    pairs = [a / b for a, b in zip(ms["this"], ms["other"])]
    print(f"track: {name}, {rounds} rounds (each: 2 passes of each extractor, {len(starts)} librosa windows)")
    print(f"naive librosa recompute : {med['librosa']:8.2f} ms CPU per hop (median)")
    for k, label in (("other", f"other ({other})"), ("this", "this checkout")):
        print(
            f"{label}: {med[k]:.2f} ms CPU per hop (median; min {min(ms[k]):.2f}), ratio {med['librosa'] / med[k]:.1f}x"
        )
    print(
        f"this / other, pass by pass: median {statistics.median(pairs):.3f} "
        f"(min {min(pairs):.3f}, max {max(pairs):.3f})"
    )


def load_track(path: str | None) -> tuple[np.ndarray, str]:
    from gtzan.audio import load_audio

    if path is None:
        d = audio_dir()
        if d is not None:
            path = str(sorted(d.glob("*/*.flac"))[0])
    if path is not None:
        return load_audio(path)[: 30 * 22050], os.path.basename(path)
    from tests.wavgen import music_like

    return music_like(30.0), "synthetic music_like(30 s)"


def breakdown(y: np.ndarray, hop: float) -> None:
    """CPU per hop spent in each piece of the extractor (timers around the gtzan.features modules)."""
    from gtzan.features import frames as fr
    from gtzan.features import medians, recipe
    from gtzan.features import window as ft

    spent: dict[str, float] = {}

    def timed(mod, name: str) -> None:
        fn = getattr(mod, name)

        def wrapper(*a, **k):
            t = time.process_time()
            try:
                return fn(*a, **k)
            finally:
                spent[name] = spent.get(name, 0.0) + time.process_time() - t

        setattr(mod, name, wrapper)

    for name in ("time_median", "freq_median"):
        timed(medians, name)
    for name in ("_piptrack", "analyze", "ola_blocks", "inverse_frames", "harmonic_spectrum"):
        timed(fr, name)
    for name in ("tempo", "estimate_tuning", "chroma_frames", "mfcc_frames", "onset_envelope", "centred_frames"):
        timed(ft, name)
    timed(recipe, "assemble")
    ex = StreamingExtractor(hop_frames(hop))
    ex.push(y[:WINDOW_SAMPLES])
    spent.clear()
    t = time.process_time()
    n = len(ex.push(y[WINDOW_SAMPLES:]))
    total = time.process_time() - t
    nested = "analyze includes freq_median and _piptrack"
    print(f"breakdown, ms of CPU per hop (nested: {nested}), total {total / n * 1000:.2f}:")
    for name, sec in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {name:16s} {sec / n * 1000:6.2f}")


def paced(y: np.ndarray, hop: float, rounds: int, block: float | None = None) -> None:
    """The extractor's CPU per hop when hops arrive at the listener's pace (idle between them), against
    back to back, alternating: what a hop costs live, where the process sleeps between windows.

    ``block``: push blocks of this many seconds, as a capture device delivers them (the listener's are
    0.1 s), instead of a hop at a time; the CPU of a hop is then that of all blocks over the windows.
    """
    import statistics

    frames = hop_frames(hop)
    n = frames * HOP if block is None else round(block * SR)
    result: dict[str, list[float]] = {"back to back": [], "paced": []}
    for r in range(rounds):
        for mode in ("back to back", "paced") if r % 2 == 0 else ("paced", "back to back"):
            ex = StreamingExtractor(frames)
            ex.push(y[:WINDOW_SAMPLES])
            cpu, windows = [], 0
            for i in range(WINDOW_SAMPLES, len(y) - n + 1, n):
                if mode == "paced":
                    time.sleep(n / SR)
                t = time.process_time()
                windows += len(ex.push(y[i : i + n]))
                cpu.append(time.process_time() - t)
            per_hop = statistics.median(cpu) if block is None else sum(cpu) / windows
            result[mode].append(per_hop * 1000)
    for mode, ms in result.items():
        runs = ", ".join(f"{m:.2f}" for m in ms)
        print(f"{mode:13s}: median {statistics.median(ms):.2f} ms CPU per hop (runs {runs})")
    print(f"paced / back to back: {statistics.median(result['paced']) / statistics.median(result['back to back']):.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--track")
    ap.add_argument("--hop", type=float, default=0.5)
    ap.add_argument("--naive-windows", type=int, default=12, help="windows timed for the naive baseline")
    ap.add_argument("--breakdown", action="store_true", help="only time the pieces of the extractor")
    ap.add_argument("--default-malloc", action="store_true", help="leave glibc's malloc thresholds alone")
    ap.add_argument("--numpy-medians", action="store_true", help="the NumPy median filters, as without a C compiler")
    ap.add_argument("--numpy-only", action="store_true", help="no C kernel at all (medians, per-frame statistics)")
    ap.add_argument("--compare", metavar="ROOT", help="also time another checkout's extractor (its root), in turns")
    ap.add_argument("--rounds", type=int, default=10, help="--compare: rounds of A B B A passes; --paced: runs")
    ap.add_argument("--paced", action="store_true", help="hops at real-time pace (idle between) against back to back")
    ap.add_argument("--block", type=float, help="--paced: push blocks of this many seconds (capture blocks: 0.1)")
    args = ap.parse_args()
    if args.numpy_medians or args.numpy_only:
        kernels.median = None
    if args.numpy_only:
        kernels.spectral = None
    if not args.default_malloc:
        from gtzan.memory import keep_freed_blocks

        keep_freed_blocks()
    y, name = load_track(args.track)
    if args.breakdown:
        breakdown(y, args.hop)
        return
    if args.paced:
        paced(y, args.hop, args.rounds, args.block)
        return
    if args.compare:
        compare(y, name, args.hop, args.compare, args.rounds, args.naive_windows, not args.default_malloc)
        return

    ex = StreamingExtractor(hop_frames(args.hop))
    ex.push(y[:WINDOW_SAMPLES])  # first window: the whole 3 s is new work, not a hop
    t = time.process_time()
    wins = ex.push(y[WINDOW_SAMPLES:])
    inc = (time.process_time() - t) / len(wins)

    starts = [w.start_sample for w in wins][: args.naive_windows]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _reference.clip_features(y[:WINDOW_SAMPLES])  # numba compilation out of the timing
        t = time.process_time()
        for s in starts:
            _reference.clip_features(y[s : s + WINDOW_SAMPLES])
        naive = (time.process_time() - t) / len(starts)

    first = float(
        subprocess.run([sys.executable, "-c", FIRST_WINDOW], capture_output=True, text=True, check=True).stdout.strip()
    )
    print(f"track: {name}, hop {ex.hop_samples} samples ({ex.hop_samples / 22050:.4f} s), {len(wins)} hops")
    print(f"naive librosa recompute : {naive * 1000:8.2f} ms CPU per hop")
    print(f"incremental extractor   : {inc * 1000:8.2f} ms CPU per hop")
    print(f"ratio                   : {naive / inc:8.1f}x  (target >= 50x)")
    print(f"first window, new process: {first:.3f} s CPU including interpreter start and imports (target < 1 s)")


if __name__ == "__main__":
    main()
