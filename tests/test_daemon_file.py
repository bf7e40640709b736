"""gtzan-listen end to end on files and the demo, run as a user runs it (a subprocess)."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gtzan.constants import GENRES, SR, WINDOW_SAMPLES
from gtzan.features import FEATURE_NAMES
from tests import wavgen
from tests.helpers import CLI, HOP_SAMPLES, lines, listen, n_windows

WINDOW_KEYS = {"window", "start", "end", "level_dbfs", "peak_dbfs", "clipped", "level_warning", "silence", "genre",
               "probability", "probs", "uncertain", "scores", "smoothed", "members", "timings"}


def without_timings(ws: list[dict]) -> list[dict]:
    return [{k: v for k, v in w.items() if k != "timings"} for w in ws]


def shipped_weights() -> dict[str, int]:
    """The weights of the shipped bundle's members that run (weight above 0)."""
    from gtzan.bundle import default_bundle_dir

    manifest = json.loads((default_bundle_dir() / "manifest.json").read_text())
    return {m["name"]: int(m["weight"]) for m in manifest["members"] if int(m["weight"]) > 0}


def shipped_threshold() -> float:
    from gtzan.bundle import load_bundle

    return load_bundle().uncertain_below


@pytest.fixture(scope="module")
def wavs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("listen")
    music = wavgen.music_like(10.0)
    stereo44 = np.stack([wavgen.music_like(6.0, sr=44100), wavgen.music_like(6.0, sr=44100, seed=1)], axis=1)
    quiet_then_music = np.concatenate([wavgen.silence(4.0), wavgen.music_like(7.0)])
    flac = wavgen.write(d / "music.flac", music)
    (d / "notes.txt").write_text("these are not audio samples\n" * 100)
    return {
        "music": wavgen.write(d / "music.wav", music, subtype="PCM_16"),
        "stereo44": wavgen.write(d / "stereo44.wav", stereo44, sr=44100),
        "quiet_then_music": wavgen.write(d / "qm.wav", quiet_then_music),
        "short": wavgen.write(d / "short.wav", wavgen.music_like(2.0)),
        "flac": flac,
        "truncated_flac": wavgen.truncated(flac, d / "cut.flac", keep=0.6),
        "truncated_wav": wavgen.truncated(d / "music.wav", d / "cut.wav", keep=0.6),
        "corrupt": wavgen.corrupt_header(d / "corrupt.wav"),
        "text": d / "notes.txt",
    }


@pytest.fixture(scope="module")
def music_run(wavs: dict[str, Path]) -> subprocess.CompletedProcess:
    return listen("--file", str(wavs["music"]), "--fast", "--json")


def test_windows_timestamps_and_schema(music_run: subprocess.CompletedProcess) -> None:
    assert music_run.returncode == 0, music_run.stderr
    ws, summary = lines(music_run.stdout)
    assert len(ws) == n_windows(10 * SR) == 14
    below = shipped_threshold()
    for i, w in enumerate(ws):
        assert WINDOW_KEYS <= set(w) and "synthetic" not in w
        assert w["window"] == i
        assert w["start"] == pytest.approx(i * HOP_SAMPLES / SR, abs=1e-6)
        assert w["end"] == pytest.approx((i * HOP_SAMPLES + WINDOW_SAMPLES) / SR, abs=1e-6)
        assert w["silence"] is False and -40 < w["level_dbfs"] < 0
        assert w["genre"] in GENRES and list(w["scores"]) == list(GENRES)
        assert sum(w["scores"].values()) == pytest.approx(1.0, abs=1e-5)
        # calibrated probabilities: a distribution, its verdict's entry and the threshold
        assert list(w["probs"]) == list(GENRES) and sum(w["probs"].values()) == pytest.approx(1.0, abs=1e-5)
        assert w["probability"] == w["probs"][w["genre"]] and w["uncertain"] is (w["probability"] < below)
        sm = w["smoothed"]
        assert set(sm) == {"genre", "probability", "probs", "uncertain"} and sm["genre"] in GENRES
        assert sm["probability"] == sm["probs"][sm["genre"]] and sm["uncertain"] is (sm["probability"] < below)
        assert sum(sm["probs"].values()) == pytest.approx(1.0, abs=1e-5)
        weights = {m: v["weight"] for m, v in w["members"].items()}
        assert weights == shipped_weights()
        # the blended score of each genre is the weight share of the members voting for it
        for g in GENRES:
            share = sum(weights[m] for m, v in w["members"].items() if v["vote"] == g) / sum(weights.values())
            assert w["scores"][g] == pytest.approx(share, abs=1e-5)
        for v in w["members"].values():
            assert v["vote"] == max(v["probs"], key=v["probs"].get)
        assert set(w["timings"]) == {"features_ms", "inference_ms", "latency_ms"}
    assert summary["windows"] == 14 and summary["ended"] == "end" and summary["source"]["kind"] == "file"
    counts = {g: sum(w["genre"] == g for w in ws) for g in GENRES}
    assert summary["shares"] == pytest.approx({g: counts[g] / len(ws) for g in GENRES}, abs=1e-5)
    means = {g: sum(w["probs"][g] for w in ws) / len(ws) for g in GENRES}
    assert summary["verdict"] in [g for g in GENRES if means[g] > max(means.values()) - 1e-5]
    assert summary["probability"] == pytest.approx(means[summary["verdict"]], abs=1e-5)
    assert summary["uncertain"] is (summary["probability"] < below)
    assert "mean probability" in music_run.stderr
    assert "verdict:" in music_run.stderr and "Traceback" not in music_run.stderr


