"""--fast on two cores: a forked worker computes the features of the later windows of a decoded clip.

A window's features depend only on its own samples, so the worker's windows equal those a single
extractor would give. The main process streams the earlier windows itself (classifying them as they
come, while the model bundle loads in a thread), then takes the worker's. If the worker fails, its
windows are computed here instead: the worker only ever saves time.
"""

from __future__ import annotations

import os
import signal
import struct
from collections.abc import Iterator

import numpy as np

from gtzan.features import FEATURE_NAMES, SR, WINDOW_SAMPLES
from gtzan.frames import HOP
from gtzan.stream import StreamingExtractor, Window, hop_frames

WORKER_SHARE = 0.8  # of the windows; the main process also loads the models and writes the output
MIN_WINDOWS = 8  # below this a second process costs more than it saves
_BLOCK = 65536


def window_count(n_samples: int, hop_samples: int) -> int:
    return 0 if n_samples < WINDOW_SAMPLES else 1 + (n_samples - WINDOW_SAMPLES) // hop_samples


def worth_splitting(n_samples: int, hop_seconds: float) -> bool:
    """Whether a clip of about n_samples gains from a worker process on this machine."""
    n = window_count(n_samples, hop_frames(hop_seconds) * HOP)
    return n >= MIN_WINDOWS and hasattr(os, "fork") and (os.cpu_count() or 1) > 1


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_exactly(fd: int, n: int) -> bytes | None:
    parts, got = [], 0
    while got < n:
        b = os.read(fd, min(1 << 20, n - got))
        if not b:
            return None
        parts.append(b)
        got += len(b)
    return b"".join(parts)


class SplitWindows:
    """All windows of ``y`` in order, the last ``WORKER_SHARE`` of them computed by a forked process.

    Create it before starting threads (the bundle loader), and iterate in the process that created it.
    """

    def __init__(self, y: np.ndarray, hop_seconds: float) -> None:
        self.y = np.asarray(y, dtype=np.float32)
        self.hop_seconds = hop_seconds
        self.hop = hop_frames(hop_seconds) * HOP
        n = window_count(len(self.y), self.hop)
        self.split = n - int(n * WORKER_SHARE)  # first window of the worker
        self._pid: int | None = None
        self._fd: int | None = None
        if n > self.split:
            self._fork()

    def _fork(self) -> None:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker: compute, send, leave without running the parent's exit handlers
            code = 1
            try:
                os.close(r)
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
                feats = np.stack([w.features for w in self._compute(self.split)]).astype(np.float64)
                _write_all(w, struct.pack("<q", len(feats)) + feats.tobytes())
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        self._pid, self._fd = pid, r

    def _compute(self, first: int, last: int | None = None) -> Iterator[Window]:
        """Windows first..last-1 from a fresh extractor, in blocks (so the caller can interleave)."""
        last = window_count(len(self.y), self.hop) if last is None else last
        if last <= first:
            return
        a = first * self.hop
        b = (last - 1) * self.hop + WINDOW_SAMPLES
        ex = StreamingExtractor(self.hop_seconds)
        for i in range(a, b, _BLOCK):
            for win in ex.push(self.y[i : min(b, i + _BLOCK)]):
                s = win.start_sample + a
                yield Window(s, s / SR, (s + WINDOW_SAMPLES) / SR, win.features)

    def batches(self) -> Iterator[list[Window]]:
        """Lists of consecutive windows, oldest first."""
        batch: list[Window] = []
        for win in self._compute(0, self.split):
            batch.append(win)
            if len(batch) * self.hop >= _BLOCK:
                yield batch
                batch = []
        if batch:
            yield batch
        rest = window_count(len(self.y), self.hop) - self.split
        if rest > 0:
            yield self._worker_windows(rest)

    def _worker_windows(self, n: int) -> list[Window]:
        feats = self._receive(n)
        if feats is None:  # the worker failed: do its part here
            return list(self._compute(self.split))
        starts = (self.split + np.arange(len(feats))) * self.hop
        return [Window(int(s), s / SR, (s + WINDOW_SAMPLES) / SR, f) for s, f in zip(starts, feats, strict=True)]

    def _receive(self, expected: int) -> np.ndarray | None:
        fd, self._fd = self._fd, None
        if fd is None:
            return None
        try:
            head = _read_exactly(fd, 8)
            n = struct.unpack("<q", head)[0] if head else -1
            body = _read_exactly(fd, n * len(FEATURE_NAMES) * 8) if n == expected else None
        finally:
            os.close(fd)
            self._reap(kill=False)
        return None if body is None else np.frombuffer(body, dtype=np.float64).reshape(n, len(FEATURE_NAMES))

    def _reap(self, kill: bool) -> None:
        pid, self._pid = self._pid, None
        if pid is None:
            return
        if kill:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        os.waitpid(pid, 0)

    def close(self) -> None:
        """Stop the worker (if still running) and release the pipe."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._reap(kill=True)
