"""Time ``gtzan-export`` end to end (cold and warm feature cache), bundle loading and the blend search.

    python benchmarks/bench_export.py                 # quick export, cold + warm cache, load, search
    python benchmarks/bench_export.py --full          # the full (not quick) export instead
    python benchmarks/bench_export.py --skip-export   # only bundle load + blend search

Cold means a fresh, empty feature cache (GTZAN_CACHE points to a new temporary folder); warm reruns
the same command on that cache. Each export runs in a subprocess, as a user would run it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _export(out: Path, cache: Path, quick: bool, jobs: int | None, extra: list[str]) -> tuple[float, str]:
    env = dict(os.environ, GTZAN_CACHE=str(cache), OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="3")
    cmd = [sys.executable, "-m", "gtzan.export.cli", "--out", str(out), *(["--quick"] if quick else []), *extra]
    if jobs:
        cmd += ["--jobs", str(jobs)]
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"export failed ({r.returncode}): {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ''}")
    stages = [ln.split()[1:3] for ln in r.stderr.splitlines() if ln.startswith("done ")]
    return dt, ", ".join(f"{name} {sec} s" for name, sec in stages)


def bench_export(quick: bool, jobs: int | None, extra: list[str]) -> Path:
    work = Path(tempfile.mkdtemp(prefix="bench-export-"))
    cache = work / "cache"
    out = work / "bundle"
    mode = "quick" if quick else "full"
    cold, stages = _export(out, cache, quick, jobs, extra)
    print(f"gtzan-export {mode}, cold feature cache: {cold:7.1f} s  ({stages})")
    warm, stages = _export(out, cache, quick, jobs, extra)
    print(f"gtzan-export {mode}, warm feature cache: {warm:7.1f} s  ({stages})")
    man = json.loads((out / "manifest.json").read_text())
    total = 0
    for f, _ in sorted(man["files"].items()):
        size = (out / f).stat().st_size
        total += size
        if f.endswith(".onnx"):
            print(f"  {f:<18} {size / 2**20:7.2f} MB")
    data = man["data"]
    print(f"  total bundle      {total / 2**20:7.2f} MB ({data['n_rows']} rows, {data['n_tracks']} tracks)")
    return out


def bench_load(path: Path | None, repeats: int = 5) -> None:
    code = (
        "import time; t=time.perf_counter(); from gtzan.bundle import load_bundle; import numpy as np; "
        f"b=load_bundle({str(path) if path else None!r}); t1=time.perf_counter(); "
        "b.predict(np.zeros((1,58))); t2=time.perf_counter(); "
        "print(t1-t, t2-t1)"
    )
    loads, firsts = [], []
    for _ in range(repeats):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        a, b = map(float, r.stdout.split())
        loads.append(a)
        firsts.append(b)
    from gtzan.bundle import load_bundle

    bundle = load_bundle(path)
    x = np.random.default_rng(0).normal(size=(1, 58))
    bundle.predict(x)
    ts = []
    for _ in range(300):
        t = time.perf_counter()
        bundle.predict(x)
        ts.append(time.perf_counter() - t)
    print(
        f"bundle {bundle.path}: import+load median {np.median(loads) * 1e3:.0f} ms (of {repeats} processes), "
        f"first predict {np.median(firsts) * 1e3:.1f} ms, predict one row median {np.median(ts) * 1e3:.2f} ms"
    )


def bench_search(n_rows: int = 180, members: int = 6, seed: int = 0) -> None:
    from gtzan.blend import search_weights

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n_rows)
    probs = rng.dirichlet(np.ones(10) * 0.3, size=(members, n_rows))
    hard = rng.random(n_rows) < 0.25  # rows most members get wrong, as with real data
    for i in range(members):  # members right on about 65-80 % of the rows, errors correlated
        right = rng.random(n_rows) < np.where(hard, 0.3, 0.8 + 0.02 * i)
        probs[i, right, y[right]] += 2.0
        probs[i] /= probs[i].sum(axis=1, keepdims=True)
    t = time.perf_counter()
    w, acc, hist = search_weights(probs, y, start_max=5)
    dt = time.perf_counter() - t
    ranges = ", ".join(f"[0,{h['max']}]^{members}: {h['evaluated']} in {h['seconds']:.2f} s" for h in hist)
    print(f"blend search, {members} members x {n_rows} rows: {dt:.2f} s total ({ranges}); weights {w}, acc {acc:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="time the full export instead of --quick")
    ap.add_argument("--skip-export", action="store_true")
    ap.add_argument("--jobs", type=int, default=None, help="feature extraction processes (default: all cores)")
    ap.add_argument("--bundle", type=Path, default=None, help="bundle to time loading (default: the shipped one)")
    ap.add_argument("extra", nargs="*", help="extra gtzan-export arguments (after --)")
    args = ap.parse_args()
    out = None
    if not args.skip_export:
        out = bench_export(not args.full, args.jobs, args.extra)
    bench_load(args.bundle)
    if out is not None:
        bench_load(out)
        shutil.rmtree(out.parent, ignore_errors=True)
    bench_search()
    bench_search(n_rows=1800)


if __name__ == "__main__":
    main()
