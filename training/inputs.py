"""The command lines' inputs: the feature rows and a split, with data errors turned into click's one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from gtzan.constants import WINDOW_SAMPLES

from .dataset import DatasetError, FeatureTable, load_sources
from .splits import Split, make_split


def load_table(
    audio_dir: Path | None,
    features: Path | None,
    *,
    hop: int = WINDOW_SAMPLES,
    n_jobs: int | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> tuple[FeatureTable, np.ndarray, dict[str, Any]]:
    """The rows of a Kaggle CSV and/or an audio folder, each row's source, and a description."""
    try:
        return load_sources(features, audio_dir, hop=hop, n_jobs=n_jobs, cache_dir=cache_dir, progress=progress)
    except DatasetError as e:
        raise click.ClickException(str(e)) from e


def make_split_or_fail(table: FeatureTable, protocol: str, seed: int, data_dir: Path | None = None) -> Split:
    try:
        return make_split(table, protocol, seed=seed, data_dir=data_dir)
    except DatasetError as e:
        raise click.ClickException(str(e)) from e
