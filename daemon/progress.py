"""A progress line on stderr for JSON runs whose stdout goes elsewhere (a file, a pipe).

Without it a real-time run writing JSON to a file shows nothing on the terminal for minutes. It is
shown only when stderr is a terminal and stdout is not (JSON lines on the same terminal would tear
the line), redrawn by rich at a few frames a second, and removed at the end, where the verdict line
takes its place.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

from gtzan.daemon.pipeline import WindowResult

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from gtzan.daemon.interfaces import Source
    from gtzan.daemon.run import RunState

REFRESH_PER_SECOND = 4


def wanted() -> bool:
    """Whether to show progress: stderr is a terminal and stdout is not."""

    def tty(stream: TextIO | None) -> bool:
        try:
            return stream is not None and stream.isatty()
        except (AttributeError, ValueError, OSError):
            return False

    return tty(sys.stderr) and not tty(sys.stdout)


def audio_length(source: Source, duration: float | None) -> float | None:
    """Seconds of audio the run will read, when known (a file or the demo; not a microphone without --duration)."""
    total = source.seconds()
    if duration is not None:
        total = duration if total is None else min(total, duration)
    return total


def verdict_words(r: WindowResult | None, genres: tuple[str, ...]) -> str:
    """The smoothed verdict as a few words: 'rock 64%', 'uncertain: rock? 41%', 'silence'."""
    if r is None:
        return "listening"
    if r.silent or r.smoothed is None:
        return "silence"
    g, p = genres[r.smoothed], 100 * float(r.smoothed_probability or 0.0)
    return f"uncertain: {g}? {p:.0f}%" if r.smoothed_uncertain else f"{g} {p:.0f}%"


class StderrProgress:
    """rich.progress on stderr: the smoothed verdict, the audio read (a bar when its length is known), the time."""

    def __init__(self, genres: tuple[str, ...], total_seconds: float | None, console: Console | None = None):
        self.genres = genres
        self.total = total_seconds
        self.console = console
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def start(self, state: RunState) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn

        columns: list[ProgressColumn] = [TextColumn("[bold]{task.description}")]
        if self.total:
            columns += [BarColumn(bar_width=24), TextColumn("{task.completed:.1f}/{task.total:.1f} s")]
        else:
            columns += [TextColumn("{task.completed:.1f} s of audio")]
        columns += [TextColumn("windows {task.fields[windows]}"), TimeElapsedColumn()]
        self._progress = Progress(
            *columns,
            console=self.console or Console(stderr=True),
            transient=True,
            refresh_per_second=REFRESH_PER_SECOND,
            redirect_stdout=False,
        )
        self._task = self._progress.add_task("listening", total=self.total or None, windows=0)
        self._progress.start()

    def window(self, r: WindowResult, state: RunState) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task,
                description=verdict_words(r, self.genres),
                completed=state.audio_seconds(),
                windows=r.index + 1,
            )

    def tick(self, state: RunState) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=state.audio_seconds())

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
