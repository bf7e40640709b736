"""gtzan-listen on bad input and in odd environments, run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests import wavgen
from tests.helpers import CLI, lines, listen
from tests.terminal import run_on_pty


@pytest.fixture(scope="module")
def music(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return wavgen.write(tmp_path_factory.mktemp("input") / "music.wav", wavgen.music_like(6.0), subtype="PCM_16")


def one_line_error(r: subprocess.CompletedProcess, code: int, *words: str) -> str:
    """The run failed with ``code`` and stderr is exactly one line, the error, holding ``words``."""
    assert r.returncode == code, (r.returncode, r.stderr)
    err = r.stderr.splitlines()
    assert len(err) == 1 and err[0].startswith("gtzan-listen: error: "), r.stderr
    for w in words:
        assert w in err[0], (w, err[0])
    return err[0]


@pytest.mark.parametrize("option,value", [("--smooth", "inf"), ("--smooth", "1e300"), ("--duration", "nan"),
                                          ("--duration", "inf"), ("--hop", "nan"), ("--hop", "-inf"),
                                          ("--silence-db", "nan"), ("--stall-timeout", "inf")])
def test_numbers_must_be_finite(music: Path, option: str, value: str) -> None:
    r = listen("--file", str(music), "--fast", "--json", option, value)
    one_line_error(r, 2, option)
    assert r.stdout == ""


@pytest.mark.parametrize("args,words", [
    (["--file", "/nonexistent/song.wav"], ["--file", "does not exist"]),
    (["--no-such-option"], ["No such option", "--no-such-option"]),
    (["--hop", "fast"], ["--hop", "not a valid float"]),
    (["--demo", "--file", "MUSIC"], ["either --file or --demo"]),
    (["--file", "MUSIC", "--duration", "2"], ["--duration", "no complete 3 s window"]),
])
def test_usage_errors_are_one_line(music: Path, args: list[str], words: list[str]) -> None:
    r = listen(*[str(music) if a == "MUSIC" else a for a in args])
    one_line_error(r, 2, *words)


def test_closed_stdout(music: Path) -> None:
    """`gtzan-listen ... >&-`: there is nowhere to write the results, said in one line."""
    for extra in (["--json"], []):
        r = subprocess.run(["sh", "-c", 'exec "$@" >&-', "sh", *CLI, "--file", str(music), "--fast", *extra],
                           capture_output=True, text=True, timeout=60)
        one_line_error(r, 2, "standard output is closed")


def test_version() -> None:
    from importlib.metadata import version

    import gtzan

    r = listen("--version")
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout == f"gtzan-listen {gtzan.__version__}\n"
    assert version("gtzan-listen") == gtzan.__version__  # the installed metadata reads the same source


def test_truncated_wav_is_flagged(tmp_path: Path) -> None:
    full = wavgen.write(tmp_path / "full.wav", wavgen.music_like(10.0), subtype="PCM_16")
    cut = wavgen.truncated(full, tmp_path / "cut.wav", keep=0.6)
    r = listen("--file", str(cut), "--fast", "--json")
    assert r.returncode == 0, r.stderr
    warning = [line for line in r.stderr.splitlines() if "truncated" in line]
    assert warning == ["warning: cut.wav is truncated: its header announces 10.00 s of audio but the file holds "
                       "6.00 s; classifying the part that is there"]
    ws, summary = lines(r.stdout)
    assert summary["source"]["truncated"] == {"header_seconds": 10.0, "file_seconds": 6.0}
    assert summary["audio_seconds"] == pytest.approx(6.0, abs=0.01) and len(ws) > 0
    r = listen("--file", str(full), "--fast", "--json")
    assert "truncated" not in r.stderr and lines(r.stdout)[1]["source"]["truncated"] is None


def _stderr_on_a_terminal(args: list[str], stdout: Path) -> tuple[int, str]:
    """Run with stderr on a pseudo-terminal and stdout to a file: (exit code, what the terminal got)."""
    return run_on_pty([*CLI, *args], stdout=stdout,
                      env=dict(os.environ, COLUMNS="100", LINES="30", TERM="xterm-256color"))


def test_progress_on_a_terminal_stderr_while_json_goes_to_a_file(music: Path, tmp_path: Path) -> None:
    code, err = _stderr_on_a_terminal(["--file", str(music), "--json"], tmp_path / "out.jsonl")
    assert code == 0, err
    assert "/6.0 s" in err and re.search(r"windows [1-6]\b", err)  # the progress line, redrawn as windows come
    assert "verdict:" in err
    ws, summary = lines((tmp_path / "out.jsonl").read_text())  # stdout is untouched: JSON lines only
    assert len(ws) == 6 and summary["ended"] == "end"
    r = listen("--file", str(music), "--json", "--fast")  # stderr not a terminal: no progress
    assert r.returncode == 0 and "/6.0 s" not in r.stderr and "\x1b" not in r.stderr


def test_json_to_a_terminal_has_no_progress_line(music: Path) -> None:
    """With stdout on the same terminal, a progress line would tear the JSON lines: none is drawn."""
    code, got = run_on_pty([*CLI, "--file", str(music), "--json", "--fast"],
                           env=dict(os.environ, TERM="xterm-256color"), timeout=60)
    assert code == 0
    text = got.replace("\r\n", "\n")
    assert "/6.0 s" not in text
    json.loads(next(line for line in text.splitlines() if line.startswith('{"window": 0')))


_FILTER = """
import os, sys
from gtzan.daemon.cstderr import audio_noise_filtered
with audio_noise_filtered():
    os.write(2, b"Expression 'alsa_snd_pcm_poll_descriptors_revents( self->pcm )' failed in "
                b"'src/hostapi/alsa/pa_linux_alsa.c', line: 3665\\n")
    os.write(2, b"ALSA lib pcm.c:2666:(snd_pcm_open_noupdate) Unknown PCM cards.pcm.rear\\n")
    os.write(2, b"a line from C that matters\\n")
    print("python's own message", file=sys.stderr)
print("after", file=sys.stderr)
os.write(2, b"Expression 'x' failed in 'y', line: 1\\n")
"""


def test_audio_library_noise_is_filtered_from_stderr() -> None:
    """What C code writes to fd 2 passes through a filter while a device is in use; Python's messages
    go straight to the terminal, and everything is back as it was afterwards."""
    import sys

    r = subprocess.run([sys.executable, "-c", _FILTER], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert sorted(r.stderr.splitlines()) == sorted(["a line from C that matters", "python's own message", "after",
                                                    "Expression 'x' failed in 'y', line: 1"])
