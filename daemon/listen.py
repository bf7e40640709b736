"""One input streamed window by window: a file, the synthetic demo or the microphone.

``gtzan-listen`` reads its options (gtzan.daemon.cli) into a ListenOptions and hands it to ``listen``,
which opens the source, picks the output (JSON lines or the terminal display), runs the main loop
(gtzan.daemon.run) and ends with the summary, through the output, and any message, on stderr.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gtzan.daemon.errors import print_error

if TYPE_CHECKING:
    from gtzan.daemon.interfaces import Messages, Output, Predictor, Source


@dataclass(frozen=True)
class ListenOptions:
    """The command line's settings for one input (the hop already in frames: gtzan.constants.hop_frames)."""

    file: Path | None  # stream this file; neither it nor demo: the microphone
    demo: bool
    device: str | None  # the microphone's input device (name or index)
    device_rate: int | None  # the rate to ask the input device for
    hop_frames: int  # between the starts of consecutive windows, in 512-sample frames
    models: Path | None  # the bundle's folder (None: the one shipped with the package)
    as_json: bool
    realtime: bool  # a file or the demo at real-time pace (else --fast)
    duration: float | None  # seconds of audio to stop after
    smooth: float  # seconds of windows averaged for the smoothed verdict
    silence_db: float
    block_frames: int | None  # samples per read or callback (testing)
    stall_timeout: float  # seconds without audio from a device before it counts as lost

    @property
    def live(self) -> bool:
        """The microphone: nothing to read ahead, the pace is the device's."""
        return self.file is None and not self.demo

    @property
    def fast(self) -> bool:
        """--fast on a file or the demo: a second process takes the later windows (gtzan.daemon.parallel)
        and the sessions load in a thread (gtzan.daemon.loading)."""
        return not (self.live or self.realtime)


def open_source(errc: Messages, opts: ListenOptions) -> Source:
    """The file, the demo or the microphone (found, not yet started), after any note about it on stderr."""
    if opts.file is not None:
        from gtzan.daemon.sources import FileSource

        source = FileSource(opts.file, realtime=opts.realtime, block_frames=opts.block_frames)
        truncated = source.truncation_note()
        if truncated:
            errc.print(f"warning: {truncated}", highlight=False)
        return source
    if opts.demo:
        errc.print(
            "[bold yellow]demo:[/] the audio is SYNTHETIC (generated patterns, not music); "
            "the genres shown for it are only illustrative.",
            highlight=False,
        )
        from gtzan.daemon.sources import DemoSource

        return DemoSource(realtime=opts.realtime, block_frames=opts.block_frames)
    from gtzan.daemon.mic import MicSource  # not the file sources' module: it imports numpy

    mic = MicSource(
        opts.device, block_frames=opts.block_frames, stall_seconds=opts.stall_timeout, rate=opts.device_rate
    )
    mic.prepare()
    return mic


def make_output(bundle: Predictor, source: Source, opts: ListenOptions) -> Output:
    """JSON lines on stdout (with a progress line on stderr where it helps), or the terminal display."""
    from gtzan.daemon.loading import member_rows

    genres = tuple(bundle.genres)
    if opts.as_json:
        from gtzan.daemon import progress
        from gtzan.daemon.output_json import JsonOutput

        shown = (
            progress.StderrProgress(genres, progress.audio_length(source, opts.duration)) if progress.wanted() else None
        )
        return JsonOutput(genres, {n: w for n, _, w in member_rows(bundle)}, progress=shown)
    from gtzan.daemon.display import LiveDisplay

    return LiveDisplay(genres, member_rows(bundle), realtime=not opts.fast)


def listen(errc: Messages, opts: ListenOptions) -> int:
    """Stream one input to its end (or --duration, a signal, an error); the exit code."""
    source = open_source(errc, opts)
    splitter = None
    if opts.fast:  # forked first, before anything the worker has no use for is imported
        from gtzan.daemon.parallel import start_split
        from gtzan.daemon.sources import sample_limit

        splitter = start_split(source, opts.hop_frames, sample_limit(opts.duration))
    if opts.live:  # capture from here: the main loop's imports overlap the first window's audio
        source.start()
    try:
        from gtzan.daemon.run import BATCH_WINDOWS, run
    except BaseException:
        source.__exit__(None, None, None)  # closes a started stream (the main loop's `with` never came)
        raise

    def load() -> Predictor:
        from gtzan.daemon.loading import load_models

        return load_models(opts.models, errc, background=opts.fast)

    result = run(
        source,
        load,
        lambda bundle: make_output(bundle, source, opts),
        hop_frames=opts.hop_frames,
        smooth=opts.smooth,
        silence_db=opts.silence_db,
        duration=opts.duration,
        warm=not opts.fast,
        splitter=splitter,
        batch=BATCH_WINDOWS if opts.fast else 1,
    )  # run closes the splitter
    s = result.summary
    result.output.summary(s)
    if result.error is not None:
        print_error(errc, str(result.error))
    elif result.ended in ("interrupted", "terminated"):
        errc.print(
            f"gtzan-listen: {result.ended}" + ("" if s["windows"] else " before the first complete 3 s window"),
            highlight=False,
        )
    if source.close_hung:
        # PortAudio did not let go of the device within its timeout; waiting for it at interpreter exit
        # could hang forever, so leave now with everything written flushed.
        errc.print("gtzan-listen: the input device did not close; exiting without waiting for it", highlight=False)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(result.exit_code)
    return result.exit_code
