"""Windows classified many at a time (--fast, folders) give exactly what one at a time gives."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from gtzan.features.stream import StreamingExtractor
from tests import wavgen


@pytest.fixture(scope="module")
def bundle():
    from gtzan.bundle import load_bundle

    return load_bundle(None)


@pytest.fixture(scope="module")
def rows() -> np.ndarray:
    windows = StreamingExtractor(22).push(wavgen.music_like(20.0))
    return np.stack([w.features for w in windows])


def test_members_do_not_depend_on_the_batch(bundle, rows: np.ndarray) -> None:
    """onnxruntime gives each row the same floats whatever rows share its call (all members, every output)."""
    whole = bundle.predict(rows)
    for size in (1, 3, 7):
        parts = [bundle.predict(rows[i : i + size]) for i in range(0, len(rows), size)]
        for name in whole.member_probs:
            np.testing.assert_array_equal(np.concatenate([p.member_probs[name] for p in parts]),
                                          whole.member_probs[name])
        for field in ("scores", "labels", "weighted_probs", "probs", "confidence"):
            np.testing.assert_array_equal(np.concatenate([getattr(p, field) for p in parts]), getattr(whole, field))


class CountingBundle:
    """A bundle that counts the feature rows its members run on."""

    def __init__(self, bundle) -> None:
        self.bundle, self.rows = bundle, 0

    def __getattr__(self, name: str):
        return getattr(self.bundle, name)

    def predict(self, features: np.ndarray):
        self.rows += len(features)
        return self.bundle.predict(features)


def test_windows_predicted_ahead_are_not_run_again_and_give_the_same_results(bundle) -> None:
    from gtzan.constants import SR
    from gtzan.daemon.pipeline import Pipeline

    y = wavgen.music_like(20.0)
    y[int(6 * SR) : int(10 * SR)] = 0.0  # silent windows, which are never run
    windows = StreamingExtractor(22).push(y)
    want = Pipeline(bundle).classify(windows, 0.0, 1.0)
    silent = {r.start_sample for r in want if r.silent}
    assert silent and len(silent) < len(windows)
    counting = CountingBundle(bundle)
    pipe = Pipeline(counting)
    ahead = windows[5:30]  # some loud, some silent, and some loud ones not predicted ahead
    pipe.predict_ahead(ahead)
    assert counting.rows == sum(w.start_sample not in silent for w in ahead)
    got = pipe.classify(windows, 0.0, 1.0)
    assert counting.rows == len(windows) - len(silent)  # each loud window run once
    for x, z in zip(want, got, strict=True):
        assert (x.start_sample, x.silent, x.label, x.probability, x.uncertain, x.member_votes, x.smoothed,
                x.smoothed_probability, x.smoothed_uncertain) == \
            (z.start_sample, z.silent, z.label, z.probability, z.uncertain, z.member_votes, z.smoothed,
             z.smoothed_probability, z.smoothed_uncertain)
        for field in ("scores", "probs", "smoothed_probs"):
            np.testing.assert_array_equal(getattr(x, field), getattr(z, field))
        assert x.member_probs.keys() == z.member_probs.keys()
        for m in x.member_probs:
            np.testing.assert_array_equal(x.member_probs[m], z.member_probs[m])


class Collect:
    def __init__(self) -> None:
        self.got: list = []
        self.ticks = 0

    def start(self, state): ...
    def close(self): ...

    def tick(self, state) -> None:
        self.ticks += 1

    def window(self, r, state) -> float:
        self.got.append(r)
        return 0.0


@pytest.mark.parametrize("duration", [None, 9.0])
def test_batched_run_equals_window_by_window(tmp_path: Path, bundle, duration: float | None,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from gtzan.daemon import pipeline
    from gtzan.daemon.output_json import window_record
    from gtzan.daemon.run import run
    from gtzan.daemon.sources import FileSource

    monkeypatch.setattr(pipeline, "PREDICT_ROWS", 5)  # a batch's windows also go through the members in parts

    y = wavgen.music_like(14.0)
    y[3 * 22050 : 7 * 22050] = 0.0  # silent windows reset the smoothing in the middle of a batch
    path = wavgen.write(tmp_path / "clip.wav", y, subtype="PCM_16")
    runs = {}
    for batch in (1, 64):
        out = Collect()
        res = run(FileSource(path, realtime=False, block_frames=4096), lambda: bundle, lambda b, o=out: o, hop_frames=22,
                  warm=False, batch=batch, duration=duration)
        assert res.exit_code == 0
        runs[batch] = (out, res.summary)
    (one, s1), (many, s64) = runs[1], runs[64]
    assert many.ticks < one.ticks  # classified in fewer, larger batches
    assert len(one.got) == len(many.got) > 0
    assert any(r.silent for r in one.got) and not all(r.silent for r in one.got)
    genres = tuple(bundle.genres)
    for a, b in zip(one.got, many.got, strict=True):
        ra, rb = window_record(a, genres, {}), window_record(b, genres, {})
        ra.pop("timings"), rb.pop("timings")
        assert ra == rb
        np.testing.assert_array_equal(a.features, b.features)
    assert s1 == s64


def test_json_lines_of_a_batch_are_written_together(bundle) -> None:
    """One write per delivered batch, and each line is the window's record."""
    from gtzan.daemon.output_json import JsonOutput, window_record
    from gtzan.daemon.pipeline import Pipeline

    windows = StreamingExtractor(22).push(wavgen.music_like(8.0))
    results = Pipeline(bundle).classify(windows, 0.0, 1.0)
    writes: list[str] = []

    class Stream(io.StringIO):
        def write(self, s: str) -> int:
            writes.append(s)
            return super().write(s)

    out = JsonOutput(tuple(bundle.genres), {}, stream=Stream())
    for r in results:
        out.window(r, None)
    assert writes == []
    out.tick(None)
    assert len(writes) == 1
    lines = writes[0].splitlines()
    assert len(lines) == len(results)
    for line, r in zip(lines, results, strict=True):
        got, want = json.loads(line), window_record(r, tuple(bundle.genres), {})
        got.pop("timings"), want.pop("timings")
        assert got == want
