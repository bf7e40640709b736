"""--fast on two cores: the split path gives exactly the windows and verdicts of the streaming path."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

from gtzan.constants import WINDOW_SAMPLES, hop_frames
from gtzan.daemon import parallel
from gtzan.daemon.parallel import SplitWindows, start_split, window_count, worth_splitting
from gtzan.features.stream import StreamingExtractor
from tests import wavgen

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return wavgen.music_like(12.0)


def stream_windows(y: np.ndarray, hop: float = 0.5):
    return StreamingExtractor(hop_frames(hop)).push(y)


def assert_same_windows(got: list, want: list) -> None:
    """The same windows, in the same order, with bit-identical features and the same peaks."""
    def key(w):
        return w.start_sample, w.start, w.end, w.peak, w.clipped

    assert [key(w) for w in got] == [key(w) for w in want]
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a.features, b.features)


def collect(split: SplitWindows):
    try:
        return [w for batch in split.batches() for w in batch]
    finally:
        split.close()


@pytest.mark.parametrize("hop", [0.5, 1.0])
def test_split_windows_equal_one_stream(clip: np.ndarray, hop: float) -> None:
    want = stream_windows(clip, hop)
    split = SplitWindows(lambda: clip, hop_frames(hop))
    assert 0 < split.split < len(want)  # both processes have work
    got = collect(split)
    assert_same_windows(got, want)


def test_more_worker_windows_than_a_pipe_holds(clip: np.ndarray) -> None:
    y = np.tile(clip, 8)  # 96 s: the worker's windows overflow a 64 kB pipe while the main process computes
    want = stream_windows(y)
    split = SplitWindows(lambda: y, 22)
    assert (len(want) - split.split) * (8 + 8 * 58) > 65536
    got = collect(split)
    assert_same_windows(got, want)


def test_a_failed_worker_is_replaced(clip: np.ndarray) -> None:
    want = stream_windows(clip)
    split = SplitWindows(lambda: clip, 22)
    os.kill(split._pid, signal.SIGKILL)  # the worker dies before sending anything
    got = collect(split)
    assert_same_windows(got, want)


def test_a_worker_dying_midway_is_replaced_from_where_it_stopped(clip: np.ndarray,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = parallel._write_all
    sent = []

    def write_once_then_die(fd: int, data: bytes) -> None:  # runs in the forked worker
        if sent:
            os._exit(3)
        sent.append(len(data))
        real_write(fd, data)

    monkeypatch.setattr(parallel, "_write_all", write_once_then_die)
    want = stream_windows(clip)
    split = SplitWindows(lambda: clip, 22)
    batches = list(split.batches())
    split.close()
    got = [w for b in batches for w in b]
    assert_same_windows(got, want)
    worker = [b for b in batches if b[0].start_sample >= split.split * split.hop]
    assert len(worker[0]) < len(want) - split.split  # the worker's one batch, then the rest from here


@pytest.mark.parametrize("dies_after", [None, 3])
def test_a_slow_worker_gives_its_last_windows_back(clip: np.ndarray, monkeypatch: pytest.MonkeyPatch,
                                                   dies_after: int | None) -> None:
    import time

    real_write = parallel._write_all
    sent = []

    def slow_write(fd: int, data: bytes) -> None:  # in the worker: 0.1 s a window, maybe dying early
        if dies_after is not None and len(sent) == dies_after:
            os._exit(3)
        time.sleep(0.1)
        sent.append(1)
        real_write(fd, data)

    monkeypatch.setattr(parallel, "_write_all", slow_write)
    want = stream_windows(clip)
    split = SplitWindows(lambda: clip, 22)
    got = collect(split)
    if dies_after is None:
        assert split.taken_back >= 2  # the main process finished first and took windows back
    assert_same_windows(got, want)


def test_no_fork_to_be_had_means_one_process(tmp_path: Path, clip: np.ndarray,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from gtzan.daemon.sources import FileSource

    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    path = wavgen.write(tmp_path / "clip.wav", clip, subtype="PCM_16")
    assert start_split(FileSource(path, realtime=False), 22, None) is None
    if before is not None:
        assert len(os.listdir("/proc/self/fd")) == before  # the pipes were closed


def test_close_stops_the_worker(clip: np.ndarray) -> None:
    split = SplitWindows(lambda: clip, 22)
    pid = split._pid
    split.close()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped


def test_short_clips_stay_in_one_process() -> None:
    assert window_count(WINDOW_SAMPLES - 1, 11264) == 0
    assert window_count(WINDOW_SAMPLES, 11264) == 1
    assert not worth_splitting(WINDOW_SAMPLES + (parallel.MIN_WINDOWS - 2) * 11264, 22)
    assert worth_splitting(WINDOW_SAMPLES + parallel.MIN_WINDOWS * 11264, 22) == ((os.cpu_count() or 1) > 1)


class Collect:
    def __init__(self) -> None:
        self.got = []

    def start(self, state): ...
    def tick(self, state): ...
    def close(self): ...

    def window(self, r, state):
        self.got.append(r)
        return 0.0


@pytest.mark.parametrize(("duration", "ahead"), [(None, False), (9.0, False), (None, True)])
def test_run_split_equals_run_streaming(tmp_path: Path, clip: np.ndarray, duration: float | None, ahead: bool,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """``ahead``: a slow worker, so that windows are taken back, and predicted ahead two at a time."""
    import time

    from gtzan.bundle import load_bundle
    from gtzan.daemon.pipeline import Pipeline
    from gtzan.daemon.run import run
    from gtzan.daemon.sources import FileSource, sample_limit

    predicted_ahead = []
    if ahead:
        real_write, real_ahead = parallel._write_all, Pipeline.predict_ahead

        def slow_write(fd: int, data: bytes) -> None:  # in the worker
            time.sleep(0.05)
            real_write(fd, data)

        def count_ahead(self, windows) -> None:
            predicted_ahead.extend(w.start_sample for w in windows)
            real_ahead(self, windows)

        monkeypatch.setattr(parallel, "_write_all", slow_write)
        monkeypatch.setattr(parallel, "AHEAD_WINDOWS", 2)
        monkeypatch.setattr(Pipeline, "predict_ahead", count_ahead)
    path = wavgen.write(tmp_path / "clip.wav", clip, subtype="PCM_16")
    bundle = load_bundle(None)
    results = {}
    for split in (False, True):
        out = Collect()
        source = FileSource(path, realtime=False)
        splitter = start_split(source, 22, sample_limit(duration)) if split else None
        assert (splitter is not None) == split
        res = run(source, lambda: bundle, lambda b, o=out: o, hop_frames=22, warm=False, splitter=splitter,
                  duration=duration)
        assert res.exit_code == 0
        results[split] = (out.got, res.summary)
    (a, sa), (b, sb) = results[False], results[True]
    assert len(a) == len(b) > 0
    for x, y in zip(a, b, strict=True):
        assert (x.start_sample, x.label, x.smoothed, x.member_votes) == (y.start_sample, y.label, y.smoothed,
                                                                          y.member_votes)
        np.testing.assert_array_equal(x.features, y.features)
        np.testing.assert_array_equal(x.scores, y.scores)
        np.testing.assert_array_equal(x.probs, y.probs)
        np.testing.assert_array_equal(x.smoothed_probs, y.smoothed_probs)
        assert (x.probability, x.uncertain, x.smoothed_probability, x.smoothed_uncertain) == \
            (y.probability, y.uncertain, y.smoothed_probability, y.smoothed_uncertain)
        assert (x.level_dbfs, x.peak_dbfs, x.clipped, x.level_warning) == \
            (y.level_dbfs, y.peak_dbfs, y.clipped, y.level_warning)
    assert sa == sb
    if ahead:  # the first windows taken back had their members run before their turn came
        taken = [r.start_sample for r in b[len(b) - splitter.taken_back :]]
        assert len(predicted_ahead) >= 2
        assert predicted_ahead == taken[: len(predicted_ahead)]


def test_no_worker_outlives_a_bundle_error(tmp_path: Path, clip: np.ndarray) -> None:
    from gtzan.daemon.errors import BadInput
    from gtzan.daemon.run import run
    from gtzan.daemon.sources import FileSource

    path = wavgen.write(tmp_path / "clip.wav", clip, subtype="PCM_16")

    def bad_models():
        raise BadInput("no bundle")

    source = FileSource(path, realtime=False)
    splitter = start_split(source, 22, None)
    assert splitter is not None
    with pytest.raises(BadInput):
        run(source, bad_models, lambda b: Collect(), hop_frames=22, warm=False, splitter=splitter)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # the forked worker was killed and reaped


def test_windows_to_take_back_follow_both_paces() -> None:
    first = parallel.FIRST_WINDOW_HOPS - 1  # the main process's first window costs this many more
    assert parallel.windows_to_take_back(101, 1.0, 1.0, 0.0) == (101 - first) // 2
    # a worker at a third of the main process's pace: three quarters of the rest, less the first window's cost
    assert parallel.windows_to_take_back(100, 1.0, 3.0, 0.0) == int((300 - first) // 4)
    # classifying and writing what is still to come is the main process's work too
    assert parallel.windows_to_take_back(100, 1.0, 1.0, 0.5) == int((50 - first) // 2)
    assert parallel.windows_to_take_back(100, 1.0, 1.0, 5.0) == int((10 - first) // 2)  # at most 0.9 of it
    assert parallel.windows_to_take_back(2, 1.0, 1.0, 0.0) == 0
    assert parallel.windows_to_take_back(100, 0.0, 1.0, 0.0) == 0


def test_windows_taken_back_are_given_ahead_while_the_worker_runs(clip: np.ndarray,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """``ahead`` gets the windows taken back, a few at a time, as they are computed: before the batch
    that hands them out, and as the same windows."""
    import time

    real_write = parallel._write_all

    def slow_write(fd: int, data: bytes) -> None:  # in the worker: a little slower than the main process
        time.sleep(0.01)
        real_write(fd, data)

    monkeypatch.setattr(parallel, "_write_all", slow_write)
    monkeypatch.setattr(parallel, "AHEAD_WINDOWS", 4)
    y = np.tile(clip, 8)
    split = SplitWindows(lambda: y, 22)
    handed: list[list] = []
    given: list[tuple[int, list]] = []
    split.ahead = lambda windows: given.append((len(handed), list(windows)))
    try:
        for batch in split.batches():
            handed.append(batch)
    finally:
        split.close()
    assert split.taken_back >= 10
    assert given and all(len(windows) == 4 for _, windows in given)
    assert all(before < len(handed) - 1 for before, _ in given)  # the last batch came after them all
    ahead = [w for _, windows in given for w in windows]
    assert all(a is b for a, b in zip(ahead, handed[-1], strict=False))
    assert len(ahead) <= len(handed[-1]) == split.taken_back


def test_windows_taken_back_are_computed_between_the_workers(clip: np.ndarray,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A large take-back on a long clip: the worker's windows keep being taken in while the main process
    computes its own, and the order and values stay those of one stream."""
    import time

    real_write = parallel._write_all

    def slow_write(fd: int, data: bytes) -> None:  # in the worker: a little slower than the main process
        time.sleep(0.01)
        real_write(fd, data)

    monkeypatch.setattr(parallel, "_write_all", slow_write)
    y = np.tile(clip, 8)
    want = stream_windows(y)
    split = SplitWindows(lambda: y, 22)
    batches = list(split.batches())
    split.close()
    assert_same_windows([w for b in batches for w in b], want)
    assert split.taken_back >= 10
    first_own = len(want) - split.taken_back
    assert batches[-1][0].start_sample == first_own * split.hop  # the windows taken back come last, together
    assert len(batches[-1]) == split.taken_back
