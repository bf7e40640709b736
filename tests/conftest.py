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


_DATA_FIXTURES = {"gtzan_dir", "gtzan_audio"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that reads the GTZAN data must say so with the ``gtzan`` marker (``-m "not gtzan"`` relies on it)."""
    unmarked = [item.nodeid for item in items
                if _DATA_FIXTURES & set(getattr(item, "fixturenames", ())) and item.get_closest_marker("gtzan") is None]
    if unmarked:
        raise pytest.UsageError("tests that read the GTZAN data lack @pytest.mark.gtzan: " + ", ".join(unmarked))
