"""Ways of reading a track's verdict from its windows, compared on saved out-of-fold probabilities.

The training report keeps every row's out-of-fold probabilities (``oof_<protocol>.npz``, written by
``python -m gtzan.training``); this reads the nested blend's calibrated probabilities from it and scores
each rule's track verdicts per source (the table's rows, our windows of the audio):

    python benchmarks/track_rules.py /tmp/cv5/oof_track.npz
"""

from __future__ import annotations

import argparse

import numpy as np

EPS = 1e-6


def track_accuracy(tracks: np.ndarray, y: np.ndarray, score: np.ndarray) -> float:
    """The share of tracks whose summed window scores peak at their genre."""
    names, inv = np.unique(tracks, return_inverse=True)
    sums = np.zeros((names.size, score.shape[1]))
    np.add.at(sums, inv, score)
    genre = np.zeros(names.size, dtype=int)
    genre[inv] = y
    return float(np.mean(sums.argmax(axis=1) == genre))


def rules(p: np.ndarray) -> dict[str, np.ndarray]:
    """Per-window scores whose sum over a track gives its verdict under each rule."""
    return {
        "mean probability (gtzan-listen)": p,
        "geometric mean": np.log(p + EPS),
        "majority of labels": np.eye(p.shape[1])[p.argmax(axis=1)] + 1e-3 * p,
        "mean square root": np.sqrt(p),
        "mean square": p**2,
        "confident windows twice": p * (1 + (p.max(axis=1) >= 0.5))[:, None],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("oof", help="an oof_<protocol>.npz from python -m gtzan.training")
    z = np.load(ap.parse_args().oof)
    p = z["nested_probs"].astype(np.float64)
    print(f"| rule | {' | '.join(str(s) for s in np.unique(z['sources']))} |")
    print("|---" * (1 + np.unique(z["sources"]).size) + "|")
    for name, score in rules(p).items():
        cells = []
        for src in np.unique(z["sources"]):
            rows = z["sources"] == src
            cells.append(f"{100 * track_accuracy(z['tracks'][rows], z['y'][rows], score[rows]):.1f}%")
        print(f"| {name} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
