"""The feature fingerprint: a deterministic probe, its tolerance, and the cached verdict at load."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from gtzan import fingerprint
from gtzan.constants import WINDOW_SAMPLES
from gtzan.features import FEATURE_NAMES, kernels, medians, recipe, sources, window
from gtzan.features import frames as fr
from gtzan.fingerprint import Mismatch, check, compare, probe_features


@pytest.fixture(scope="module")
def base() -> np.ndarray:
    return probe_features()


@pytest.fixture(scope="module")
def stored() -> dict:
    """A manifest's fingerprint written by the current code."""
    return json.loads(json.dumps(fingerprint.fingerprint()))


@pytest.fixture()
def probes(monkeypatch) -> list[int]:
    """Counts the probe runs."""
    calls: list[int] = []
    real = fingerprint.probe_features
    monkeypatch.setattr(fingerprint, "probe_features", lambda: calls.append(1) or real())
    return calls


def _tol(values: np.ndarray) -> np.ndarray:
    rtol, atol = fingerprint.tolerances()
    return np.maximum(atol, rtol * np.abs(values))


# --------------------------------------------------------------------------- the probe

def test_probe_is_deterministic(base):
    a, b = fingerprint.probe_clip(), fingerprint.probe_clip()
    assert a.dtype == np.float32 and a.shape == (WINDOW_SAMPLES,) and np.all(np.abs(a) <= 1)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(probe_features(), base)


def test_probe_exercises_every_feature(base):
    _, atol = fingerprint.tolerances()
    assert base.shape == (len(FEATURE_NAMES),) and np.all(np.isfinite(base))
    assert np.all(np.abs(base) > 1000 * atol), [n for n, v, a in zip(FEATURE_NAMES, base, atol) if abs(v) <= 1000 * a]
    v = dict(zip(FEATURE_NAMES, base))
    assert v["length"] == WINDOW_SAMPLES
    assert v["tempo"] == pytest.approx(60 * fr.SR / fingerprint.BEAT, rel=1e-12)  # the clicks' beat
    assert all(v[n] > 0 for n in FEATURE_NAMES if n.endswith("_var"))
    assert v["harmony_mean"] > 1e-3 and v["perceptr_mean"] > 1e-3  # DC and one-sided clicks
    fd = fr.analyze(*window.centred_frames(fingerprint.probe_clip()))
    assert window.estimate_tuning(fd) != 0.0  # chroma with a tuned basis
    assert np.any(fd.db_min < window.db_floor(fd))  # the top_db clip of the MFCCs


def test_tolerance_absorbs_rounding(base, monkeypatch):
    y = fingerprint.probe_clip()
    for seed in range(3):  # one ulp up or down on half the samples: more than another FFT or BLAS does
        rng = np.random.default_rng(seed)
        nudged = y.copy()
        pick = rng.random(y.size) < 0.5
        nudged[pick] = np.nextafter(nudged[pick], np.where(rng.random(pick.sum()) < 0.5, 1, -1).astype(np.float32))
        assert compare(base, recipe.clip_features(nudged)) == []
    monkeypatch.setattr(kernels, "median", None)  # the NumPy median path
    assert compare(base, probe_features()) == []


# --------------------------------------------------------------------------- compare

def test_compare_names_the_one_feature_that_moved(base):
    tol = _tol(base)
    assert compare(base, base) == []
    for i, name in enumerate(FEATURE_NAMES):
        for sign in (1, -1):
            off = base.copy()
            off[i] += sign * 0.5 * tol[i]
            assert compare(off, base) == [], name
            off[i] = base[i] + sign * 3 * tol[i]
            assert compare(off, base) == [Mismatch(name, off[i], base[i])], name
    broken = base.copy()
    broken[5] = np.nan
    assert [m.name for m in compare(base, broken)] == [FEATURE_NAMES[5]]


def test_tempo_and_length_are_exact(base):
    for name in ("tempo", "length"):
        off = base.copy()
        off[FEATURE_NAMES.index(name)] *= 1 + 2e-6
        assert [m.name for m in compare(off, base)] == [name]


def test_digest_is_a_short_stable_key(base):
    d = fingerprint.digest(base)
    assert len(d) == 16 and d == fingerprint.digest(base.copy()) == fingerprint.digest()
    moved = base.copy()
    moved[FEATURE_NAMES.index("harmony_var")] *= 1.0002
    assert fingerprint.digest(moved) != d


# --------------------------------------------------------------------------- a manifest's fingerprint

def test_current_fingerprint_matches(stored, tmp_path):
    assert stored["probe"] == fingerprint.PROBE and len(stored["values"]) == len(FEATURE_NAMES)
    assert len(stored["rtol"]) == len(stored["atol"]) == len(FEATURE_NAMES)
    assert check(stored, tmp_path) == []


@pytest.mark.parametrize("name", ["chroma_stft_var", "harmony_mean", "tempo", "mfcc20_var"])
def test_a_moved_stored_value_is_named(stored, base, tmp_path, name):
    i = FEATURE_NAMES.index(name)
    man = dict(stored, values=list(stored["values"]))
    man["values"][i] += 3 * float(_tol(base)[i])
    found = check(man, tmp_path)
    assert [m.name for m in found] == [name] and found[0].current == base[i]


