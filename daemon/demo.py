"""Synthetic audio for ``--demo``: genre caricatures made from sines, noise, filters and distortion.

They let a newcomer with no microphone and no music file watch the whole pipeline run. They are
caricatures, not music, and the display and the JSON label every demo window as synthetic. A demo
whose disco is called pop looks broken, so each pattern is built from what the 58 GTZAN features
notice in its genre (the per-genre spread of ``features_3_sec.csv``): loudness and its swing
(classical quiet, metal and hip-hop loud and dense), the recording's tone (GTZAN's sources have
little above 10 kHz), brightness and noisiness (cymbal wash, distortion, hiss), harmonic versus
percussive balance, tempo and chords. The models then name the genre from the audio alone; nothing
downstream knows the audio is a demo (tests/test_demo.py runs the real pipeline on it).

The keyword arguments of a pattern are its mix: the levels of its parts and the tone and loudness
of the recording. Their defaults come from a small seeded search scored by the shipped bundle,
within ranges that keep every part audible and the pattern a caricature of its genre.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from gtzan.constants import SR

SEGMENT_SECONDS = 8.0
PEAK = 0.9


# --- building blocks ----------------------------------------------------------------------------


def _hz(midi: float) -> float:
    return float(440.0 * 2.0 ** ((midi - 69.0) / 12.0))


def _hz_array(midi: np.ndarray) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def _env(n: int, decay_s: float, sr: int) -> np.ndarray:
    return np.exp(-np.arange(n) / (decay_s * sr))


def _filter(x: np.ndarray, sr: int, lo: float = 0.0, hi: float = 0.0, order: int = 2) -> np.ndarray:
    """Zero-phase Butterworth-shaped band limits applied in the frequency domain (cheap, no scipy)."""
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1.0 / sr)
    gain = np.ones_like(f)
    if lo > 0:
        gain /= np.sqrt(1.0 + (lo / np.maximum(f, 1e-3)) ** (2 * order))
    if hi > 0:
        gain /= np.sqrt(1.0 + (f / hi) ** (2 * order))
    return np.fft.irfft(spec * gain, len(x))


def _eq_gain(f: np.ndarray, curve: dict[float, float]) -> np.ndarray:
    """A graphic equaliser's gain at frequencies ``f``: dB at a few points, interpolated on log frequency."""
    points = sorted(curve.items())
    db = np.interp(np.log2(np.maximum(f, 10.0)), np.log2([p for p, _ in points]), [g for _, g in points])
    return 10.0 ** (db / 20.0)


def _place(total: int, starts: np.ndarray, sound: np.ndarray) -> np.ndarray:
    """Copies of one sound (a drum hit) at the given sample positions."""
    y = np.zeros(total)
    for i in np.asarray(starts, dtype=int):
        m = min(len(sound), total - i)
        if 0 <= i < total and m > 0:
            y[i : i + m] += sound[:m]
    return y


def _grid(
    seconds: float, bpm: float, sr: int, every: float = 1.0, offset: float = 0.0, swing: float = 0.0
) -> np.ndarray:
    """Sample positions of a pulse every ``every`` beats; ``swing`` delays each second pulse (in beats)."""
    step = 60.0 / bpm * every
    t = np.arange(offset * 60.0 / bpm, seconds, step)
    t[1::2] += swing * 60.0 / bpm
    return (t[t < seconds] * sr).astype(int)


def _tone(
    freq: float, dur: float, sr: int, partials: int, tilt: float, decay: float, damp: float = 0.0, attack: float = 0.003
) -> np.ndarray:
    """A note from decaying harmonics: partial k has amplitude k**-tilt and decays ``damp`` times faster
    per step up (plucked and struck strings). sin(k x) and the decays come from recurrences, not from
    one sin and exp per partial, which keeps the demo quick to start."""
    n = int(dur * sr)
    t = np.arange(n) / sr
    x = 2 * np.pi * freq * t
    two_cos = 2.0 * np.cos(x)
    s_prev, s_k = np.zeros(n), np.sin(x)
    env = np.exp(-t / decay)
    faster = np.exp(-t * damp / decay)
    y = np.zeros(n)
    for k in range(1, min(partials, int(0.45 * sr / freq)) + 1):
        y += k**-tilt * s_k * env
        s_prev, s_k = s_k, two_cos * s_k - s_prev
        env = env * faster
    return y * np.minimum(1.0, t / attack) * np.minimum(1.0, (dur - t) / 0.01)


