"""Where the audio comes from: a file or the synthetic demo (the microphone: gtzan.daemon.mic).

Every source yields ``(samples, arrival)`` pairs: float32 mono blocks at 22,050 Hz and the
monotonic time their last sample became available (used for latency). Sources are context
managers; leaving the context releases the device. Each satisfies gtzan.daemon.interfaces.Source.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gtzan.constants import SR
from gtzan.daemon.errors import BadInput
from gtzan.daemon.interfaces import Block, StopFlag

if TYPE_CHECKING:
    from gtzan.audio import AudioInfo

FILE_BLOCK_REALTIME = 2048  # frames per read when pacing a file like a live input (~93 ms at 22,050 Hz)
FILE_BLOCK_FAST = 65536
MAX_DECODED_SECONDS = 15 * 60  # --fast decodes a file up to this long at once (5.3 MB a minute, in each process)


def sample_limit(duration: float | None) -> int | None:
    """--duration in samples at 22,050 Hz (None: no limit)."""
    return None if duration is None else int(round(duration * SR))


class _Pacer:
    """Releases blocks no sooner than a live input would deliver them (or at once with realtime=False)."""

    def __init__(self, realtime: bool):
        self.realtime = realtime
        self._t0: float | None = None
        self._sent = 0

    def wait(self, n: int, stop: StopFlag) -> float:
        self._sent += n
        if self.realtime:
            if self._t0 is None:
                self._t0 = time.monotonic()
            due = self._t0 + self._sent / SR
            while not stop():
                left = due - time.monotonic()
                if left <= 0:
                    break
                time.sleep(min(left, 0.1))
        return time.monotonic()


class FileSource:
    """Streams a decoded file block by block (gtzan.audio.iter_audio), at real-time pace unless fast."""

    kind = "file"
    synthetic = False
    overflows = 0
    dropped = 0
    close_hung = False

    def __init__(self, path: str | Path, realtime: bool = True, block_frames: int | None = None):
        self.path = Path(path)
        self.realtime = realtime
        self.block_frames = block_frames or (FILE_BLOCK_REALTIME if realtime else FILE_BLOCK_FAST)
        self.info: AudioInfo | None = None

    def _header(self) -> AudioInfo:
        if self.info is None:
            from gtzan.audio import AudioError, audio_info

            try:
                self.info = audio_info(self.path)
            except AudioError as e:
                raise BadInput(str(e)) from None
        return self.info

    def __enter__(self) -> FileSource:
        self._header()
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def start(self) -> None:
        return None

    @property
    def resampled(self) -> bool:
        info = self._header()
        return info.samplerate != SR or info.channels != 1

    def describe(self) -> str:
        from gtzan.audio import describe_source

        return describe_source(self._header())

    def as_json(self) -> dict[str, Any]:
        info = self._header()
        truncated = (
            None
            if info.header_frames is None
            else {
                "header_seconds": round(info.header_frames / info.samplerate, 3),
                "file_seconds": round(info.frames / info.samplerate, 3),
            }
        )
        return {
            "kind": self.kind,
            "path": str(self.path),
            "samplerate": info.samplerate,
            "channels": info.channels,
            "resampled": self.resampled,
            "synthetic": False,
            "truncated": truncated,
        }

    def truncation_note(self) -> str | None:
        """One line when the header announces more audio than the file holds (the file was cut short)."""
        from gtzan.audio import truncation_note

        return truncation_note(self._header())

    def label_at(self, start_sample: int, end_sample: int) -> str | None:
        return None

    def seconds(self) -> float:
        """The length the header gives."""
        return float(self._header().duration)

    def expected_samples(self) -> int | None:
        """Samples at 22,050 Hz the header promises (no decoding); None when too long for ``samples``."""
        duration = self._header().duration
        return None if duration > MAX_DECODED_SECONDS else int(round(duration * SR))

    def samples(self, limit: int | None = None) -> np.ndarray | None:
        """The whole file decoded (at most ``limit`` samples), for --fast; None when it is too long to
        hold or fails to decode (then ``blocks`` streams it and reports the error where it occurs)."""
        from gtzan.audio import AudioError, load_audio

        if self.expected_samples() is None:
            return None
        try:
            y = load_audio(self.path, sr=SR)
        except AudioError:
            return None
        return y if limit is None else y[:limit]

    def blocks(self, stop: StopFlag) -> Iterator[Block]:
        from gtzan.audio import AudioError, iter_audio

        pacer = _Pacer(self.realtime)
        it = iter_audio(self.path, block_frames=self.block_frames, sr=SR)
        while not stop():
            try:
                y = next(it)
            except StopIteration:
                return
            except AudioError as e:
                raise BadInput(str(e)) from None
            yield y, pacer.wait(len(y), stop)


class DemoSource:
    """A synthetic clip of genre-ish patterns (gtzan.daemon.demo), streamed like a file."""

    kind = "demo"
    synthetic = True
    overflows = 0
    dropped = 0
    resampled = False
    path = None
    close_hung = False

    def __init__(self, realtime: bool = True, block_frames: int | None = None):
        self.realtime = realtime
        self.block_frames = block_frames or (FILE_BLOCK_REALTIME if realtime else FILE_BLOCK_FAST)
        self.clip: np.ndarray | None = None
        self.segments: list[tuple[int, str]] = []

    def _synthesise(self) -> np.ndarray:
        if self.clip is None:
            from gtzan.daemon.demo import demo_clip

            self.clip, self.segments = demo_clip()
        return self.clip

    def __enter__(self) -> DemoSource:
        self._synthesise()
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def start(self) -> None:
        return None

    def describe(self) -> str:
        names = ", ".join(name for _, name in self.segments)
        return f"SYNTHETIC demo clip ({len(self._synthesise()) / SR:.0f} s at {SR} Hz: {names}); not real music"

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "samplerate": SR,
            "channels": 1,
            "resampled": False,
            "synthetic": True,
            "patterns": [name for _, name in self.segments],
        }

    def label_at(self, start_sample: int, end_sample: int) -> str | None:
        """The pattern playing at the middle of a window."""
        mid = (start_sample + end_sample) // 2
        name = self.segments[0][1]
        for s, n in self.segments:
            if s <= mid:
                name = n
        return f"synthetic: {name}"

    def seconds(self) -> float:
        return len(self._synthesise()) / SR

    def expected_samples(self) -> int:
        return len(self._synthesise())

    def samples(self, limit: int | None = None) -> np.ndarray:
        clip = self._synthesise()
        return clip if limit is None else clip[:limit]

    def blocks(self, stop: StopFlag) -> Iterator[Block]:
        pacer = _Pacer(self.realtime)
        clip = self._synthesise()
        for i in range(0, len(clip), self.block_frames):
            if stop():
                return
            y = clip[i : i + self.block_frames]
            yield y, pacer.wait(len(y), stop)
