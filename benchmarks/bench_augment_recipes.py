"""Which training augmentation makes the models robust: the recipes side by side on held-out audio.

  python benchmarks/bench_augment_recipes.py [--recipes base,gain,degraded,gain+degraded,level+severe] [--fold 0]
                                             [--copies 4] [--jobs 2] [--out out/augment-recipes]

One fold of the 5-fold track-grouped split (the one ``gtzan-export --hold-out-fold`` leaves out) is held
out: its audio tracks are degraded under every named condition of :mod:`gtzan.degrade` (the benchmark's
own seeds) and featured with the listener's feature code, one window a second. For each recipe the
blend's members are fitted on the other folds' rows (the Kaggle table and our windows of the audio, one
a second) plus the recipe's augmented rows (:func:`gtzan.training.dataset.add_augmented_rows`), at the
shipped bundle's training lengths, and blended with its rule and weights. A recipe naming ``level`` feeds
the members every window at one level (:func:`gtzan.gain.at_level`), in training and in the test.
Reported per recipe and condition: window accuracy and tracks right (majority of windows). This is an
in-process stand-in for the listener, quick enough to compare recipes; benchmarks/bench_robustness.py
measures a real bundle through the listener's pipeline.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HOP = 22050  # one window a second


def _features(task: tuple[str, str, str, int]) -> tuple[str, str, np.ndarray]:
    from gtzan.audio import load_audio
    from gtzan.constants import WINDOW_SAMPLES
    from gtzan.degrade import degrade, rng_for
    from gtzan.features import clip_features, window_starts

    condition, name, path, seed = task
    y = degrade(load_audio(path), condition, rng_for(seed, condition, name))
    return condition, name, np.stack([clip_features(y[s : s + WINDOW_SAMPLES]) for s in window_starts(y.size, hop=HOP)])


def held_out_features(tracks: dict[str, str], seed: int, jobs: int) -> dict[tuple[str, str], np.ndarray]:
    """Each held-out track's windows under each condition; kept in the feature cache, keyed by the feature
    code, the conditions, the seed and the tracks, since recipes are compared over several runs."""
    import hashlib

    from gtzan.degrade import CONDITIONS
    from gtzan.training.dataset import default_cache_dir, feature_code_hash

    key = hashlib.sha256(repr((feature_code_hash(), list(CONDITIONS), seed, sorted(tracks), HOP)).encode())
    cached = default_cache_dir() / "augment-recipes" / f"{key.hexdigest()}.npz"
    if cached.is_file():
        with np.load(cached) as z:
            return {tuple(k.split("|", 1)): z[k] for k in z.files}  # type: ignore[misc]
    tasks = [(c, n, p, seed) for c in CONDITIONS for n, p in tracks.items()]
    with ProcessPoolExecutor(jobs) as ex:
        feats = {(c, n): x for c, n, x in ex.map(_features, tasks, chunksize=4)}
    cached.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cached, **{f"{c}|{n}": x for (c, n), x in feats.items()})
    return feats


def score(
    members: list[Any], weights: dict[str, int], feats: dict[tuple[str, str], np.ndarray], level: bool = False
) -> dict[str, Any]:
    """Window accuracy and tracks right per condition, with the blend's weighted mean of probabilities."""
    from gtzan.constants import GENRES
    from gtzan.gain import at_level

    total = sum(weights.values())
    out: dict[str, Any] = {}
    for (c, name), X in feats.items():
        X = at_level(X) if level else X
        p = sum(w * m.predict_proba(X) for m in members if (w := weights.get(m.name, 0))) / total
        lab, want = p.argmax(axis=1), GENRES.index(name.split(".", 1)[0])
        r = out.setdefault(c, {"windows": 0, "correct": 0, "tracks": 0, "tracks_right": 0})
        r["windows"] += lab.size
        r["correct"] += int(np.sum(lab == want))
        r["tracks"] += 1
        r["tracks_right"] += int(np.bincount(lab, minlength=len(GENRES)).argmax() == want)
    for r in out.values():
        r["window_accuracy"] = r["correct"] / r["windows"]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipes", default="base,gain,degraded,gain+degraded")
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--copies", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("out/augment-recipes"))
    a = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from gtzan.bundle import default_bundle_dir, load_bundle
    from gtzan.datadir import audio_dir, data_dir
    from gtzan.gain import at_level
    from gtzan.training.dataset import FeatureTable, add_augmented_rows, load_sources
    from gtzan.training.members import fit_members
    from gtzan.training.splits import cv_folds

    audio, data = audio_dir(), data_dir()
    if audio is None or data is None:
        raise SystemExit("no GTZAN data: set GTZAN_DATA")
    shipped = load_bundle(default_bundle_dir())
    weights = {m.name: m.weight for m in shipped.members}
    lengths = shipped.manifest.records["training"]["refit_lengths"]
    table, sources, _ = load_sources(data / "features_3_sec.csv", audio, hop=HOP, progress=False)
    folds, _ = cv_folds(table, "track", n_folds=5, seed=a.seed, data_dir=data)
    test = sorted(set(table.tracks[(sources == "ours") & (folds == a.fold)]))
    paths = {n: str(next((audio / n.split(".")[0]).glob(f"{n}.*"))) for n in test}
    t0 = time.perf_counter()
    feats = held_out_features(paths, a.seed, a.jobs)
    print(
        f"{len(test)} held-out tracks featured under every condition in {time.perf_counter() - t0:.0f} s",
        file=sys.stderr,
    )
    keep = np.flatnonzero(folds != a.fold)
    base, base_sources = table.subset(keep), sources[keep]
    results: dict[str, Any] = {}
    for recipe in a.recipes.split(","):
        kinds = [k for k in recipe.split("+") if k not in ("base", "level")]
        level = "level" in recipe.split("+")  # every window brought to one level (gtzan.gain.at_level)
        t, _, trainable, _ = add_augmented_rows(
            base,
            base_sources,
            np.ones(len(base), dtype=bool),
            kinds,
            audio_dir=audio,
            copies=a.copies,
            seed=a.seed,
            hop=HOP,
            n_jobs=a.jobs,
            progress=False,
        )
        if level:
            t = FeatureTable(at_level(t.X), t.y, t.filenames, t.tracks)
        t0 = time.perf_counter()
        members = fit_members(
            t, np.flatnonzero(trainable), None, fixed=lengths, include_numpy=False, progress=False, seed=a.seed
        )
        results[recipe] = {
            "rows": int(trainable.sum()),
            "seconds": round(time.perf_counter() - t0),
            "conditions": score(members, weights, feats, level),
        }
        print(f"{recipe}: {results[recipe]['rows']} rows, {results[recipe]['seconds']} s", file=sys.stderr)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "results.json").write_text(
        json.dumps(
            {"fold": a.fold, "tracks": test, "weights": weights, "lengths": lengths, "recipes": results}, indent=1
        )
    )
    conds = list(next(iter(results.values()))["conditions"])
    lines = ["| condition | " + " | ".join(results) + " |", "|---|" + "---|" * len(results)]
    for c in conds:
        cells = [
            f"{100 * r['conditions'][c]['window_accuracy']:.1f}% ({r['conditions'][c]['tracks_right']}/"
            f"{r['conditions'][c]['tracks']})"
            for r in results.values()
        ]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    table_md = "\n".join(lines) + "\n"
    (a.out / "results.md").write_text(f"fold {a.fold}: {len(test)} held-out tracks\n\n{table_md}")
    print(table_md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
