"""The command lines' inputs: the rows and a split, with data errors turned into click's one-line errors."""

from __future__ import annotations

from pathlib import Path

import click

from .dataset import DatasetError, FeatureTable
from .orchestrate import Rows, RowSpec, load_rows
from .splits import Split, make_split


def load_rows_or_fail(spec: RowSpec, *, seed: int = 0, data_dir: Path | None = None) -> Rows:
    """The rows ``spec`` names (:func:`gtzan.training.orchestrate.load_rows`)."""
    try:
        return load_rows(spec, seed=seed, data_dir=data_dir)
    except DatasetError as e:
        raise click.ClickException(str(e)) from e


def make_split_or_fail(table: FeatureTable, protocol: str, seed: int, data_dir: Path | None = None) -> Split:
    try:
        return make_split(table, protocol, seed=seed, data_dir=data_dir)
    except DatasetError as e:
        raise click.ClickException(str(e)) from e
