"""Time the exhaustive blend-weight search on realistic sizes.

Six members with correlated mistakes (about 80-92 % accurate), 10 genres, n rows (default 2000,
the size of a 20 % test part of the 10,000-row 3-second table). Usage:
    python benchmarks/bench_blend.py [--rows 2000] [--max 10]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from gtzan.blend import blend_predict, search_weights


def synthetic_members(n: int, m: int = 6, k: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    hard = rng.random(n) < 0.15  # rows that fool many members at once
    confusion = rng.integers(0, k, n)
    probs = np.empty((m, n, k))
    for i, acc in enumerate(np.linspace(0.80, 0.92, m)):
        logits = rng.normal(0, 1, (n, k))
        right = rng.random(n) < np.where(hard, acc - 0.4, acc)
        logits[np.arange(n), np.where(right, y, confusion)] += 3.0
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs[i] = e / e.sum(axis=1, keepdims=True)
    return probs, y


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--max", type=int, default=10, help="search [0, max]^6 in one pass")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    probs, y = synthetic_members(args.rows)
    print(f"members {[round(float((p.argmax(1) == y).mean()), 3) for p in probs]}")
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        w, acc, hist = search_weights(probs, y, start_max=args.max, stop_max=args.max)
        times.append(time.perf_counter() - t0)
    assert (blend_predict(probs, w) == y).mean() == acc
    n_vec = (args.max + 1) ** 6 - 1
    print(
        f"search [0,{args.max}]^6 = {n_vec:,} weight vectors, {args.rows} rows: "
        f"median {np.median(times):.2f} s (min {min(times):.2f} s) -> weights {w}, accuracy {acc:.4f}"
    )
    t0 = time.perf_counter()
    w2, acc2, hist2 = search_weights(probs, y, start_max=5, stop_max=args.max)
    print(
        f"report procedure [0,5] widened by 1 until stable: {time.perf_counter() - t0:.2f} s, "
        f"ranges {[h['max'] for h in hist2]} -> weights {w2}, accuracy {acc2:.4f}"
    )


if __name__ == "__main__":
    main()
