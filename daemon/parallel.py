"""--fast on two cores: a forked worker computes the features of the later windows of a clip.

The fork comes first, right after the command line is read: each process then reads the clip itself
(gtzan.daemon.clips: only the ranges it computes, where the file allows that; else all of it), so
that the main process's own preparation (importing onnxruntime, loading the bundle) runs beside the
worker's decoding instead of before it.

A window's features depend only on its own samples, so the worker's windows equal those a single
extractor would give. The main process streams the earlier windows itself (the model bundle loads
in a thread meanwhile), then hands on the worker's, which the worker sends one by one as it computes
them (features, peak and clipped samples) and the main process takes in between its own batches, so
that the worker never waits on a full pipe. If the main process runs out of work while the worker
still has many windows to go, it takes the last of them back (the worker stops before them), as many
as both processes' measured paces say, and computes them itself, between the worker's; they go out
last, but their members run meanwhile (``SplitWindows.ahead``). If the worker fails, the windows it
did not deliver are computed here instead: the worker only ever saves time.
"""

from __future__ import annotations

import os
import select
import signal
import struct
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from gtzan.constants import HOP, WINDOW_SAMPLES
from gtzan.daemon.clips import ClipError, DecodedClip, FileRanges, seekable_file
from gtzan.daemon.errors import BadInput
from gtzan.features import FEATURE_NAMES
from gtzan.features.stream import StreamingExtractor, Window

if TYPE_CHECKING:
    from gtzan.daemon.interfaces import Source

WORKER_SHARE = 0.8  # of the windows; the main process also loads the models and writes the output
MIN_WINDOWS = 8  # below this a second process costs more than it saves
AHEAD_WINDOWS = 64  # windows taken back given to ``SplitWindows.ahead`` together (one run of the members)
FIRST_WINDOW_HOPS = 4  # a fresh extractor's first window against later ones, when taking windows back (tuned)
_BLOCK = 65536
_PACE_WINDOWS = 8  # windows from which a process's pace is measured
_ROW = len(FEATURE_NAMES) + 2  # a window as the worker sends it: its features, peak and clipped samples


def window_count(n_samples: int, hop_samples: int) -> int:
    return 0 if n_samples < WINDOW_SAMPLES else 1 + (n_samples - WINDOW_SAMPLES) // hop_samples


def worth_splitting(n_samples: int, hop_frames: int) -> bool:
    """Whether a clip of about n_samples gains from a worker process on this machine."""
    n = window_count(n_samples, hop_frames * HOP)
    return n >= MIN_WINDOWS and hasattr(os, "fork") and (os.cpu_count() or 1) > 1


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _receive_batch(fd: int, most: int) -> np.ndarray | None:
    """One batch of rows (features, peak, clipped) from the worker; None on a broken pipe or a bad count."""
    head = _read_exactly(fd, 8)
    n = struct.unpack("<q", head)[0] if head else 0
    if not 0 < n <= most:
        return None
    body = _read_exactly(fd, n * _ROW * 8)
    return None if body is None else np.frombuffer(body, dtype=np.float64).reshape(n, _ROW)


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


