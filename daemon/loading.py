"""The model bundle for gtzan-listen: loaded before streaming, or in a background thread for --fast.

A live input starts capturing first and loads the bundle while its first window fills. A --fast file
has nothing to wait for, so there the ONNX sessions are created by a thread (onnxruntime releases the
GIL while it builds them) while the first windows' features are computed.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from gtzan.bundle import ManifestFacts
from gtzan.constants import WINDOW_SAMPLES
from gtzan.daemon.errors import BadInput

if TYPE_CHECKING:
    from gtzan.bundle import Bundle, Prediction
    from gtzan.daemon.interfaces import Messages, Predictor


class MemberInfo(NamedTuple):
    name: str
    kind: str
    weight: int


class BackgroundBundle(ManifestFacts):
    """The manifest at once, the sessions from a thread; ``predict`` waits for them.

    Offers what the pipeline and the outputs use of gtzan.bundle.Bundle, with the same members: those
    with a weight above 0 (``idle_members`` names the others).
    """

    def __init__(self, path: Path) -> None:
        from gtzan.manifest import read_manifest

        self.path = path
        self.manifest = read_manifest(path)
        self.genres: tuple[str, ...] = self.manifest.genres
        self.members = [MemberInfo(m.name, m.kind, m.weight) for m in self.manifest.members if m.weight > 0]
        self.blend_weights: tuple[int, ...] = tuple(m.weight for m in self.members)
        self._bundle: Bundle | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._load, name="bundle-loader", daemon=True)
        self._thread.start()

    def _load(self) -> None:
        from gtzan.bundle import load_bundle

        try:
            self._bundle = load_bundle(self.path)
        except BaseException as e:  # handed to the main thread by loaded()
            self._error = e

    def ready(self) -> bool:
        """Whether the loader has finished (so ``predict`` will not wait)."""
        return not self._thread.is_alive()

    def join(self) -> None:
        """Wait for the loader thread, whatever its outcome."""
        self._thread.join()

    def loaded(self) -> Bundle:
        """The loaded gtzan.bundle.Bundle; raises BadInput if it could not be loaded."""
        from gtzan.bundle import BundleError

        self._thread.join()
        if isinstance(self._error, BundleError):
            raise BadInput(str(self._error))
        if self._error is not None:
            raise self._error
        assert self._bundle is not None  # the loader ended without an error
        return self._bundle

    def predict(self, features: np.ndarray) -> Prediction:
        return self.loaded().predict(features)

    def predict_context(self, pooled: np.ndarray) -> np.ndarray | None:
        return self.loaded().predict_context(pooled)


def load_models(models: Path | None, errc: Messages, background: bool = False) -> Predictor:
    """The bundle (checked), after one-line notes on stderr about anything that makes it doubtful."""
    from gtzan.bundle import BundleError, default_bundle_dir, load_bundle

    path = Path(models).expanduser() if models is not None else default_bundle_dir()
    try:
        bundle: Bundle | BackgroundBundle = BackgroundBundle(path) if background else load_bundle(path)
    except BundleError as e:
        raise BadInput(str(e)) from None
    for line in bundle_notes(bundle):
        errc.print(line, highlight=False, soft_wrap=True)  # one line each, whatever the terminal width
    return bundle


class CheckedManifest(ManifestFacts):
    """A bundle's manifest, blend and checksums verified without creating sessions: lets a parent process
    report a bad bundle once, before worker processes load the models themselves."""

    def __init__(self, path: Path) -> None:
        from gtzan.bundle import verify_files
        from gtzan.manifest import read_manifest

        self.path = path
        self.manifest = read_manifest(path)
        verify_files(path, self.manifest)


def check_models(models: Path | None, errc: Messages) -> Path:
    """The bundle's folder once its manifest checks out (BadInput otherwise), after the same notes as load_models."""
    from gtzan.bundle import BundleError, default_bundle_dir

    path = Path(models).expanduser() if models is not None else default_bundle_dir()
    try:
        facts = CheckedManifest(path)
    except BundleError as e:
        raise BadInput(str(e)) from None
    for line in bundle_notes(facts):
        errc.print(line, highlight=False, soft_wrap=True)
    return path


def bundle_notes(bundle: ManifestFacts) -> list[str]:
    """One-line notes about anything that makes the bundle's verdicts doubtful."""
    notes = []
    if bundle.provisional:
        notes.append(
            f"note: the model bundle {bundle.path} is marked provisional: it comes from a quick or test "
            "export (few epochs, small forests), so its verdicts mean little; build a full one with "
            "gtzan-export (without --quick) and pass it with --models"
        )
    length = bundle.manifest.median_length_samples
    if length is not None and abs(length - WINDOW_SAMPLES) > 1:
        notes.append(
            f"warning: the model bundle {bundle.path} was trained on {float(length):.0f}-sample clips, "
            f"not {WINDOW_SAMPLES}-sample windows; its verdicts may be off"
        )
    differ = bundle.feature_mismatches
    if differ is None:
        notes.append(
            f"warning: the model bundle {bundle.path} records no fingerprint of its features, so they "
            "cannot be checked against this version of the feature code; its verdicts may be off"
        )
    elif differ:
        names = ", ".join(m.name for m in differ[:3]) + (f" and {len(differ) - 3} more" if len(differ) > 3 else "")
        notes.append(
            f"warning: the model bundle {bundle.path} was trained with features that this version of "
            f"the feature code computes differently ({names}); its verdicts may be off"
        )
    return notes


def member_rows(bundle: Predictor) -> list[tuple[str, str, int]]:
    """(name, kind, weight) of every member the manifest lists, in its order; weight 0 = not used."""
    return [(m.name, m.kind, m.weight) for m in bundle.manifest.members]
