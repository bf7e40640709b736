"""--fast's processes read only their ranges of a seek-exact file: the same samples as decoding it whole."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from gtzan.audio import load_audio
from gtzan.daemon.clips import ClipError, FileRanges, seekable_file
from tests import wavgen


def ranges_equal_whole(path: Path) -> None:
    whole = load_audio(path)
    clip = seekable_file(path, None, 8192)
    assert clip is not None and clip.n_samples == len(whole)
    for a, b, block in ((0, len(whole), 65536), (12345, 98765, 4096), (len(whole) - 70000, len(whole), 11264)):
        got = np.concatenate(list(clip.blocks(a, b, block)))
        np.testing.assert_array_equal(got, whole[a:b])


@pytest.mark.parametrize(("subtype", "fmt", "suffix"), [("PCM_16", "FLAC", ".flac"), ("PCM_24", "WAV", ".wav"),
                                                         ("FLOAT", "WAV", ".wav"), ("PCM_16", "AIFF", ".aiff")])
def test_ranges_equal_the_whole_decoding(tmp_path: Path, subtype: str, fmt: str, suffix: str) -> None:
    y = wavgen.music_like(6.0)
    stereo = np.stack([y, 0.5 * np.roll(y, 300)], axis=1)
    ranges_equal_whole(wavgen.write(tmp_path / f"stereo{suffix}", stereo, subtype=subtype, fmt=fmt))
    ranges_equal_whole(wavgen.write(tmp_path / f"mono{suffix}", y, subtype=subtype, fmt=fmt))


def test_other_files_are_decoded_whole(tmp_path: Path) -> None:
    y = wavgen.music_like(4.0)
    resampled = wavgen.write(tmp_path / "a.wav", y, sr=44100, subtype="PCM_16")
    assert seekable_file(resampled, None, 8192) is None
    assert seekable_file(wavgen.write(tmp_path / "a.ogg", y, subtype="VORBIS"), None, 8192) is None
    assert seekable_file(tmp_path / "missing.wav", None, 8192) is None
    path = wavgen.write(tmp_path / "b.wav", y, subtype="PCM_16")
    assert seekable_file(path, 22050, 8192).n_samples == 22050  # --duration


def test_a_file_shorter_than_its_header_is_an_error(tmp_path: Path) -> None:
    path = wavgen.write(tmp_path / "c.wav", wavgen.music_like(4.0), subtype="PCM_16")
    clip = FileRanges(path, 5 * 22050, 8192)  # as if the header promised a second more
    with pytest.raises(ClipError, match="ends at 4.00 s"):
        list(clip.blocks(0, clip.n_samples, 8192))


def test_a_range_past_where_a_flac_is_cut_is_an_error(tmp_path: Path) -> None:
    """Seeking past the cut fails in libsndfile itself (not in a read): the same one-line error kind."""
    flac = wavgen.write(tmp_path / "m.flac", wavgen.music_like(14.0), subtype="PCM_16", fmt="FLAC")
    clip = seekable_file(wavgen.truncated(flac, tmp_path / "cut.flac", keep=0.6), None, 4096)
    assert clip is not None
    for a in (0, 200000, clip.n_samples - 4096):  # before the cut (fails in a read) and after it (in the seek)
        with pytest.raises(ClipError, match="the file is truncated or corrupt"):
            list(clip.blocks(a, clip.n_samples, 4096))


def test_a_file_removed_or_replaced_after_the_probe_is_an_error(tmp_path: Path) -> None:
    """Each process opens the file again: gone, or no longer audio, it is the same one-line error kind."""
    path = wavgen.write(tmp_path / "m.flac", wavgen.music_like(6.0), subtype="PCM_16", fmt="FLAC")
    clip = seekable_file(path, None, 4096)
    assert clip is not None
    path.write_bytes(b"not audio any more" * 100)
    with pytest.raises(ClipError, match="cannot open it again to read its windows"):
        list(clip.blocks(0, clip.n_samples, 4096))
    path.unlink()
    with pytest.raises(ClipError, match="the file disappeared while it was being read"):
        list(clip.blocks(0, clip.n_samples, 4096))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_split_run_stops_where_the_file_does(tmp_path: Path) -> None:
    """Windows up to the missing audio, in order, then the error: what streaming the file gives."""
    from gtzan.daemon.errors import BadInput
    from gtzan.daemon.parallel import SplitWindows
    from gtzan.features.stream import StreamingExtractor

    y = wavgen.music_like(12.0)
    path = wavgen.write(tmp_path / "d.wav", y, subtype="PCM_16")
    want = StreamingExtractor(22).push(load_audio(path))
    split = SplitWindows(FileRanges(path, 14 * 22050, 65536), 22)
    got = []
    with pytest.raises(BadInput, match="ends at 12.00 s"):
        for batch in split.batches():
            got += batch
    split.close()
    assert [w.start_sample for w in got] == [w.start_sample for w in want]
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a.features, b.features)
        assert (a.peak, a.clipped) == (b.peak, b.clipped)
