"""Exit codes and the one-line errors gtzan-listen reports instead of tracebacks, and where they go."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from gtzan.daemon.interfaces import Messages

EXIT_OK = 0  # the file ended or --duration was reached
EXIT_ERROR = 1  # runtime trouble: device lost, no device, audio stopped arriving
EXIT_USAGE = 2  # bad usage or bad input (click's convention): unreadable file, bad model bundle
EXIT_SIGINT = 130  # 128 + SIGINT
EXIT_SIGTERM = 143  # 128 + SIGTERM


class ListenError(Exception):
    """An error with a user-facing one-line message and an exit code."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class BadInput(ListenError):
    """The input cannot be used (unreadable audio, bad bundle, too short): fix the input, not the machine."""

    exit_code = EXIT_USAGE


class NoInputDevice(ListenError):
    """PortAudio has no (such) capture device."""


class PortAudioMissing(ListenError):
    """`import sounddevice` failed because the PortAudio shared library is absent."""


class PortAudioFailed(ListenError):
    """PortAudio is installed but cannot start (e.g. a missing or broken ALSA configuration)."""


class SourceStalled(ListenError):
    """The capture device stopped delivering audio (unplugged, server gone, starved pipe)."""


class TooShort(BadInput):
    """The audio ended before one complete 3 s window."""


class Stderr:
    """rich's stderr console, created on first use: importing rich is not on the path to the first sample."""

    _console: Console | None = None

    def print(self, *args: Any, **kwargs: Any) -> None:
        if Stderr._console is None:
            from rich.console import Console

            Stderr._console = Console(stderr=True)
        kwargs.setdefault("soft_wrap", True)  # a message stays one line; the terminal wraps it if it must
        Stderr._console.print(*args, **kwargs)


def print_error(console: Messages, message: str) -> None:
    """``gtzan-listen: error: message``, one line."""
    console.print(f"[bold red]gtzan-listen: error:[/] {message}", highlight=False, soft_wrap=True)
