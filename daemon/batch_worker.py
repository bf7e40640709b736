"""One file, one verdict, in a worker process that holds the model bundle for all its files.

Forked workers of a batch with two or more of them inherit the bundle their parent loaded before
forking them (``load_shared_bundle``): one load for the whole batch, its pages shared, instead of each
worker building the same sessions. A lone worker, or a spawned one (where there is no fork), loads it.

Each file goes through the same pipeline as ``gtzan-listen --file X --fast``: decoded whole (when it
is not too long to hold, as --fast does), windowed, blended and summarised, so its verdict is the one a
single-file run gives. With fewer files than cores, a file's later windows are computed by a second
process, as --fast does (gtzan.daemon.parallel).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from gtzan.daemon.interfaces import Block, StopFlag
from gtzan.daemon.sources import FileSource, sample_limit

if TYPE_CHECKING:
    from gtzan.bundle import Bundle
    from gtzan.daemon.pipeline import WindowResult
    from gtzan.daemon.run import RunState


@dataclass(frozen=True)
class BatchSettings:
    """What every file of a batch is classified with (the command line's, the hop in frames)."""

    hop_frames: int
    smooth: float
    silence_db: float
    duration: float | None
    block_frames: int | None
    split: bool  # fewer files than cores: each file's later windows go to a second process


class FileRow(TypedDict):
    """One file's outcome: its run's summary (None when it failed before one) and error."""

    file: str
    summary: dict[str, Any] | None
    error: str | None
    ended: str


_SETTINGS: BatchSettings | None = None
_BUNDLE: Bundle | None = None
_BUNDLE_ERROR: str | None = None
_BUNDLE_PATH: str | None = None  # the folder _BUNDLE (or _BUNDLE_ERROR) comes from


class DecodedFileSource(FileSource):
    """A file decoded at once like --fast's (gtzan.audio.load_audio), then handed out in blocks so a stop
    request is seen between them; streamed when too long to hold or undecodable as a whole."""

    def __init__(self, path: Path, limit: int | None, block_frames: int | None = None) -> None:
        super().__init__(path, realtime=False, block_frames=block_frames)
        self.limit = limit

    def blocks(self, stop: StopFlag) -> Iterator[Block]:
        y = self.samples(self.limit)
        if y is None:
            yield from super().blocks(stop)
            return
        for i in range(0, len(y), self.block_frames):
            if stop():
                return
            yield y[i : i + self.block_frames], time.monotonic()


class _NoOutput:
    """run() writes windows somewhere; a batch keeps only the summary, which gtzan.daemon.batch reports."""

    def start(self, state: RunState) -> None:
        pass

    def tick(self, state: RunState) -> None:
        pass

    def window(self, r: WindowResult, state: RunState) -> float:
        return 0.0

    def close(self) -> None:
        pass

    def summary(self, summary: dict[str, Any]) -> None:
        pass


def load_shared_bundle(bundle_path: str) -> None:
    """Load the bundle in this process; workers forked from it afterwards start with it.

    A load that fails leaves its message for every file's row, as a worker's own load would.
    """
    global _BUNDLE, _BUNDLE_ERROR, _BUNDLE_PATH
    from gtzan.bundle import BundleError, load_bundle

    _BUNDLE, _BUNDLE_ERROR, _BUNDLE_PATH = None, None, bundle_path
    try:
        _BUNDLE = load_bundle(Path(bundle_path), verify_checksums=False)  # the parent verified them
    except BundleError as e:
        _BUNDLE_ERROR = str(e)


def init_worker(bundle_path: str, settings: BatchSettings) -> None:
    """Get ready for every file this process will classify: the bundle, unless inherited from the parent.

    Ctrl-C reaches the whole process group: a worker ignores it between files (the parent decides
    what happens next) and, inside a file, run()'s stop flag ends that file early (SIGTERM too).
    """
    global _SETTINGS
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler, inherited by fork
    _SETTINGS = settings
    if _BUNDLE_PATH != bundle_path:  # spawned, or forked from a parent that did not load it
        load_shared_bundle(bundle_path)


def classify_file(path: str) -> FileRow:
    """``{"file", "summary", "error", "ended"}`` for one file; a bad file gives an error, never an exception."""
    from gtzan.daemon.errors import ListenError
    from gtzan.daemon.run import BATCH_WINDOWS, run

    bundle, s = _BUNDLE, _SETTINGS
    if bundle is None or s is None:
        return {
            "file": path,
            "summary": None,
            "error": _BUNDLE_ERROR or "the model bundle is not loaded",
            "ended": "error",
        }
    source = DecodedFileSource(Path(path), sample_limit(s.duration), s.block_frames)
    splitter = None
    if s.split:  # fewer files than cores: this file's later windows go to a second process
        from gtzan.daemon.parallel import start_split

        splitter = start_split(source, s.hop_frames, sample_limit(s.duration))
    try:
        result = run(
            source,
            lambda: bundle,
            lambda _bundle: _NoOutput(),
            hop_frames=s.hop_frames,
            smooth=s.smooth,
            silence_db=s.silence_db,
            duration=s.duration,
            warm=False,
            splitter=splitter,
            batch=BATCH_WINDOWS,
        )
    except ListenError as e:
        return {"file": path, "summary": None, "error": str(e), "ended": "error"}
    except Exception as e:  # one bad file must not stop the others
        return {"file": path, "summary": None, "error": f"unexpected {type(e).__name__}: {e}", "ended": "error"}
    error = None if result.error is None else str(result.error)
    return {"file": path, "summary": result.summary, "error": error, "ended": result.ended}
