"""Synthetic audio for ``--demo``: a few genre-ish patterns made from sines, noise and clipping.

They let a newcomer with no microphone and no music file watch the whole pipeline run. They are
caricatures, not music: what the models say about them is illustrative only, and the display and
the JSON label every demo window as synthetic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from gtzan.constants import SR

SEGMENT_SECONDS = 8.0


def _env(n: int, decay_s: float, sr: int) -> np.ndarray:
    return np.exp(-np.arange(n) / (decay_s * sr))


def _hits(total: int, times: np.ndarray, sound: np.ndarray) -> np.ndarray:
    y = np.zeros(total)
    for t in times:
        i = int(t)
        m = min(len(sound), total - i)
        if 0 <= i < total and m > 0:
            y[i : i + m] += sound[:m]
    return y


def _kick(sr: int) -> np.ndarray:
    n = int(0.25 * sr)
    t = np.arange(n) / sr
    f = 50 + 100 * np.exp(-t / 0.03)
    return np.sin(2 * np.pi * np.cumsum(f) / sr) * _env(n, 0.08, sr)


def _noise_hit(sr: int, rng: np.random.Generator, dur: float, decay: float, bright: bool) -> np.ndarray:
    n = int(dur * sr)
    x = rng.standard_normal(n)
    if bright:
        x = np.diff(x, prepend=0.0)  # crude high-pass: a hi-hat
    return x * _env(n, decay, sr)


def _beats(seconds: float, bpm: float, sr: int, offset: float = 0.0, every: float = 1.0) -> np.ndarray:
    step = 60.0 / bpm * every
    return (np.arange(offset, seconds, step) * sr).astype(int)


def disco_like(seconds: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Four-on-the-floor kick, off-beat open hats, an octave bass line: 120 BPM."""
    n = int(seconds * sr)
    t = np.arange(n) / sr
    y = 0.6 * _hits(n, _beats(seconds, 120, sr), _kick(sr))
    y += 0.25 * _hits(n, _beats(seconds, 120, sr, offset=0.25), _noise_hit(sr, rng, 0.12, 0.04, True))
    root = np.where((t * 2) % 1 < 0.5, 110.0, 220.0)
    y += 0.25 * np.sign(np.sin(2 * np.pi * np.cumsum(root) / sr)) * 0.5
    for f in (440.0, 554.4, 659.3):
        y += 0.06 * np.sin(2 * np.pi * f * t) * ((t * 4) % 1 < 0.3)
    return y


def classical_like(seconds: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Slow string-like chords: many harmonics, vibrato, soft attacks, no drums."""
    n = int(seconds * sr)
    t = np.arange(n) / sr
    chords = [(196.0, 246.9, 293.7), (174.6, 220.0, 261.6), (164.8, 207.7, 246.9), (196.0, 246.9, 329.6)]
    y = np.zeros(n)
    span = seconds / len(chords)
    for c, chord in enumerate(chords):
        seg = (t >= c * span) & (t < (c + 1) * span)
        local = t[seg] - c * span
        env = np.minimum(1, local / 0.6) * np.minimum(1, (span - local) / 0.4)
        for f in chord:
            vib = f * (1 + 0.004 * np.sin(2 * np.pi * 5.5 * t[seg]))
            phase = 2 * np.pi * np.cumsum(vib) / sr
            for h in range(1, 7):
                y[seg] += 0.05 / h * np.sin(h * phase) * env
    return y


def metal_like(seconds: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Heavily clipped power chords over double kick drums and crashes: 180 BPM."""
    n = int(seconds * sr)
    t = np.arange(n) / sr
    root = np.where((t % 2) < 1, 82.4, 98.0)
    saw = sum(np.sin(2 * np.pi * k * np.cumsum(root * m) / sr) / k for m in (1.0, 1.5, 2.0) for k in range(1, 5))
    y = 0.5 * np.tanh(4 * saw)
    y += 0.5 * _hits(n, _beats(seconds, 180, sr, every=0.25), _kick(sr))
    y += 0.2 * _hits(n, _beats(seconds, 180, sr, every=4), _noise_hit(sr, rng, 0.8, 0.3, True))
    y += 0.03 * rng.standard_normal(n)
    return y


def jazz_like(seconds: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A swung ride cymbal, a walking bass and soft seventh chords: 140 BPM."""
    n = int(seconds * sr)
    t = np.arange(n) / sr
    beat = 60 / 140
    ride_times = np.concatenate([np.arange(0, seconds, beat), np.arange(beat * 2 / 3, seconds, 2 * beat)])
    y = 0.15 * _hits(n, (np.sort(ride_times) * sr).astype(int), _noise_hit(sr, rng, 0.3, 0.12, True))
    walk = np.array([110.0, 123.5, 130.8, 146.8, 164.8, 146.8, 130.8, 123.5])
    f = walk[(t / beat).astype(int) % len(walk)]
    y += 0.35 * np.sin(2 * np.pi * np.cumsum(f) / sr) * (0.6 + 0.4 * _env(1, 1, sr)[0])
    for freq in (261.6, 329.6, 392.0, 466.2):
        y += 0.05 * np.sin(2 * np.pi * freq * t) * ((t % (4 * beat)) < 1.2 * beat)
    return y


def hiphop_like(seconds: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A boom-bap beat at 90 BPM: kick, backbeat snare, busy hats and a sub bass."""
    n = int(seconds * sr)
    t = np.arange(n) / sr
    y = 0.7 * _hits(n, _beats(seconds, 90, sr, every=2), _kick(sr))
    y += 0.4 * _hits(n, _beats(seconds, 90, sr, every=2, offset=60 / 90), _noise_hit(sr, rng, 0.2, 0.05, False))
    y += 0.1 * _hits(n, _beats(seconds, 90, sr, every=0.5), _noise_hit(sr, rng, 0.05, 0.01, True))
    y += 0.3 * np.sin(2 * np.pi * 55.0 * t) * ((t % (120 / 90)) < 0.5)
    return y


class Pattern(NamedTuple):
    name: str
    make: Callable[[float, int, np.random.Generator], np.ndarray]


PATTERNS: tuple[Pattern, ...] = (
    Pattern("disco-like beat", disco_like),
    Pattern("classical-like strings", classical_like),
    Pattern("metal-like riff", metal_like),
    Pattern("jazz-like swing", jazz_like),
    Pattern("hip-hop-like beat", hiphop_like),
)


def demo_clip(sr: int = SR, seconds_each: float = SEGMENT_SECONDS,
              seed: int = 0) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """The demo clip (float32, peak 0.9) and its segments as (start sample, pattern name)."""
    rng = np.random.default_rng(seed)
    parts, segments, pos = [], [], 0
    for p in PATTERNS:
        y = p.make(seconds_each, sr, rng)
        y = 0.9 * y / max(1e-9, np.abs(y).max())
        segments.append((pos, p.name))
        parts.append(y)
        pos += len(y)
    return np.concatenate(parts).astype(np.float32), segments