def _saw(freq: np.ndarray | float, n: int, sr: int, phase0: float = 0.0) -> np.ndarray:
    """A plain (aliasing) sawtooth, bright on purpose: distortion and strings are filtered afterwards."""
    ph = phase0 + np.cumsum(np.broadcast_to(np.asarray(freq, dtype=np.float64), (n,))) / sr
    return 2.0 * (ph % 1.0) - 1.0


def _kick(sr: int, click: float = 0.3) -> np.ndarray:
    n = int(0.3 * sr)
    t = np.arange(n) / sr
    f = 48 + 110 * np.exp(-t / 0.025)
    body = np.sin(2 * np.pi * np.cumsum(f) / sr) * _env(n, 0.12, sr)
    return body + click * np.exp(-t / 0.003) * np.sin(2 * np.pi * 1800 * t)


def _snare(sr: int, rng: np.random.Generator, decay: float = 0.09, tone: float = 0.5) -> np.ndarray:
    n = int(0.35 * sr)
    t = np.arange(n) / sr
    noise = _filter(rng.standard_normal(n), sr, lo=1200.0, hi=9000.0) * _env(n, decay, sr)
    return noise + tone * np.sin(2 * np.pi * 185 * t) * _env(n, 0.05, sr)


def _hat(sr: int, rng: np.random.Generator, decay: float, lo: float = 6000.0) -> np.ndarray:
    n = int(min(1.0, 6 * decay) * sr)
    return _filter(rng.standard_normal(n), sr, lo=lo, order=3) * _env(n, decay, sr)


def _cymbal(sr: int, rng: np.random.Generator, decay: float, lo: float = 3000.0, ping: float = 0.0) -> np.ndarray:
    """A crash or ride: high noise plus a cluster of inharmonic partials (the bell)."""
    n = int(min(2.5, 5 * decay) * sr)
    t = np.arange(n) / sr
    y = _filter(rng.standard_normal(n), sr, lo=lo, order=2)
    if ping:
        for f in (3140.0, 4410.0, 5270.0, 6630.0):
            y += ping * np.sin(2 * np.pi * f * t)
    return y * _env(n, decay, sr)


def _notes(
    total: int, sr: int, events: list[tuple[float, float, float, float]], voice: Callable[[float, float], np.ndarray]
) -> np.ndarray:
    """Render (start s, length s, frequency, gain) events with an instrument ``voice(freq, dur)``; a
    repeated note is synthesised once."""
    y = np.zeros(total)
    made: dict[tuple[float, float], np.ndarray] = {}
    for start, dur, freq, gain in events:
        i = int(start * sr)
        if i >= total:
            continue
        key = (float(freq), float(dur))
        if key not in made:
            made[key] = voice(freq, dur)
        s = made[key]
        m = min(len(s), total - i)
        y[i : i + m] += gain * s[:m]
    return y


def _rms(y: np.ndarray) -> float:
    return float(np.sqrt(np.mean(y**2))) + 1e-12


# GTZAN's tracks come from radio, tape, CDs and compressed files: little below 40 Hz or above 10 kHz
RECORDING = {20.0: -18.0, 50.0: 0.0, 5000.0: 0.0, 8000.0: -12.0, 10000.0: -35.0}


