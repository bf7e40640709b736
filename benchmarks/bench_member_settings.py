"""Member settings measured one member at a time: XGBoost's boosting rounds and the Keras topology.

  python benchmarks/bench_member_settings.py xgb [--rounds 200,400,600,900] [--inner-part] [--xgb-param NAME=VALUE]
  python benchmarks/bench_member_settings.py keras [--hidden 512,256,128,64 --hidden report] [--seed 1]
  python benchmarks/bench_member_settings.py keras --networks 8 [--xgb-rounds 900]

The rows of the 5-fold ``track`` columns of README "Accuracy" (the Kaggle table and our windows of the
audio, one a second), in the same track-grouped folds. ``xgb``: XGBoost with the training's settings,
fitted on each fold's whole training part for the largest number of rounds and scored out of fold at
each number of rounds (``--inner-part``: on the part of it a fold's members are first trained on,
without the seventh of its tracks that stops them, as without the refit inside folds). ``keras``: one
network of each topology, trained as a fold's members are (a seventh of the training tracks stops it on
validation accuracy), scored out of fold; ``--networks N`` trains N of them per fold (seeds ``--seed``
onwards) and scores each and the mean of the first k, alone and (``--xgb-rounds R``) in equal parts with
XGBoost's probabilities, to see what more networks would add to the blend. Window accuracy on the table's
rows and on ours (``keras --networks``: also tracks, the highest mean probability of their windows).
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


def _accuracy(pred: np.ndarray, y: np.ndarray, src: np.ndarray) -> str:
    return " | ".join(f"{100 * np.mean(pred[src == s] == y[src == s]):.2f}%" for s in ("table", "ours"))


def _with_tracks(probs: np.ndarray, y: np.ndarray, src: np.ndarray, tracks: np.ndarray) -> str:
    """Windows (tracks) of the table's rows and of ours; a track's verdict as gtzan-listen gives it."""
    from gtzan.training.evaluate import track_means

    cells = []
    for s in ("table", "ours"):
        m = src == s
        _, tpred, first = track_means(tracks[m], probs[m])
        windows = np.mean(probs[m].argmax(1) == y[m])
        cells.append(f"{100 * windows:.2f}% ({100 * np.mean(tpred == y[m][first]):.1f}%)")
    return " | ".join(cells)


def _inner_part(pool: np.ndarray, groups: np.ndarray, fold: int) -> np.ndarray:
    """A fold's training rows without a seventh of its tracks (those stop the networks)."""
    names = np.unique(groups[pool])
    held = np.random.default_rng(fold).choice(names, len(names) // 7, replace=False)
    return ~np.isin(groups[pool], held)


def parse_xgb_params(items: list[str]) -> dict[str, float]:
    """``--xgb-param NAME=VALUE`` options as XGBClassifier keyword arguments (numbers)."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            sys.exit(f"--xgb-param wants NAME=VALUE, got {item!r}")
        out[name] = int(value) if value.isdigit() else float(value)
    return out


def _xgb_fold_probs(
    X: np.ndarray,
    y: np.ndarray,
    folds: np.ndarray,
    groups: np.ndarray,
    rounds: list[int],
    inner: bool = False,
    params: dict[str, float] | None = None,
) -> dict[int, np.ndarray]:
    """XGBoost's out-of-fold probabilities at each number of rounds, with the training's settings (and
    ``params``), fitted once per fold for the largest number on the fold's training part."""
    from xgboost import XGBClassifier

    from gtzan.training.members import XGB_SETTINGS

    probs = {r: np.zeros((len(y), 10)) for r in rounds}
    for f in range(int(folds.max()) + 1):
        train, test = np.flatnonzero(folds != f), folds == f
        if inner:
            train = train[_inner_part(train, groups, f)]
        model = XGBClassifier(
            n_estimators=max(rounds),
            **(XGB_SETTINGS | (params or {})),
            n_jobs=os.cpu_count(),
            random_state=0,
            tree_method="hist",
        ).fit(X[train], y[train])
        for r in rounds:
            probs[r][test] = model.predict_proba(X[test], iteration_range=(0, r))
    return probs


def xgb_rounds(
    X: np.ndarray,
    y: np.ndarray,
    src: np.ndarray,
    folds: np.ndarray,
    groups: np.ndarray,
    rounds: list[int],
    inner: bool,
    params: dict[str, float],
) -> None:
    from gtzan.training.members import XGB_SETTINGS

    probs = _xgb_fold_probs(X, y, folds, groups, rounds, inner, params)
    print(f"settings: {XGB_SETTINGS | params}")
    print("| XGBoost rounds | table | ours |\n|---|---|---|")
    for r in rounds:
        print(f"| {r} | {_accuracy(probs[r].argmax(1), y, src)} |", flush=True)


def _fold_networks(
    X: np.ndarray, y: np.ndarray, folds: np.ndarray, groups: np.ndarray, widths: tuple, seeds: list[int]
) -> tuple[np.ndarray, list[list[int]]]:
    """Out-of-fold probabilities (networks, rows, genres) of one network per seed, trained as a fold's
    members are; and the epochs each kept, per fold."""
    from gtzan.training.keras_net import train_keras
    from gtzan.training.members import SETTINGS
    from gtzan.training.scaling import LogVarianceScaler

    cfg = SETTINGS["full"]
    probs, epochs = np.zeros((len(seeds), len(y), 10)), []
    for f in range(int(folds.max()) + 1):
        pool, test = np.flatnonzero(folds != f), folds == f
        part = _inner_part(pool, groups, f)
        tr, va = pool[part], pool[~part]
        scaler = LogVarianceScaler().fit(X[tr])
        kept = []
        for i, seed in enumerate(seeds):
            model, hist = train_keras(
                scaler.transform(X[tr]),
                y[tr],
                scaler.transform(X[va]),
                y[va],
                seed=seed,
                epochs=cfg["keras_epochs"],
                batch_size=cfg["keras_batch"],
                patience=cfg["keras_patience"],
                dropout=cfg["keras_dropout"],
                learning_rate=cfg["keras_lr"],
                hidden=widths,
            )
            probs[i, test] = model.predict(scaler.transform(X[test]), verbose=0)
            kept.append(int(np.argmax(hist["val_accuracy"])) + 1)
        epochs.append(kept)
    return probs, epochs


def keras_networks(
    X: np.ndarray,
    y: np.ndarray,
    src: np.ndarray,
    tracks: np.ndarray,
    folds: np.ndarray,
    groups: np.ndarray,
    widths: tuple,
    seeds: list[int],
    xgb_rounds: int | None,
) -> None:
    """Each network, the mean of the first k, and (with XGBoost) equal parts of both."""
    probs, epochs = _fold_networks(X, y, folds, groups, widths, seeds)
    print("| networks | table windows (tracks) | ours (tracks) |\n|---|---|---|")
    for i, seed in enumerate(seeds):
        print(f"| seed {seed} alone | {_with_tracks(probs[i], y, src, tracks)} |")
    for k in range(2, len(seeds) + 1):
        print(f"| mean of the first {k} | {_with_tracks(probs[:k].mean(0), y, src, tracks)} |")
    if xgb_rounds:
        px = _xgb_fold_probs(X, y, folds, groups, [xgb_rounds])[xgb_rounds]
        print(f"| XGBoost, {xgb_rounds} rounds | {_with_tracks(px, y, src, tracks)} |")
        for k in sorted({1, min(3, len(seeds)), len(seeds)}):
            mixed = 0.5 * probs[:k].mean(0) + 0.5 * px
            print(f"| half the mean of {k}, half XGBoost | {_with_tracks(mixed, y, src, tracks)} |")
    print(f"epochs kept per fold: {epochs}", flush=True)


def keras_topologies(
    X: np.ndarray, y: np.ndarray, src: np.ndarray, folds: np.ndarray, groups: np.ndarray, hidden: list, seed: int
) -> None:
    print("| hidden layers | table | ours | epochs kept per fold |\n|---|---|---|---|")
    for widths in hidden:
        probs, epochs = _fold_networks(X, y, folds, groups, widths, [seed])
        name = ",".join(map(str, widths))
        print(f"| {name} | {_accuracy(probs[0].argmax(1), y, src)} | {[e[0] for e in epochs]} |", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("member", choices=("xgb", "keras"))
    p.add_argument("--rounds", default="200,400,600,900", help="xgb: comma-separated numbers of rounds")
    p.add_argument("--inner-part", action="store_true", help="xgb: train on a fold's inner part only")
    p.add_argument("--xgb-param", action="append", default=[], metavar="NAME=VALUE", help="xgb: a setting to change")
    p.add_argument("--hidden", action="append", help="keras: widths such as 512,256,128,64, or 'report'")
    p.add_argument("--seed", type=int, default=1, help="keras: the network's seed")
    p.add_argument("--networks", type=int, default=1, help="keras: networks per fold (seeds --seed onwards)")
    p.add_argument("--xgb-rounds", type=int, help="keras --networks: also mix with XGBoost at these rounds")
    p.add_argument("--folds", type=int, default=5)
    a = p.parse_args(argv)

    from gtzan.datadir import table_and_audio_dir
    from gtzan.training.keras_net import HIDDEN, REPORT_HIDDEN, parse_hidden
    from gtzan.training.orchestrate import RowSpec, load_rows
    from gtzan.training.splits import cv_folds

    data = table_and_audio_dir()
    if data is None:
        sys.exit("needs the GTZAN table and audio in ../shared/data/gtzan (or $GTZAN_DATA)")
    t0 = time.perf_counter()
    rows = load_rows(RowSpec(features_csv=data / "features_3_sec.csv", audio_dir=data / "audio", hop=22050))
    folds, groups = cv_folds(rows.table, "track", n_folds=a.folds, seed=0)
    X, y, src = rows.table.X, rows.table.y, rows.sources
    if a.member == "xgb":
        rounds = [int(r) for r in a.rounds.split(",")]
        xgb_rounds(X, y, src, folds, groups, rounds, a.inner_part, parse_xgb_params(a.xgb_param))
    elif a.networks > 1:
        widths = parse_hidden(a.hidden[0]) if a.hidden else HIDDEN
        seeds = list(range(a.seed, a.seed + a.networks))
        keras_networks(X, y, src, rows.table.tracks, folds, groups, widths, seeds, a.xgb_rounds)
    else:
        hidden = [parse_hidden(h) for h in a.hidden] if a.hidden else [HIDDEN, REPORT_HIDDEN]
        keras_topologies(X, y, src, folds, groups, hidden, a.seed)
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
