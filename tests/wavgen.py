"""Synthetic audio fixtures written by the test suite itself, so it runs without any dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

SR = 22050


def tone(freq: float = 440.0, seconds: float = 4.0, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def chirp(f0: float = 100.0, f1: float = 5000.0, seconds: float = 4.0, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    k = (f1 - f0) / seconds
    return (amp * np.sin(2 * np.pi * (f0 * t + 0.5 * k * t**2))).astype(np.float32)


def clicks(bpm: float = 120.0, seconds: float = 8.0, sr: int = SR, amp: float = 0.8) -> np.ndarray:
    """A click track: short decaying 1 kHz bursts every beat."""
    y = np.zeros(int(seconds * sr), dtype=np.float32)
    n = int(0.03 * sr)
    burst = amp * np.sin(2 * np.pi * 1000 * np.arange(n) / sr) * np.exp(-np.arange(n) / (0.005 * sr))
    step = 60.0 / bpm * sr
    for k in range(int(len(y) / step) + 1):
        i = int(round(k * step))
        m = min(n, len(y) - i)
        if m > 0:
            y[i : i + m] += burst[:m].astype(np.float32)
    return y


def noise(seconds: float = 4.0, sr: int = SR, amp: float = 0.3, seed: int = 0) -> np.ndarray:
    return (amp * np.random.default_rng(seed).standard_normal(int(seconds * sr))).astype(np.float32).clip(-1, 1)


def silence(seconds: float = 4.0, sr: int = SR) -> np.ndarray:
    return np.zeros(int(seconds * sr), dtype=np.float32)


def music_like(seconds: float = 8.0, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Chords, a bass line, clicks and some noise: exercises every feature."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    y = np.zeros(n)
    for f in (220.0, 277.2, 329.6):
        y += 0.15 * np.sin(2 * np.pi * f * t + rng.uniform(0, 6))
    y += 0.2 * np.sin(2 * np.pi * 55 * (1 + (t % 2 > 1)) * t)
    y += clicks(100.0, seconds, sr, amp=0.4)[:n]
    y += 0.02 * rng.standard_normal(n)
    return (y / max(1.0, np.abs(y).max() * 1.05)).astype(np.float32)


def write(path: Path, y: np.ndarray, sr: int = SR, subtype: str | None = None, fmt: str | None = None) -> Path:
    """Write y (frames,) or (frames, channels) with soundfile; returns the path."""
    sf.write(str(path), y, sr, subtype=subtype, format=fmt)
    return path


def corrupt_header(path: Path) -> Path:
    """A WAV whose RIFF header is garbage."""
    path.write_bytes(b"RIFX\x00\x00garbage" + bytes(100) + np.random.default_rng(1).bytes(4000))
    return path


def truncated(src: Path, dst: Path, keep: float = 0.5) -> Path:
    """Keep the first part of a file's bytes (header says more than there is)."""
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst
