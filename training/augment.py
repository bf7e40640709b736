"""Training rows for music that reaches the listener changed: louder or quieter, noisy, in a room,
band-limited, lossy.

Two sources of such rows, both computed through the one feature definition:

- ``gain_rows``: any row (the Kaggle table's too, which has no audio) at a random gain, through the exact
  feature transform of :mod:`gtzan.gain`;
- ``degraded_rows``: our windows of randomly degraded copies of audio tracks (:func:`random_chain`), each
  copy drawn from parameter ranges around the benchmark's named conditions (:mod:`gtzan.degrade`) with
  its own seed, so the benchmark's exact conditions are not what the models learned;
- ``severe`` copies (:func:`severe_chain`): strong broadband noise and phone-like low-passes, which the
  milder chain draws too rarely for the models to learn them.

An augmented row keeps its track's name, so grouped folds keep it on its track's side of every split.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gtzan.degrade import Degrade, full_scale, in_room, reencoded, with_filter, with_gain, with_noise

__all__ = ["AUGMENT_KINDS", "COPY_KINDS", "Chain", "degrade_track", "gain_rows", "random_chain", "severe_chain"]

AUGMENT_KINDS = ("gain", "degraded", "severe")  # what gtzan-export --augment accepts
COPY_KINDS = ("degraded", "severe")  # the kinds made of degraded copies of the audio
# Part of the feature cache key of a copy: change a kind's version with its chain.
AUGMENT_VERSIONS = {"degraded": "degrade-1", "severe": "severe-1"}
GAIN_DB = (-24.0, 6.0)  # gain rows: uniform in dB, never above full scale where clipping would be unmodelled


@dataclass(frozen=True)
class Chain:
    """A random degradation: its steps' names (for the record) and the function applying them in order."""

    names: tuple[str, ...]
    steps: tuple[Degrade, ...]

    def __call__(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for step in self.steps:
            y = step(y, rng)
        return full_scale(y)


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


_STEPS: dict[str, Callable[[np.random.Generator], Degrade]] = {
    "noise": lambda r: with_noise(str(r.choice(["white", "pink"])), float(r.uniform(15, 40))),
    "lowpass": lambda r: with_filter("lowpass", _loguniform(r, 2500, 8000), int(r.integers(4, 9))),
    "highpass": lambda r: with_filter("highpass", _loguniform(r, 80, 400), int(r.integers(2, 5))),
    "room": lambda r: in_room((0.2, 1.0), float(r.uniform(-3, 6)), float(r.uniform(20, 40))),
    "mp3": lambda r: reencoded("MP3", "MPEG_LAYER_III", 44100, float(r.uniform(0.3, 0.9))),
    "ogg": lambda r: reencoded("OGG", "VORBIS", 44100, float(r.uniform(0.2, 0.6))),
}


def random_chain(rng: np.random.Generator) -> Chain:
    """One or two distinct degradations in random order, then a gain of -24..+8 dB (clipping above full scale)."""
    kinds = list(rng.choice(list(_STEPS), size=int(rng.integers(1, 3)), replace=False))
    steps = [_STEPS[k](rng) for k in kinds]
    db = float(rng.uniform(-24, 8))
    return Chain((*map(str, kinds), f"gain{db:+.0f}"), (*steps, with_gain(db)))


def severe_chain(rng: np.random.Generator) -> Chain:
    """Strong broadband noise (8-25 dB SNR), a phone-like low-pass (1.5-5 kHz), or both, then a gain of
    -24..+8 dB: the conditions the milder chain leaves the models least sure of."""
    kinds = [["noise"], ["lowpass"], ["noise", "lowpass"], ["lowpass", "noise"]][int(rng.integers(4))]
    make: dict[str, Callable[[], Degrade]] = {
        "noise": lambda: with_noise(str(rng.choice(["white", "pink"])), float(rng.uniform(8, 25))),
        "lowpass": lambda: with_filter("lowpass", _loguniform(rng, 1500, 5000), int(rng.integers(4, 9))),
    }
    steps = [make[k]() for k in kinds]
    db = float(rng.uniform(-24, 8))
    return Chain((*kinds, f"gain{db:+.0f}"), (*steps, with_gain(db)))


CHAINS: dict[str, Callable[[np.random.Generator], Chain]] = {"degraded": random_chain, "severe": severe_chain}


def copy_rng(seed: int, track: str, copy: int, kind: str = "degraded") -> np.random.Generator:
    """The generator of one degraded copy: depends only on the kind, the seed, the track and the copy's number."""
    salt = [] if kind == "degraded" else [zlib.crc32(kind.encode())]  # "degraded" keeps its cached copies
    return np.random.default_rng([seed, 0xA06, zlib.crc32(track.encode()), copy, *salt])


def degrade_track(
    y: np.ndarray, track: str, copy: int, seed: int = 0, kind: str = "degraded"
) -> tuple[np.ndarray, Chain]:
    """Copy number ``copy`` of a track, degraded by the kind's random chain (reproducible from kind, seed,
    track and copy)."""
    rng = copy_rng(seed, track, copy, kind)
    chain = CHAINS[kind](rng)
    return chain(np.asarray(y, dtype=np.float32), rng), chain


def gain_rows(X: np.ndarray, rng: np.random.Generator, db_range: tuple[float, float] = GAIN_DB) -> np.ndarray:
    """Each row's features at a random gain (uniform in dB), by the exact transform of :mod:`gtzan.gain`."""
    from gtzan.gain import apply_gain

    db = rng.uniform(*db_range, size=len(X))
    return apply_gain(X, 10 ** (db / 20))
