"""What the main loop (gtzan.daemon.run) needs of a source, an output and a predictor, as types.

The loop streams any source into any output through any predictor. These protocols list what each
must offer, so that mypy checks the microphone, file and demo sources, the JSON, terminal and batch
outputs, and the loaded bundle and its background loader against one contract, instead of the loop
asking each object at run time what it happens to have.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

if TYPE_CHECKING:
    import numpy as np

    from gtzan.bundle import Prediction
    from gtzan.daemon.pipeline import WindowResult
    from gtzan.daemon.run import RunState
    from gtzan.manifest import Manifest

Block: TypeAlias = "tuple[np.ndarray, float]"  # float32 mono samples at 22,050 Hz, and when the last of them arrived
StopFlag = Callable[[], bool]  # polled between blocks: true once the run is asked to stop


class Messages(Protocol):
    """Where one-line notes, warnings and errors go (stderr): rich's console or anything printing like it."""

    def print(self, *args: Any, **kwargs: Any) -> None: ...


class Source(Protocol):
    """Where the samples come from (gtzan.daemon.sources): entered as a context (leaving it releases the
    device), started, then read block by block until it ends or the stop flag is set."""

    @property
    def kind(self) -> str:
        """What the source is, as the summary says: "microphone", "file" or "demo"."""

    @property
    def synthetic(self) -> bool:
        """The demo's generated audio, not music."""

    @property
    def realtime(self) -> bool:
        """Blocks come at the pace of a live input (else as fast as they can be read)."""

    @property
    def block_frames(self) -> int | None:
        """Samples per block (None: the device's own choice)."""

    @property
    def path(self) -> Path | None:
        """The file read, which --fast's worker reads itself; None for the other sources."""

    @property
    def overflows(self) -> int:
        """Callbacks the device flagged as overflowed (a live input's; 0 otherwise)."""

    @property
    def dropped(self) -> int:
        """Blocks thrown away because the queue was full (a live input's; 0 otherwise)."""

    @property
    def close_hung(self) -> bool:
        """The device did not close in time: waiting for it at exit could hang."""

    def __enter__(self) -> object: ...

    def __exit__(self, *exc: object) -> None: ...

    def start(self) -> None:
        """Start delivering: a live input opens its stream here (files and the demo deliver when read)."""

    def blocks(self, stop: StopFlag) -> Iterator[Block]: ...

    def describe(self) -> str: ...

    def as_json(self) -> dict[str, Any]: ...

    def label_at(self, start_sample: int, end_sample: int) -> str | None:
        """A note on what plays in a window (the demo's pattern), or None."""

    def seconds(self) -> float | None:
        """The audio's length, when known before it is read (not a live input's)."""

    def expected_samples(self) -> int | None:
        """Samples ``samples`` would give, known without decoding; None when it would give none."""

    def samples(self, limit: int | None = None) -> np.ndarray | None:
        """All the audio at once (at most ``limit`` samples), for --fast; None when it cannot be held."""


class Predictor(Protocol):
    """The model bundle as the pipeline and the outputs use it: gtzan.bundle.Bundle, loaded before the
    run, and gtzan.daemon.loading.BackgroundBundle, whose sessions load in a thread meanwhile (--fast)."""

    @property
    def genres(self) -> tuple[str, ...]: ...

    @property
    def manifest(self) -> Manifest: ...

    @property
    def uncertain_below(self) -> float: ...

    def predict(self, features: np.ndarray) -> Prediction: ...

    @property
    def context_share(self) -> float | None:
        """The 30 s context model's share in a track's verdict; None without one."""

    def levelled(self, features: np.ndarray) -> np.ndarray:
        """Feature rows as the members see them."""

    def predict_context(self, pooled: np.ndarray) -> np.ndarray | None:
        """The context model's probabilities for features pooled over 30 s (gtzan.context)."""

    def ready(self) -> bool:
        """Whether ``predict`` would run without waiting for the models to load."""

    def join(self) -> None:
        """Wait until nothing runs in the background (a loader thread must not be inside onnxruntime at exit)."""


class Output(Protocol):
    """Where the windows go (gtzan.daemon.output_json, gtzan.daemon.display, a batch's nothing), and in
    the end the summary: the caller never asks which kind of output it has."""

    def start(self, state: RunState) -> None: ...

    def window(self, r: WindowResult, state: RunState) -> float:
        """Show one classified window; the milliseconds from its last sample's arrival to now."""

    def tick(self, state: RunState) -> None:
        """After the windows delivered together, and between blocks: write or redraw what is due."""

    def close(self) -> None: ...

    def summary(self, summary: dict[str, Any]) -> None:
        """The end-of-run summary (gtzan.daemon.summary.SummaryBuilder.as_dict), after ``close``."""