def _median29(mag: np.ndarray, *_: int) -> np.ndarray:
    idx = medians.reflect_index(0, len(mag), len(mag), h=14)
    return np.median(sliding_window_view(mag[idx], 29, axis=0), axis=-1).astype(np.float32)


ASSEMBLE = recipe.assemble


def _drop_last_frame(y, fd, chroma, mfcc, bpm, y_h):
    return ASSEMBLE(y, fr.take(fd, slice(0, -1)), chroma[:-1], mfcc[:-1], bpm, y_h)


@pytest.mark.parametrize("change, expect", [
    ((medians, "time_median", _median29), "perceptr_var"),  # HPSS kernel 29 instead of 31
    ((recipe, "assemble", _drop_last_frame), "rms_mean"),
    ((fr, "hann", lambda: np.hanning(fr.N_FFT)), "spectral_centroid_mean"),  # symmetric window
    ((fr, "TOP_DB", 79.0), "mfcc1_mean"),
], ids=["hpss-kernel", "dropped-frame", "window", "top-db"])
def test_a_change_to_the_feature_code_is_detected(stored, tmp_path, monkeypatch, change, expect):
    with monkeypatch.context() as m:
        m.setattr(*change)
        found = check(stored, tmp_path)
    fr.window_sumsquare.cache_clear()  # computed with the changed window, if at all
    fr.interior_sumsquare.cache_clear()
    assert expect in [f.name for f in found]


@pytest.mark.parametrize("man", [
    None, {}, {"values": [1.0] * 58},
    {"probe": "another/1", "values": [1.0] * 58},
    {"probe": fingerprint.PROBE, "values": [1.0] * 57},
    {"probe": fingerprint.PROBE, "values": ["x"] * 58},
    {"probe": fingerprint.PROBE, "values": 1.0},
    {"probe": fingerprint.PROBE, "values": [1.0] * 57 + [None]},
    {"probe": fingerprint.PROBE, "values": [1.0] * 58, "rtol": -1},
], ids=["none", "empty", "no-probe", "other-probe", "short", "text", "scalar", "null", "negative-tol"])
def test_no_usable_fingerprint_is_unknown(man, tmp_path, probes):
    assert check(man, tmp_path) is None
    assert probes == [] and not any(tmp_path.iterdir())


# --------------------------------------------------------------------------- the cached verdict

def test_a_cache_hit_does_not_run_the_probe(stored, base, tmp_path, probes):
    assert check(stored, tmp_path) == [] and len(probes) == 1
    assert check(stored, tmp_path) == [] and len(probes) == 1
    assert len(list(tmp_path.glob("*.json"))) == 1
    i = FEATURE_NAMES.index("rms_var")
    off = dict(stored, values=list(stored["values"]))
    off["values"][i] *= 1.01
    first = check(off, tmp_path)
    assert [m.name for m in first] == ["rms_var"] and len(probes) == 2
    assert check(off, tmp_path) == first and len(probes) == 2
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("change", [
    (sources, "feature_code_sha256", lambda: "0" * 64),  # edited feature sources
    (medians, "compiled", lambda: kernels.median is None),  # the other median path
    (np, "__version__", "0.0.0"),
], ids=["sources", "kernel", "numpy"])
def test_the_cache_key_covers_what_the_numbers_depend_on(stored, tmp_path, monkeypatch, probes, change):
    check(stored, tmp_path)
    monkeypatch.setattr(*change)
    assert check(stored, tmp_path) == [] and len(probes) == 2
    assert check(stored, tmp_path) == [] and len(probes) == 2


def test_a_broken_cache_is_harmless(stored, tmp_path, probes):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert check(stored, blocker) == [] and check(stored, blocker / "sub") == []
    assert len(probes) == 2 and blocker.read_text() == "not a folder"
    good = tmp_path / "c"
    check(stored, good)
    (verdict,) = good.glob("*.json")
    for junk in ("{not json", '{"mismatches": 3}', '{"mismatches": [["a"]]}', "[]"):
        verdict.write_text(junk)
        assert check(stored, good) == []
    assert len(probes) == 7 and json.loads(verdict.read_text())["mismatches"] == []


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_cache_is_harmless(stored, tmp_path, probes):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert check(stored, ro) == [] and check(stored, ro) == [] and len(probes) == 2
    finally:
        ro.chmod(0o700)


def test_the_cache_lives_under_gtzan_cache(stored, tmp_path, monkeypatch):
    monkeypatch.setenv("GTZAN_CACHE", str(tmp_path))
    assert fingerprint.default_cache_dir() == tmp_path / "fingerprint"
    assert check(stored) == []
    assert len(list((tmp_path / "fingerprint").glob("*.json"))) == 1
    monkeypatch.delenv("GTZAN_CACHE")
    assert fingerprint.default_cache_dir() == Path.home() / ".cache" / "gtzan-listen" / "fingerprint"
