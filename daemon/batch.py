"""``gtzan-listen PATH...``: one verdict per file, for many files and folders, classified in parallel.

Folders are searched recursively for audio files (by extension; anything else is counted and skipped).
Worker processes run every file through the --fast file pipeline (gtzan.daemon.batch_worker) with the
model bundle this process loaded before forking them (a single worker, or spawned ones, load it);
results are reported in input order whatever order they finish in. A bad file gets an error in its
row and the others go on: exit 0 when every file has a verdict, 2 when any failed, 130 on Ctrl-C and
143 on SIGTERM (the files finished by then are still reported).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from gtzan.daemon.errors import EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM, EXIT_USAGE, BadInput

if TYPE_CHECKING:
    from gtzan.daemon.batch_worker import BatchSettings, FileRow
    from gtzan.daemon.interfaces import Messages

# what libsndfile decodes (gtzan.audio), by the extensions such files carry
AUDIO_EXTENSIONS = (
    ".wav",
    ".wave",
    ".flac",
    ".ogg",
    ".oga",
    ".opus",
    ".mp3",
    ".aif",
    ".aiff",
    ".aifc",
    ".au",
    ".snd",
    ".w64",
    ".caf",
)
_STOPPED = ("interrupted", "terminated")


@dataclass
class Inputs:
    """The files to classify, in the order given (a folder's files sorted by path), and how many were skipped."""

    files: list[Path]
    skipped: int


def collect(paths: Sequence[Path]) -> Inputs:
    """Named files as they are (an unreadable one gets an error row); folders searched for audio files."""
    files: list[Path] = []
    skipped = 0
    for p in paths:
        if not p.is_dir():
            files.append(p)
            continue
        for f in sorted(p.rglob("*")):
            if f.is_file():
                if f.suffix.lower() in AUDIO_EXTENSIONS:
                    files.append(f)
                else:
                    skipped += 1
    return Inputs(files, skipped)


def default_jobs() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread so the batch stops like on Ctrl-C."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


@contextmanager
def _progress(total: int) -> Iterator[Callable[[FileRow], None]]:
    """A rich progress bar over the files on stderr (when it is a terminal); yields 'one more file done'."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]classifying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}", markup=False),
        console=console,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task("", total=total)
        yield lambda row: progress.update(task, advance=1, description=Path(row["file"]).name)


def _pool(workers: int, bundle_path: Path, settings: BatchSettings) -> ProcessPoolExecutor:
    """Worker processes with the bundle: forked where possible, after this process has imported the
    feature code and, for two workers or more, loaded the bundle for all of them (in this thread: no
    other runs yet); else spawned. A single worker loads it itself, beside this process's own start."""
    from gtzan.daemon.batch_worker import init_worker, load_shared_bundle

    fork = "fork" in multiprocessing.get_all_start_methods()
    if fork and workers > 1:
        load_shared_bundle(str(bundle_path))
    ctx = multiprocessing.get_context("fork" if fork else "spawn")
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=init_worker, initargs=(str(bundle_path), settings)
    )


def _error_row(path: str, message: str) -> FileRow:
    return {"file": path, "summary": None, "error": message, "ended": "error"}


class _Rows:
    """Each file's row in input order; in JSON mode the lines written so far are always a prefix of it."""

    def __init__(self, n: int, as_json: bool) -> None:
        self.rows: list[FileRow | None] = [None] * n
        self.as_json = as_json
        self.shown = 0

    def put(self, i: int, row: FileRow) -> None:
        from gtzan.daemon.batch_output import write_json_line

        self.rows[i] = row
        while self.as_json and self.shown < len(self.rows):
            shown = self.rows[self.shown]
            if shown is None:
                break
            write_json_line(sys.stdout, shown)
            self.shown += 1

    def done(self) -> list[FileRow]:
        return [r for r in self.rows if r is not None]

    def finish(self) -> None:
        """After a stop: the finished files the prefix had to wait for, still in input order."""
        from gtzan.daemon.batch_output import write_json_line

        if self.as_json:
            for r in self.rows[self.shown :]:
                if r is not None:
                    write_json_line(sys.stdout, r)
            self.shown = len(self.rows)


def _classify_all(files: list[Path], rows: _Rows, jobs: int, bundle_path: Path, settings: BatchSettings) -> str:
    """Run every file through ``jobs`` workers, filling ``rows`` as they finish; how the batch ended."""
    from gtzan.daemon.batch_worker import classify_file

    saved = {
        signal.SIGTERM: signal.signal(signal.SIGTERM, _raise_terminated),
        signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
    }  # even if inherited ignored
    executor: ProcessPoolExecutor | None = None
    try:
        executor = _pool(jobs, bundle_path, settings)
        futures = {executor.submit(classify_file, str(f)): i for i, f in enumerate(files)}
        with _progress(len(files)) as advance:
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    row = fut.result()
                except BrokenProcessPool:
                    row = _error_row(str(files[i]), "the worker process classifying it died")
                if row["ended"] in _STOPPED:  # a signal reached this worker alone
                    row = _error_row(row["file"], f"{row['ended']} before the end of the file")
                rows.put(i, row)
                advance(row)
    except KeyboardInterrupt:
        return "interrupted"
    except _Terminated:
        return "terminated"
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)  # a worker inside a file stops at its next block
    return "end"


def run_batch(
    paths: Sequence[Path],
    *,
    models: Path | None,
    hop_frames: int,
    smooth: float,
    silence_db: float,
    duration: float | None,
    block_frames: int | None,
    jobs: int | None,
    as_json: bool,
    csv_path: Path | None,
    errc: Messages,
) -> int:
    """Classify every file; report them in input order; return the exit code."""
    from gtzan.daemon.batch_output import results_table, write_csv
    from gtzan.daemon.batch_worker import BatchSettings
    from gtzan.daemon.loading import check_models

    if csv_path is not None and not csv_path.absolute().parent.is_dir():
        raise BadInput(f"--csv {csv_path}: no folder {csv_path.absolute().parent} to write it in")
    inputs = collect(paths)
    if inputs.skipped:
        errc.print(
            f"skipped {inputs.skipped} non-audio file{'s' * (inputs.skipped != 1)} "
            f"(audio files end in {', '.join(AUDIO_EXTENSIONS)})",
            highlight=False,
        )
    if not inputs.files:
        raise BadInput("no audio files to classify in " + ", ".join(str(p) for p in paths))
    bundle_path = check_models(models, errc)
    import gtzan.features.stream  # noqa: F401 - imported once here, inherited by forked workers

    workers = max(1, min(jobs or default_jobs(), len(inputs.files)))
    settings = BatchSettings(
        hop_frames=hop_frames,
        smooth=smooth,
        silence_db=silence_db,
        duration=duration,
        block_frames=block_frames,
        split=2 * workers <= (jobs or default_jobs()),
    )
    rows = _Rows(len(inputs.files), as_json)
    ended = _classify_all(inputs.files, rows, workers, bundle_path, settings)
    rows.finish()
    done = rows.done()
    if not as_json:
        from rich.console import Console

        Console().print(results_table(done))
    if csv_path is not None:
        write_csv(csv_path, done)
    failed = sum(r["error"] is not None for r in done)
    errc.print(
        f"{len(done) - failed} of {len(inputs.files)} files classified{f', {failed} failed' if failed else ''}"
        + (f"; {ended}, the rest not classified" if ended != "end" else ""),
        highlight=False,
    )
    if ended != "end":
        return EXIT_SIGINT if ended == "interrupted" else EXIT_SIGTERM
    return EXIT_USAGE if failed else EXIT_OK
