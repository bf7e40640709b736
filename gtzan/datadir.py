"""Where the GTZAN data lives: ``$GTZAN_DATA``, else ``../shared/data/gtzan`` beside the repo or cwd."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "GTZAN_DATA"


def data_dir() -> Path | None:
    """Return the GTZAN data folder, or None when it cannot be found."""
    env = os.environ.get(ENV_VAR)
    if env:
        p = Path(env).expanduser()
        return p if p.is_dir() else None
    starts = [Path(__file__).resolve().parent.parent, Path.cwd().resolve()]
    for start in starts:
        for base in (start, *start.parents):
            cand = base.parent / "shared" / "data" / "gtzan"
            if cand.is_dir():
                return cand
    return None


def audio_dir() -> Path | None:
    """The folder of GTZAN audio in ``<genre>/<genre>.NNNNN.ext`` layout, if present."""
    d = data_dir()
    return d / "audio" if d is not None and (d / "audio").is_dir() else None


def table_and_audio_dir() -> Path | None:
    """The data folder when it holds both the 3 s table and the audio, as training on the table plus our
    own windows needs (benchmarks that cross-validate members); otherwise None."""
    d = data_dir()
    return d if d is not None and (d / "features_3_sec.csv").is_file() and (d / "audio").is_dir() else None
