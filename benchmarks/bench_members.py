"""What each member of a bundle costs per call: one window (live) and 64 windows (--fast's batches).

  python benchmarks/bench_members.py [BUNDLE ...]      # default: the shipped bundle

CPU time of ``predict_proba`` per call, median of 5 rounds of 200 calls (one row) or 50 calls (64 rows),
then the whole blend (``Bundle.predict``). Several bundles are timed in turns, so that their figures
compare.
"""

from __future__ import annotations

import argparse
import statistics
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("bundles", nargs="*", type=Path)
    a = p.parse_args(argv)

    from gtzan.bundle import load_bundle

    bundles = [load_bundle(b) for b in a.bundles] if a.bundles else [load_bundle()]
    rng = np.random.default_rng(0)
    x = bundles[0].levelled(np.abs(rng.normal(size=(64, 58))) * 0.1)
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
