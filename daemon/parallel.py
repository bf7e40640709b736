"""--fast on two cores: a forked worker computes the features of the later windows of a clip.

The fork comes first, right after the command line is read: each process then decodes the clip
itself, so that the main process's own preparation (importing onnxruntime, loading the bundle) runs
beside the worker's decoding instead of before it.

A window's features depend only on its own samples, so the worker's windows equal those a single
extractor would give. The main process streams the earlier windows itself (the model bundle loads
in a thread meanwhile), then hands on the worker's, which the worker sends one by one as it computes
them and the main process takes in between its own batches, so that the worker never waits on a full
pipe. If the main process runs out of work while the worker still has many windows to go, it takes
the last of them back (the worker stops before them) and computes them itself. If the worker fails,
the windows it did not deliver are computed here instead: the worker only ever saves time.
"""

from __future__ import annotations

import os
import select
import signal
import struct
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from gtzan.constants import HOP, SR, WINDOW_SAMPLES
from gtzan.features import FEATURE_NAMES
from gtzan.features.stream import StreamingExtractor, Window, hop_frames, sample_peak

WORKER_SHARE = 0.8  # of the windows; the main process also loads the models and writes the output
MIN_WINDOWS = 8  # below this a second process costs more than it saves
FIRST_WINDOW_HOPS = 4  # a fresh extractor's first window against later ones, when taking windows back (tuned)
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


def _receive_batch(fd: int, most: int) -> np.ndarray | None:
    """One batch of feature rows from the worker; None on a broken pipe or a bad count."""
    head = _read_exactly(fd, 8)
    n = struct.unpack("<q", head)[0] if head else 0
    if not 0 < n <= most:
        return None
    body = _read_exactly(fd, n * len(FEATURE_NAMES) * 8)
    return None if body is None else np.frombuffer(body, dtype=np.float64).reshape(n, len(FEATURE_NAMES))


def _readable(fd: int) -> bool:
    return bool(select.select([fd], [], [], 0)[0])


def _read_exactly(fd: int, n: int) -> bytes | None:
    parts, got = [], 0
    while got < n:
        b = os.read(fd, min(1 << 20, n - got))
        if not b:
            return None
        parts.append(b)
        got += len(b)
    return b"".join(parts)


def start_split(source: Any, hop_seconds: float, limit: int | None) -> SplitWindows | None:
    """Fork a worker for the source's later windows when the source can hand over all its samples and
    the clip is long enough; None otherwise. Call it before any thread starts."""
    n = source.expected_samples() if hasattr(source, "expected_samples") else None
    if n is None or not worth_splitting(n if limit is None else min(n, limit), hop_seconds):
        return None
    try:
        return SplitWindows(lambda: source.samples(limit), hop_seconds)
    except OSError:  # no process or pipe to be had (limits reached): one process streams it all
        return None


