"""Benchmarks of gtzan-listen, the product: file throughput and live behaviour on a real capture device.

  python benchmarks/bench_daemon.py [--track FILE] [--repeat 3] [--live-seconds 30] [--skip-live]
                                    [--long-minutes 20] [--capture]

1. ``--file TRACK --fast --json`` at hop 0.5 s: times real time, end to end (imports, model loading,
   decoding, features, every member, the blend, JSON output), measured inside a fresh interpreter
   from its first statement to the exit of the command, so interpreter start-up is excluded. The
   package is byte-compiled first, as an installed copy is. Beside it, the machine's speed at the
   time: the extractor's CPU per hop on the same track, before and after the runs.
2. Live, ``gtzan-listen --json --duration S`` capturing from the virtual microphone (tests/vmic.py)
   while the track is fed at real-time pace: average CPU (% of one core) between the first and the
   last verdict, latency from the arrival of a window's last sample to its line being written
   (p50/p99; and the first window's own latency, features and inference, ``first_window_ms``), launch
   to first verdict (as measured, and less the virtual microphone's own lag in starting to play, which
   a real microphone does not have), and peak RSS (VmHWM).
3. ``--capture``: the capture alone, in turns with the live runs (``--repeat`` pairs): the listener's
   microphone source (gtzan.daemon.mic.MicSource: the same device, format, block size and resampling)
   read for as long, with nothing done to the blocks: the CPU under every live run, whatever the
   features and the models cost; and beside it, a bare PortAudio stream on the same device (sounddevice
   alone, 0.1 s blocks, a callback that only counts them): what the audio stack costs by itself.

The track defaults to the first GTZAN rock track (30 s); without the data, a synthetic 30 s clip.
What is timed is the gtzan installed in the interpreter that runs this script, editable or not (the
listener runs from a temporary folder, where the checkout's ``gtzan/`` cannot shadow an install).
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
from typing import TYPE_CHECKING

# the in-process machine reference (the extractor alone) runs as gtzan-listen does, with one BLAS thread;
# OpenBLAS's default threads doubled its CPU per hop (8.3 against 4.0 ms, measured)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
try:  # the installed package, editable or not, before the checkout's gtzan/ folder can shadow it
    import gtzan  # noqa: F401
except ImportError:  # not installed: the checkout's own (the feature code runs; the listener needs an install)
    pass
sys.path.insert(0, str(ROOT))  # tests/ holds the virtual microphone and the synthetic music
CLI = [sys.executable, "-m", "gtzan.daemon.cli"]  # run from a temporary folder: the checkout would shadow it
TICK = os.sysconf("SC_CLK_TCK")

if TYPE_CHECKING:
    from tests.vmic import VirtualMic


def default_track(tmp: Path) -> Path:
    from gtzan.datadir import audio_dir

    d = audio_dir()
    if d is not None and sorted((d / "rock").glob("rock.*")):
        return sorted((d / "rock").glob("rock.*"))[0]
    from tests import wavgen

    return wavgen.write(tmp / "synthetic30.wav", wavgen.music_like(30.0), subtype="PCM_16")


def long_clip(tmp: Path, minutes: float) -> Path:
    """A synthetic clip of the given length (30 s of tests.wavgen music, repeated), as 16-bit WAV."""
    from tests import wavgen

    y = wavgen.music_like(30.0)
    y = np.tile(y, int(np.ceil(minutes * 60 / 30.0)))[: int(minutes * 60 * 22050)]
    return wavgen.write(tmp / "long.wav", y, subtype="PCM_16")


def as_wav16(track: Path, tmp: Path) -> Path:
    """The track as 16-bit mono 22,050 Hz WAV, what the virtual microphone plays."""
    import soundfile as sf

    from gtzan.audio import load_audio

    y = load_audio(track)
    out = tmp / "feed.wav"
    sf.write(str(out), y, 22050, subtype="PCM_16")
    return out


FAST_CODE = """
import time, sys, os, resource
t0 = time.perf_counter()
from gtzan.daemon.cli import cli
try:
    cli(["--file", sys.argv[1], "--fast", "--json", "--hop", "0.5"], prog_name="gtzan-listen")
except SystemExit as e:
    code = e.code
t1 = time.perf_counter()
rss = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
print(f"BENCH {t1 - t0:.6f} {rss} {code}", file=sys.stderr)
"""


CAPTURE_CODE = """
import os, sys, time
from gtzan.daemon.mic import MicSource
from gtzan.daemon.run import StopFlag

want = int(float(sys.argv[1]) * 22050)
got, first = 0, None
with MicSource() as source:
    source.start()
    for y, _arrival in source.blocks(StopFlag()):
        if first is None:
            first = (time.monotonic(), os.times())
        got += len(y)
        if got >= want:
            break
    last = (time.monotonic(), os.times())
    source.close()
