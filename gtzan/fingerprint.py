"""A numeric fingerprint of the feature code: the 58 features of a fixed synthetic probe clip.

A bundle records the fingerprint of the code that exported it. Comparing numbers rather than source
text lets a refactor that leaves the features alone keep its bundles, and still catches any change to
what the features are. The probe costs about 0.1 s in a fresh process and gtzan-listen's start-up is
counted in milliseconds, so the verdict is cached on disk, keyed by everything the numbers depend on:
the feature sources, the median kernel in use, numpy, the machine and the stored fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from gtzan.constants import HOP, SR, WINDOW_SAMPLES
from gtzan.features import FEATURE_NAMES, clip_features, medians, sources

PROBE = "tones-clicks-noise/1"  # names probe_clip: a different clip needs a different name
_SEED = 2
BEAT = 22 * HOP  # clicks on the frame grid: the tempo estimate has one clear best lag (117.45 BPM)
DIGEST_DIGITS = 5

_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}


class Mismatch(NamedTuple):
    """A feature whose probe value differs beyond tolerance from the stored one."""

    name: str
    stored: float
    current: float


def probe_clip() -> np.ndarray:
    """3 s of float32 audio that exercises every feature, the same on every machine.

    Two detuned four-note chords with harmonics (chroma, tuning, the harmonic half of HPSS) change on a
    beat; one-sided clicks every 22 frames (tempo, the percussive half, a non-zero percussive mean);
    noise that grows after the change (spectral shape, zero crossings, MFCC variance); a DC offset
    (a non-zero harmonic mean); a near-silent tail (the top_db clip of the MFCCs).
    """
    rng = np.random.default_rng(_SEED)
    n = WINDOW_SAMPLES
    t = np.arange(n) / SR
    change = 3 * HOP + 3 * BEAT

    def chord(midi: tuple[int, ...], amp: float) -> np.ndarray:
        out = np.zeros(n)
        for m in midi:
            f0 = 440.0 * 2 ** ((m - 69 + 0.2) / 12)
            for k in range(1, 5):
                out += amp / k * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi))
        return out

    before = np.arange(n) < change
    y = np.where(before, chord((48, 52, 55, 60), 0.08), chord((45, 53, 57, 62), 0.06))
    for s in range(3 * HOP, n, BEAT):
        k = np.arange(min(400, n - s))
        y[s : s + len(k)] += 0.5 * np.exp(-k / 60.0) * rng.uniform(0.5, 1.5, len(k))
    y += 0.01 * rng.standard_normal(n) * np.where(before, 1.0, 3.0)
    y += 0.01
    y[n - 8 * HOP :] *= 1e-5
    return y.astype(np.float32)


def probe_features() -> np.ndarray:
    """The 58 features of the probe clip with the code imported now."""
    return clip_features(probe_clip())


def tolerances() -> tuple[np.ndarray, np.ndarray]:
    """Per-feature (rtol, atol): a value matches when ``|current - stored| <= max(atol, rtol * |stored|)``.

    Rounding noise (an ulp on half the samples, more than another FFT or BLAS causes) moves the probe's
    features by at most 4e-7 relative; the smallest real change tried (the HPSS medians' border mode)
    moves one by 7e-4. rtol 1e-5 sits between. The rolloff of a frame is a whole bin, and rounding can move a frame
    whose spectrum crosses 85 % within a hair of a bin edge, 10.8 Hz: 1e-3 absorbs a few such frames.
    Tempo and length are exact by construction. atol is the floor for values near zero: 1e-8 for
    amplitudes (a waveform mean), 1e-5 dB for MFCCs (dB values of ~100 in float32).
    """
    rtol = np.full(len(FEATURE_NAMES), 1e-5)
    atol = np.full(len(FEATURE_NAMES), 1e-8)
    rtol[[_INDEX["rolloff_mean"], _INDEX["rolloff_var"]]] = 1e-3
    rtol[_INDEX["tempo"]] = 1e-6
    rtol[_INDEX["length"]] = 0.0
    atol[[i for name, i in _INDEX.items() if name.startswith("mfcc")]] = 1e-5
    return rtol, atol


def fingerprint() -> dict[str, Any]:
    """What an exporter records: the probe's name, its 58 features and the tolerances to compare them."""
    rtol, atol = tolerances()
    return {"probe": PROBE, "values": probe_features().tolist(), "rtol": rtol.tolist(), "atol": atol.tolist()}


def compare(stored: Any, current: Any, rtol: Any = None, atol: Any = None) -> list[Mismatch]:
    """The features of ``current`` that differ from ``stored`` beyond tolerance (default: ``tolerances()``).

    A NaN or infinite value never matches.
    """
    s = np.asarray(stored, dtype=np.float64)
    c = np.asarray(current, dtype=np.float64)
    default_rtol, default_atol = tolerances()
    r = default_rtol if rtol is None else np.broadcast_to(np.asarray(rtol, dtype=np.float64), s.shape)
    a = default_atol if atol is None else np.broadcast_to(np.asarray(atol, dtype=np.float64), s.shape)
    with np.errstate(invalid="ignore", over="ignore"):
        ok = np.abs(c - s) <= np.maximum(a, r * np.abs(s))
    return [Mismatch(FEATURE_NAMES[i], float(s[i]), float(c[i])) for i in np.flatnonzero(~ok)]


def digest(values: Any = None) -> str:
    """Short hash of the probe features rounded to 5 significant digits: a cache key for feature data.

    Any change beyond 1e-4 relative changes it; rounding noise almost never does.
    """
    v = probe_features() if values is None else np.asarray(values, dtype=np.float64)
    text = PROBE + "|" + ",".join(f"{x:.{DIGEST_DIGITS}g}" for x in v.tolist())
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def default_cache_dir() -> Path:
    """Where verdicts are kept: ``$GTZAN_CACHE/fingerprint``, else ``~/.cache/gtzan-listen/fingerprint``."""
    env = os.environ.get("GTZAN_CACHE")
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "gtzan-listen"
    return root / "fingerprint"


def _parse(stored: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(values, rtol, atol) of a manifest's fingerprint; None when absent, of another probe or malformed."""
    if not isinstance(stored, dict) or stored.get("probe") != PROBE:
        return None
    n = len(FEATURE_NAMES)
    default_rtol, default_atol = tolerances()
    parts = []
    for key, default in (("values", None), ("rtol", default_rtol), ("atol", default_atol)):
        raw = stored.get(key, default)
        try:
            arr = np.broadcast_to(np.asarray(raw, dtype=np.float64), (n,))
        except (TypeError, ValueError):
            return None
        if raw is None or isinstance(raw, (str, bytes)) or not np.all(np.isfinite(arr)):
            return None
        if key == "values" and np.ndim(raw) != 1:
            return None
        if key != "values" and np.any(arr < 0):
            return None
        parts.append(arr)
    return parts[0], parts[1], parts[2]


def _verdict_key(stored: dict) -> str:
    """Everything the probe's numbers and their comparison depend on."""
    h = hashlib.sha256()
    for part in (
        sources.feature_code_sha256(),
        Path(__file__).read_bytes(),
        f"compiled={medians.compiled()}",
        np.__version__,
        platform.machine(),
        json.dumps(stored, sort_keys=True),
    ):
        h.update(part if isinstance(part, bytes) else part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _read_verdict(path: Path) -> list[Mismatch] | None:
    try:
        found = json.loads(path.read_text(encoding="utf-8"))["mismatches"]
        return [Mismatch(str(name), float(s), float(c)) for name, s, c in found]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_verdict(path: Path, found: list[Mismatch]) -> None:
    """Atomically, or not at all: a cache that cannot be written only costs the next start a probe."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({"probe": PROBE, "mismatches": [list(m) for m in found]}), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass


def check(stored: Any, cache_dir: str | os.PathLike | None = None) -> list[Mismatch] | None:
    """The features this code computes differently from a manifest's ``features.fingerprint``.

    [] when they all match, None when there is nothing to compare with (no fingerprint, another probe,
    malformed). The verdict is cached, so only the first start after a change to the code, numpy, the
    kernel or the bundle runs the probe.
    """
    if not isinstance(stored, dict) or stored.get("probe") != PROBE:
        return None
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    path = root / f"{_verdict_key(stored)}.json"
    found = _read_verdict(path)  # only a parsed fingerprint ever gets a verdict
    if found is not None:
        return found
    parsed = _parse(stored)
    if parsed is None:
        return None
    found = compare(parsed[0], probe_features(), parsed[1], parsed[2])
    _write_verdict(path, found)
    return found