class SplitWindows:
    """All windows of the clip ``load()`` returns, in order, the last ``WORKER_SHARE`` of them computed
    by a forked process that calls ``load`` itself (so it must give the same samples every time).

    Create it before starting threads (the bundle loader), and iterate in the process that created it.
    """

    def __init__(self, load: Callable[[], np.ndarray | None], hop_seconds: float) -> None:
        self._load = load
        self._y: np.ndarray | None = None
        self._loaded = False
        self.hop_seconds = hop_seconds
        self.hop = hop_frames(hop_seconds) * HOP
        self._pid: int | None = None
        self._fd: int | None = None  # the worker's windows
        self._ctl: int | None = None  # where to stop, when the main process takes windows back
        self._rows: list[np.ndarray] = []  # feature rows received and not yet handed out
        self._received = 0  # rows received from the worker
        self._broken = False  # the worker failed or is gone
        self.taken_back = 0  # windows the main process took back from the worker
        self._fork()

    @property
    def y(self) -> np.ndarray | None:
        """The clip (decoded in this process on first use); None if it could not be."""
        if not self._loaded:
            y = self._load()
            self._y = None if y is None else np.asarray(y, dtype=np.float32)
            self._loaded = True
        return self._y

    @property
    def _clip(self) -> np.ndarray:
        """The clip, where the caller knows it decoded."""
        y = self.y
        assert y is not None
        return y

    @property
    def total(self) -> int:
        return window_count(len(self._clip), self.hop)

    @property
    def split(self) -> int:
        """Index of the worker's first window."""
        return self.total - int(self.total * WORKER_SHARE)

    def _fork(self) -> None:
        r, w = os.pipe()
        cr, cw = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            for fd in (r, w, cr, cw):
                os.close(fd)
            raise
        if pid == 0:  # the worker: compute, send, leave without running the parent's exit handlers
            code = 1
            try:
                os.close(r)
                os.close(cw)
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
                if self.y is not None:  # else the parent fails on its own copy, and streams
                    self._work(w, cr)
                    code = 0
            finally:
                os._exit(code)
        os.close(w)
        os.close(cr)
        self._pid, self._fd, self._ctl = pid, r, cw

    def _work(self, out: int, ctl: int) -> None:
        """In the worker: send each window as soon as it is computed; stop where the main process asks."""
        stop = self.total
        for win in self._compute(self.split, block=self.hop):
            _write_all(out, struct.pack("<q", 1) + win.features.astype(np.float64).tobytes())
            if _readable(ctl):
                data = _read_exactly(ctl, 8)
                stop = struct.unpack("<q", data)[0] if data else 0  # closed: the main process is gone
            if win.start_sample // self.hop + 1 >= stop:
                return

    def _compute(self, first: int, last: int | None = None, block: int = _BLOCK) -> Iterator[Window]:
        """Windows first..last-1 from a fresh extractor, pushed ``block`` samples at a time."""
        last = self.total if last is None else last
        if last <= first:
            return
        a = first * self.hop
        b = (last - 1) * self.hop + WINDOW_SAMPLES
        ex = StreamingExtractor(self.hop_seconds)
        for i in range(a, b, block):
            for win in ex.push(self._clip[i : min(b, i + block)]):
                s = win.start_sample + a
                yield win._replace(start_sample=s, start=s / SR, end=(s + WINDOW_SAMPLES) / SR)

    def _batched(self, windows: Iterator[Window]) -> Iterator[list[Window]]:
        """Consecutive windows in lists covering about one read block of samples each."""
        batch: list[Window] = []
        for win in windows:
            batch.append(win)
            if len(batch) * self.hop >= _BLOCK:
                yield batch
                batch = []
        if batch:
            yield batch

    def batches(self) -> Iterator[list[Window]]:
        """Lists of consecutive windows, oldest first."""
        for batch in self._batched(self._compute(0, self.split)):
            yield batch
            self._drain(self.total)  # so that the worker never waits on a full pipe meanwhile
        yield from self._worker_batches()

    def _drain(self, end: int) -> None:
        """Take in, without waiting, what the worker has sent of its windows before ``end``."""
        while (self._fd is not None and not self._broken and self.split + self._received < end
               and _readable(self._fd)):
            self._receive()

    def _receive(self) -> None:
        """Read one batch from the worker (waiting for it); a broken pipe or a bad count ends the worker."""
        assert self._fd is not None  # called only while the worker is there
        feats = _receive_batch(self._fd, self.total - self.split - self._received)
        if feats is None:
            self._broken = True
        else:
            self._rows.append(feats)
            self._received += len(feats)

    def _worker_batches(self) -> Iterator[list[Window]]:
        """The worker's windows as they arrive (all that have arrived, together), then any taken back;
        what the worker fails to send is computed here."""
        total = self.total
        nxt, end = self.split, total  # the worker delivers [split, end)
        own: list[Window] = []
        decided = False
        try:
            while nxt < end:
                self._drain(end)
                if not self._rows and not self._broken and self._fd is not None:
                    if not decided:  # about to wait: take work back instead?
                        decided = True
                        end, own = self._take_back(self.split + self._received, total)
                        continue
                    self._receive()
                if not self._rows:  # the worker is gone
                    break
                feats = np.concatenate(self._rows)[: end - nxt]
                self._rows.clear()
                starts = (nxt + np.arange(len(feats))) * self.hop
                yield [Window(int(s), s / SR, (s + WINDOW_SAMPLES) / SR, f,
                              *sample_peak(self._clip[s : s + WINDOW_SAMPLES]))  # the worker sends features only
                       for s, f in zip(starts, feats, strict=True)]
                nxt += len(feats)
        finally:
            self.close()
        if nxt < end:  # the worker failed: do the rest here
            yield from self._batched(self._compute(nxt, end))
        if own:
            yield own

    def _take_back(self, nxt: int, total: int) -> tuple[int, list[Window]]:
        """When the worker has more windows to go than the main process needs to catch up, ask it to
        stop early and compute the last windows here: (where the worker now stops, those windows)."""
        left = total - nxt - 1  # the worker is busy with one of them
        k = (left - FIRST_WINDOW_HOPS + 1) // 2  # both finish together: first + (k - 1) = left - k hops
        if k < 2 or self._ctl is None:
            return total, []
        try:
            _write_all(self._ctl, struct.pack("<q", total - k))
        except OSError:  # the worker is gone: it computes nothing more, and the rest is done here
            return total, []
        self.taken_back = k
        return total - k, list(self._compute(total - k))

    def _reap(self) -> None:
        pid, self._pid = self._pid, None
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGKILL)  # done or not needed any more: no reason to wait for its exit
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)

    def close(self) -> None:
        """Stop the worker (if still running) and release the pipes."""
        for name in ("_fd", "_ctl"):
            fd = getattr(self, name)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)
        self._reap()
