"""PortAudio access through sounddevice, imported lazily so file and demo modes work without it."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from types import ModuleType
from typing import Any

from gtzan.daemon.errors import NoInputDevice, PortAudioFailed, PortAudioMissing


def _load_guard() -> ModuleType | None:
    """The C crash guard; None where it was built without a C compiler (PortAudio then starts in a probe
    process first)."""
    try:
        from gtzan.daemon import _crash_guard
    except ImportError:
        return None
    return _crash_guard


_guard = _load_guard()

INSTALL_HINT = "install PortAudio (Debian/Ubuntu: sudo apt-get install libportaudio2)"
ALTERNATIVES = "use --file PATH to classify a file, or --demo to watch a synthetic demo"
START_TIMEOUT = 20.0  # seconds PortAudio may take to start (a sound server may be slow to answer)


def import_sounddevice() -> ModuleType:
    """Import sounddevice (which starts PortAudio), turning every way that fails into a one-line error.

    After ``start_portaudio()`` this waits for that start instead and reports its outcome.
    """
    if _early is None and "sounddevice" in sys.modules:
        return _import_started()
    start_portaudio()
    assert _early is not None
    return _early.result()


def _import_started() -> ModuleType:
    """The import itself: Pa_Initialize runs in it, guarded or after a probe (see ``_EarlyStart``)."""
    try:
        import sounddevice
    except OSError as e:  # "PortAudio library not found"
        raise PortAudioMissing(f"the PortAudio library is missing ({e}): {INSTALL_HINT}; or {ALTERNATIVES}") from None
    except ImportError as e:
        raise PortAudioMissing(f"the sounddevice package is not installed ({e}); {ALTERNATIVES}") from None
    except Exception as e:  # sounddevice.PortAudioError from Pa_Initialize, raised on import
        raise PortAudioFailed(
            f"PortAudio could not start ({' '.join(str(e).split())}){_config_hint()}; or {ALTERNATIVES}"
        ) from None
    return sounddevice


class _EarlyStart:
    """PortAudio starting on a thread: Pa_Initialize (which runs with the GIL released) overlaps the
    imports the live path makes meanwhile, instead of following them."""

    def __init__(self) -> None:
        self._module: ModuleType | None = None
        self._error: BaseException | None = None
        self._guarded = _guard is not None
        # without the guard, a probe forked before this thread starts (the child copies none of its state)
        pid = None if self._guarded else _fork_probe()
        self._thread = threading.Thread(target=self._run, args=(pid,), name="portaudio-start", daemon=True)
        self._thread.start()

    def _run(self, pid: int | None) -> None:
        try:
            if pid is not None:
                _wait_probe(pid, START_TIMEOUT)
            self._module = _import_guarded() if self._guarded else _import_started()
        except BaseException as e:  # reported by result(), on the thread that needs the module
            self._error = e

    def result(self) -> ModuleType:
        # a probe has its own deadline; a start in this process is given the same
        self._thread.join(START_TIMEOUT if self._guarded else None)
        if self._thread.is_alive():
            raise PortAudioFailed(_hung_message(START_TIMEOUT))
        if self._error is not None:
            raise self._error
        assert self._module is not None
        return self._module


_early: _EarlyStart | None = None


def start_portaudio() -> None:
    """Begin ``import_sounddevice()`` in the background, for a path that will open a device.

    On the live path PortAudio's start (Pa_Initialize: 26-28 ms, and a probe process without the crash
    guard) otherwise waited for numpy and the capture code to import, all before the first sample.
    """
    global _early
    if _early is None and "sounddevice" not in sys.modules:
        _early = _EarlyStart()


def _import_guarded() -> ModuleType:
    """``_import_started()`` with the C crash guard armed on this thread.

    alsa-lib aborts the whole process (SIGABRT, without a word) while PortAudio starts when the ALSA
    configuration defines no default PCM (ALSA_CONFIG_PATH naming a missing or empty file, an
    ~/.asoundrc that replaces ``pcm``); an abort cannot be caught in Python, so the guard writes the
    one-line error and ends the process with PortAudioFailed's status instead.
    """
    assert _guard is not None
    head, tail = ("gtzan-listen: error: " + _crash_message("\0") + "\n").split("\0")
    try:
        fd = sys.stderr.fileno()  # the terminal, also while cstderr.audio_noise_filtered() holds fd 2
    except (AttributeError, OSError, ValueError):
        fd = 2
    _guard.arm(
        fd, head.encode(errors="backslashreplace"), tail.encode(errors="backslashreplace"), PortAudioFailed.exit_code
    )
    try:
        return _import_started()
    finally:
        _guard.disarm()


def _crash_message(signal_name: str) -> str:
    return (
        f"PortAudio crashed while starting (killed by {signal_name} in the audio libraries){_config_hint()}; "
        f"or {ALTERNATIVES}"
    )


def _hung_message(timeout: float) -> str:
    return (
        f"PortAudio did not finish starting within {timeout:g} s (a sound server not "
        f"answering?){_config_hint()}; or {ALTERNATIVES}"
    )


def _fork_probe() -> int | None:
    """Fork a child that starts PortAudio and exits, taking the risk of alsa-lib's abort (see
    ``_import_guarded``) where the crash guard is not built: its pid (None: no fork to be had here).

    It costs one fork and one PortAudio start before the capture can start (30-60 ms, measured).
    """
    if not hasattr(os, "fork"):
        return None
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    try:
        pid = os.fork()
    except OSError:  # no process to be had: start PortAudio here, unprobed
        return None
    if pid == 0:  # the child: start PortAudio, say nothing, leave without the parent's exit handlers
        code = 1
        try:
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            import sounddevice  # noqa: F401 - Pa_Initialize runs on import

            code = 0
        finally:
            os._exit(code)  # a Python-level failure is reported by the parent's own import
    return pid


def _wait_probe(pid: int, timeout: float) -> None:
    """Wait for the probe child; PortAudioFailed if it hung or was killed."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise PortAudioFailed(_hung_message(timeout))
        time.sleep(0.002)
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        sig = signal.Signals(number).name if number in signal.Signals._value2member_map_ else f"signal {number}"
        raise PortAudioFailed(_crash_message(sig))


