"""Per-hop cost of the incremental extractor against recomputing every window with librosa.

    python benchmarks/bench_stream.py [--track PATH] [--hop 0.5] [--breakdown] [--numpy-medians]

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

import numpy as np  # noqa: E402

from gtzan.constants import WINDOW_SAMPLES, hop_frames  # noqa: E402
from gtzan.datadir import audio_dir  # noqa: E402
from gtzan.features.stream import StreamingExtractor  # noqa: E402
from tests import librosa_reference as _reference  # noqa: E402

FIRST_WINDOW = """
import resource, numpy as np
from gtzan.features.stream import StreamingExtractor
y = (np.random.default_rng(0).standard_normal(66149) * 0.1).astype(np.float32)
w = StreamingExtractor().push(y)
assert len(w) == 1
r = resource.getrusage(resource.RUSAGE_SELF)
print(r.ru_utime + r.ru_stime)
"""


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
    for name in ("_piptrack", "analyze", "ola_blocks", "masked_frames"):
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
    print(f"breakdown, ms of CPU per hop (nested: analyze includes freq_median and _piptrack), total {total / n * 1000:.2f}:")
    for name, sec in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {name:16s} {sec / n * 1000:6.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--track")
    ap.add_argument("--hop", type=float, default=0.5)
    ap.add_argument("--naive-windows", type=int, default=12, help="windows timed for the naive baseline")
    ap.add_argument("--breakdown", action="store_true", help="only time the pieces of the extractor")
    ap.add_argument("--default-malloc", action="store_true", help="leave glibc's malloc thresholds alone")
    ap.add_argument("--numpy-medians", action="store_true", help="the NumPy median filters, as without a C compiler")
    args = ap.parse_args()
    if args.numpy_medians:
        from gtzan.features import medians

        medians._kernel = None
    if not args.default_malloc:
        from gtzan.memory import keep_freed_blocks

        keep_freed_blocks()
    y, name = load_track(args.track)
    if args.breakdown:
        breakdown(y, args.hop)
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

    first = float(subprocess.run([sys.executable, "-c", FIRST_WINDOW], capture_output=True, text=True,
                                 check=True).stdout.strip())
    print(f"track: {name}, hop {ex.hop_samples} samples ({ex.hop_samples / 22050:.4f} s), {len(wins)} hops")
    print(f"naive librosa recompute : {naive * 1000:8.2f} ms CPU per hop")
    print(f"incremental extractor   : {inc * 1000:8.2f} ms CPU per hop")
    print(f"ratio                   : {naive / inc:8.1f}x  (target >= 20x)")
    print(f"first window, new process: {first:.3f} s CPU including interpreter start and imports (target < 1 s)")


if __name__ == "__main__":
    main()
