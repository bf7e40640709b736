"""Sample ranges of a clip for --fast's processes: read where they start, or sliced from one decoding.

A file stored at 22,050 Hz in a format whose samples libsndfile reads exactly from any position (WAV,
FLAC, AIFF and kin: PCM, float or FLAC-compressed) is read range by range: each process seeks to the
windows it computes and decodes only those, a block at a time, so neither decodes the whole file and
memory stays bounded whatever its length. Channels are averaged frame by frame as gtzan.audio does,
so the samples are those of ``gtzan.audio.load_audio``. Any other clip (resampled, MP3, Ogg, the demo)
is decoded whole, once per process, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gtzan.constants import SR

if TYPE_CHECKING:
    import soundfile as sf

# containers whose frame counts are exact and where a seek lands on the very sample asked for
SEEK_EXACT_FORMATS = frozenset({"WAV", "WAVEX", "RF64", "W64", "AIFF", "AU", "CAF", "FLAC"})
SEEK_EXACT_SUBTYPES = frozenset({"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"})


class ClipError(Exception):
    """A range could not be read (the file is corrupt or shorter than its header says); one line."""


class DecodedClip:
    """A clip decoded whole on first use (``load`` must give the same samples in every process)."""

    def __init__(self, load: Callable[[], np.ndarray | None]) -> None:
        self._load = load
        self._y: np.ndarray | None = None
        self._loaded = False

    @property
    def y(self) -> np.ndarray | None:
        if not self._loaded:
            y = self._load()
            self._y = None if y is None else np.asarray(y, dtype=np.float32)
            self._loaded = True
        return self._y

    def available(self) -> bool:
        """Whether the clip could be decoded (else the caller streams it and reports what went wrong)."""
        return self.y is not None

    @property
    def n_samples(self) -> int:
        y = self.y
        assert y is not None, "n_samples of a clip that did not decode"
        return len(y)

    def blocks(self, a: int, b: int, block: int) -> Iterator[np.ndarray]:
        y = self.y
        assert y is not None, "blocks of a clip that did not decode"
        for i in range(a, b, block):
            yield y[i : min(b, i + block)]


class FileRanges:
    """Ranges of a seek-exact file (``seekable_file``), read where they start.

    Reads cover whole blocks of ``grid`` frames from the file's start, the blocks a stream of the file
    reads (gtzan.daemon.sources.FileSource.block_frames), and only the asked part is handed on: a
    corrupt file then fails in the same block, after the same samples, as when it is streamed.
    """

    def __init__(self, path: Path, n_samples: int, grid: int) -> None:
        self.path = path
        self.n_samples = n_samples
        self.grid = grid

    def available(self) -> bool:
        return True

    def _open(self) -> sf.SoundFile:
        """The file, opened again by this process: it may have been removed or replaced since it was probed."""
        import soundfile as sf

        from gtzan.audio import libsndfile_reason

        try:
            return sf.SoundFile(str(self.path))
        except (sf.LibsndfileError, OSError) as e:
            if not self.path.is_file():
                raise ClipError(f"{self.path}: the file disappeared while it was being read") from None
            reason = libsndfile_reason(e) if isinstance(e, sf.LibsndfileError) else (e.strerror or str(e))
            raise ClipError(f"{self.path}: cannot open it again to read its windows ({reason})") from None

    def blocks(self, a: int, b: int, block: int) -> Iterator[np.ndarray]:
        import soundfile as sf

        from gtzan.audio import AudioError, libsndfile_reason, mono_blocks

        with self._open() as f:
            pos = a - a % self.grid
            if pos >= b:
                return
            try:  # a FLAC cut short before ``pos`` fails here, not in a read
                f.seek(pos)
            except sf.LibsndfileError as e:
                raise ClipError(
                    f"{self.path}: cannot reach {pos / f.samplerate:.2f} s of audio "
                    f"({libsndfile_reason(e)}); the file is truncated or corrupt"
                ) from None
            try:  # the messages gtzan.audio gives when the file is decoded from its start
                for mono in mono_blocks(f, self.path, self.grid, start=pos):
                    piece = mono[max(a, pos) - pos : min(b, pos + len(mono)) - pos]
                    for j in range(0, len(piece), block):
                        yield piece[j : j + block]
                    pos += len(mono)
                    if pos >= b:
                        return
            except AudioError as e:
                raise ClipError(str(e)) from None
            raise ClipError(
                f"{self.path}: the file ends at {pos / f.samplerate:.2f} s, before the "
                f"{self.n_samples / SR:.2f} s its header announces; the file is truncated"
            )


def seekable_file(path: Path, limit: int | None, grid: int) -> FileRanges | None:
    """Ranges of the file when it can be read range by range exactly (see the module's docstring), in
    reads of ``grid`` frames; None otherwise, and for a file whose header says it is cut short."""
    from gtzan.audio import AudioError, audio_info

    try:
        info = audio_info(path)
    except AudioError:
        return None
    if (
        info.samplerate != SR
        or info.format not in SEEK_EXACT_FORMATS
        or info.subtype not in SEEK_EXACT_SUBTYPES
        or info.header_frames is not None
        or info.frames <= 0
    ):
        return None
    return FileRanges(Path(path), info.frames if limit is None else min(info.frames, limit), grid)
