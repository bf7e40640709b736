"""The microphone: a PortAudio input read through a never-blocking callback and a bounded queue.

Nothing here imports numpy or soxr before the stream runs: on the live path the capture starts while
they import (the callback's arrays and the resampler need them only once audio arrives), which brings
the first verdict that much sooner (BENCHMARKS.md).
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

from gtzan.constants import SR, WINDOW_SAMPLES
from gtzan.daemon.errors import NoInputDevice, SourceStalled
from gtzan.daemon.interfaces import Block, StopFlag

if TYPE_CHECKING:
    from gtzan.resample import StreamResampler

# 100 ms callbacks (live CPU 3.96% of a core with 93 ms ones against 4.98% with 46 ms ones); at 22,050 Hz
# 30 blocks of 2,205 samples end one sample after the first window (66,149), where 2,048-sample blocks
# ended 1,435 samples (65 ms) after it: the first verdict comes that much sooner
MIC_BLOCK_SECONDS = 2205 / SR
FIRST_WINDOW_BLOCKS = round(WINDOW_SAMPLES / SR / MIC_BLOCK_SECONDS)  # 30
# capture_block_frames at the usual device rates, as _find_block_frames finds them with soxr
KNOWN_BLOCK_FRAMES = {
    8000: 824,
    11025: 1127,
    16000: 1630,
    22050: 2205,
    24000: 2421,
    32000: 3226,
    44100: 4449,
    48000: 4842,
    88200: 8894,
    96000: 9697,
    176400: 17872,
    192000: 19327,
}


def capture_block_frames(rate: int) -> int:
    """Frames per capture callback at the device's rate: about 0.1 s, and the fewest with which the first
    3 s window is complete after ``FIRST_WINDOW_BLOCKS`` blocks.

    A device at another rate is resampled as it arrives, and soxr holds back 5-115 ms of the stream
    (42 ms at most at 44.1 kHz), so with 0.1 s blocks the first window waited for a 31st block: at
    44.1 kHz this size, 4,449 frames instead of 4,410, brings the first verdict 0.09-0.12 s sooner
    (BENCHMARKS.md; benchmarks/bench_daemon.py --live-args '--block-frames N'). How much soxr outputs
    depends only on the lengths it is given, so a run on silence finds the size; the usual rates' sizes
    are known (a test finds them again), which keeps numpy and soxr out of the capture's start.
    """
    if rate in KNOWN_BLOCK_FRAMES:
        return KNOWN_BLOCK_FRAMES[rate]
    return _find_block_frames(rate)


def _find_block_frames(rate: int) -> int:
    import numpy as np

    from gtzan.resample import StreamResampler

    frames = math.ceil(WINDOW_SAMPLES * rate / SR / FIRST_WINDOW_BLOCKS)
    if rate == SR:
        return frames
    scratch = StreamResampler(rate, 1, SR)
    for _ in range(10):
        out = sum(len(scratch.process(np.zeros(frames, np.float32))) for _ in range(FIRST_WINDOW_BLOCKS))
        scratch.reset()
        if out >= WINDOW_SAMPLES:
            break
        frames += max(1, math.ceil((WINDOW_SAMPLES - out) * rate / SR / FIRST_WINDOW_BLOCKS))
    return frames


class MicSource:
    """Captures from a PortAudio input through a never-blocking callback and a bounded queue.

    The device is opened at its own rate (mono, else stereo, else all its channels; or at ``rate`` first
    when one is asked for), and the stream is then downmixed and resampled to 22,050 Hz as it arrives
    (gtzan.audio.StreamResampler: soxr, as files are). Asking a sound server for 22,050 Hz instead lets
    its resampler do the conversion: through PulseAudio's, 4 of 10 held-out GTZAN tracks got a different
    verdict (benchmarks/bench_robustness.py --mic). A watchdog
    on the time since the last callback turns a vanished or starved device into SourceStalled.
    """

    kind = "microphone"
    synthetic = False
    realtime = True
    path = None

    def __init__(
        self,
        device: str | None = None,
        block_frames: int | None = None,
        stall_seconds: float = 3.0,
        queue_seconds: float = 20.0,
        start_grace: float = 5.0,
        rate: int | None = None,
    ):
        self.device = device
        self.rate = rate
        self.block_frames = block_frames
        self.stall_seconds = stall_seconds
        self.start_grace = max(start_grace, stall_seconds)
        self.queue_seconds = queue_seconds
        self.overflows = 0  # callbacks flagged input_overflow by PortAudio
        self.dropped = 0  # blocks thrown away because the queue was full
        self.frames = 0
        self._last_callback = 0.0
        self._finished = False
        self.close_hung = False  # the stream did not close within close()'s timeout
        self._stream: Any = None  # a sounddevice.RawInputStream
        self._sd: ModuleType | None = None
        self.resampler: StreamResampler | None = None  # made by the first block read (numpy, soxr)

    # -- callback: runs on PortAudio's thread; must not block, raise or allocate much ------------
    def _callback(self, indata: Any, frames: int, time_info: Any, status: Any) -> None:
        """``indata``: the block's interleaved float32 samples as a buffer (a raw stream: sounddevice's
        array streams import numpy when they open, which would hold the capture's start back)."""
        try:
            now = time.monotonic()
            self._last_callback = now
            self.frames += frames
            if status.input_overflow:
                self.overflows += 1
            self._queue.put_nowait((bytearray(indata), now))  # a copy: PortAudio reuses its buffer
        except queue.Full:
            self.dropped += 1
        except BaseException:  # an exception here would kill the stream silently
            pass

    def _on_finished(self) -> None:
        self._finished = True

    def __enter__(self) -> MicSource:
        if self._sd is None:
            self.prepare()
        return self

    def prepare(self) -> None:
        """Find the device and the format to open it with; cheap, so a missing device is reported before models load."""
        from gtzan.daemon.devices import resolve_input

        sd, info = resolve_input(self.device)
        self.device_info = info
        index = info["index"]
        native, most = int(round(info["default_samplerate"])), int(info["max_input_channels"])
        asked = [] if self.rate is None else [(self.rate, 1)]
        for rate, channels in dict.fromkeys([*asked, (native, 1), (native, min(2, most)), (native, most), (SR, 1)]):
            try:
                sd.check_input_settings(device=index, channels=channels, samplerate=rate, dtype="float32")
                break
            except Exception:  # PortAudioError or ValueError: try the device's own format
                continue
        else:
            asked_text = f"{self.rate} Hz mono, " if self.rate is not None else ""
            raise NoInputDevice(
                f"input device {info['name']!r} accepts none of {asked_text}{native} Hz mono, "
                f"{native} Hz with {min(2, most)} or {most} channels, or {SR} Hz mono"
            )
        self.samplerate, self.channels = rate, channels
        self._sd = sd
        self.blocksize = self.block_frames or max(64, capture_block_frames(rate))
        self._queue: queue.Queue = queue.Queue(maxsize=max(8, math.ceil(self.queue_seconds * rate / self.blocksize)))

    def start(self) -> None:
        """Open and start the stream back to back: audio delivered between the two would be lost.

        Started once: a second call (the main loop's, after an early start) does nothing.
        """
        if self._stream is not None:
            return
        sd, info = self._sd, self.device_info
        assert sd is not None, "start() before prepare()"
        try:
            self._stream = sd.RawInputStream(
                device=info["index"],
                samplerate=self.samplerate,
                channels=self.channels,
                dtype="float32",
                blocksize=self.blocksize,
                callback=self._callback,
                finished_callback=self._on_finished,
            )
            self._stream.start()
        except (sd.PortAudioError, ValueError) as e:
            raise NoInputDevice(
                f"could not open input device {info['name']!r} at {self.samplerate} Hz, {self.channels} ch: {e}"
            ) from None
        self._started = time.monotonic()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self, timeout: float = 2.0) -> None:
        """abort() (never stop(): it can block forever on a starved source), then close, off-thread with a timeout."""
        stream, self._stream = self._stream, None
        if stream is None:
            return

        def _shut() -> None:
            for f in (stream.abort, stream.close):
                try:
                    f()
                except Exception:
                    pass

        t = threading.Thread(target=_shut, name="close-input", daemon=True)
        t.start()
        t.join(timeout)
        self.close_hung = t.is_alive()

    def describe(self) -> str:
        name = self.device_info["name"]
        conv = f", resampled {self.samplerate} Hz {self.channels} ch -> {SR} Hz mono" if self.resampled else ""
        return f"input device [{self.device_info['index']}] {name}: {self.samplerate} Hz, {self.channels} ch{conv}"

    @property
    def resampled(self) -> bool:
        return (self.samplerate, self.channels) != (SR, 1)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "device": self.device_info["name"],
            "index": self.device_info["index"],
            "samplerate": self.samplerate,
            "channels": self.channels,
            "resampled": self.resampled,
            "synthetic": False,
        }

    def label_at(self, start_sample: int, end_sample: int) -> str | None:
        return None

    def seconds(self) -> None:
        return None

    def expected_samples(self) -> None:
        return None

    def samples(self, limit: int | None = None) -> None:
        """A live input cannot be had at once."""
        return None

    def _stalled(self, now: float, started: float) -> str | None:
        """How the device has failed to deliver, as the end of a sentence, or None while it is in time.

        Before its first callback a device gets ``start_grace`` (at least the stall timeout: opening can
        take a while); after that, ``stall_seconds`` between callbacks.
        """
        if self._last_callback:
            if now - self._last_callback > self.stall_seconds:
                return (
                    f"for more than {self.stall_seconds:g} s (--stall-timeout) after it had delivered "
                    f"{self.frames / self.samplerate:.1f} s of audio (device lost, or it stopped delivering)"
                )
        elif now - started > self.start_grace:
            return (
                f"in the {self.start_grace:g} s after it was opened (nothing feeding it, or the device is "
                f"not working; --stall-timeout {self.stall_seconds:g} s applies once audio flows)"
            )
        return None

    def blocks(self, stop: StopFlag) -> Iterator[Block]:
        import numpy as np

        if self.resampled and self.resampler is None:
            from gtzan.resample import StreamResampler

            self.resampler = StreamResampler(self.samplerate, self.channels, SR)
        started = self._started
        while not stop():
            try:
                raw, arrival = self._queue.get(timeout=0.1)
            except queue.Empty:
                name = self.device_info["name"]
                if self._finished:
                    raise SourceStalled(f"the input stream from device {name!r} ended (device lost)") from None
                stalled = self._stalled(time.monotonic(), started)
                if stalled:
                    raise SourceStalled(f"no audio from input device {name!r} {stalled}") from None
                continue
            block = np.frombuffer(raw, dtype=np.float32).reshape(-1, self.channels)
            if self.resampler is not None:
                y = self.resampler.process(block if self.channels > 1 else block[:, 0])
                if len(y) == 0:
                    continue
            else:
                y = block[:, 0]
            yield y, arrival
