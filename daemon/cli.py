"""``gtzan-listen``: classify the genre of what is playing, window by window, as it plays.

Exit codes: 0 the file ended or --duration was reached; 1 runtime error (no or lost input
device, PortAudio missing or unable to start); 2 bad usage or bad input (unknown option, bad
number, unreadable audio, bad model bundle, audio shorter than one 3 s window, stdout closed);
130 interrupted (SIGINT, Ctrl-C); 143 terminated (SIGTERM). Every error is one line on stderr.
With several files or a folder (gtzan.daemon.batch): 0 every file has a verdict, 2 any failed.
"""

from __future__ import annotations

import os
import sys
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import NoReturn

import click

from gtzan import __version__
from gtzan.constants import SR, WINDOW_SAMPLES, hop_frames
from gtzan.daemon.errors import EXIT_ERROR, EXIT_OK, EXIT_SIGINT, EXIT_USAGE, ListenError, Stderr, print_error
from gtzan.daemon.usage import FiniteFloat, FiniteFloatRange, OneLineCommand

WINDOW_SECONDS = WINDOW_SAMPLES / SR

# Set by cli() for a run that opens no audio device: main() may then end it without the interpreter's teardown.
_NO_TEARDOWN = False


EPILOG = """\b
Exit codes: 0 the file ended or --duration was reached; 1 runtime error (no input device,
device lost or silent for --stall-timeout, PortAudio missing); 2 bad usage or bad input
(unreadable audio, bad model bundle, audio shorter than one 3 s window, standard output
closed); 130 interrupted (Ctrl-C); 143 terminated (SIGTERM). Every error is one line on stderr.
With several files or a folder: 0 every file has a verdict, 2 any file failed (its row says why).
"""


