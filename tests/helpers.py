"""What several test files share: running gtzan-listen as users run it, reading its JSON lines, and a
display fed with made-up windows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from rich.console import Console

from gtzan.constants import GENRES, WINDOW_SAMPLES
from gtzan.daemon.display import LiveDisplay
from gtzan.daemon.pipeline import WindowResult
from gtzan.daemon.summary import SummaryBuilder

HOP_SAMPLES = 22 * 512  # --hop 0.5 rounds to whole 512-sample frames
_SCRIPT = Path(sys.executable).parent / "gtzan-listen"  # the installed console script, as users run it
CLI = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "gtzan.daemon.cli"]


def listen(*args: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=env)


def lines(stdout: str) -> tuple[list[dict], dict | None]:
    """Every stdout line must be JSON: (window objects, summary)."""
    objs = [json.loads(line) for line in stdout.splitlines()]
    summary = objs[-1]["summary"] if objs and "summary" in objs[-1] else None
    windows = [o for o in objs if "summary" not in o]
    return windows, summary


def n_windows(n_samples: int) -> int:
    return 0 if n_samples < WINDOW_SAMPLES else (n_samples - WINDOW_SAMPLES) // HOP_SAMPLES + 1


# --- a display fed with made-up windows

MEMBERS = [("keras1", "keras", 1), ("keras2", "keras", 0), ("knn", "sklearn", 1), ("xgboost", "xgboost", 2),
           ("random_forest", "sklearn", 0), ("numpy_net", "numpy", 1)]
# every genre at least once, rock most often: a summary of ten rows
LABELS = [9, 2, 3, 5, 9, 9, 2, 6, 7, 0, 1, 4, 8] * 4


def window(i: int, label: int, p: float = 0.64) -> WindowResult:
    probs = np.full(len(GENRES), (1 - p) / (len(GENRES) - 1))
    probs[label] = p
    run = {name: probs for name, _, w in MEMBERS if w}
    return WindowResult(index=i, start_sample=i * 11264, start=i * 0.5108, end=i * 0.5108 + 3.0, level_dbfs=-20.0,
                        silent=False, label=label, scores=probs, probs=probs, probability=p, uncertain=p < 0.5,
                        member_probs=run, member_votes={m: label for m in run}, smoothed=label,
                        smoothed_probs=probs, smoothed_probability=p, smoothed_uncertain=p < 0.5)


def state() -> SimpleNamespace:
    return SimpleNamespace(audio_seconds=lambda: 30.0, silence_db=-60.0, smooth_n=6, smooth_k=3, synthetic=False,
                           uncertain_below=0.5, input_dbfs=-20.0, started=0.0, hop_seconds=0.5108,
                           source_text="a rather long file name for a song.wav: 44100 Hz, 2 ch, PCM_16, 30.0 s "
                                       "(resampled to 22050 Hz, mixed to mono)",
                           source=SimpleNamespace(overflows=0, dropped=0))


def run_display(width: int, height: int, labels: list[int] = LABELS, realtime: bool = True
                ) -> tuple[Console, LiveDisplay, SummaryBuilder]:
    console = Console(width=width, height=height, record=True, color_system=None)
    d = LiveDisplay(GENRES, MEMBERS, console=console, realtime=realtime)
    d._state = state()
    b = SummaryBuilder(GENRES)
    for i, lab in enumerate(labels):
        r = window(i, lab)
        d.last = r
        d.timeline.append(GENRES[lab])
        b.add(r)
    return console, d, b


# --- feature tables on disk


def write_tables(table, folder: Path) -> tuple[Path, Path, np.ndarray]:
    """A 3 s table and its 30 s table (each track's rows averaged) as CSVs: (3 s CSV, 30 s CSV, 30 s rows)."""
    from gtzan.training.dataset import FeatureTable

    csv, ctx_csv = folder / "features.csv", folder / "features_30.csv"
    table.to_csv(csv)
    names, first = np.unique(table.tracks, return_index=True)
    means = np.array([table.X[table.tracks == t].mean(axis=0) for t in names])
    FeatureTable(means, table.y[first], np.array([f"{t}.wav" for t in names]), names).to_csv(ctx_csv)
    return csv, ctx_csv, means
