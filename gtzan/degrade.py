"""Named, seeded degradations of a track: the ways music reaches a microphone or a lossy file.

Each condition maps a clean mono float32 track at 22,050 Hz to a degraded one at the same rate and
about the same length, clipped at full scale as a capture or a file would be. Randomness (noise, the
room) comes from a generator seeded by (seed, condition, track), so a run can be repeated and a
condition does not change with the tracks or conditions run beside it. Used by
benchmarks/bench_robustness.py; scipy.signal and the codecs load only when a condition needs them.
"""

from __future__ import annotations

import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gtzan.constants import SR

Degrade = Callable[[np.ndarray, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class Condition:
    name: str
    description: str
    apply: Degrade


def rng_for(seed: int, condition: str, track: str) -> np.random.Generator:
    """A generator that depends only on the seed, the condition's name and the track's name."""
    return np.random.default_rng([seed, zlib.crc32(condition.encode()), zlib.crc32(track.encode())])


def rms(y: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if y.size else 0.0


def full_scale(y: np.ndarray) -> np.ndarray:
    """Samples cut at +-1, as float32."""
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def white(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(n)


def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    """Noise with power falling as 1/f (white noise shaped in the frequency domain), unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n)
    spec[1:] /= np.sqrt(f[1:])
    spec[0] = 0.0
    x = np.fft.irfft(spec, n)
    return x / max(rms(x), 1e-12)


def add_noise(y: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """y plus noise scaled to ``snr_db`` below the track's RMS level."""
    scale = rms(y) / max(rms(noise), 1e-12) * 10 ** (-snr_db / 20)
    return y + scale * noise


def with_gain(db: float) -> Degrade:
    def apply(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return full_scale(y * 10 ** (db / 20))

    return apply


def with_noise(kind: str, snr_db: float) -> Degrade:
    make = {"white": white, "pink": pink}[kind]

    def apply(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return full_scale(add_noise(y, make(len(y), rng), snr_db))

    return apply


def with_filter(kind: str, hz: float, order: int) -> Degrade:
    """A causal Butterworth filter, as a device's analogue and digital filters are."""

    def apply(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        from scipy import signal

        sos = signal.butter(order, hz, btype=kind, fs=SR, output="sos")
        return full_scale(signal.sosfilt(sos, y))

    return apply


def room_response(rt60: float, drr_db: float, rng: np.random.Generator) -> np.ndarray:
    """A synthetic impulse response: the direct sound, then noise decaying by 60 dB over ``rt60`` seconds
    whose energy is ``drr_db`` below the direct sound's."""
    n = int(1.2 * rt60 * SR)
    t = np.arange(n) / SR
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)
    tail[: int(0.002 * SR)] = 0.0  # the first reflections arrive a couple of ms after the direct sound
    tail *= 10 ** (-drr_db / 20) / max(np.sqrt(np.sum(tail**2)), 1e-12)
    tail[0] = 1.0
    return tail


def in_room(rt60: tuple[float, float], drr_db: float, snr_db: float) -> Degrade:
    """Reverberation (RT60 drawn from the range for each track) and pink background noise; the level is
    kept, so that the room is measured apart from the gain."""

    def apply(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        from scipy import signal

        h = room_response(float(rng.uniform(*rt60)), drr_db, rng)
        wet = signal.fftconvolve(y, h)[: len(y)]
        wet *= rms(y) / max(rms(wet), 1e-12)
        return full_scale(add_noise(wet, pink(len(y), rng), snr_db))

    return apply


def reencoded(fmt: str, subtype: str, rate: int, compression: float) -> Degrade:
    """Written with libsndfile's encoder at ``rate`` and read back as the listener reads a file
    (gtzan.audio.load_audio: decode, resample to 22,050 Hz)."""

    def apply(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        import soundfile as sf

        from gtzan.audio import load_audio
        from gtzan.resample import resample

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"track.{fmt.lower()}"
            sf.write(
                str(path),
                resample(full_scale(y), SR, rate),
                rate,
                format=fmt,
                subtype=subtype,
                compression_level=compression,
                **({"bitrate_mode": "CONSTANT"} if fmt == "MP3" else {}),
            )
            return full_scale(load_audio(path))

    return apply


def _conditions() -> dict[str, Condition]:
    c = [
        Condition("clean", "the track as it is", lambda y, rng: full_scale(y)),
        *(
            Condition(f"gain{db:+d}", f"{db:+d} dB" + (", clipped at full scale" if db > 0 else ""), with_gain(db))
            for db in (-20, -12, -6, 6)
        ),
        *(
            Condition(f"{kind}{snr}", f"{kind} noise at {snr} dB SNR", with_noise(kind, snr))
            for kind in ("white", "pink")
            for snr in (30, 20)
        ),
        Condition("lowpass4k", "low-pass 4 kHz (8th-order Butterworth): a phone", with_filter("lowpass", 4000, 8)),
        Condition(
            "highpass200",
            "high-pass 200 Hz (4th-order Butterworth): a laptop microphone",
            with_filter("highpass", 200, 4),
        ),
        Condition(
            "room",
            "room: RT60 0.3-0.8 s, direct-to-reverberant 0 dB, pink noise at 30 dB SNR",
            in_room((0.3, 0.8), 0.0, 30.0),
        ),
        Condition("mp3", "MP3 128 kbit/s CBR, 44.1 kHz mono", reencoded("MP3", "MPEG_LAYER_III", 44100, 0.65)),
        Condition("ogg", "Ogg Vorbis about 70 kbit/s, 44.1 kHz mono", reencoded("OGG", "VORBIS", 44100, 0.4)),
    ]
    return {x.name: x for x in c}


CONDITIONS: dict[str, Condition] = _conditions()


def degrade(y: np.ndarray, condition: str, rng: np.random.Generator) -> np.ndarray:
    """The track under a named condition (see CONDITIONS)."""
    return CONDITIONS[condition].apply(np.asarray(y, dtype=np.float32), rng)
