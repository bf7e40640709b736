"""How close the features are to the Kaggle table, and the streaming windows to the batch features.

    python benchmarks/feature_parity.py [--stream]

For every GTZAN track in ../shared/data/gtzan/audio (or $GTZAN_DATA): the whole track's 58 features
against its row of features_30_sec.csv, in units of that feature's standard deviation across the table
(the tests require < 0.05, tempo equal on >= 95% of tracks). With --stream, also every 0.5 s window of
every track from StreamingExtractor against gtzan.features.clip_features (the tests require <= 1e-4).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from gtzan.audio import load_audio
from gtzan.constants import WINDOW_SAMPLES
from gtzan.datadir import data_dir
from gtzan.features import FEATURE_NAMES, clip_features
from gtzan.features.stream import StreamingExtractor

TEMPO = FEATURE_NAMES.index("tempo")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stream", action="store_true", help="also compare every streamed window with the batch")
    args = ap.parse_args()
    d = data_dir()
    if d is None:
        sys.exit("GTZAN data not found (set GTZAN_DATA)")
    with open(d / "features_30_sec.csv", newline="") as fh:
        rows = {
            r["filename"].rsplit(".", 1)[0]: np.array([float(r[n]) for n in FEATURE_NAMES]) for r in csv.DictReader(fh)
        }
    std = np.std(np.stack(list(rows.values())), axis=0)
    tracks = sorted((d / "audio").glob("*/*.flac"))
    worst = np.zeros(58)
    tempo_equal = 0
    stream_worst, stream_windows, stream_tempo_diff = 0.0, 0, 0
    for path in tracks:
        y = load_audio(path)
        f = clip_features(y)
        dev = np.abs(f - rows[path.stem]) / std
        tempo_equal += f[TEMPO] == rows[path.stem][TEMPO]
        dev[TEMPO] = 0
        worst = np.maximum(worst, dev)
        if args.stream:
            for w in StreamingExtractor().push(y):
                b = clip_features(y[w.start_sample : w.start_sample + WINDOW_SAMPLES])
                stream_tempo_diff += b[TEMPO] != w.features[TEMPO]
                stream_worst = max(stream_worst, float(np.max(np.abs(b - w.features) / std)))
                stream_windows += 1
    k = int(np.argmax(worst))
    print(
        f"{len(tracks)} tracks against features_30_sec.csv: worst deviation {worst[k]:.4f} std "
        f"({FEATURE_NAMES[k]}), tempo equal on {tempo_equal}/{len(tracks)}"
    )
    for i in np.argsort(worst)[::-1][:5]:
        print(f"  {FEATURE_NAMES[i]:24s} {worst[i]:.4f} std")
    if args.stream:
        print(
            f"{stream_windows} streamed windows against the batch features: worst deviation "
            f"{stream_worst:.2e} std, tempo different on {stream_tempo_diff}"
        )


if __name__ == "__main__":
    main()
