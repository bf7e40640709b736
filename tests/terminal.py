"""Run a command on a pseudo-terminal and collect what it drew there."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path


def run_on_pty(cmd: list[str], *, env: dict[str, str] | None = None, stdout: Path | None = None,
               timeout: float = 120) -> tuple[int, str]:
    """(exit code, text the terminal received); stdout goes to ``stdout`` when given, else to the terminal."""
    master, slave = pty.openpty()
    out = open(stdout, "w") if stdout is not None else None
    try:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL if out else slave, stdout=out or slave, stderr=slave,
                             env=env)
    finally:
        if out is not None:
            out.close()
    os.close(slave)
    got = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the other end closed: the process is done with the terminal
            break
        if not chunk:
            break
        got += chunk
    code = p.wait(timeout)
    os.close(master)
    return code, got.decode(errors="replace")