@click.command(
    cls=OneLineCommand,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EPILOG,
)
@click.version_option(__version__, "--version", prog_name="gtzan-listen", message="%(prog)s %(version)s")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--file",
    "file_",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Stream this audio file (any format gtzan.audio decodes) instead of the microphone; repeatable, like PATH.",
)
@click.option(
    "--jobs",
    type=click.IntRange(1),
    default=None,
    help="Files classified at once with several files or a folder (default: the number of cores).",
)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="With several files or a folder: also write the table of verdicts to this CSV file.",
)
@click.option(
    "--demo", is_flag=True, help="Stream a synthetic clip made by the program itself (no microphone or file needed)."
)
@click.option("--list-devices", is_flag=True, help="List the audio devices PortAudio sees and exit.")
@click.option(
    "--device", metavar="NAME|INDEX", help="Capture from this input device (default: the system's default input)."
)
@click.option(
    "--device-rate",
    type=click.IntRange(8000, 384000),
    default=None,
    metavar="HZ",
    help="Ask the input device for this sample rate (e.g. 22050). By default it is opened at its own "
    "rate and resampled here with soxr: a sound server's own conversion to 22,050 Hz can change "
    "the verdicts.",
)
@click.option(
    "--hop",
    type=FiniteFloatRange(0.025, 60.0),
    default=0.5,
    show_default=True,
    help="Seconds between the starts of consecutive 3 s windows (rounded to 512 samples).",
)
@click.option(
    "--models",
    type=click.Path(path_type=Path),
    default=None,
    help="Model bundle directory (default: the bundle shipped with the package).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Write JSON lines to stdout (also the default when stdout is not a terminal).",
)
@click.option(
    "--realtime/--fast",
    default=True,
    show_default=True,
    help="Stream --file/--demo at real-time pace, or as fast as possible.",
)
@click.option(
    "--duration", type=FiniteFloatRange(0, min_open=True), default=None, help="Stop after this many seconds of audio."
)
@click.option(
    "--smooth",
    type=FiniteFloatRange(0.0, 3600.0),
    default=3.0,
    show_default=True,
    help="Seconds of windows averaged for the smoothed verdict; a new genre must lead for half as "
    "many windows before the display switches (N = round(smooth/hop), K = N // 2, both at least 1).",
)
@click.option(
    "--silence-db",
    type=FiniteFloat(),
    default=-60.0,
    show_default=True,
    help="Windows quieter than this (dBFS) are reported as silence, not given a genre.",
)
@click.option(
    "--block-frames",
    type=click.IntRange(1),
    default=None,
    hidden=True,
    help="Frames per read/callback (testing: results must not depend on it).",
)
@click.option(
    "--stall-timeout",
    type=FiniteFloatRange(0.1),
    default=3.0,
    show_default=True,
    help="Seconds without audio from an input device that has been delivering before reporting it "
    "lost (a device gets at least 5 s to deliver its first audio).",
)
@click.pass_context
def cli(
    ctx: click.Context,
    paths: tuple[Path, ...],
    file_: tuple[Path, ...],
    jobs: int | None,
    csv_path: Path | None,
    demo: bool,
    list_devices: bool,
    device: str | None,
    device_rate: int | None,
    hop: float,
    models: Path | None,
    as_json: bool,
    realtime: bool,
    duration: float | None,
    smooth: float,
    silence_db: float,
    block_frames: int | None,
    stall_timeout: float,
) -> None:
    """Listen to the microphone (default), a file (PATH or --file) or a synthetic demo (--demo) and show
    the music genre of every 3 s window as it plays, from a weighted vote of the bundle's models.

    With --json, or when stdout is not a terminal, stdout carries one JSON object per window and a
    final {"summary": ...} object; all messages go to stderr.

    With several files or a folder (searched recursively for audio files), every file is classified
    as fast as possible, --jobs at a time, and gets one verdict: a table (--csv: also a CSV file) or,
    in JSON, one {"summary": ...} line per file, with its "file" and "error", in input order.
    """
    errc = Stderr()
    if sys.stdout is None:  # started with stdout closed (`>&-`): the results would have nowhere to go
        print_error(
            errc, "standard output is closed: nowhere to write the results (redirect it, e.g. --json > out.jsonl)"
        )
        ctx.exit(EXIT_USAGE)
    from gtzan.memory import keep_freed_blocks

    keep_freed_blocks()
    inputs = [*file_, *paths]
    batch = len(inputs) > 1 or any(p.is_dir() for p in inputs) or (bool(inputs) and csv_path is not None)
    if not batch and (jobs is not None or csv_path is not None):
        raise click.UsageError("--jobs and --csv apply to several files or a folder only")
    single = inputs[0] if inputs and not batch else None
    if inputs and demo:
        raise click.UsageError("use either --file or --demo, not both")
    if device is not None and (inputs or demo):
        raise click.UsageError("--device applies to microphone input only")
    if duration is not None and duration < WINDOW_SECONDS:
        raise click.BadParameter(
            f"{duration:g} s is shorter than one window ({WINDOW_SECONDS:.2f} s): "
            "no complete 3 s window would be classified",
            param_hint="--duration",
        )
    frames = hop_frames(hop)  # the one conversion: the hop is counted in 512-sample frames from here on
    uses_device = list_devices or (not inputs and not demo)
    global _NO_TEARDOWN
    _NO_TEARDOWN = not uses_device
    try:
        quiet: AbstractContextManager[object] = nullcontext()
        if uses_device:  # PortAudio's and alsa-lib's own lines stay off the terminal
            from gtzan.daemon.cstderr import audio_noise_filtered

            quiet = audio_noise_filtered()
        with quiet:
            if uses_device:  # PortAudio starts while the capture code imports (gtzan.daemon.devices)
                from gtzan.daemon.devices import start_portaudio

                start_portaudio()
            if list_devices:
                from gtzan.daemon.devices import import_sounddevice, list_devices_text

                click.echo(list_devices_text(import_sounddevice()))
                ctx.exit(EXIT_OK)
            if batch:
                from gtzan.daemon.batch import run_batch

                code = run_batch(
                    inputs,
                    models=models,
                    hop_frames=frames,
                    smooth=smooth,
                    silence_db=silence_db,
                    duration=duration,
                    block_frames=block_frames,
                    jobs=jobs,
                    as_json=as_json or not sys.stdout.isatty(),
                    csv_path=csv_path,
                    errc=errc,
                )
                ctx.exit(code)
            from gtzan.daemon.listen import ListenOptions, listen

            options = ListenOptions(
                file=single,
                demo=demo,
                device=device,
                device_rate=device_rate,
                hop_frames=frames,
                models=models,
                as_json=as_json or not sys.stdout.isatty(),
                realtime=realtime,
                duration=duration,
                smooth=smooth,
                silence_db=silence_db,
                block_frames=block_frames,
                stall_timeout=stall_timeout,
            )
            code = listen(errc, options)
    except ListenError as e:
        print_error(errc, str(e))
        code = e.exit_code
    except KeyboardInterrupt:
        errc.print("gtzan-listen: interrupted")
        code = EXIT_SIGINT
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): stop quietly, and keep Python's exit flush from complaining
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_OK
    except (click.exceptions.Exit, click.UsageError):
        raise
    except Exception as e:
        if os.environ.get("GTZAN_LISTEN_DEBUG"):
            raise
        print_error(errc, f"unexpected {type(e).__name__}: {e}")
        code = EXIT_ERROR
    ctx.exit(code)


def main() -> None:
    """The console script. A run that opened no audio device (a file, a folder, the demo) ends, once
    its output is flushed, without the interpreter's teardown: a full garbage collection and every
    module's and model session's destructor, 50-90 ms measured, a tenth of a 30 s file's --fast run,
    for nothing (no atexit work, no child process left, everything written). A run with a device
    keeps it, for PortAudio's own exit."""
    try:
        cli(prog_name="gtzan-listen")
    except SystemExit as e:
        if _NO_TEARDOWN and (e.code is None or isinstance(e.code, int)):
            _exit_now(e.code or 0)
        raise


def _exit_now(code: int) -> NoReturn:
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # a reader gone or a stream closed: nothing more can reach it
            pass
    os._exit(code)


if __name__ == "__main__":
    main()
