"""How much should an augmented row count? XGBoost as a quick stand-in for the members.

  python benchmarks/bench_augment_weight.py [--weights 1,0.5,0.3,0.2,0.1,0] [--folds 3] [--rounds 250]

The shipped recipe's rows (the Kaggle table, our windows of the audio one a second, 4 randomly degraded
copies of every audio track, every row at one level), split into track-grouped folds as ``gtzan-export
--protocol track`` splits them. For each weight, XGBoost (the blend's heaviest member, at a fixed number
of rounds) is fitted on the other folds with every augmented row weighted so (0: left out), and the
out-of-fold window accuracy is reported per source: the table's windows (GTZAN tracks the models have
not heard), ours (what the listener computes) and the degraded copies (music that reaches the listener
changed). A full run of the recipe with the chosen weight is ``gtzan-export ... --augment-weight W``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--weights", default="1,0.5,0.3,0.2,0.1,0", help="comma-separated weights of an augmented row")
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--rounds", type=int, default=250, help="XGBoost boosting rounds (the shipped member: 221)")
    p.add_argument("--copies", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)

    from xgboost import XGBClassifier

    from gtzan.datadir import table_and_audio_dir
    from gtzan.gain import LEVEL_RMS
    from gtzan.training.orchestrate import RowSpec, load_rows
    from gtzan.training.splits import cv_folds

    data = table_and_audio_dir()
    if data is None:
        sys.exit("needs the GTZAN table and audio in ../shared/data/gtzan (or $GTZAN_DATA)")
    t0 = time.perf_counter()
    spec = RowSpec(
        features_csv=data / "features_3_sec.csv",
        audio_dir=data / "audio",
        hop=22050,
        augment=("degraded",),
        augment_copies=a.copies,
        level_rms=LEVEL_RMS,
    )
    rows = load_rows(spec, seed=a.seed)
    X, y, src = rows.table.X, rows.table.y, rows.sources
    augmented = rows.trainable & ~rows.tune
    counts = ", ".join(f"{s} {int(np.sum(src == s))}" for s in np.unique(src))
    print(f"rows: {counts} ({time.perf_counter() - t0:.0f} s)")
    folds, _ = cv_folds(rows.table, "track", n_folds=a.folds, seed=a.seed)
    sources = list(np.unique(src))
    print(f"| augmented row's weight | {' | '.join(sources)} |")
    print("|---" * (len(sources) + 1) + "|")
    for w in [float(v) for v in a.weights.split(",")]:
        pred = np.full(len(y), -1)
        for f in range(a.folds):
            train = (folds != f) & rows.trainable & (~augmented | (w > 0))
            model = XGBClassifier(
                n_estimators=a.rounds,
                learning_rate=0.05,
                max_depth=6,
                subsample=0.8,
                colsample_bytree=0.8,
                n_jobs=2,
                random_state=a.seed,
                tree_method="hist",
            )
            model.fit(X[train], y[train], sample_weight=np.where(augmented[train], w, 1.0))
            pred[folds == f] = model.predict(X[folds == f])
        accs = " | ".join(f"{100 * np.mean(pred[src == s] == y[src == s]):.2f}%" for s in sources)
        print(f"| {w:g} | {accs} |", flush=True)
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
