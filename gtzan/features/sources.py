"""The source files that define the features, and their hash.

The hash is part of the key of the cached fingerprint verdict (gtzan.fingerprint) and is recorded in
every bundle: unchanged sources give unchanged numbers, so only an edit sends the next start back to
the probe.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def feature_sources() -> list[Path]:
    """The ``gtzan.features`` package and the constants it reads."""
    here = Path(__file__).resolve().parent
    return sorted(here.glob("*.py")) + [here.parent / "constants.py"]


def feature_code_sha256() -> str:
    """Hash of the feature definition's source (``feature_sources``)."""
    h = hashlib.sha256()
    for p in feature_sources():
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()