cpu = sum(last[1][:2]) - sum(first[1][:2])
print(f"CAPTURE {100 * cpu / (last[0] - first[0]):.3f} {source.overflows} {source.dropped}", flush=True)
"""


# the same device through sounddevice alone: its default rate, 0.1 s blocks, a callback that only counts
BARE_CAPTURE_CODE = """
import os, sys, threading, time
import sounddevice as sd

want = int(float(sys.argv[1]) * 10)
rate = int(sd.query_devices(kind="input")["default_samplerate"])
marks, done = [], threading.Event()

def callback(indata, frames, time_info, status):
    marks.append((time.monotonic(), os.times()))
    if len(marks) > want:
        done.set()

with sd.RawInputStream(samplerate=rate, channels=1, dtype="float32", blocksize=rate // 10, callback=callback):
    done.wait(want / 10 + 30)
(t0, c0), (t1, c1) = marks[0], marks[-1]
print(f"CAPTURE {100 * (sum(c1[:2]) - sum(c0[:2])) / (t1 - t0):.3f} 0 0", flush=True)
"""


def _capturing(mic: VirtualMic, cmd: list[str], cwd: Path) -> subprocess.Popen:
    """``cmd`` started on the virtual microphone (its output piped, as text), once its capture stream is
    connected."""
    p = subprocess.Popen(cmd, cwd=cwd, env=mic.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert mic.wait_for_capture(p, timeout=60), p.communicate()
    return p


def bench_capture(track: Path, tmp: Path, seconds: float, bare: bool = False) -> dict:
    """The capture alone on the virtual microphone: CPU (% of one core) from its first block to its last.
    ``bare``: the device through sounddevice alone, which is what the audio stack costs by itself."""
    from tests.vmic import VirtualMic

    reason = VirtualMic.unavailable()
    if reason:
        return {"skipped": reason}
    wav = as_wav16(track, tmp)
    with VirtualMic() as mic:
        p = _capturing(mic, [sys.executable, "-c", BARE_CAPTURE_CODE if bare else CAPTURE_CODE, str(seconds)], tmp)
        mic.feed(wav)
        out, err = p.communicate(timeout=seconds + 60)
    line = [ln for ln in out.splitlines() if ln.startswith("CAPTURE ")]
    assert p.returncode == 0 and line, err
    pct, overflows, dropped = line[0].split()[1:]
    return {
        "audio_s": seconds,
        "cpu_pct_one_core": round(float(pct), 2),
        "overflows": int(overflows),
        "dropped": int(dropped),
    }


def byte_compile() -> None:
    """Write the package's bytecode, as pip does when it installs a wheel. An editable install run with
    PYTHONDONTWRITEBYTECODE=1 (set on some machines) would otherwise compile every module from source
    at every start, about 25 ms that no installed copy pays."""
    import compileall
    import importlib.util

    for name in ("gtzan", "gtzan.daemon", "gtzan.export", "gtzan.training"):
        for folder in importlib.util.find_spec(name).submodule_search_locations:
            compileall.compile_dir(folder, quiet=1, maxlevels=0)


def reference_ms_per_hop(track: Path) -> float:
    """This machine's speed now: CPU per hop of the extractor alone on the track, in this process (best
    of 3). The --fast wall time scales with it, so runs at different times can be compared."""
    from gtzan.audio import load_audio
    from gtzan.features.stream import StreamingExtractor
    from gtzan.memory import keep_freed_blocks

    keep_freed_blocks()
    y = load_audio(track)
    StreamingExtractor().push(y[: 4 * 22050])
    best = float("inf")
    for _ in range(3):
        t = time.process_time()
        n = len(StreamingExtractor().push(y))
        best = min(best, (time.process_time() - t) / n)
    return round(best * 1000, 2)


def bench_fast(track: Path, repeat: int, cwd: Path) -> dict:
    import soundfile as sf

    seconds = sf.info(str(track)).duration
    runs = []
    for _ in range(repeat):
        r = subprocess.run(
            [sys.executable, "-c", FAST_CODE, str(track)], capture_output=True, text=True, timeout=600, cwd=cwd
        )
        line = [s for s in r.stderr.splitlines() if s.startswith("BENCH ")][-1].split()
        wall, rss_kb, code = float(line[1]), int(line[2]), line[3]
        assert code == "0", r.stderr
        windows = sum(1 for s in r.stdout.splitlines() if '"window"' in s)
        runs.append((wall, rss_kb, windows))
    walls = [w for w, _, _ in runs]
    med = statistics.median(walls)
    return {
        "audio_s": round(seconds, 2),
        "windows": runs[0][2],
        "wall_s_runs": [round(w, 3) for w in walls],
        "wall_s_median": round(med, 3),
        "x_realtime": round(seconds / med, 1),
        "peak_rss_mb": round(max(r for _, r, _ in runs) / 1024, 1),
    }


def _cpu_seconds(pid: int) -> float:
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK  # utime + stime


def _hwm_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench_live(track: Path, tmp: Path, seconds: float, extra: tuple[str, ...] = ()) -> dict:
    from tests.vmic import VirtualMic

    reason = VirtualMic.unavailable()
    if reason:
        return {"skipped": reason}
    wav = as_wav16(track, tmp)
    with VirtualMic() as mic:
        t_launch = time.monotonic()
        p = _capturing(mic, [*CLI, "--json", "--hop", "0.5", "--duration", str(seconds), *extra], tmp)
        t_connected = time.monotonic()
        mic.feed(wav)
        t_fed = mic.feed_started()
        windows, t_first, cpu_first, cpu_last, t_last, hwm = [], None, None, None, None, 0.0
        for line in p.stdout:
            now = time.monotonic()
            obj = json.loads(line)
            if "summary" in obj:
                summary = obj["summary"]
                break
            windows.append(obj)
            try:
                cpu, hwm = _cpu_seconds(p.pid), max(hwm, _hwm_mb(p.pid))
            except OSError:
                continue
            if t_first is None:
                t_first, cpu_first = now, cpu
            t_last, cpu_last = now, cpu
        err = p.stderr.read()
        code = p.wait(30)
    assert code == 0, err
    lat = np.array([w["timings"]["latency_ms"] for w in windows])
    feat = np.array([w["timings"]["features_ms"] for w in windows])
    inf = np.array([w["timings"]["inference_ms"] for w in windows])
    return {
        "audio_s": seconds,
        "windows": len(windows),
        "cpu_pct_one_core": round(100 * (cpu_last - cpu_first) / (t_last - t_first), 2),
        "latency_ms_p50": round(float(np.percentile(lat, 50)), 1),
        "latency_ms_p99": round(float(np.percentile(lat, 99)), 1),
        "latency_ms_max": round(float(lat.max()), 1),
        # the first window's own share of the first verdict's time
        "first_window_ms": {
            "latency": round(float(lat[0]), 1),
            "features": round(float(feat[0]), 1),
            "inference": round(float(inf[0]), 2),
        },
        "features_ms_median": round(float(np.median(feat)), 1),
        "inference_ms_median": round(float(np.median(inf)), 2),
        "launch_to_capture_s": round(t_connected - t_launch, 3),
        "launch_to_first_verdict_s": round(t_first - t_launch, 3),
        # a real microphone delivers from the moment the stream opens; the virtual one only once its
        # feeder process has started after the connection: that start-up lag is not the program's
        "feeder_lag_s": round(t_fed - t_connected, 3),
        "launch_to_first_verdict_real_mic_s": round(t_first - t_launch - (t_fed - t_connected), 3),
        "peak_rss_mb": round(hwm, 1),
        "overflows": summary["overflows"],
        "dropped": summary["dropped"],
        "verdict": summary["verdict"],
        "input": {k: summary["source"].get(k) for k in ("samplerate", "channels", "resampled")},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--track", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--live-seconds", type=float, default=30.0)
    ap.add_argument("--skip-live", action="store_true")
    ap.add_argument("--capture", action="store_true", help="also the capture alone, in turns with --repeat live runs")
    ap.add_argument("--skip-fast", action="store_true", help="only the live part (no --fast runs, no reference)")
    ap.add_argument(
        "--live-args",
        default="",
        help="extra gtzan-listen options for the live runs, e.g. '--block-frames 1102' (A/B of a setting)",
    )
    ap.add_argument(
        "--long-minutes",
        type=float,
        default=0,
        help="also time --fast on a synthetic clip this long (peak memory of a long file)",
    )
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        track = a.track.resolve() if a.track else default_track(tmp)
        print(f"track: {track}")
        byte_compile()
        if not a.skip_fast:
            before = reference_ms_per_hop(track)
            fast = bench_fast(track, a.repeat, tmp)
            fast["reference_ms_per_hop"] = [before, reference_ms_per_hop(track)]  # before and after
            print("file --fast (target >= 100x real time):", json.dumps(fast))
        if a.long_minutes > 0:
            long = bench_fast(long_clip(tmp, a.long_minutes), 1, tmp)
            print(f"file --fast, {a.long_minutes:g}-minute synthetic clip (RSS < 300 MB):", json.dumps(long))
        if not a.skip_live:
            import soundfile as sf

            seconds = min(a.live_seconds, sf.info(str(track)).duration)
            targets = "targets: CPU < 5%, p99 < 50 ms, first verdict < 3.5 s, RSS < 300 MB"
            for _ in range(a.repeat if a.capture else 1):
                if a.capture:
                    bare = bench_capture(track, tmp, seconds, bare=True)
                    print("a bare PortAudio stream, on the virtual microphone:", json.dumps(bare))
                    capture = bench_capture(track, tmp, seconds)
                    print("the capture alone, on the virtual microphone:", json.dumps(capture))
                live = bench_live(track, tmp, seconds, tuple(a.live_args.split()))
                print(f"live on the virtual microphone ({targets}):", json.dumps(live))


if __name__ == "__main__":
    main()
