"""benchmarks/bench_robustness.py's microphone tally: only windows wholly inside the played track count."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

GENRES = ("blues", "rock", "jazz")


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_robustness.py"
    spec = importlib.util.spec_from_file_location("bench_robustness", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def window(i: int, genre: str | None, hop: float = 0.5, warning: str | None = None,
           probs: dict[str, float] | None = None) -> dict[str, Any]:
    """A gtzan-listen --json window object, with the keys the tally reads."""
    if genre is not None and probs is None:
        probs = {g: (0.8 if g == genre else 0.1) for g in GENRES}
    return {"window": i, "start": i * hop, "end": i * hop + 3.0, "silence": genre is None, "genre": genre,
            "probs": None if genre is None else probs, "level_warning": warning}


def test_windows_past_the_track_are_left_out(bench: ModuleType) -> None:
    # a 5 s track: windows 0..4 end by 5.0 s; 5.. straddle the end (music, then the feeder's zeros)
    ws = [window(0, "blues"), window(1, "blues", warning="quiet"), window(2, "rock"), window(3, "blues"),
          window(4, "blues"), *(window(i, "jazz") for i in range(5, 12))]
    c = bench.mic_counts(ws, "blues", track_seconds=5.0)
    assert c == {"windows": 5, "correct": 4, "silent": 0, "quiet": 1, "clipping": 0, "verdict": "blues"}


def test_windows_before_the_track_are_left_out(bench: ModuleType) -> None:
    ws = [window(0, None), window(1, "jazz"), *(window(i, "rock", warning="clipping") for i in range(2, 6))]
    c = bench.mic_counts(ws, "rock", track_seconds=3.0, offset=1.0)
    assert c == {"windows": 1, "correct": 1, "silent": 0, "quiet": 0, "clipping": 1, "verdict": "rock"}


def test_silent_windows_inside_count_as_wrong(bench: ModuleType) -> None:
    ws = [window(0, None), window(1, None), window(2, "jazz")]
    c = bench.mic_counts(ws, "rock", track_seconds=4.0)
    assert c == {"windows": 3, "correct": 0, "silent": 2, "quiet": 0, "clipping": 0, "verdict": "jazz"}
    assert bench.mic_counts([window(0, None)], "rock", 3.0)["verdict"] is None


def test_a_resampler_delay_within_tolerance_keeps_the_last_window(bench: ModuleType) -> None:
    ws = [{**window(i, "rock"), "start": i * 0.5 + 0.01, "end": i * 0.5 + 3.01} for i in range(3)]
    assert bench.mic_counts(ws, "rock", track_seconds=4.0)["windows"] == 3


def test_tied_verdict_goes_to_the_larger_summed_probability(bench: ModuleType) -> None:
    """The summary's rule, not the first genre seen."""
    ws = [window(0, "blues", probs={"blues": 0.5, "rock": 0.4, "jazz": 0.1}),
          window(1, "rock", probs={"blues": 0.1, "rock": 0.9, "jazz": 0.0})]
    assert bench.mic_counts(ws, "rock", track_seconds=3.5)["verdict"] == "rock"


def test_mic_row_tallies_beside_the_conditions(bench: ModuleType) -> None:
    runs = [{"condition": c, "track": "rock.00002", "genre": "rock", "windows": 10, "correct": k, "silent": 0,
             "quiet": 0, "clipping": 0, "verdict": "rock"} for c, k in (("clean", 9), (bench.MIC, 8))]
    clean, mic = bench.tally(runs, ["clean", bench.MIC])
    assert mic["description"] == bench.MIC_DESCRIPTION and mic["window_accuracy"] == 0.8
    assert bench.MIC in bench.markdown([clean, mic])