def _master(
    y: np.ndarray,
    sr: int,
    rng: np.random.Generator,
    rms: float,
    drive: float = 0.0,
    eq: dict[float, float] | None = None,
    room: float = 0.0,
    wet: float = 0.0,
) -> np.ndarray:
    """The recording: a room (``room`` seconds of reverb tail, ``wet`` share), its tone (``eq``, by
    default RECORDING) and its loudness as the genre is mastered; ``drive`` > 0 squashes peaks (a
    limiter) so loud genres stay loud and dense. Never above PEAK. Room and tone are one FFT filter."""
    n = len(y)
    size = n if room <= 0 else 1 << int(np.ceil(np.log2(n + room * sr)))
    f = np.fft.rfftfreq(size, 1.0 / sr)
    gain = _eq_gain(f, RECORDING if eq is None else eq)
    if room > 0:  # convolution with exponentially decaying, darkened noise
        m = int(room * sr)
        ir = rng.standard_normal(m) * _env(m, room / 6.0, sr)
        dark = np.fft.rfft(ir / np.sqrt(np.sum(ir**2)), size) / np.sqrt(1.0 + (f / 4000.0) ** 2)
        gain = gain * ((1.0 - wet) + wet * dark)
    y = np.fft.irfft(np.fft.rfft(y - y.mean(), size) * gain, size)[:n]
    y = y * (rms / _rms(y))
    if drive > 0:
        y = np.tanh(drive * y / PEAK) * PEAK / np.tanh(drive)
        y *= rms / _rms(y)
    peak = np.abs(y).max()
    return y * (PEAK / peak) if peak > PEAK else y


# --- the patterns -------------------------------------------------------------------------------


