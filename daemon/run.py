"""The main loop: source blocks -> pipeline -> output, with clean stops on signals, errors and the end."""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any

import numpy as np

from gtzan.constants import DEFAULT_HOP_FRAMES, SR, WINDOW_SAMPLES
from gtzan.daemon.errors import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_SIGINT,
    EXIT_SIGTERM,
    ListenError,
    TooShort,
)
from gtzan.daemon.interfaces import Output, Predictor, Source
from gtzan.daemon.pipeline import LEVEL_FLOOR_DB, Pipeline, WindowResult
from gtzan.daemon.sources import sample_limit
from gtzan.daemon.summary import SummaryBuilder, track_context

if TYPE_CHECKING:
    from gtzan.daemon.parallel import SplitWindows
    from gtzan.features.stream import Window


class StopFlag:
    """Set by SIGINT/SIGTERM; the loop polls it between blocks. A second signal aborts at once."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._saved: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {}

    def __call__(self) -> bool:
        return self.signum is not None

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._saved[s] = signal.signal(s, self._handler)

    def restore(self) -> None:
        for s, h in self._saved.items():
            signal.signal(s, h)
        self._saved.clear()


@dataclass
class RunState:
    """What the outputs show besides the windows themselves."""

    source: Source
    source_text: str
    synthetic: bool
    hop_seconds: float
    smooth_n: int
    smooth_k: int
    silence_db: float
    audio_seconds: Callable[[], float]
    uncertain_below: float = 0.5  # the bundle's threshold on a verdict's calibrated probability
    started: float = field(default_factory=time.monotonic)
    input_dbfs: float = LEVEL_FLOOR_DB  # level of the latest block, for the live meter


@dataclass
class RunResult:
    exit_code: int
    ended: str  # "end", "duration", "interrupted", "terminated", "error"
    summary: dict[str, Any]
    output: Output
    error: ListenError | None = None
    latencies_ms: list[float] = field(default_factory=list)


def block_dbfs(block: np.ndarray) -> float:
    """RMS level of a block in dBFS (floored), for the input meter."""
    if len(block) == 0:
        return LEVEL_FLOOR_DB
    ms = float(np.dot(block, block)) / len(block)
    return max(LEVEL_FLOOR_DB, 10.0 * math.log10(ms)) if ms > 0 else LEVEL_FLOOR_DB


def warm_up(bundle: Predictor, hop_frames: int) -> None:
    """One throw-away window through a private extractor and the models, so one-time costs (filter banks,
    lazy imports, the sessions' first run) are paid while the first 3 s of audio are still arriving."""
    from gtzan.features.stream import StreamingExtractor

    noise = (0.05 * np.random.default_rng(0).standard_normal(WINDOW_SAMPLES)).astype(np.float32)
    windows = StreamingExtractor(hop_frames).push(noise)
    if windows:
        bundle.predict(np.stack([w.features for w in windows]))


def _deliver(
    results: list[WindowResult],
    source: Source,
    output: Output,
    state: RunState,
    summary: SummaryBuilder,
    latencies: list[float],
) -> None:
    """Write classified windows and count them in the summary."""
    for r in results:
        r.note = source.label_at(r.start_sample, r.start_sample + WINDOW_SAMPLES)
        latencies.append(output.window(r, state))
        summary.add(r)
    output.tick(state)


BATCH_WINDOWS = 64  # windows classified together when nothing waits for each one (--fast, folders)
BATCH_SECONDS = 0.25  # but at least this often, so that a display keeps moving


class _Held:
    """Windows whose features are known, waiting to be classified together (the members cost about as
    much for one row as for tens): flushed when ``BATCH_WINDOWS`` have gathered or ``BATCH_SECONDS``
    have passed since the last flush, and at the end."""

    def __init__(self, pipeline: Pipeline, deliver: Callable[[list[WindowResult]], None], size: int) -> None:
        self.pipeline, self.deliver, self.size = pipeline, deliver, size
        self.windows: list[Window] = []
        self.ms: list[float] = []
        self.arrival = 0.0
        self.last = time.monotonic()

    def add(self, windows: list[Window], ms: float, arrival: float) -> None:
        self.windows += windows
        self.ms += [ms] * len(windows)
        self.arrival = arrival

    def due(self) -> bool:
        return len(self.windows) >= self.size or (bool(self.windows) and time.monotonic() - self.last >= BATCH_SECONDS)

    def flush(self) -> int:
        """Classify and deliver what is held; how many windows that was."""
        n = len(self.windows)
        if n:
            results = self.pipeline.classify(self.windows, self.arrival, self.ms)
            self.windows, self.ms = [], []
            self.deliver(results)
        self.last = time.monotonic()
        return n


def _run_split(
    splitter: SplitWindows,
    pipeline: Pipeline,
    deliver: Callable[[list[WindowResult]], None],
    state: RunState,
    stop: StopFlag,
) -> None:
    """The main loop for a split clip: batches of windows instead of blocks of samples.

    While the bundle is still loading, computed windows wait for it rather than the other way round;
    after that they gather until ``BATCH_WINDOWS`` go through the models together. The time this
    process spends classifying and writing a window tells the splitter how many windows to take back;
    the windows it takes back are predicted as it computes them (``Pipeline.predict_ahead``).
    """
    ready = pipeline.bundle.ready

    def deliver_split(results: list[WindowResult]) -> None:
        state.input_dbfs = results[-1].level_dbfs
        pipeline.samples_in = results[-1].start_sample + WINDOW_SAMPLES
        deliver(results)

    held = _Held(pipeline, deliver_split, BATCH_WINDOWS)
    ahead_s = 0.0  # time predict_ahead took since the last batch: not the features'

    def flush() -> None:
        t = time.perf_counter()
        n = held.flush()
        if n:
            splitter.note_output(time.perf_counter() - t, n)

    def ahead(windows: list[Window]) -> None:
        nonlocal ahead_s
        if ready():
            t = time.perf_counter()
            pipeline.predict_ahead(windows)
            ahead_s += time.perf_counter() - t

    splitter.ahead = ahead
    t0 = time.perf_counter()
    try:
        for windows in splitter.batches():
            held.add(windows, (time.perf_counter() - t0 - ahead_s) * 1000.0 / len(windows), time.monotonic())
            ahead_s = 0.0
            if held.due() and ready():
                flush()
            if stop():
                break
            t0 = time.perf_counter()
    except ListenError:
        flush()  # the windows before an unreadable part count, as when streamed
        raise
    flush()
    if not stop():
        pipeline.samples_in = splitter.n_samples


def run(
    source: Source,
    load_models: Callable[[], Predictor],
    make_output: Callable[[Predictor], Output],
    *,
    hop_frames: int = DEFAULT_HOP_FRAMES,
    smooth: float = 3.0,
    silence_db: float = -60.0,
    duration: float | None = None,
    warm: bool = True,
    splitter: SplitWindows | None = None,
    batch: int = 1,
) -> RunResult:
    """Stream until the source ends, --duration is reached, a signal arrives or an error occurs.

    A live input starts capturing before the models load: what it delivers meanwhile waits in its
    queue, so loading overlaps the first 3 s window instead of delaying it. A ``splitter``
    (gtzan.daemon.parallel.start_split, --fast) has the source's later windows computed by a second
    process; run closes it, whatever happens.
    """
    stop = StopFlag()
    stop.install()
    latencies: list[float] = []
    ended, error = "end", None
    limit = sample_limit(duration)
    try:
        with source:
            source.start()
            bundle = load_models()
            output = make_output(bundle)
            summary = SummaryBuilder(tuple(bundle.genres), bundle.uncertain_below, track_context(bundle))
            pipeline = Pipeline(bundle, hop_frames=hop_frames, smooth_seconds=smooth, silence_db=silence_db)
            state = RunState(
                source=source,
                source_text=source.describe(),
                synthetic=source.synthetic,
                hop_seconds=pipeline.hop_seconds,
                smooth_n=pipeline.smooth_n,
                smooth_k=pipeline.smooth_k,
                silence_db=silence_db,
                audio_seconds=lambda: pipeline.samples_in / SR,
                uncertain_below=pipeline.uncertain_below,
            )

            def deliver(results: list[WindowResult]) -> None:
                _deliver(results, source, output, state, summary, latencies)

            output.start(state)
            held: _Held | None = None
            try:
                if warm:
                    warm_up(bundle, hop_frames)
                if splitter is not None and splitter.available():  # read here, beside the loader
                    _run_split(splitter, pipeline, deliver, state, stop)
                    if limit is not None and pipeline.samples_in >= limit:
                        ended = "duration"
                else:
                    held = _Held(pipeline, deliver, batch) if batch > 1 else None
                    for block, arrival in source.blocks(stop):
                        if limit is not None:
                            block = block[: max(0, limit - pipeline.samples_in)]
                        state.input_dbfs = block_dbfs(block)
                        if held is None:
                            deliver(pipeline.push(block, arrival))
                        else:
                            windows, ms = pipeline.extract(block)
                            held.add(windows, ms, arrival)
                            if held.due():
                                held.flush()
                        if limit is not None and pipeline.samples_in >= limit:
                            ended = "duration"
                            break
                        if stop():
                            break
                    if held is not None:
                        held.flush()
            except ListenError as e:
                ended, error = "error", e
                if held is not None:
                    held.flush()  # the windows before the error count, as when streamed
            finally:
                output.close()
                bundle.join()  # a loader thread must not be inside onnxruntime at exit
            audio_seconds = pipeline.samples_in / SR
    finally:
        stop.restore()
        if splitter is not None:  # also when the models fail to load: no worker outlives us
            splitter.close()
    if error is None and stop.signum is not None:
        ended = "terminated" if stop.signum == signal.SIGTERM else "interrupted"
    code = {"end": EXIT_OK, "duration": EXIT_OK, "interrupted": EXIT_SIGINT, "terminated": EXIT_SIGTERM}.get(
        ended, EXIT_ERROR
    )
    if error is None and summary.windows == 0 and ended in ("end", "duration"):
        error = TooShort(
            f"no complete 3 s window: the audio is {audio_seconds:.2f} s long and a window needs "
            f"{WINDOW_SAMPLES / SR:.2f} s ({WINDOW_SAMPLES} samples at {SR} Hz)"
        )
        ended = "error"
    if error is not None:
        code = error.exit_code
    result = summary.as_dict(ended, source.as_json(), audio_seconds, int(source.overflows), int(source.dropped))
    return RunResult(
        exit_code=int(code), ended=ended, summary=result, output=output, error=error, latencies_ms=latencies
    )