def test_file_runs_are_deterministic(wavs: dict[str, Path], music_run: subprocess.CompletedProcess) -> None:
    again = listen("--file", str(wavs["music"]), "--fast", "--json")
    assert without_timings(lines(again.stdout)[0]) == without_timings(lines(music_run.stdout)[0])


@pytest.mark.parametrize("block", ["1000", "7777"])
def test_block_size_does_not_change_results(wavs: dict[str, Path], music_run: subprocess.CompletedProcess, block: str) -> None:
    r = listen("--file", str(wavs["music"]), "--fast", "--json", "--block-frames", block)
    assert r.returncode == 0, r.stderr
    assert without_timings(lines(r.stdout)[0]) == without_timings(lines(music_run.stdout)[0])


def test_resampled_stereo_file(wavs: dict[str, Path]) -> None:
    a = listen("--file", str(wavs["stereo44"]), "--fast", "--json")
    b = listen("--file", str(wavs["stereo44"]), "--fast", "--json", "--block-frames", "3001")
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    wa, sa = lines(a.stdout)
    wb, _ = lines(b.stdout)
    assert len(wa) == n_windows(6 * SR) and sa["source"]["resampled"] is True
    assert [w["genre"] for w in wa] == [w["genre"] for w in wb]


def test_no_tensorflow_and_no_portaudio_in_file_mode(wavs: dict[str, Path]) -> None:
    code = (
        "import sys\n"
        "from gtzan.daemon.cli import cli\n"
        f"try:\n    cli([\"--file\", {str(wavs['music'])!r}, \"--fast\", \"--json\", \"--duration\", \"4\"])\n"
        "except SystemExit as e:\n    assert e.code == 0, e.code\n"
        "bad = [m for m in ('tensorflow', 'keras', 'sounddevice', 'librosa', 'numba') if m in sys.modules]\n"
        "print('IMPORTED', bad, file=sys.stderr)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "IMPORTED []" in r.stderr


def test_silence_is_reported_not_classified(wavs: dict[str, Path]) -> None:
    r = listen("--file", str(wavs["quiet_then_music"]), "--fast", "--json")
    assert r.returncode == 0, r.stderr
    ws, summary = lines(r.stdout)
    first_loud = next(i for i, w in enumerate(ws) if not w["silence"])
    assert first_loud > 0
    for w in ws[:first_loud]:
        assert w["genre"] is None and w["scores"] is None and w["members"] == {} and w["level_dbfs"] < -60
        assert w["probability"] is None and w["probs"] is None and w["uncertain"] is None
        assert w["smoothed"]["genre"] is None and w["smoothed"]["probability"] is None
    assert all(w["genre"] in GENRES for w in ws[first_loud:])
    assert summary["silent"] == first_loud and summary["classified"] == len(ws) - first_loud
    # a stricter threshold turns every window into silence
    r = listen("--file", str(wavs["quiet_then_music"]), "--fast", "--json", "--silence-db", "0")
    ws, summary = lines(r.stdout)
    assert all(w["silence"] for w in ws) and summary["verdict"] is None


def test_duration_stops_early(wavs: dict[str, Path], music_run: subprocess.CompletedProcess) -> None:
    r = listen("--file", str(wavs["music"]), "--fast", "--json", "--duration", "5")
    assert r.returncode == 0, r.stderr
    ws, summary = lines(r.stdout)
    assert len(ws) == n_windows(5 * SR) and summary["ended"] == "duration"
    assert without_timings(ws) == without_timings(lines(music_run.stdout)[0])[: len(ws)]


def test_demo_is_labelled_synthetic() -> None:
    r = listen("--demo", "--fast", "--json", "--duration", "12")
    assert r.returncode == 0, r.stderr
    ws, summary = lines(r.stdout)
    assert len(ws) == n_windows(12 * SR)
    assert all(w["synthetic"].startswith("synthetic: ") for w in ws)
    assert summary["source"]["synthetic"] is True and summary["source"]["kind"] == "demo"
    assert "SYNTHETIC" in r.stderr


@pytest.mark.parametrize("cols,rows,layout", [("110", "50", "members"), ("80", "24", "votes keras")])
def test_live_display_on_a_terminal(wavs: dict[str, Path], cols: str, rows: str, layout: str) -> None:
    from tests.terminal import run_on_pty

    env = dict(os.environ, COLUMNS=cols, LINES=rows, TERM="xterm-256color")
    code, out = run_on_pty([*CLI, "--file", str(wavs["music"]), "--fast"], env=env, timeout=60)
    assert code == 0
    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", out)  # without colours
    from gtzan.bundle import default_bundle_dir

    manifest = json.loads((default_bundle_dir() / "manifest.json").read_text())
    idle = any(m["weight"] == 0 for m in manifest["members"])
    for part in ("genre", "blended probabilities", layout, "recent windows", "dBFS", "music.wav", "x real time",
                 "verdict:", *(["not used"] if idle else [])):
        assert part in text, part
    assert "{" not in text  # no JSON on a terminal


# -- bad input ---------------------------------------------------------------------------------------

def _one_line_error(r: subprocess.CompletedProcess, code: int, *words: str) -> None:
    assert r.returncode == code, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    err = [l for l in r.stderr.splitlines() if "error" in l.lower()]
    assert err, r.stderr
    for w in words:
        assert w in r.stderr, (w, r.stderr)


def test_too_short_for_one_window(wavs: dict[str, Path]) -> None:
    r = listen("--file", str(wavs["short"]), "--fast", "--json")
    _one_line_error(r, 2, "no complete 3 s window", "2.00 s")
    ws, summary = lines(r.stdout)
    assert ws == [] and summary["windows"] == 0


def test_duration_shorter_than_a_window_is_a_usage_error(wavs: dict[str, Path]) -> None:
    _one_line_error(listen("--file", str(wavs["music"]), "--duration", "2"), 2, "no complete 3 s window")


def test_missing_file() -> None:
    _one_line_error(listen("--file", "/nonexistent/song.wav"), 2, "does not exist")


@pytest.mark.parametrize("name", ["text", "corrupt"])
def test_not_audio(wavs: dict[str, Path], name: str) -> None:
    r = listen("--file", str(wavs[name]), "--fast", "--json")
    _one_line_error(r, 2, str(wavs[name]), "not readable as audio")
    assert r.stdout == ""


def test_truncated_flac_keeps_what_was_written(wavs: dict[str, Path]) -> None:
    r = listen("--file", str(wavs["truncated_flac"]), "--fast", "--json", "--block-frames", "4096")
    _one_line_error(r, 2, "truncated or corrupt")
    ws, summary = lines(r.stdout)  # every line written is whole JSON
    assert summary["ended"] == "error" and len(ws) > 0
    full = without_timings(lines(listen("--file", str(wavs["flac"]), "--fast", "--json").stdout)[0])
    assert without_timings(ws) == full[: len(ws)]


def test_truncated_wav_gives_the_audio_that_is_there(wavs: dict[str, Path]) -> None:
    r = listen("--file", str(wavs["truncated_wav"]), "--fast", "--json")
    assert r.returncode == 0, r.stderr
    ws, summary = lines(r.stdout)
    assert 0 < len(ws) < 14 and summary["ended"] == "end"


def test_bad_bundles(tmp_path: Path, wavs: dict[str, Path]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line_error(listen("--file", str(wavs["music"]), "--models", str(empty), "--fast"), 2, str(empty))
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "manifest.json").write_text("{not json")
    _one_line_error(listen("--file", str(wavs["music"]), "--models", str(junk), "--fast"), 2, str(junk))
    _one_line_error(listen("--file", str(wavs["music"]), "--models", str(tmp_path / "nope"), "--fast"), 2)


def test_bundle_trained_on_other_clip_lengths_is_flagged(tmp_path: Path, wavs: dict[str, Path]) -> None:
    import json
    import shutil

    from gtzan.bundle import default_bundle_dir

    bundle = shutil.copytree(default_bundle_dir(), tmp_path / "b")
    man = json.loads((bundle / "manifest.json").read_text())
    man["data"]["median_length_samples"] = 661794.0  # a bundle trained on 30 s rows
    (bundle / "manifest.json").write_text(json.dumps(man))
    r = listen("--file", str(wavs["music"]), "--models", str(bundle), "--fast", "--json")
    assert r.returncode == 0, r.stderr
    assert "trained on 661794-sample clips" in r.stderr
    assert "sample clips" not in listen("--file", str(wavs["short"]), "--json").stderr


def test_conflicting_sources(wavs: dict[str, Path]) -> None:
    _one_line_error(listen("--file", str(wavs["music"]), "--demo"), 2, "either --file or --demo")


def test_portaudio_missing(tmp_path: Path, wavs: dict[str, Path]) -> None:
    """Without the PortAudio library, microphone use explains the fix; file mode still works."""
    (tmp_path / "sounddevice.py").write_text("raise OSError('PortAudio library not found')\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    _one_line_error(listen("--list-devices", env=env), 1, "libportaudio2")
    _one_line_error(listen("--json", env=env), 1, "libportaudio2", "--file")
    assert listen("--file", str(wavs["music"]), "--fast", "--json", "--duration", "4", env=env).returncode == 0


# -- signals -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("sig,code,ended", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_signals_stop_cleanly(wavs: dict[str, Path], sig: int, code: int, ended: str) -> None:
    p = subprocess.Popen([*CLI, "--file", str(wavs["music"]), "--json"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    first = p.stdout.readline()  # real-time pace: the first window after ~3 s
    assert json.loads(first)["window"] == 0
    p.send_signal(sig)
    t0 = time.monotonic()
    out, err = p.communicate(timeout=20)
    assert time.monotonic() - t0 < 5
    assert p.returncode == code, err
    ws, summary = lines(first + out)
    assert summary["ended"] == ended and len(ws) < 14
    assert "Traceback" not in err


# -- the features are the report's features -----------------------------------------------------------

@pytest.mark.gtzan
def test_file_mode_features_equal_clip_features(gtzan_dir: Path, gtzan_audio: Path) -> None:
    from gtzan.audio import load_audio
    from gtzan.bundle import load_bundle
    from gtzan.daemon.run import run
    from gtzan.daemon.sources import FileSource
    from gtzan.features import clip_features

    track = sorted((gtzan_audio / "jazz").glob("jazz.*"))[0]
    got = []

    class Collect:
        def start(self, state): ...
        def tick(self, state): ...
        def close(self): ...
        def window(self, r, state):
            got.append(r)
            return 0.0

    bundle = load_bundle(None)
    res = run(FileSource(track, realtime=False), lambda: bundle, lambda b: Collect(), hop_frames=22, warm=False)
    assert res.exit_code == 0
    y = load_audio(track)
    assert len(got) == n_windows(len(y))
    with open(gtzan_dir / "features_30_sec.csv") as f:
        rows = list(csv.DictReader(f))
    std = np.array([np.std([float(r[n]) for r in rows]) for n in FEATURE_NAMES])
    tempo = FEATURE_NAMES.index("tempo")
    for r in [got[0], got[1], got[len(got) // 2], got[-1]]:
        assert r.start_sample == r.index * HOP_SAMPLES
        want = clip_features(y[r.start_sample : r.start_sample + WINDOW_SAMPLES])
        assert r.features[tempo] == want[tempo]
        bad = np.abs(r.features - want) > 1e-4 * std
        assert not bad.any(), [FEATURE_NAMES[i] for i in np.flatnonzero(bad)]


TEARDOWN_PROBE = (
    "import atexit, sys; atexit.register(lambda: sys.stderr.write('teardown ran\\n')); "
    "from gtzan.daemon.cli import main; main()"
)


def test_a_file_run_ends_without_teardown_and_keeps_its_output(wavs: dict[str, Path], tmp_path: Path) -> None:
    """A run without a device ends by os._exit once flushed: an atexit handler never runs, and stdout
    in a regular file (block-buffered) still holds every line. Other runs keep the normal exit."""
    out = tmp_path / "out.jsonl"
    with out.open("w") as f:
        r = subprocess.run([sys.executable, "-c", TEARDOWN_PROBE, "--file", str(wavs["music"]), "--fast", "--json"],
                           stdout=f, stderr=subprocess.PIPE, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "teardown ran" not in r.stderr and "verdict:" in r.stderr
    windows, summary = lines(out.read_text())
    assert summary is not None and len(windows) == summary["windows"] > 0
    usage = subprocess.run([sys.executable, "-c", TEARDOWN_PROBE, "--hop", "-1"], capture_output=True, text=True,
                           timeout=120)
    assert usage.returncode == 2 and "teardown ran" in usage.stderr
    missing = subprocess.run([sys.executable, "-c", TEARDOWN_PROBE, "--file", str(tmp_path / "none.wav")],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "teardown ran" in missing.stderr  # click refuses it before the run
