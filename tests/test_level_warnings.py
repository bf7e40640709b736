"""Level warnings: windows too quiet or clipping are flagged, with the level seen, in JSON, display and summary."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from gtzan.constants import GENRES, WINDOW_SAMPLES
from gtzan.daemon.level import CLIP_SHARE, QUIET_DBFS, level_warning, peak_dbfs
from gtzan.daemon.summary import SummaryBuilder, render_summary
from gtzan.features.stream import CLIP_LEVEL, StreamingExtractor, sample_peak
from tests import wavgen
from tests.helpers import lines, listen, run_display, window


def at_level(y: np.ndarray, dbfs: float) -> np.ndarray:
    """y scaled to an RMS level of ``dbfs``."""
    rms = np.sqrt(np.mean(y.astype(np.float64) ** 2))
    return (y * (10 ** (dbfs / 20) / rms)).astype(np.float32)


def test_the_warning_rules() -> None:
    assert level_warning(-20.0, False, 0.0) is None
    assert level_warning(-20.0, False, CLIP_SHARE) is None  # a few full-scale samples are normal mastering
    assert level_warning(-8.0, False, 0.02) == "clipping"
    assert level_warning(QUIET_DBFS - 1, False, 0.0) == "quiet"
    assert level_warning(-70.0, True, 0.0) is None  # silence is reported as silence
    assert peak_dbfs(1.0) == 0.0 and peak_dbfs(0.5) == pytest.approx(-6.02, abs=0.01) and peak_dbfs(0.0) == -120.0


def test_stream_windows_carry_their_peak_and_full_scale_samples() -> None:
    y = np.clip(wavgen.music_like(6.0) * 3, -1, 1)
    y[1000] = -1.0
    ex = StreamingExtractor(22)
    got = [w for i in range(0, len(y), 7777) for w in ex.push(y[i : i + 7777])]
    assert got
    for w in got:
        x = y[w.start_sample : w.start_sample + WINDOW_SAMPLES]
        assert w.peak == np.abs(x).max() and w.clipped == np.count_nonzero(np.abs(x) >= CLIP_LEVEL) > 0
    quiet = wavgen.music_like(3.0) * 0.5
    assert sample_peak(quiet)[1] == 0 and sample_peak(np.zeros(0, np.float32)) == (0.0, 0)


def test_split_windows_carry_the_same_peaks() -> None:
    from gtzan.daemon.parallel import SplitWindows

    y = np.concatenate([wavgen.music_like(6.0), np.clip(wavgen.music_like(6.0, seed=1) * 3, -1, 1)])
    want = StreamingExtractor(22).push(y)
    split = SplitWindows(lambda: y, 22)
    try:
        got = [w for batch in split.batches() for w in batch]
    finally:
        split.close()
    assert [(w.start_sample, w.peak, w.clipped) for w in got] == [(w.start_sample, w.peak, w.clipped) for w in want]
    assert any(w.clipped for w in want[split.split :])  # the worker's windows, whose peaks are taken here


def test_display_and_summary_show_the_warnings() -> None:
    for width in (120, 40):
        console, d, b = run_display(width, 40, labels=[9, 9])
        d.last = dataclasses.replace(window(2, 9), level_dbfs=-52.4, level_warning="quiet")
        console.print(d._render())
        text = console.export_text()
        assert ("input too quiet: -52 dBFS, below -45 dBFS" if width >= 60 else "too quiet: -52 dBFS") in text
    console, d, b = run_display(120, 40, labels=[9])
    loud = dataclasses.replace(window(1, 9), peak_dbfs=0.0, clipped=0.031, level_warning="clipping")
    d.last = loud
    b.add(loud)
    console.print(d._render())
    summary = b.as_dict("end", {"kind": "file"}, 4.0, 0, 0)
    assert summary["level_warnings"] == {"quiet": 0, "clipping": 1}
    console.print(render_summary(summary))
    text = console.export_text()
    assert "input clipping: 3.1% of samples at full scale (peak 0.0 dBFS)" in text
    assert "1 clipping windows" in text
    plain = SummaryBuilder(GENRES)
    plain.add(window(0, 9))
    assert plain.as_dict("end", {}, 3.0, 0, 0)["level_warnings"] == {"quiet": 0, "clipping": 0}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("levels")
    music = wavgen.music_like(8.0)
    return {
        "clipping": wavgen.write(d / "clipping.wav", np.clip(music * 4, -1, 1), subtype="PCM_16"),
        "quiet": wavgen.write(d / "quiet.wav", at_level(music, -52.0), subtype="PCM_16"),
        "music": wavgen.write(d / "music.wav", music, subtype="PCM_16"),
    }


def run_json(path: Path) -> tuple[list[dict], dict]:
    proc = listen("--file", str(path), "--json", "--fast")
    assert proc.returncode == 0, proc.stderr
    ws, summary = lines(proc.stdout)
    assert ws and summary is not None
    return ws, summary


@pytest.mark.parametrize("kind", ["clipping", "quiet", "music"])
def test_gtzan_listen_flags_the_level(files: dict[str, Path], kind: str) -> None:
    ws, summary = run_json(files[kind])
    want = None if kind == "music" else kind
    assert [w["level_warning"] for w in ws] == [want] * len(ws)
    counts = {"quiet": 0, "clipping": 0}
    if want:
        counts[want] = len(ws)
    assert summary["level_warnings"] == counts
    for w in ws:
        assert w["silence"] is False and w["genre"] in GENRES  # still classified
        if kind == "clipping":
            assert w["clipped"] > CLIP_SHARE and w["peak_dbfs"] == pytest.approx(0.0, abs=0.01)
        elif kind == "quiet":
            assert -60 < w["level_dbfs"] < QUIET_DBFS and w["clipped"] == 0.0
        else:
            assert w["clipped"] == 0.0 and 0 > w["peak_dbfs"] > w["level_dbfs"] > QUIET_DBFS


@pytest.mark.gtzan
@pytest.mark.parametrize("track", ["hiphop/hiphop.00003", "classical/classical.00003"])
def test_gtzan_extremes_give_no_warning(gtzan_audio: Path, track: str) -> None:
    """The GTZAN track with the most full-scale samples, and the one with the quietest window."""
    path = next(gtzan_audio.glob(track + ".*"), None)
    if path is None:
        pytest.skip(f"{track} is not in this copy of GTZAN")
    ws, summary = run_json(path)
    assert summary["level_warnings"] == {"quiet": 0, "clipping": 0}
    assert summary["audio_seconds"] == pytest.approx(30.0, abs=0.1) and len(ws) > 50
    assert max(w["clipped"] for w in ws) > 0 or min(w["level_dbfs"] for w in ws) < -35