def _config_hint() -> str:
    """What is wrong with ALSA_CONFIG_PATH, the usual cause of PortAudio failing to start, as a clause."""
    value = os.environ.get("ALSA_CONFIG_PATH")
    if value is None:
        return ": the ALSA configuration (/etc/asound.conf, ~/.asoundrc) may be broken"
    problems = []
    for path in value.split(":"):
        if not path:
            problems.append("an empty entry")
        elif not os.path.exists(path):
            problems.append(f"{path!r} does not exist")
        elif not os.path.isfile(path):
            problems.append(f"{path!r} is not a file")
        elif not os.access(path, os.R_OK):
            problems.append(f"{path!r} is not readable")
        elif os.path.getsize(path) == 0:
            problems.append(f"{path!r} is empty")
    if not problems:
        return f": check the ALSA configuration that ALSA_CONFIG_PATH={value!r} points at"
    return (
        f": ALSA_CONFIG_PATH={value!r} is unusable ({', '.join(problems)}); unset it or point it at a "
        "valid ALSA configuration"
    )


def parse_device(device: str | None) -> int | str | None:
    """--device accepts an index or (part of) a name, as sounddevice does."""
    if device is None or device == "":
        return None
    return int(device) if device.strip().isdigit() else device


def list_devices_text(sd: ModuleType | None = None) -> str:
    """sounddevice's device table, or a sentence saying there is none."""
    sd = sd or import_sounddevice()
    try:
        devs = sd.query_devices()
    except Exception as e:  # a listing must never crash the error message it belongs to
        return f"(could not list devices: {e})"
    if len(devs) == 0:
        return "no audio devices found"
    return str(devs)


def input_devices(sd: ModuleType) -> list[dict[str, Any]]:
    try:
        return [d for d in sd.query_devices() if d["max_input_channels"] > 0]
    except Exception:
        return []


def resolve_input(device: str | None) -> tuple[ModuleType, dict[str, Any]]:
    """The sounddevice module and the capture device to use; NoInputDevice with a helpful message if none."""
    sd = import_sounddevice()
    want = parse_device(device)
    try:
        info = sd.query_devices(want, kind="input")
    except (sd.PortAudioError, ValueError) as e:
        have = input_devices(sd)
        listing = "; ".join(f"[{d['index']}] {d['name']}" for d in have) or "none"
        what = "no audio input device found" if want is None else f"input device {device!r} not found"
        raise NoInputDevice(
            f"{what} ({e}). Input devices present: {listing}. {ALTERNATIVES[0].upper()}{ALTERNATIVES[1:]}."
        ) from None
    if info["max_input_channels"] < 1:
        raise NoInputDevice(f"device {info['name']!r} has no input channels; see --list-devices; or {ALTERNATIVES}")
    return sd, dict(info)
