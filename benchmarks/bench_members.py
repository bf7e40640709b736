"""What each member of a bundle costs per call: one window (live) and 64 windows (--fast's batches).

  python benchmarks/bench_members.py [BUNDLE ...]          # default: the shipped bundle
  python benchmarks/bench_members.py --build [BUNDLE ...]  # what building each member's session costs
  python benchmarks/bench_members.py --paced 0.5 [BUNDLE ...]  # one window at the listener's pace

CPU time of ``predict_proba`` per call, median of 5 rounds of 200 calls (one row) or 50 calls (64 rows),
then the whole blend (``Bundle.predict``). Several bundles are timed in turns, so that their figures
compare.

``--build``: each member's onnxruntime session built alone in a fresh process, as gtzan.bundle builds
it (its session options, its free pages given back after): the CPU time of the build, the peak resident
memory it adds (VmHWM) and what it keeps (VmRSS after); medians of ``--rounds`` processes, the bundles
taken in turns.

``--paced SECONDS``: the members called one row at a time, as the listener calls them on a window, with
the process idle for SECONDS between windows (the hop): what a window's members cost live, where caches
cool down between windows. Median CPU milliseconds of each member's call over ``--windows`` windows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def per_call_ms(fn, calls: int, rounds: int = 5) -> float:
    fn()
    times = []
    for _ in range(rounds):
        t = time.process_time()
        for _ in range(calls):
            fn()
        times.append((time.process_time() - t) / calls * 1e3)
    return statistics.median(times)


BUILD_CODE = """
import json, sys, time
import onnxruntime as ort
from gtzan.bundle import session_options
from gtzan.memory import keep_freed_blocks, release_free_memory

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
keep_freed_blocks()  # as gtzan-listen runs
so = session_options()
before = status("VmRSS:")
t = time.process_time()
sess = ort.InferenceSession(sys.argv[1], sess_options=so, providers=["CPUExecutionProvider"])
cpu = time.process_time() - t
release_free_memory()
print(json.dumps({"build_ms": cpu * 1e3, "peak_mb": status("VmHWM:") - before, "kept_mb": status("VmRSS:") - before}))
"""


def build_costs(paths: list[Path], rounds: int) -> None:
    """Each member's session build, alone in a new process, the bundles' members in turns."""
    from gtzan.manifest import read_manifest

    members = [(b, m) for b in paths for m in read_manifest(b).members if m.weight > 0]
    runs: dict[tuple[str, str], list[dict]] = {(str(b), m.name): [] for b, m in members}
    for _ in range(rounds):
        for b, m in members:
            out = subprocess.run(
                [sys.executable, "-c", BUILD_CODE, str(b / m.file)], capture_output=True, text=True, check=True
            )
            runs[(str(b), m.name)].append(json.loads(out.stdout))
    print("| bundle | member | file MB | build CPU ms | peak added MB | kept MB |\n|---|---|---|---|---|---|")
    for b, m in members:
        r = runs[(str(b), m.name)]
        med = {k: statistics.median(x[k] for x in r) for k in ("build_ms", "peak_mb", "kept_mb")}
        size = (b / m.file).stat().st_size / 1e6
        print(
            f"| {b} | {m.name} | {size:.2f} | {med['build_ms']:.0f} | {med['peak_mb']:.0f} | {med['kept_mb']:.0f} |",
            flush=True,
        )


def paced_costs(bundle, x: np.ndarray, pause: float, windows: int) -> None:
    """Each member's call on one row, the members in the blend's order, idle ``pause`` s between windows."""
    names = [m.name for m in bundle.members]
    cpu: dict[str, list[float]] = {n: [] for n in [*names, "all members"]}
    for i in range(windows + 3):  # the first calls build onnxruntime's caches: not counted
        row = x[i % len(x) : i % len(x) + 1]
        start = time.process_time()
        for m in bundle.members:
            t = time.process_time()
            m.predict_proba(row)
            if i >= 3:
                cpu[m.name].append((time.process_time() - t) * 1e3)
        if i >= 3:
            cpu["all members"].append((time.process_time() - start) * 1e3)
        time.sleep(pause)
    print(f"| {bundle.path}, one row every {pause} s | " + " | ".join(cpu) + " |")
    print("|---" * (len(cpu) + 1) + "|")
    print("| median CPU ms | " + " | ".join(f"{statistics.median(v):.3f}" for v in cpu.values()) + " |", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("bundles", nargs="*", type=Path)
    p.add_argument("--build", action="store_true", help="time and measure building each member's session")
    p.add_argument("--rounds", type=int, default=5, help="processes per member with --build")
    p.add_argument("--paced", type=float, metavar="SECONDS", help="one row per window, idle SECONDS between")
    p.add_argument("--windows", type=int, default=60, help="windows timed with --paced")
    a = p.parse_args(argv)

    if a.build:
        from gtzan.bundle import default_bundle_dir

        build_costs(a.bundles or [default_bundle_dir()], a.rounds)
        return 0

    from gtzan.bundle import load_bundle

    bundles = [load_bundle(b) for b in a.bundles] if a.bundles else [load_bundle()]
    rng = np.random.default_rng(0)
    x = bundles[0].levelled(np.abs(rng.normal(size=(64, 58))) * 0.1)
    if a.paced is not None:
        for b in bundles:
            paced_costs(b, x, a.paced, a.windows)
        return 0
    print("| bundle | member | ms per call, 1 row | ms per call, 64 rows |\n|---|---|---|---|")
    for b in bundles:
        for m in b.members:
            one = per_call_ms(lambda m=m: m.predict_proba(x[:1]), 200)
            many = per_call_ms(lambda m=m: m.predict_proba(x), 50)
            print(f"| {b.path} | {m.name} (weight {m.weight}) | {one:.3f} | {many:.3f} |", flush=True)
        one = per_call_ms(lambda b=b: b.predict(x[:1]), 200)
        many = per_call_ms(lambda b=b: b.predict(x), 50)
        print(f"| {b.path} | the blend (`Bundle.predict`) | {one:.3f} | {many:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
