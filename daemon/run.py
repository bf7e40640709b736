"""The main loop: source blocks -> pipeline -> output, with clean stops on signals, errors and the end."""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gtzan.constants import SR, WINDOW_SAMPLES
from gtzan.daemon.errors import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_SIGINT,
    EXIT_SIGTERM,
    ListenError,
    TooShort,
)
from gtzan.daemon.pipeline import LEVEL_FLOOR_DB, Pipeline
from gtzan.daemon.sources import sample_limit
from gtzan.daemon.summary import SummaryBuilder


class StopFlag:
    """Set by SIGINT/SIGTERM; the loop polls it between blocks. A second signal aborts at once."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._saved: dict[int, Any] = {}

    def __call__(self) -> bool:
        return self.signum is not None

    def _handler(self, signum: int, frame: Any) -> None:
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

    source: Any
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
    output: Any = None
    error: ListenError | None = None
    latencies_ms: list[float] = field(default_factory=list)


def block_dbfs(block: np.ndarray) -> float:
    """RMS level of a block in dBFS (floored), for the input meter."""
    if len(block) == 0:
        return LEVEL_FLOOR_DB
    ms = float(np.dot(block, block)) / len(block)
    return max(LEVEL_FLOOR_DB, 10.0 * math.log10(ms)) if ms > 0 else LEVEL_FLOOR_DB


def warm_up(bundle: Any, hop_seconds: float) -> None:
    """One throw-away window through a private extractor and the models, so one-time costs (filter banks,
    lazy imports, the sessions' first run) are paid while the first 3 s of audio are still arriving."""
    from gtzan.features.stream import StreamingExtractor

    noise = (0.05 * np.random.default_rng(0).standard_normal(WINDOW_SAMPLES)).astype(np.float32)
    windows = StreamingExtractor(hop_seconds=hop_seconds, sr=SR).push(noise)
    if windows:
        bundle.predict(np.stack([w.features for w in windows]))


def _deliver(results: list, source: Any, output: Any, state: RunState, summary: SummaryBuilder,
             latencies: list[float]) -> None:
    """Write classified windows and count them in the summary."""
    for r in results:
        r.note = source.label_at(r.start_sample, r.start_sample + WINDOW_SAMPLES)
        latencies.append(output.window(r, state))
        summary.add(r)
    output.tick(state)


def _run_split(splitter: Any, pipeline: Pipeline, deliver: Callable[[list], None], state: RunState,
               stop: StopFlag) -> None:
    """The main loop for a split clip: batches of windows instead of blocks of samples.

    While the bundle is still loading, computed windows wait for it rather than the other way round,
    and then go through the models together (each run of the members costs about 2 ms, whatever the rows).
    """
    ready = getattr(pipeline.bundle, "ready", lambda: True)
    pending: list[tuple[list, float]] = []

    def classify_pending() -> None:
        if not pending:
            return
        windows = [w for batch, _ in pending for w in batch]
        results = pipeline.classify(windows, time.monotonic(), 0.0)
        for r, ms in zip(results, [ms for batch, ms in pending for _ in batch], strict=True):
            r.features_ms = ms
        state.input_dbfs = results[-1].level_dbfs
        pipeline.samples_in = windows[-1].start_sample + WINDOW_SAMPLES
        deliver(results)
        pending.clear()

    t0 = time.perf_counter()
    for windows in splitter.batches():
        pending.append((windows, (time.perf_counter() - t0) * 1000.0 / len(windows)))
        if ready():
            classify_pending()
        if stop():
            break
        t0 = time.perf_counter()
    classify_pending()
    if not stop():
        pipeline.samples_in = len(splitter.y)


def run(source: Any, load_models: Callable[[], Any], make_output: Callable[[Any], Any], *, hop: float = 0.5,
        smooth: float = 3.0, silence_db: float = -60.0, duration: float | None = None, warm: bool = True,
        splitter: Any = None) -> RunResult:
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
            if hasattr(source, "start"):
                source.start()
            bundle = load_models()
            output = make_output(bundle)
            summary = SummaryBuilder(tuple(bundle.genres), bundle.uncertain_below)
            pipeline = Pipeline(bundle, hop_seconds=hop, smooth_seconds=smooth, silence_db=silence_db)
            state = RunState(source=source, source_text=source.describe(), synthetic=source.synthetic,
                             hop_seconds=pipeline.hop_seconds, smooth_n=pipeline.smooth_n,
                             smooth_k=pipeline.smooth_k, silence_db=silence_db,
                             audio_seconds=lambda: pipeline.samples_in / SR,
                             uncertain_below=pipeline.uncertain_below)

            def deliver(results: list) -> None:
                _deliver(results, source, output, state, summary, latencies)

            output.start(state)
            try:
                if warm:
                    warm_up(bundle, hop)
                if splitter is not None and splitter.y is not None:  # decoded here, beside the loader
                    _run_split(splitter, pipeline, deliver, state, stop)
                    if limit is not None and pipeline.samples_in >= limit:
                        ended = "duration"
                else:
                    for block, arrival in source.blocks(stop):
                        if limit is not None:
                            block = block[: max(0, limit - pipeline.samples_in)]
                        state.input_dbfs = block_dbfs(block)
                        deliver(pipeline.push(block, arrival))
                        if limit is not None and pipeline.samples_in >= limit:
                            ended = "duration"
                            break
                        if stop():
                            break
            except ListenError as e:
                ended, error = "error", e
            finally:
                output.close()
                if hasattr(bundle, "join"):  # a loader thread must not be inside onnxruntime at exit
                    bundle.join()
            audio_seconds = pipeline.samples_in / SR
    finally:
        stop.restore()
        if splitter is not None:  # also when the models fail to load: no worker outlives us
            splitter.close()
    if error is None and stop.signum is not None:
        ended = "terminated" if stop.signum == signal.SIGTERM else "interrupted"
    code = {"end": EXIT_OK, "duration": EXIT_OK, "interrupted": EXIT_SIGINT,
            "terminated": EXIT_SIGTERM}.get(ended, EXIT_ERROR)
    if error is None and summary.windows == 0 and ended in ("end", "duration"):
        error = TooShort(f"no complete 3 s window: the audio is {audio_seconds:.2f} s long and a window needs "
                         f"{WINDOW_SAMPLES / SR:.2f} s ({WINDOW_SAMPLES} samples at {SR} Hz)")
        ended = "error"
    if error is not None:
        code = error.exit_code
    result = summary.as_dict(ended, source.as_json(), audio_seconds, int(source.overflows), int(source.dropped))
    return RunResult(exit_code=int(code), ended=ended, summary=result, output=output, error=error,
                     latencies_ms=latencies)
