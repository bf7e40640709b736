"""Audio files in, mono float32 at 22,050 Hz out: every format libsndfile reads, whole or streamed.

Every failure (missing, empty, not audio, corrupt, truncated mid-stream, NaN samples) becomes an
``AudioError`` with a one-line message that names the file, so command-line tools can print it
and exit instead of showing a traceback. Truncated files that libsndfile reads without complaint
(WAV, AIFF, MP3, Ogg) give the audio that is there; where the header tells how much was announced
(WAV, AIFF, AU), ``AudioInfo.header_frames`` says so, for a warning.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf

from gtzan.constants import SR
from gtzan.resample import AudioError, StreamResampler, first_non_finite, resample, to_mono

__all__ = [
    "SR",
    "AudioError",
    "AudioInfo",
    "StreamResampler",
    "audio_info",
    "describe_source",
    "iter_audio",
    "load_audio",
    "resample",
    "to_mono",
    "truncation_note",
]

PathLike = str | os.PathLike

_READ_FRAMES = 1 << 16  # decode unit of load_audio: bounds the multi-channel float buffer
_MAX_PREALLOCATED_SECONDS = 3 * 3600  # a header claiming more is not trusted for sizing the buffer


class _SequentialSoundFile(sf.SoundFile):
    """A SoundFile read front to back only.

    soundfile re-seeks to the current position after every read of a seekable file; for MP3 that
    restarts mpg123 mid-stream and garbles up to a frame of audio after each block boundary
    (measured with soundfile 0.14.0 / libsndfile 1.2.2: errors of 0.5 on a 0.5 tone). Reporting the
    file as unseekable skips that seek; we never seek anyway. It also reads to the real end of the
    stream instead of stopping at the header's frame count.
    """

    def seekable(self) -> bool:
        return False


class AudioInfo(NamedTuple):
    """What the file's header says (``frames`` may overstate a truncated MP3).

    For a file cut short whose header libsndfile corrects (WAV, AIFF, AU, W64, RF64), ``frames`` is
    what the file holds and ``header_frames`` about what the header announced; None when they agree.
    """

    samplerate: int
    channels: int
    frames: int
    format: str
    subtype: str
    duration: float  # seconds
    path: str = ""
    header_frames: int | None = None


def audio_info(path: PathLike) -> AudioInfo:
    """Header facts about an audio file, without decoding it."""
    with _open(path) as f:
        return _info(f, path)


def load_audio(path: PathLike, sr: int = SR) -> np.ndarray:
    """The whole file as mono float32 at ``sr`` (channels averaged, soxr 'HQ' resampling)."""
    with _open(path) as f:
        rate = f.samplerate
        y = _decode_all(f, path)
    try:
        return resample(y, rate, sr)
    except MemoryError as e:
        raise AudioError(f"{path}: too long to resample in memory; stream it instead") from e
    except (RuntimeError, ValueError, TypeError) as e:
        raise AudioError(f"{path}: resampling from {rate} Hz to {sr} Hz failed ({e})") from e


def iter_audio(path: PathLike, block_frames: int = 65536, sr: int = SR) -> Iterator[np.ndarray]:
    """Mono float32 blocks at ``sr``, decoded ``block_frames`` input frames at a time.

    Memory stays bounded by the block size whatever the file length. The file is opened now, so a
    bad path fails here rather than on the first ``next()``; decoding errors surface mid-iteration.
    The concatenated blocks equal ``load_audio(path, sr)``.
    """
    if int(block_frames) < 1:
        raise ValueError(f"block_frames must be at least 1, got {block_frames}")
    f = _open(path)
    try:
        resampler = StreamResampler(f.samplerate, 1, sr)
    except AudioError as e:
        f.close()
        raise AudioError(f"{path}: {e}") from e
    return _stream(f, path, int(block_frames), resampler)


def describe_source(info: AudioInfo, sr: int = SR) -> str:
    """One line for display, e.g. 'song.wav: 44100 Hz, 2 ch, PCM_24, 30.0 s (resampled to 22050 Hz, mixed to mono)'."""
    name = Path(info.path).name if info.path else "input"
    parts = [f"{info.samplerate} Hz", f"{info.channels} ch"]
    if info.subtype:
        parts.append(info.subtype)
    if info.duration is not None and math.isfinite(info.duration) and info.frames > 0:
        parts.append(f"{info.duration:.1f} s")
    notes = []
    if info.samplerate != sr:
        notes.append(f"resampled to {sr} Hz")
    if info.channels > 1:
        notes.append("mixed to mono")
    tail = f" ({', '.join(notes)})" if notes else ""
    return f"{name}: {', '.join(parts)}{tail}"


def _stream(f: sf.SoundFile, path: PathLike, block_frames: int, resampler: StreamResampler) -> Iterator[np.ndarray]:
    with f:
        for mono in mono_blocks(f, path, block_frames):
            out = resampler.process(mono)
            if out.size:
                yield out
        tail = resampler.flush()
        if tail.size:
            yield tail


def _decode_all(f: sf.SoundFile, path: PathLike) -> np.ndarray:
    """The whole file as mono float32 at its own rate, decoded into one array sized from the header
    (grown when the stream turns out longer), so that decoding holds one copy of the samples, not the
    blocks and their concatenation: a 20-minute file is 106 MB at 22,050 Hz."""
    hint = f.frames if 0 < f.frames <= _MAX_PREALLOCATED_SECONDS * f.samplerate else 0
    out = np.empty(hint, dtype=np.float32)
    n = 0
    for mono in mono_blocks(f, path, _READ_FRAMES):
        if n + len(mono) > len(out):
            grown = np.empty(max(2 * len(out), n + len(mono)), dtype=np.float32)
            grown[:n] = out[:n]
            out = grown
        out[n : n + len(mono)] = mono
        n += len(mono)
    return out[:n] if len(out) - n <= len(out) // 64 else out[:n].copy()  # keep little unused memory


def mono_blocks(f: sf.SoundFile, path: PathLike, block_frames: int, start: int = 0) -> Iterator[np.ndarray]:
    """Decode, downmix and check the file block by block at its own rate, from where ``f`` stands: frame
    ``start`` (what the error messages count from)."""
    done = start
    while True:
        try:
            block = f.read(block_frames, dtype="float32", always_2d=True)
        except sf.LibsndfileError as e:
            raise AudioError(
                f"{path}: decoding failed after {done / f.samplerate:.2f} s of audio "
                f"({libsndfile_reason(e)}); the file is truncated or corrupt"
            ) from e
        except (sf.SoundFileError, RuntimeError, OSError, ValueError) as e:
            raise AudioError(f"{path}: decoding failed after {done / f.samplerate:.2f} s of audio ({e})") from e
        if len(block) == 0:
            return
        mono = to_mono(block, f.channels)
        i = first_non_finite(mono)
        if i >= 0:
            raise AudioError(
                f"{path}: non-finite sample (NaN or infinity) at frame {done + i} "
                f"({(done + i) / f.samplerate:.3f} s); the file is corrupt"
            )
        done += len(block)
        yield mono


def _open(path: PathLike) -> sf.SoundFile:
    """Open with libsndfile, turning every way this fails into a one-line AudioError."""
    p = Path(path)
    try:
        if not p.exists():
            raise AudioError(f"{path}: no such file")
        if p.is_dir():
            raise AudioError(f"{path}: is a directory, not an audio file")
        if not p.is_file():
            raise AudioError(f"{path}: not a regular file")
        if p.stat().st_size == 0:
            raise AudioError(f"{path}: empty file (0 bytes)")
        with open(p, "rb"):
            pass
    except OSError as e:
        raise AudioError(f"{path}: cannot open ({e.strerror or e})") from e
    try:
        f = _SequentialSoundFile(str(p))
    except sf.LibsndfileError as e:
        raise AudioError(f"{path}: not readable as audio ({libsndfile_reason(e)})") from e
    except (sf.SoundFileError, RuntimeError, OSError, ValueError, TypeError) as e:
        raise AudioError(f"{path}: not readable as audio ({e})") from e
    if f.channels < 1 or f.samplerate < 1:
        f.close()
        raise AudioError(f"{path}: invalid header ({f.channels} channels at {f.samplerate} Hz)")
    return f


def _info(f: sf.SoundFile, path: PathLike) -> AudioInfo:
    frames = max(int(f.frames), 0)
    return AudioInfo(
        samplerate=int(f.samplerate),
        channels=int(f.channels),
        frames=frames,
        format=str(f.format),
        subtype=str(f.subtype),
        duration=frames / f.samplerate,
        path=str(path),
        header_frames=_header_frames(f, frames),
    )


# libsndfile's header log notes a size the file cannot hold as "data : 441000 (should be 264582)"
# (WAV data chunk), "SSND : ..." (AIFF), "Data Size : ..." (AU), or only on the container's
# "RIFF"/"riff" line (W64, RF64); it then reads what is there.
_SIZE_CLAIM = re.compile(r"^\s*([A-Za-z][\w ]*?)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
_DATA_CHUNKS = {"data", "SSND", "Data Size", "Data size"}
_UNKNOWN_SIZE = 0x7FFF0000  # streaming writers put 0xFFFFFFFF or 0x7FFFF000 in the header: "length unknown"


def _header_frames(f: sf.SoundFile, frames: int) -> int | None:
    """About how many frames the header announced, when that is more than the file holds; else None."""
    try:
        log = f.extra_info
    except Exception:  # the log is a diagnostic; never fail to open a file over it
        return None
    claims = [(name, int(said), int(real)) for name, said, real in _SIZE_CLAIM.findall(log)]
    short = [c for c in claims if _UNKNOWN_SIZE > c[1] > c[2] > 0]
    if not short or frames <= 0:
        return None
    _, said, real = next((c for c in short if c[0] in _DATA_CHUNKS), short[0])
    return int(round(frames * said / real))  # sizes in bytes scale with frames (headers are a few bytes)


def truncation_note(info: AudioInfo) -> str | None:
    """'song.wav is truncated: ...' when the header announces more audio than the file holds, else None."""
    if info.header_frames is None:
        return None
    name = Path(info.path).name if info.path else "the file"
    return (
        f"{name} is truncated: its header announces {info.header_frames / info.samplerate:.2f} s of audio "
        f"but the file holds {info.frames / info.samplerate:.2f} s; classifying the part that is there"
    )


def libsndfile_reason(e: sf.LibsndfileError) -> str:
    """libsndfile's reason, reworded where it misleads (we already know the file exists)."""
    text = (getattr(e, "error_string", "") or str(e)).strip().rstrip(".")
    if "does not exist or is not a regular file" in text:
        return "no decodable audio data; the file is truncated or corrupt"
    if text.startswith("Error : "):
        text = text[len("Error : ") :]
    return text[:1].lower() + text[1:] if text else "unknown libsndfile error"