def windows_to_take_back(left: int, main: float, worker: float, output: float) -> int:
    """How many of the ``left`` windows the main process should compute, for both processes to finish
    together: the worker computes the others at ``worker`` seconds a window; the main process computes
    its first window (``FIRST_WINDOW_HOPS`` hops) and the rest at ``main`` seconds a window, and
    classifies and writes every window still to come at ``output`` seconds a window."""
    if main <= 0.0 or worker <= 0.0:
        return 0
    output = min(max(output, 0.0), 0.9 * worker)
    return max(0, int((left * (worker - output) - (FIRST_WINDOW_HOPS - 1) * main) // (main + worker)))


def start_split(source: Source, hop_frames: int, limit: int | None) -> SplitWindows | None:
    """Fork a worker for the source's later windows when the source's samples can be had in ranges or
    whole and the clip is long enough; None otherwise. Call it before any thread starts."""
    clip: FileRanges | DecodedClip | None = None
    if source.path is not None and not source.realtime:
        clip = seekable_file(source.path, limit, source.block_frames or _BLOCK)
    n = clip.n_samples if clip is not None else None
    if clip is None:
        n = source.expected_samples()
        if n is not None:
            n = n if limit is None else min(n, limit)
            clip = DecodedClip(lambda: source.samples(limit))
    if clip is None or n is None or not worth_splitting(n, hop_frames):
        return None
    try:
        return SplitWindows(clip, hop_frames)
    except OSError:  # no process or pipe to be had (limits reached): one process streams it all
        return None


class SplitWindows:
    """All windows of a clip, in order, the last ``WORKER_SHARE`` of them computed by a forked process.

    ``clip`` is a gtzan.daemon.clips clip, or a function giving the samples, which the worker calls too
    (so it must give the same samples every time). Create it before starting threads (the bundle
    loader), and iterate in the process that created it.
    """

    def __init__(self, clip: FileRanges | DecodedClip | Callable[[], np.ndarray | None], hop_frames: int) -> None:
        self.clip = DecodedClip(clip) if callable(clip) else clip
        self.hop_frames = hop_frames
        self.hop = hop_frames * HOP  # in samples
        self._pid: int | None = None
        self._fd: int | None = None  # the worker's windows
        self._ctl: int | None = None  # where to stop, when the main process takes windows back
        self._rows: list[np.ndarray] = []  # rows received and not yet handed out
        self._received = 0  # rows received from the worker
        self._broken = False  # the worker failed or is gone
        self.taken_back = 0  # windows the main process took back from the worker
        # called with each AHEAD_WINDOWS windows taken back as they are computed, before they can be handed out
        self.ahead: Callable[[list[Window]], None] | None = None
        self._feature_time = self._output_time = 0.0  # seconds spent here computing features, classifying
        self._features_done = self._output_done = 0  # and the windows they were spent on
        # the pace of both processes is measured from the first output on (the bundle's loading slows both
        # before): features computed here by then, and the first and latest receipt, (time, windows received)
        self._features_mark = (0.0, 0)
        self._receipts: tuple[tuple[float, int], tuple[float, int]] | None = None
        self._fork()

    def available(self) -> bool:
        """Whether the clip's samples can be had (else the caller streams the source itself)."""
        return self.clip.available()

    @property
    def n_samples(self) -> int:
        return self.clip.n_samples

    @property
    def total(self) -> int:
        return window_count(self.n_samples, self.hop)

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
                if self.available():  # else the parent fails on its own copy, and streams
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
            row = np.concatenate([win.features.astype(np.float64), [win.peak, win.clipped]])
            _write_all(out, struct.pack("<q", 1) + row.tobytes())
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
        ex = StreamingExtractor(self.hop_frames)
        try:
            for samples in self.clip.blocks(a, b, block):
                t = time.perf_counter()
                windows = ex.push(samples)
                self._feature_time += time.perf_counter() - t
                self._features_done += len(windows)
                for win in windows:
                    yield Window.at(win.start_sample + a, win.features, win.peak, win.clipped)
        except ClipError as e:  # the windows before it are out; the run ends with the error, as streamed
            raise BadInput(str(e)) from None

    def note_output(self, seconds: float, windows: int) -> None:
        """The main process spent ``seconds`` classifying and writing ``windows`` windows, which counts in
        how many windows to take back."""
        if not self._output_done:
            self._features_mark = (self._feature_time, self._features_done)
            self._receipts = None
        self._output_time += seconds
        self._output_done += windows

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
        while self._fd is not None and not self._broken and self.split + self._received < end and _readable(self._fd):
            self._receive()

    def _receive(self) -> None:
        """Read one batch from the worker (waiting for it); a broken pipe or a bad count ends the worker."""
        assert self._fd is not None
        feats = _receive_batch(self._fd, self.total - self.split - self._received)
        if feats is None:
            self._broken = True
        else:
            self._rows.append(feats)
            self._received += len(feats)
            now = (time.perf_counter(), self._received)
            self._receipts = (now, now) if self._receipts is None else (self._receipts[0], now)

    def _worker_batches(self) -> Iterator[list[Window]]:
        """The worker's windows as they arrive (all that have arrived, together), then any taken back;
        what the worker fails to send is computed here.

        Windows taken back are computed one at a time, with the worker's windows taken in (and handed
        on) in between, so that the worker never waits on a full pipe while this process works. They
        can only be handed on after the worker's; ``ahead`` gets them meanwhile, to predict them."""
        total = self.total
        nxt, end = self.split, total  # the worker delivers [split, end)
        own: list[Window] = []
        told = 0  # of them, given to ``ahead``
        todo: Iterator[Window] | None = None  # the windows taken back, not yet computed
        failed: BadInput | None = None  # reading the windows taken back failed
        decided = False
        try:
            while nxt < end:
                self._drain(end)
                if not self._rows and not self._broken and self._fd is not None:
                    if not decided:  # about to wait: take work back instead?
                        decided = True
                        end = self._take_back(self.split + self._received, total)
                        todo = self._compute(end) if end < total else None
                        continue
                    if todo is not None:
                        try:
                            win = next(todo, None)
                        except BadInput as e:  # raised after the windows before it, the worker's included
                            failed, win = e, None
                        if win is None:
                            todo = None
                        else:
                            own.append(win)
                            if self.ahead is not None and len(own) - told >= AHEAD_WINDOWS:
                                self.ahead(own[told:])
                                told = len(own)
                        continue
                    self._receive()
                if not self._rows:  # the worker is gone
                    break
                rows = np.concatenate(self._rows)[: end - nxt]
                self._rows.clear()
                starts = (nxt + np.arange(len(rows))) * self.hop
                yield [Window.at(int(s), r[:-2], float(r[-2]), int(r[-1])) for s, r in zip(starts, rows, strict=True)]
                nxt += len(rows)
        finally:
            self.close()
        if nxt < end:  # the worker failed: do the rest here
            yield from self._batched(self._compute(nxt, end))
        if todo is not None:
            own.extend(todo)
        if own:
            yield own
        if failed is not None:
            raise failed

    def _take_back(self, nxt: int, total: int) -> int:
        """When the worker has more windows to go than the main process needs to catch up, ask it to
        stop early, so that the main process computes the last windows itself: where the worker now stops."""
        ft, fn = self._feature_time - self._features_mark[0], self._features_done - self._features_mark[1]
        main = ft / fn if fn >= _PACE_WINDOWS else self._feature_time / max(self._features_done, 1)
        worker = main
        if self._receipts is not None and self._receipts[1][1] - self._receipts[0][1] >= _PACE_WINDOWS:
            (t0, n0), (t1, n1) = self._receipts
            worker = (t1 - t0) / (n1 - n0)
        output = self._output_time / self._output_done if self._output_done else 0.0
        k = windows_to_take_back(total - nxt - 1, main, worker, output)  # the worker is busy with one more
        if k < 2 or self._ctl is None:
            return total
        try:
            _write_all(self._ctl, struct.pack("<q", total - k))
        except OSError:  # the worker is gone: it computes nothing more, and the rest is done here
            return total
        self.taken_back = k
        return total - k

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
