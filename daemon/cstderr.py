"""Keep the audio libraries' own diagnostics off the terminal while a device is in use.

When a capture device vanishes, PortAudio's ALSA host API writes lines such as
``Expression '...' failed in 'src/hostapi/alsa/pa_linux_alsa.c', line: 3665`` straight to file
descriptor 2 from its own thread, and alsa-lib and JACK print ``ALSA lib ...`` / ``Cannot connect to
server ...`` lines while PortAudio looks for devices. They would reach the terminal before
gtzan-listen's one-line message and say nothing a user can act on.

While ``audio_noise_filtered()`` is active, Python's ``sys.stderr`` writes to the terminal through a
duplicate of fd 2, and fd 2 itself (where C code writes) is a pipe read by a thread that drops those
lines and passes every other line on. With GTZAN_LISTEN_DEBUG set nothing is filtered.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

NOISE = re.compile(
    rb"^(Expression '.*' failed in '"  # PortAudio's PA_ENSURE/PA_UNLESS reports
    rb"|ALSA lib "  # alsa-lib's error handler
    rb"|Cannot connect to server (socket|request channel)"  # libjack, probed by PortAudio
    rb"|jack server is not running"
    rb"|JackShmReadWritePtr)"
)


def _pump(read_fd: int, out_fd: int) -> None:
    """Copy whole lines from the pipe to the terminal, less the noise, until every writer has closed it."""
    rest = b""
    try:
        while chunk := os.read(read_fd, 65536):
            *lines, rest = (rest + chunk).split(b"\n")
            kept = b"".join(line + b"\n" for line in lines if not NOISE.match(line))
            if kept:
                os.write(out_fd, kept)
        if rest and not NOISE.match(rest):
            os.write(out_fd, rest)
    except OSError:
        pass
    finally:
        os.close(read_fd)


@contextmanager
def audio_noise_filtered() -> Iterator[None]:
    """Filter what C code writes to fd 2 (see the module docstring); Python's own messages go straight through."""
    if os.environ.get("GTZAN_LISTEN_DEBUG") or sys.stderr is None:
        yield
        return
    sys.stderr.flush()
    try:
        terminal = os.dup(2)
    except OSError:  # fd 2 is closed: nothing reaches a terminal anyway
        yield
        return
    read_fd, write_fd = os.pipe()
    python_stderr = sys.stderr
    direct = os.fdopen(
        os.dup(terminal), "w", buffering=1, encoding=python_stderr.encoding or "utf-8", errors="backslashreplace"
    )
    os.dup2(write_fd, 2)
    os.close(write_fd)
    sys.stderr = direct
    pump = threading.Thread(target=_pump, args=(read_fd, terminal), name="stderr-filter", daemon=True)
    pump.start()
    try:
        yield
    finally:
        direct.flush()
        sys.stderr = python_stderr
        os.dup2(terminal, 2)  # closes our end of the pipe: the pump sees its end and stops
        pump.join(1.0)
        direct.close()
        if not pump.is_alive():
            os.close(terminal)