def disco_like(
    seconds: float,
    sr: int,
    rng: np.random.Generator,
    *,
    kick: float = 0.8,
    open_hat: float = 0.9,
    closed_hat: float = 0.5,
    clap: float = 0.35,
    bass: float = 0.12,
    strings: float = 0.03,
    guitar: float = 0.33,
    drive: float = 0.6,
    presence: float = -3.0,
    air: float = -14.0,
) -> np.ndarray:
    """Four-on-the-floor kick, open hats on the off-beats, 16th closed hats, claps on 2 and 4, an octave
    bass line, a soft string pad and a chicken-scratch guitar: 120 BPM."""
    n = int(seconds * sr)
    bpm = 120.0
    beat = 60.0 / bpm
    y = kick * _place(n, _grid(seconds, bpm, sr), _kick(sr))
    y += open_hat * _place(n, _grid(seconds, bpm, sr, offset=0.5), _hat(sr, rng, 0.12))
    y += closed_hat * _place(n, _grid(seconds, bpm, sr, every=0.25), _hat(sr, rng, 0.025))
    y += clap * _place(n, _grid(seconds, bpm, sr, every=2, offset=1), _snare(sr, rng, 0.12, 0.2))
    roots = [45, 45, 50, 52]  # A A D E
    chords = {45: (57, 60, 64, 69), 50: (57, 62, 65, 69), 52: (56, 59, 64, 68)}
    bass_ev = [
        (e * beat / 2, beat * 0.45, _hz(roots[int(e // 8) % 4] + 12 * (e % 2)), 1.0)
        for e in range(int(seconds / (beat / 2)) + 1)
    ]
    y += bass * _notes(n, sr, bass_ev, lambda f, d: _tone(f, d, sr, 8, 1.2, 0.3, 0.3))
    pad_ev = [
        (b * 4 * beat, 4 * beat, _hz(m), 1.0)
        for b in range(int(seconds / (4 * beat)) + 1)
        for m in chords[roots[b % len(roots)]]
    ]
    y += strings * _notes(n, sr, pad_ev, lambda f, d: _tone(f, d, sr, 12, 1.0, 8.0, attack=0.08))
    m = int(0.06 * sr)
    scratch = _filter(rng.standard_normal(m), sr, lo=1200.0, hi=4000.0) * _env(m, 0.015, sr)
    y += guitar * _place(n, _grid(seconds, bpm, sr, every=0.25, offset=0.25), scratch)
    eq = {20.0: -18.0, 50.0: 0.0, 1000.0: 0.0, 3000.0: presence, 7000.0: air, 10000.0: -30.0}
    return _master(y, sr, rng, 0.14, drive, eq, room=0.8, wet=0.15)


def classical_like(seconds: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A quiet string section in a hall: slow chords with vibrato and soft bowing, no drums."""
    n = int(seconds * sr)
    t = np.arange(n) / sr
    chords = [(43, 55, 59, 62, 67), (41, 53, 57, 60, 65), (40, 52, 56, 59, 64), (43, 55, 59, 62, 71)]
    y = np.zeros(n)
    span = seconds / len(chords)
    for c, chord in enumerate(chords):
        seg = (t >= c * span) & (t < (c + 1) * span + 0.3)
        local = t[seg] - c * span
        env = np.minimum(1, local / 0.5) * np.clip((span + 0.3 - local) / 0.6, 0, 1)
        for m in chord:
            f = _hz(m)
            vib = f * (1 + 0.004 * np.sin(2 * np.pi * 5.5 * t[seg] + m))
            y[seg] += _saw(vib, int(seg.sum()), sr, phase0=m / 7.0) * env
    eq = {
        20.0: -30.0,
        80.0: -3.0,
        160.0: 0.0,
        1500.0: 0.0,
        2500.0: -3.0,
        5000.0: -15.0,
        8000.0: -27.0,
        10000.0: -40.0,
    }  # strings and a distant hall: warm, no air
    return _master(y, sr, rng, 0.03, eq=eq, room=2.0, wet=0.4)


def metal_like(
    seconds: float,
    sr: int,
    rng: np.random.Generator,
    *,
    guitar: float = 0.22,
    kick: float = 0.68,
    snare: float = 0.3,
    cymbal: float = 0.19,
    distortion: float = 10.0,
    mute: float = 0.1,
    drive: float = 1.4,
    scoop: float = -6.3,
    presence: float = 2.8,
    air: float = -20.0,
) -> np.ndarray:
    """Palm-muted, heavily distorted power chords over double kick drums and a constant cymbal wash,
    mixed loud with scooped mids: 180 BPM."""
    n = int(seconds * sr)
    t = np.arange(n) / sr
    bpm = 180.0
    beat = 60.0 / bpm
    riff = np.array([40, 40, 40, 43, 40, 40, 46, 45])  # E E E G E E Bb A
    step = (t / (beat / 2)).astype(int)
    root = _hz_array(riff[step % len(riff)])
    gtr = np.zeros(n)
    for r in (1.0, 1.5, 2.0):
        for d, p in ((1.0, 0.0), (1.004, 0.3)):
            gtr = gtr + _saw(root * r * d, n, sr, phase0=p)
    gtr = _filter(gtr, sr, lo=90.0)
    gtr = _filter(np.tanh(distortion * gtr), sr, lo=150.0, hi=6000.0, order=2)
    local = t % (beat / 2)
    muted = np.isin(step % 8, (0, 1, 2, 4, 5))  # palm-muted chugs; the other notes ring
    gtr *= np.where(muted, mute + (1.0 - mute) * np.exp(-local / 0.06), 1.0)
    y = guitar * gtr
    y += kick * _place(n, _grid(seconds, bpm, sr, every=0.25), _kick(sr, 0.6))
    y += snare * _place(n, _grid(seconds, bpm, sr, every=2, offset=1), _snare(sr, rng, 0.1))
    y += cymbal * _place(n, _grid(seconds, bpm, sr, every=1), _cymbal(sr, rng, 0.6, 2500.0))
    eq = {
        20.0: -18.0,
        60.0: -3.0,
        300.0: -3.0,
        1000.0: scoop,
        2500.0: presence,
        5000.0: 0.0,
        7000.0: air,
        10000.0: -40.0,
    }
    return _master(y, sr, rng, 0.15, drive, eq)


def jazz_like(
    seconds: float,
    sr: int,
    rng: np.random.Generator,
    *,
    ride: float = 0.03,
    bass: float = 0.27,
    piano: float = 0.1,
    brush: float = 0.07,
    horn: float = 0.44,
    wet: float = 0.1,
    presence: float = 2.3,
    air: float = 0.0,
) -> np.ndarray:
    """A quartet in a small room: swung ride cymbal, walking upright bass, piano seventh chords, brushed
    snare and a saxophone line: 140 BPM."""
    n = int(seconds * sr)
    bpm = 140.0
    beat = 60.0 / bpm
    y = ride * _place(n, _grid(seconds, bpm, sr, every=0.5, swing=1 / 6), _cymbal(sr, rng, 0.5, 5000.0, ping=0.05))
    walk = [38, 41, 43, 45, 43, 40, 38, 36, 31, 33, 35, 36, 38, 41, 40, 37]
    bass_ev = [(i * beat, beat * 0.9, _hz(walk[i % len(walk)]), 1.0) for i in range(int(seconds / beat) + 1)]
    y += bass * _notes(n, sr, bass_ev, lambda f, d: _tone(f, d, sr, 6, 1.5, 0.5, 0.6, attack=0.01))
    voicings = [(53, 57, 60, 64), (53, 56, 60, 63), (52, 55, 59, 62), (50, 53, 57, 60)]  # Dm9-ish ii-V-I colours
    bar = 4 * beat
    piano_ev = [
        (b * bar + off * beat, beat * 1.2, _hz(m + 12), 1.0)
        for b in range(int(seconds / bar) + 1)
        for off in (0.0, 1.66)
        for m in voicings[b % len(voicings)]
    ]
    y += piano * _notes(n, sr, piano_ev, lambda f, d: _tone(f, d, sr, 10, 1.3, 0.8, 0.4))
    y += brush * _place(n, _grid(seconds, bpm, sr, every=2, offset=1), _snare(sr, rng, 0.15, 0.0))
    y += horn * _horn(seconds, bpm, sr)
    eq = {20.0: -18.0, 50.0: 0.0, 1000.0: 0.0, 3000.0: presence, 7000.0: air, 10000.0: -35.0}
    return _master(y, sr, rng, 0.07, eq=eq, room=1.0, wet=wet)


def _horn(seconds: float, bpm: float, sr: int) -> np.ndarray:
    """A saxophone-ish line: swung eighths of a bebop phrase, a reedy sawtooth with vibrato, softened."""
    n = int(seconds * sr)
    beat = 60.0 / bpm
    phrase = [62, 65, 69, 72, 71, 69, 67, 65, 64, 67, 70, 74, 72, 0, 0, 0]  # 0 is a rest
    ev = []
    for k in range(int(seconds / (beat / 2))):
        m = phrase[k % len(phrase)]
        if m:
            start = k * beat / 2 + (beat / 6 if k % 2 else 0.0)
            ev.append((start, beat * (0.55 if k % 2 else 0.75), _hz(m), 1.0 if k % 2 == 0 else 0.7))

    def reed(f: float, d: float) -> np.ndarray:
        m = int(d * sr)
        t = np.arange(m) / sr
        vib = f * (1 + 0.006 * np.sin(2 * np.pi * 5.0 * t))
        return _saw(vib, m, sr) * np.minimum(1, t / 0.03) * np.minimum(1, (d - t) / 0.03)

    return _filter(_notes(n, sr, ev, reed), sr, lo=250.0, hi=1800.0, order=2)


def hiphop_like(
    seconds: float,
    sr: int,
    rng: np.random.Generator,
    *,
    kick: float = 0.45,
    snare: float = 0.57,
    hats: float = 0.66,
    bass: float = 1.0,
    loop: float = 0.05,
    voice: float = 0.3,
    vinyl: float = 0.095,
    drive: float = 2.65,
    presence: float = -1.6,
    air: float = -4.5,
) -> np.ndarray:
    """A boom-bap beat at 90 BPM: hard kick, backbeat snare, busy hats, a sub bass, a looped chord
    sample with its vinyl hiss, and a rapped voice (a buzz through vowel formants, one syllable per 16th)."""
    n = int(seconds * sr)
    bpm = 90.0
    beat = 60.0 / bpm
    kicks = np.concatenate([_grid(seconds, bpm, sr, every=4), _grid(seconds, bpm, sr, every=4, offset=2.5)])
    y = kick * _place(n, kicks, _kick(sr, 0.5))
    y += snare * _place(n, _grid(seconds, bpm, sr, every=2, offset=1), _snare(sr, rng, 0.12, 0.6))
    y += hats * _place(n, _grid(seconds, bpm, sr, every=0.5), _hat(sr, rng, 0.03))
    bass_ev = [(k / sr, beat * 0.9, _hz(33), 1.0) for k in kicks]
    y += bass * _notes(n, sr, bass_ev, lambda f, d: _tone(f, d, sr, 3, 2.0, 0.6))
    loop_ev = [
        (b * 4 * beat, 4 * beat, _hz(m), 1.0)
        for b in range(int(seconds / (4 * beat)) + 1)
        for m in ((57, 60, 64, 67) if b % 2 == 0 else (55, 58, 62, 65))
    ]
    y += loop * _notes(n, sr, loop_ev, lambda f, d: _tone(f, d, sr, 5, 1.0, 2.0, 0.2, attack=0.02))
    y += vinyl * _filter(rng.standard_normal(n), sr, lo=1000.0, hi=8000.0)
    y += voice * _rap(seconds, bpm, sr, rng)
    eq = {20.0: -18.0, 50.0: 0.0, 1000.0: 0.0, 3000.0: presence, 7000.0: air, 10000.0: -30.0}
    return _master(y, sr, rng, 0.17, drive, eq)


# the first three formants (Hz) of the vowels a, i, u, e, o
_VOWELS = ((700, 1200, 2600), (400, 2000, 2550), (300, 870, 2250), (500, 1500, 2500), (350, 600, 2400))


def _rap(seconds: float, bpm: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A rapped line: 16th-note syllables of a glottal buzz shaped by vowel formants, with consonants."""
    n = int(seconds * sr)
    step = 60.0 / bpm / 4
    y = np.zeros(n)
    for k in range(int(seconds / step)):
        if k % 16 in (14, 15):  # a breath at the end of every bar
            continue
        m = int(step * sr * 0.9)
        i = int(k * step * sr)
        f0 = 140.0 * (1.0 + 0.05 * np.sin(k * 1.7))
        src = _saw(f0 * (1 - 0.05 * np.arange(m) / m), m, sr)
        spec = np.fft.rfft(src)
        f = np.fft.rfftfreq(m, 1.0 / sr)
        vowel = _VOWELS[rng.integers(len(_VOWELS))]
        form = sum(a / (1.0 + ((f - fc) / (0.12 * fc + 60)) ** 2) for fc, a in zip(vowel, (1.0, 0.6, 0.3)))
        syl = np.fft.irfft(spec * form, m) * np.sin(np.pi * np.arange(m) / m) ** 0.5
        cons = _filter(rng.standard_normal(m // 4), sr, lo=3000.0) * _env(m // 4, 0.01, sr)
        syl[: len(cons)] += 0.3 * cons * (k % 2 == 0)
        mm = min(m, n - i)
        y[i : i + mm] += syl[:mm]
    return y


class Pattern(NamedTuple):
    name: str
    imitates: str  # the GTZAN genre the caricature is built to sound like to the models
    make: Callable[[float, int, np.random.Generator], np.ndarray]


# loud to quiet; in this order the windows that straddle two patterns sway the fewest verdicts
PATTERNS: tuple[Pattern, ...] = (
    Pattern("metal-like riff", "metal", metal_like),
    Pattern("hip-hop-like beat", "hiphop", hiphop_like),
    Pattern("disco-like beat", "disco", disco_like),
    Pattern("classical-like strings", "classical", classical_like),
    Pattern("jazz-like swing", "jazz", jazz_like),
)


def demo_clip(
    sr: int = SR, seconds_each: float = SEGMENT_SECONDS, seed: int = 0
) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """The demo clip (float32, peak at most PEAK) and its segments as (start sample, pattern name)."""
    rng = np.random.default_rng(seed)
    parts, segments, pos = [], [], 0
    for p in PATTERNS:
        y = p.make(seconds_each, sr, rng)
        segments.append((pos, p.name))
        parts.append(y)
        pos += len(y)
    return np.concatenate(parts).astype(np.float32), segments
