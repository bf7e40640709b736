"""gtzan-listen on a real capture device: PulseAudio's pipe source through ALSA and PortAudio (tests/vmic.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests import wavgen
from tests.helpers import CLI, HOP_SAMPLES, lines, listen, n_windows
from tests.vmic import VirtualMic

pytestmark = pytest.mark.mic


@pytest.fixture
def vmic():
    reason = VirtualMic.unavailable()
    if reason:
        pytest.skip(f"no virtual microphone: {reason}")
    with VirtualMic() as m:
        yield m


@pytest.fixture(scope="module")
def music_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return wavgen.write(tmp_path_factory.mktemp("mic") / "music.wav", wavgen.music_like(10.0, seed=3), subtype="PCM_16")


def start_listening(
    vmic: VirtualMic, wav: Path, *args: str, then: str = "silence", lead_in: int = 0
) -> subprocess.Popen:
    """Start gtzan-listen on the default input; feed the WAV once its capture stream is connected."""
    p = subprocess.Popen(
        [*CLI, "--json", "--device-rate", "22050", *args],
        env=vmic.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert vmic.wait_for_capture(p, timeout=60), p.communicate(timeout=10)
    vmic.feed(wav, then=then, lead_in_frames=lead_in)
    return p


def same_windows(mic: list[dict], file: list[dict], shift: int = 0) -> None:
    """The capture is sample-exact: after a lead-in of `shift` hops, mic window k + shift is file window k
    (same genre, member probabilities to 1e-5; the smoothed genre too when nothing precedes the audio)."""
    mic = mic[shift:]
    n = min(len(mic), len(file))
    assert n >= len(file) - shift and n > 0
    for a, b in zip(mic[:n], file[:n], strict=True):
        assert a["window"] - shift == b["window"] and a["genre"] == b["genre"]
        assert a["start"] == pytest.approx(b["start"] + shift * HOP_SAMPLES / 22050, abs=1e-6)
        if shift == 0:
            assert a["smoothed"]["genre"] == b["smoothed"]["genre"]
        for m in b["members"]:
            assert np.allclose(
                list(a["members"][m]["probs"].values()), list(b["members"][m]["probs"].values()), atol=1e-5
            )


@pytest.mark.parametrize("lead_in_hops", [0, 1])
def test_microphone_windows_equal_file_windows(vmic: VirtualMic, music_wav: Path, lead_in_hops: int) -> None:
    p = start_listening(vmic, music_wav, "--duration", "8", lead_in=lead_in_hops * HOP_SAMPLES)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    mic, summary = lines(out)
    assert summary["source"]["kind"] == "microphone" and summary["ended"] == "duration"
    assert summary["source"]["samplerate"] == 22050 and summary["source"]["resampled"] is False
    assert summary["overflows"] == 0 and summary["dropped"] == 0
    assert len(mic) == n_windows(8 * 22050)
    file, _ = lines(listen("--file", str(music_wav), "--fast", "--json", "--duration", "8").stdout)
    same_windows(mic, file, shift=lead_in_hops)
    lat = [w["timings"]["latency_ms"] for w in mic]
    assert all(0 <= x < 2000 for x in lat)  # sanity only; the benchmark measures it properly


@pytest.mark.gtzan
def test_gtzan_track_same_verdict_both_ways(vmic: VirtualMic, gtzan_audio: Path, tmp_path: Path) -> None:
    track = sorted((gtzan_audio / "metal").glob("metal.*"))[0]
    y, sr = sf.read(str(track), dtype="int16")
    assert sr == 22050 and y.ndim == 1
    wav = tmp_path / "track.wav"
    sf.write(str(wav), y, sr, subtype="PCM_16")
    p = start_listening(vmic, wav, "--duration", "12")
    out, err = p.communicate(timeout=90)
    assert p.returncode == 0, err
    mic, ms = lines(out)
    file, fs = lines(listen("--file", str(track), "--fast", "--json", "--duration", "12").stdout)
    same_windows(mic, file)
    assert ms["verdict"] == fs["verdict"] is not None and ms["shares"] == fs["shares"]


def test_source_that_stops_delivering_is_detected(vmic: VirtualMic, music_wav: Path) -> None:
    p = start_listening(vmic, music_wav, "--stall-timeout", "2")
    first = p.stdout.readline()
    assert json.loads(first)["window"] == 0
    vmic.stop_feeding()  # the pipe gets no more data: the device starves
    t0 = time.monotonic()
    out, err = p.communicate(timeout=30)
    took = time.monotonic() - t0
    assert p.returncode == 1, err
    assert "no audio from input device" in err and "Traceback" not in err
    assert "for more than 2 s (--stall-timeout)" in err
    assert took < 2 + 4, took  # detected within a few seconds of the stall, no hang on the way out
    ws, summary = lines(first + out)
    assert summary["ended"] == "error" and len(ws) >= 1


def test_device_lost_when_the_sound_server_dies(vmic: VirtualMic, music_wav: Path) -> None:
    p = start_listening(vmic, music_wav)
    first = p.stdout.readline()
    assert json.loads(first)["window"] == 0
    vmic.pulse.kill()
    t0 = time.monotonic()
    out, err = p.communicate(timeout=30)
    assert p.returncode == 1, err
    assert time.monotonic() - t0 < 5 and "Traceback" not in err
    assert "device lost" in err
    assert lines(first + out)[1]["ended"] == "error"
    # PortAudio's own reports ("Expression '...' failed in 'src/hostapi/alsa/pa_linux_alsa.c'") stay off stderr
    assert "Expression '" not in err and "pa_linux_alsa" not in err, err
    assert [line for line in err.splitlines() if "error" in line] == [err.splitlines()[-1]]


def test_device_that_never_delivers_says_what_was_waited_for(vmic: VirtualMic) -> None:
    """Nothing is fed: the message gives the start-up wait, not a stall against --stall-timeout."""
    p = subprocess.Popen(
        [*CLI, "--json", "--device-rate", "22050", "--stall-timeout", "1"],
        env=vmic.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert vmic.wait_for_capture(p, timeout=60), p.communicate(timeout=10)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 1, err
    assert "no audio from input device 'default' in the 5 s after it was opened" in err
    assert "--stall-timeout 1 s applies once audio flows" in err and "Traceback" not in err


def test_sigterm_on_a_live_device(vmic: VirtualMic, music_wav: Path) -> None:
    p = start_listening(vmic, music_wav)
    first = p.stdout.readline()
    assert json.loads(first)["window"] == 0
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=15)
    assert p.returncode == 143, err
    assert lines(first + out)[1]["ended"] == "terminated"


def test_unknown_device_lists_what_exists(vmic: VirtualMic) -> None:
    r = listen("--device", "no-such-microphone", "--json", env=vmic.env, timeout=60)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "not found" in r.stderr and "default" in r.stderr and "--file" in r.stderr
    d = listen("--list-devices", env=vmic.env, timeout=60)
    assert d.returncode == 0 and "default" in d.stdout


@pytest.mark.parametrize("config", ["missing", "empty", "asoundrc"])
def test_broken_alsa_config_is_reported_not_a_crash(tmp_path: Path, config: str) -> None:
    """alsa-lib aborts the process while PortAudio starts when the configuration defines no default PCM:
    ALSA_CONFIG_PATH naming a missing or empty file, or an ~/.asoundrc that replaces ``pcm``. gtzan-listen
    says so in one line (the crash guard, or a probe process where the guard is not built)."""
    try:
        import sounddevice  # noqa: F401
    except OSError:
        pytest.skip("PortAudio not installed")
    path = tmp_path / "asound.conf"
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_CONFIG")}
    if config == "asoundrc":
        env.pop("ALSA_CONFIG_PATH", None)
        (tmp_path / ".asoundrc").write_text("!pcm { }\n")
        env["HOME"] = str(tmp_path)
    else:
        if config == "empty":
            path.write_text("")
        env["ALSA_CONFIG_PATH"] = str(path)
    for args in (["--list-devices"], ["--json"]):
        r = listen(*args, env=env, timeout=60)
        assert r.returncode == 1, (r.returncode, r.stderr)
        err = r.stderr.splitlines()
        assert len(err) == 1 and err[0].startswith(
            "gtzan-listen: error: PortAudio crashed while starting (killed by SIGABRT"
        ), r.stderr
        if config == "asoundrc":
            assert "~/.asoundrc" in err[0] and "--file" in err[0]
        else:
            assert f"ALSA_CONFIG_PATH={str(path)!r}" in err[0]
            assert ("does not exist" if config == "missing" else "is empty") in err[0] and "--file" in err[0]
        assert r.stdout == ""


def test_no_input_device(tmp_path: Path) -> None:
    try:
        import sounddevice  # noqa: F401
    except OSError:
        pytest.skip("PortAudio not installed")
    # ALSA whose only device is a sound card that is not there, as on a headless server. (A completely
    # empty ALSA config is not usable for this: alsa-lib itself aborts while PortAudio initialises.)
    empty = tmp_path / "asound.conf"
    empty.write_text("pcm.!default { type hw card 0 }\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE", "JACK"))}
    env["ALSA_CONFIG_PATH"] = str(empty)
    r = listen("--json", env=env, timeout=60)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert "no audio input device found" in r.stderr and "--file" in r.stderr and "--demo" in r.stderr
