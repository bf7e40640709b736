"""Shared fixtures: the GTZAN data folder (skipped with a reason where absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gtzan.datadir import ENV_VAR, audio_dir, data_dir


@pytest.fixture(scope="session")
def gtzan_dir() -> Path:
    d = data_dir()
    if d is None or not (d / "features_30_sec.csv").is_file():
        pytest.skip(f"GTZAN data not found (set {ENV_VAR} or place it at ../shared/data/gtzan)")
    return d


@pytest.fixture(scope="session")
def gtzan_audio() -> Path:
    d = audio_dir()
    if d is None:
        pytest.skip(f"GTZAN audio not found (set {ENV_VAR} or place it at ../shared/data/gtzan)")
    return d
