"""A real capture device for tests: PulseAudio's pipe source as PortAudio's default input.

``VirtualMic`` starts a private PulseAudio server (no hardware, no D-Bus, private socket and
runtime dir, ``module-pipe-source`` as the default source), gives the program under test an
environment whose ALSA configuration (``ALSA_CONFIG_PATH``) routes the ``default`` device to that
server, and feeds a 16-bit WAV into the pipe at real-time pace from a separate process. Every
process it starts is stopped by its own pid. Feeding starts only once the program's capture stream
is connected (audio written before that is dropped), and a pipe source with no data delivers
nothing, so the program's first captured sample is the first fed sample.

Needs the Debian packages ``pulseaudio pulseaudio-utils libasound2-plugins libportaudio2``;
``VirtualMic.unavailable()`` says what is missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

_ALSA_PULSE_PLUGIN_GLOBS = ("/usr/lib/*/alsa-lib/libasound_module_pcm_pulse.so", "/usr/lib/alsa-lib/libasound_module_pcm_pulse.so")


def _stop(proc: subprocess.Popen | None, timeout: float = 3.0) -> None:
    """TERM, wait, then KILL: one process, by its pid."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)
    except ProcessLookupError:
        pass


class VirtualMic:
    """A private PulseAudio server whose default source plays what ``feed`` writes."""

    def __init__(self, rate: int = 22050, channels: int = 1):
        self.rate, self.channels = rate, channels
        self.work: Path | None = None
        self.pulse: subprocess.Popen | None = None
        self.feeder: subprocess.Popen | None = None

    @staticmethod
    def unavailable() -> str | None:
        """Why a virtual microphone cannot run here, or None."""
        import glob

        for exe in ("pulseaudio", "pactl"):
            if shutil.which(exe) is None:
                return f"{exe} not installed (apt-get install pulseaudio pulseaudio-utils)"
        if not any(glob.glob(g) for g in _ALSA_PULSE_PLUGIN_GLOBS):
            return "ALSA pulse plugin not installed (apt-get install libasound2-plugins)"
        try:
            import sounddevice  # noqa: F401
        except OSError:
            return "PortAudio not installed (apt-get install libportaudio2)"
        return None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> VirtualMic:
        self.work = Path(tempfile.mkdtemp(prefix="vmic."))  # mode 0700, as PulseAudio wants
        for d in ("run", "state", "home"):
            (self.work / d).mkdir()
        self.socket = self.work / "run" / "native"
        self.fifo = self.work / "run" / "mic.fifo"
        (self.work / "mic.pa").write_text(
            f"load-module module-native-protocol-unix socket={self.socket} auth-anonymous=1\n"
            "load-module module-null-sink sink_name=vspk sink_properties=device.description=VirtualSpeaker\n"
            f"load-module module-pipe-source source_name=vmic file={self.fifo} format=s16le rate={self.rate} "
            f"channels={self.channels} source_properties=device.description=VirtualMic\n"
            "set-default-sink vspk\nset-default-source vmic\n")
        (self.work / "asound.conf").write_text(
            f'pcm.!default {{ type pulse\n server "unix:{self.socket}" }}\n'
            f'ctl.!default {{ type pulse\n server "unix:{self.socket}" }}\n')
        (self.work / "client.conf").write_text("autospawn = no\n")
        env = self._client_env(os.environ)
        env.update(HOME=str(self.work / "home"), PULSE_STATE_PATH=str(self.work / "state"))
        self._pa_log = open(self.work / "pa.log", "wb")
        self.pulse = subprocess.Popen(
            ["pulseaudio", "-n", "-F", str(self.work / "mic.pa"), "--daemonize=no", "--exit-idle-time=-1",
             "--use-pid-file=no", "--realtime=no", "--high-priority=no", "--log-target=stderr"],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._pa_log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pulse.poll() is not None:
                raise RuntimeError(f"pulseaudio exited: {(self.work / 'pa.log').read_text()[-2000:]}")
            if "Default Source: vmic" in self._pactl("info"):
                return self
            time.sleep(0.05)
        raise RuntimeError("pulseaudio did not come up")

    def close(self) -> None:
        """Feeder, then the server, each by its pid; then the work dir."""
        _stop(self.feeder)
        _stop(self.pulse)
        self.feeder = self.pulse = None
        if getattr(self, "_pa_log", None):
            self._pa_log.close()
        if self.work is not None:
            shutil.rmtree(self.work, ignore_errors=True)
            self.work = None

    def __enter__(self) -> VirtualMic:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the program's side -------------------------------------------------------------------
    def _client_env(self, base: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in base.items()
               if k not in ("DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "XDG_RUNTIME_DIR", "PULSE_SERVER")}
        env.update(ALSA_CONFIG_PATH=str(self.work / "asound.conf"), PULSE_COOKIE=str(self.work / "cookie"),
                   PULSE_RUNTIME_PATH=str(self.work / "run"), PULSE_CLIENTCONFIG=str(self.work / "client.conf"))
        return env

    @property
    def env(self) -> dict[str, str]:
        """Environment for the program under test: its default input is the virtual microphone."""
        return self._client_env(os.environ)

    def _pactl(self, *args: str) -> str:
        r = subprocess.run(["pactl", "-s", f"unix:{self.socket}", *args], env=self.env,
                           capture_output=True, text=True, timeout=10)
        return r.stdout

    def capture_streams(self) -> list[str]:
        return [l for l in self._pactl("list", "short", "source-outputs").splitlines() if l.strip()]

    def wait_for_capture(self, proc: subprocess.Popen | None = None, timeout: float = 30.0) -> bool:
        """True once some program has a capture stream open on the virtual mic."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.capture_streams():
                return True
            if proc is not None and proc.poll() is not None:
                return False
            time.sleep(0.02)
        return False

    # -- the sound ------------------------------------------------------------------------------
    def feed(self, wav: Path, lead_in_frames: int = 0, then: str = "silence") -> subprocess.Popen:
        """Start writing the WAV (16-bit, the mic's rate and channels) into the pipe at real-time pace.

        then = "silence": keep writing zeros until stopped (a pipe source without data stalls the
        program); "stall": stop writing but keep the pipe open (a device that stops delivering).
        """
        with wave.open(str(wav)) as w:
            if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (self.rate, self.channels, 2):
                raise ValueError(f"{wav}: need 16-bit {self.rate} Hz {self.channels} ch")
        self.stamp = self.work / "feed.stamp"
        self.stamp.unlink(missing_ok=True)
        self.feeder = subprocess.Popen([sys.executable, __file__, "feed", str(self.fifo), str(wav),
                                        str(lead_in_frames), then, str(self.stamp)], stdin=subprocess.DEVNULL)
        return self.feeder

    def feed_started(self, timeout: float = 10.0) -> float:
        """time.monotonic() (system-wide clock) at which the feeder wrote its first sample."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return float(self.stamp.read_text())
            except (OSError, ValueError):
                time.sleep(0.01)
        raise TimeoutError("the feeder did not start")

    def stop_feeding(self) -> None:
        _stop(self.feeder)
        self.feeder = None


def _feed_main(fifo: str, wav: str, lead_in: str, then: str, stamp: str) -> None:
    """The feeder process: lead-in zeros, the WAV, then zeros (or nothing) at real-time pace."""
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    with wave.open(wav) as w:
        sr, fb = w.getframerate(), w.getnchannels() * w.getsampwidth()
        pcm = w.readframes(w.getnframes())
    chunk = max(1, sr // 100)  # 10 ms writes
    fd = os.open(fifo, os.O_WRONLY)
    t0, sent = time.monotonic(), 0

    def put(b: bytes) -> None:
        nonlocal sent
        try:
            os.write(fd, b)
        except BrokenPipeError:  # the server went away
            os._exit(0)
        sent += len(b) // fb
        d = t0 + sent / sr - time.monotonic()
        if d > 0:
            time.sleep(d)

    data = bytes(int(lead_in) * fb) + pcm
    tmp = stamp + ".tmp"
    with open(tmp, "w") as f:
        f.write(repr(t0))
    os.replace(tmp, stamp)
    for i in range(0, len(data), chunk * fb):
        put(data[i : i + chunk * fb])
    if then == "silence":
        while True:
            put(bytes(chunk * fb))
    while True:  # "stall": hold the pipe open, write nothing
        time.sleep(3600)


if __name__ == "__main__" and len(sys.argv) == 7 and sys.argv[1] == "feed":
    _feed_main(*sys.argv[2:])
