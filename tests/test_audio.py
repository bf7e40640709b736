"""Audio input: every format and rate to mono float32 at 22,050 Hz, streamed or whole, and clear errors."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from gtzan.audio import (
    SR,
    AudioError,
    AudioInfo,
    StreamResampler,
    audio_info,
    describe_source,
    iter_audio,
    load_audio,
    resample,
)
from tests import wavgen

RATES = (8000, 11025, 16000, 22050, 44100, 48000, 96000)
STREAM_TOL = 1e-6  # stream vs whole-file max abs difference allowed (measured: 0.0, identical samples)

# (format, subtype, extension, max abs error vs the ideal tone away from the edges; None = lossy codec)
FORMATS = [
    ("WAV", "PCM_U8", "wav", 1.5e-2),
    ("WAV", "PCM_16", "wav", 1e-4),
    ("WAV", "PCM_24", "wav", 1e-6),
    ("WAV", "PCM_32", "wav", 1e-6),
    ("WAV", "FLOAT", "wav", 1e-6),
    ("WAV", "DOUBLE", "wav", 1e-6),
    ("FLAC", "PCM_S8", "flac", 1.5e-2),
    ("FLAC", "PCM_16", "flac", 1e-4),
    ("FLAC", "PCM_24", "flac", 1e-6),
    ("OGG", "VORBIS", "ogg", None),
    ("MP3", "MPEG_LAYER_III", "mp3", None),
    ("AIFF", "PCM_S8", "aiff", 1.5e-2),
    ("AIFF", "PCM_16", "aiff", 1e-4),
    ("AIFF", "PCM_24", "aiff", 1e-6),
    ("AIFF", "PCM_32", "aiff", 1e-6),
    ("AIFF", "FLOAT", "aiff", 1e-6),
    ("AU", "PCM_S8", "au", 1.5e-2),
    ("AU", "PCM_16", "au", 1e-4),
    ("AU", "PCM_24", "au", 1e-6),
    ("AU", "PCM_32", "au", 1e-6),
    ("AU", "FLOAT", "au", 1e-6),
]


def _writable(fmt: str, subtype: str) -> bool:
    return fmt in sf.available_formats() and subtype in sf.available_subtypes(fmt)


def _write_or_skip(path: Path, y: np.ndarray, sr: int, subtype: str, fmt: str) -> Path:
    if not _writable(fmt, subtype):
        pytest.skip(f"this libsndfile ({sf.__libsndfile_version__}) cannot write {fmt}/{subtype}")
    try:
        return wavgen.write(path, y, sr, subtype=subtype, fmt=fmt)
    except sf.LibsndfileError as e:  # listed but the encoder is missing from the build
        pytest.skip(f"this libsndfile ({sf.__libsndfile_version__}) failed to write {fmt}/{subtype}: {e}")


def _peak_hz(y: np.ndarray, sr: int = SR) -> float:
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.argmax(spec) * sr / len(y))


def _ideal_tone(freq: float, n: int, amp: float, sr: int = SR) -> np.ndarray:
    return amp * np.sin(2 * np.pi * freq * np.arange(n) / sr)


def _concat(blocks) -> np.ndarray:
    blocks = list(blocks)
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)


def _assert_user_error(exc: pytest.ExceptionInfo, path: Path | str, *words: str) -> None:
    msg = str(exc.value)
    assert msg and "\n" not in msg, msg
    assert str(path) in msg, msg
    for w in words:
        assert w.lower() in msg.lower(), f"{w!r} not in {msg!r}"


# --- formats and bit depths -------------------------------------------------------------------


@pytest.mark.parametrize("fmt,subtype,ext,tol", FORMATS, ids=[f"{f}-{s}" for f, s, _, _ in FORMATS])
def test_every_format_decodes_to_mono_22050(tmp_path, fmt, subtype, ext, tol):
    left = wavgen.tone(440.0, seconds=1.0, sr=44100, amp=0.5)
    path = _write_or_skip(tmp_path / f"tone.{ext}", np.stack([left, 0.5 * left], axis=1), 44100, subtype, fmt)

    info = audio_info(path)
    assert (info.samplerate, info.channels, info.format, info.subtype) == (44100, 2, fmt, subtype)
    assert info.frames == 44100 and info.duration == pytest.approx(1.0)

    y = load_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1
    assert len(y) == 22050
    assert _peak_hz(y) == pytest.approx(440.0, abs=1.0)
    ideal = _ideal_tone(440.0, len(y), 0.375)  # mean of the two channels
    if tol is None:  # lossy codec: the waveform survives, not the exact samples
        assert np.corrcoef(y, ideal)[0, 1] > 0.999
    else:
        assert np.abs(y[100:-100] - ideal[100:-100]).max() < tol
    np.testing.assert_array_equal(_concat(iter_audio(path, block_frames=5000)), y)


def test_ogg_opus_decodes(tmp_path):
    y48 = wavgen.tone(1000.0, seconds=1.0, sr=48000)
    path = _write_or_skip(tmp_path / "tone.opus", y48, 48000, "OPUS", "OGG")
    y = load_audio(path)
    assert abs(len(y) - 22050) <= 1
    assert _peak_hz(y) == pytest.approx(1000.0, abs=1.0)


# --- rates, lengths, frequencies ------------------------------------------------------------


@pytest.mark.parametrize("rate", RATES)
def test_rate_length_and_tone_frequency(tmp_path, rate):
    n = rate + 123  # not a whole number of output samples for most rates
    t = np.arange(n) / rate
    x = (0.3 * np.sin(2 * np.pi * 440.0 * t) + 0.2 * np.sin(2 * np.pi * 3000.0 * t)).astype(np.float32)
    path = wavgen.write(tmp_path / f"r{rate}.wav", x, rate, subtype="FLOAT")

    y = load_audio(path)
    assert abs(len(y) - n * SR / rate) <= 0.5  # soxr rounds the exact length to the nearest sample
    spec = np.abs(np.fft.rfft(y[:SR] * np.hanning(SR)))
    top2 = sorted(np.argsort(spec)[-2:])  # 1 Hz bins
    assert abs(top2[0] - 440) <= 1 and abs(top2[1] - 3000) <= 1
    ideal = _ideal_tone(440.0, len(y), 0.3) + _ideal_tone(3000.0, len(y), 0.2)
    assert np.abs(y[200:-200] - ideal[200:-200]).max() < 1e-3


def test_downsampling_removes_content_above_new_nyquist(tmp_path):
    x = wavgen.tone(15000.0, seconds=1.0, sr=96000, amp=0.5)  # above 11025 Hz: must not alias
    y = load_audio(wavgen.write(tmp_path / "high.wav", x, 96000, subtype="FLOAT"))
    assert np.sqrt(np.mean(y[200:-200] ** 2)) < 1e-4 * np.sqrt(np.mean(x**2))


def test_load_audio_other_target_rate(tmp_path):
    x = wavgen.tone(440.0, seconds=1.0, sr=SR)
    y = load_audio(wavgen.write(tmp_path / "t.wav", x, SR, subtype="FLOAT"), sr=16000)
    assert len(y) == 16000 and _peak_hz(y, 16000) == pytest.approx(440.0, abs=1.0)


# --- downmix ----------------------------------------------------------------------------------


def test_stereo_downmix_is_channel_mean_bit_exact_at_22050(tmp_path):
    rng = np.random.default_rng(0)
    x = (0.4 * rng.standard_normal((5000, 2))).astype(np.float32)
    y = load_audio(wavgen.write(tmp_path / "st.wav", x, SR, subtype="FLOAT"))
    np.testing.assert_array_equal(y, ((x[:, 0].astype(np.float64) + x[:, 1]) / 2).astype(np.float32))


def test_opposite_channels_cancel(tmp_path):
    s = wavgen.tone(440.0, seconds=0.5, sr=44100)
    y = load_audio(wavgen.write(tmp_path / "anti.wav", np.stack([s, -s], axis=1), 44100, subtype="FLOAT"))
    assert len(y) == SR // 2 and np.abs(y).max() == 0.0


@pytest.mark.parametrize("rate", [22050, 48000])
def test_six_channel_downmix(tmp_path, rate):
    freqs = (200.0, 500.0, 1100.0, 2300.0, 4700.0, 7900.0)
    x = np.stack([wavgen.tone(f, seconds=1.0, sr=rate, amp=0.3) for f in freqs], axis=1)
    path = wavgen.write(tmp_path / "six.wav", x, rate, subtype="FLOAT")
    assert audio_info(path).channels == 6
    y = load_audio(path)
    mean = x.astype(np.float64).mean(axis=1).astype(np.float32)
    if rate == SR:
        np.testing.assert_array_equal(y, mean)
    else:
        np.testing.assert_array_equal(y, soxr.resample(mean, rate, SR, quality="HQ"))
    spec = np.abs(np.fft.rfft(y[:SR]))
    for f in freqs:  # every channel contributes 0.3/6 = 0.05 amplitude at its own frequency
        assert spec[int(f)] / (SR / 2) == pytest.approx(0.05, rel=0.02)
    np.testing.assert_array_equal(_concat(iter_audio(path, block_frames=777)), y)


# --- 22,050 Hz passthrough --------------------------------------------------------------------


def test_22050_float_mono_passthrough_is_bit_exact(tmp_path):
    x = wavgen.noise(seconds=1.0, sr=SR)
    path = wavgen.write(tmp_path / "n.wav", x, SR, subtype="FLOAT")
    np.testing.assert_array_equal(load_audio(path), x)
    np.testing.assert_array_equal(_concat(iter_audio(path, block_frames=1000)), x)
    rs = StreamResampler(SR, 1)
    assert rs.passthrough
    np.testing.assert_array_equal(rs.process(x), x)
    assert rs.flush().size == 0


def test_22050_pcm16_passthrough_matches_libsndfile(tmp_path):
    path = wavgen.write(tmp_path / "m.flac", wavgen.music_like(seconds=1.0), SR, subtype="PCM_16")
    np.testing.assert_array_equal(load_audio(path), sf.read(str(path), dtype="float32")[0])


# --- streaming agrees with whole-file decoding ------------------------------------------------


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 44100, 48000, 96000])
def test_stream_equals_whole_file_for_any_block_size(tmp_path, rate):
    rng = np.random.default_rng(rate)
    x = np.stack([wavgen.music_like(seconds=2.5, sr=rate, seed=s) for s in (1, 2)], axis=1)
    path = wavgen.write(tmp_path / "m.wav", x, rate, subtype="PCM_24")
    whole = load_audio(path)
    sizes = [17, 1000, 4097, 65536, 100_000, *rng.integers(1, 100_001, size=4)]  # tiny blocks: below
    for block in sizes:
        streamed = _concat(iter_audio(path, block_frames=int(block)))
        assert len(streamed) == len(whole), block
        assert np.abs(streamed - whole).max() <= STREAM_TOL, block


COMPRESSED = [("FLAC", "PCM_16", "flac", 44100), ("OGG", "VORBIS", "ogg", 44100),
              ("MP3", "MPEG_LAYER_III", "mp3", 44100), ("OGG", "OPUS", "opus", 48000)]


@pytest.mark.parametrize("fmt,subtype,ext,rate", COMPRESSED, ids=[c[1] for c in COMPRESSED])
def test_stream_equals_whole_for_compressed_formats(tmp_path, fmt, subtype, ext, rate):
    """Block-wise decoding must not depend on where the blocks fall (it did for MP3, see audio.py)."""
    # steady tones: the MP3 encoder leans on its bit reservoir, which is what block edges broke
    x = np.stack([wavgen.tone(440.0, 4.0, rate, 0.5), wavgen.chirp(200.0, 2000.0, 4.0, rate, 0.3)], axis=1)
    path = _write_or_skip(tmp_path / f"m.{ext}", x, rate, subtype, fmt)
    single = sf.read(str(path), dtype="float32", always_2d=True)[0]  # one libsndfile call, no block edges
    whole = load_audio(path)
    np.testing.assert_array_equal(whole, resample(single.astype(np.float64).mean(axis=1).astype(np.float32), rate))
    for block in (1000, 1152, 4096, 65536, 100_000):
        streamed = _concat(iter_audio(path, block_frames=block))
        assert len(streamed) == len(whole), block
        assert np.abs(streamed - whole).max() <= STREAM_TOL, block


def test_stream_with_tiny_blocks(tmp_path):
    x = wavgen.chirp(200.0, 3000.0, seconds=0.2, sr=44100)
    path = wavgen.write(tmp_path / "c.wav", np.stack([x, x[::-1]], axis=1), 44100, subtype="FLOAT")
    whole = load_audio(path)
    for block in (1, 2, 3):
        streamed = _concat(iter_audio(path, block_frames=block))
        assert len(streamed) == len(whole)
        assert np.abs(streamed - whole).max() <= STREAM_TOL


@pytest.mark.parametrize("rate", [16000, 44100, 48000])
def test_stream_resampler_with_irregular_blocks(rate):
    rng = np.random.default_rng(7)
    x = (0.3 * rng.standard_normal((rate * 3, 2))).astype(np.float32)
    whole = resample(x.astype(np.float64).mean(axis=1).astype(np.float32), rate)
    rs = StreamResampler(rate, 2)
    out, i = [], 0
    while i < len(x):
        k = int(rng.choice([1, 5, 300, 4096, 50_000, 100_000]))
        out.append(rs.process(x[i : i + k]))
        i += k
    out.append(rs.flush())
    streamed = np.concatenate(out)
    assert len(streamed) == len(whole)
    assert np.abs(streamed - whole).max() <= STREAM_TOL
    # flush starts a new stream: the same input gives the same output again
    again = np.concatenate([rs.process(x), rs.flush()])
    np.testing.assert_array_equal(again, streamed)


def test_iter_audio_blocks_stay_bounded(tmp_path):
    x = wavgen.noise(seconds=6.0, sr=44100)
    path = wavgen.write(tmp_path / "long.wav", x, 44100, subtype="PCM_16")
    blocks = list(iter_audio(path, block_frames=4096))
    assert all(b.dtype == np.float32 and b.ndim == 1 and b.size > 0 for b in blocks)
    assert max(len(b) for b in blocks) <= 2 * 4096 * SR / 44100
    assert sum(len(b) for b in blocks) == len(x) // 2


def test_passthrough_output_does_not_alias_the_input_buffer():
    buf = np.ones((256, 1), np.float32)  # e.g. a capture callback's buffer, reused for the next block
    out = StreamResampler(SR, 1).process(buf)
    buf[:] = 0.0
    assert np.all(out == 1.0)


def test_stream_resampler_scales_integer_input():
    rng = np.random.default_rng(3)
    i16 = rng.integers(-32768, 32768, size=(4000, 2), dtype=np.int16)
    f = (i16.astype(np.float64) / 32768).astype(np.float32)
    for rate in (SR, 44100):
        a = StreamResampler(rate, 2)
        b = StreamResampler(rate, 2)
        got = np.concatenate([a.process(i16), a.flush()])
        want = np.concatenate([b.process(f), b.flush()])
        np.testing.assert_allclose(got, want, atol=1e-7)
    i32 = np.array([[-(2**31)], [0], [2**30]], dtype=np.int32)
    np.testing.assert_array_equal(StreamResampler(SR, 1).process(i32), [-1.0, 0.0, 0.5])
    u8 = np.array([0, 128, 192], dtype=np.uint8)
    np.testing.assert_array_equal(StreamResampler(SR, 1).process(u8), [-1.0, 0.0, 0.5])


def test_stream_resampler_rejects_bad_blocks():
    rs = StreamResampler(44100, 2)
    with pytest.raises(AudioError, match="2 channel"):
        rs.process(np.zeros((10, 3), np.float32))
    with pytest.raises(AudioError, match="1-D"):
        rs.process(np.zeros(10, np.float32))
    with pytest.raises(AudioError, match="non-finite"):
        rs.process(np.array([[0.0, np.nan]], np.float32))
    with pytest.raises(AudioError, match="1-D or 2-D"):
        StreamResampler(44100, 1).process(np.zeros((2, 2, 2), np.float32))
    with pytest.raises(AudioError, match="sample rate"):
        StreamResampler(0, 1)
    with pytest.raises(AudioError, match="channel"):
        StreamResampler(44100, 0)


# --- short and empty audio ----------------------------------------------------------------------


def test_zero_frame_file_is_empty_not_an_error(tmp_path):
    path = wavgen.write(tmp_path / "zero.wav", np.zeros((0, 2), np.float32), 44100)
    info = audio_info(path)
    assert info.frames == 0 and info.duration == 0.0 and info.channels == 2
    y = load_audio(path)
    assert y.dtype == np.float32 and y.shape == (0,)
    assert list(iter_audio(path)) == []


@pytest.mark.parametrize("rate,n,expected", [(44100, 10, 5), (22050, 1, 1), (8000, 100, 276)])
def test_audio_shorter_than_a_window_is_returned(tmp_path, rate, n, expected):
    x = np.linspace(-0.5, 0.5, n, dtype=np.float32)
    path = wavgen.write(tmp_path / "short.wav", x, rate, subtype="FLOAT")
    y = load_audio(path)
    assert len(y) == expected
    np.testing.assert_array_equal(_concat(iter_audio(path, block_frames=3)), y)


# --- errors --------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "nope.wav"
    for call in (load_audio, audio_info, iter_audio):  # iter_audio fails at the call, not on next()
        with pytest.raises(AudioError) as e:
            call(path)
        _assert_user_error(e, path, "no such file")


def test_directory(tmp_path):
    with pytest.raises(AudioError) as e:
        load_audio(tmp_path)
    _assert_user_error(e, tmp_path, "directory")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioError) as e:
        load_audio(path)
    _assert_user_error(e, path, "empty file")


@pytest.mark.parametrize(
    "name,content",
    [
        ("notes.txt", b"this is not audio\n" * 50),
        ("song.wav", b"this is not audio either\n" * 50),
        ("random.bin", np.random.default_rng(0).bytes(10_000)),
    ],
)
def test_not_audio(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    for call in (load_audio, audio_info, iter_audio):
        with pytest.raises(AudioError) as e:
            call(path)
        _assert_user_error(e, path, "not readable as audio", "format not recognised")


def test_corrupt_header(tmp_path):
    path = wavgen.corrupt_header(tmp_path / "bad.wav")
    with pytest.raises(AudioError) as e:
        load_audio(path)
    _assert_user_error(e, path, "not readable as audio")


def _wav_bytes(channels: int, rate: int, data: bytes) -> bytes:
    block = max(channels, 1) * 2
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * block, block, 16)
    body = b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_zero_channels(tmp_path):
    path = tmp_path / "nochan.wav"
    path.write_bytes(_wav_bytes(0, 44100, bytes(400)))
    with pytest.raises(AudioError) as e:
        load_audio(path)
    _assert_user_error(e, path, "channel count is zero")


def test_zero_sample_rate(tmp_path):
    path = tmp_path / "norate.wav"
    path.write_bytes(_wav_bytes(1, 0, bytes(400)))
    with pytest.raises(AudioError) as e:
        load_audio(path)
    _assert_user_error(e, path, "not readable as audio")


def test_truncated_wav_returns_what_is_there(tmp_path):
    src = wavgen.write(tmp_path / "full.wav", wavgen.music_like(seconds=2.0, sr=44100), 44100, subtype="PCM_16")
    path = wavgen.truncated(src, tmp_path / "half.wav", keep=0.5)
    y = load_audio(path)
    assert abs(len(y) - SR) < 50  # half of 2 s
    full = load_audio(src)
    assert np.abs(y[:-200] - full[: len(y) - 200]).max() < 1e-6  # same audio up to the cut


@pytest.mark.parametrize("fmt,ext", [("WAV", "wav"), ("WAVEX", "wav"), ("AIFF", "aiff"), ("AU", "au"), ("W64", "w64")])
def test_truncated_header_is_reported(tmp_path, fmt, ext):
    from gtzan.audio import truncation_note

    src = wavgen.write(tmp_path / f"full.{ext}", wavgen.music_like(seconds=4.0), subtype="PCM_16", fmt=fmt)
    assert audio_info(src).header_frames is None and truncation_note(audio_info(src)) is None
    info = audio_info(wavgen.truncated(src, tmp_path / f"cut.{ext}", keep=0.5))
    assert info.frames == pytest.approx(2 * SR, abs=60) and info.header_frames == pytest.approx(4 * SR, abs=60)
    assert truncation_note(info) == (f"cut.{ext} is truncated: its header announces 4.00 s of audio but the file "
                                     "holds 2.00 s; classifying the part that is there")


def test_streamed_wav_of_unknown_length_is_not_called_truncated(tmp_path):
    """Writers that stream a WAV put 0xFFFFFFFF in its size fields: length unknown, not cut short."""
    data = bytearray(wavgen.write(tmp_path / "a.wav", wavgen.music_like(seconds=1.0), subtype="PCM_16").read_bytes())
    data[4:8] = data[40:44] = struct.pack("<I", 0xFFFFFFFF)
    path = tmp_path / "streamed.wav"
    path.write_bytes(bytes(data))
    info = audio_info(path)
    assert info.frames == SR and info.header_frames is None


@pytest.mark.parametrize("keep", [0.9, 0.5, 0.01])
def test_truncated_flac_is_an_error(tmp_path, keep):
    src = wavgen.write(tmp_path / "full.flac", wavgen.music_like(seconds=3.0, sr=44100), 44100, subtype="PCM_16")
    path = wavgen.truncated(src, tmp_path / "cut.flac", keep=keep)
    with pytest.raises(AudioError) as e:
        load_audio(path)
    _assert_user_error(e, path, "truncated or corrupt")
    got = []
    with pytest.raises(AudioError) as e:  # streaming yields the good blocks, then the same error
        for block in iter_audio(path, block_frames=4096):
            got.append(block)
    _assert_user_error(e, path, "truncated or corrupt", "decoding failed after")
    decoded = sum(len(b) for b in got)
    if keep >= 0.5:  # the audio before the cut streamed out; the message says how much
        assert decoded > 0.8 * keep * 3 * SR - 4096
        secs = float(str(e.value).split("decoding failed after ")[1].split(" s")[0])
        assert secs == pytest.approx(keep * 3, abs=0.3)


def test_corrupt_flac_middle_is_an_error(tmp_path):
    src = wavgen.write(tmp_path / "full.flac", wavgen.music_like(seconds=3.0, sr=44100), 44100, subtype="PCM_16")
    data = bytearray(src.read_bytes())
    mid = len(data) // 3
    data[mid : mid + 2000] = np.random.default_rng(3).bytes(2000)
    path = tmp_path / "garbled.flac"
    path.write_bytes(bytes(data))
    with pytest.raises(AudioError) as e:
        load_audio(path)
    _assert_user_error(e, path, "truncated or corrupt")


def test_truncated_ogg(tmp_path):
    src = _write_or_skip(tmp_path / "full.ogg", wavgen.music_like(seconds=3.0, sr=44100), 44100, "VORBIS", "OGG")
    half = load_audio(wavgen.truncated(src, tmp_path / "half.ogg", keep=0.5))
    assert 0 < len(half) < len(load_audio(src))  # libsndfile returns the whole pages that are there
    path = wavgen.truncated(src, tmp_path / "stub.ogg", keep=0.02)
    with pytest.raises(AudioError) as e:
        load_audio(path)
    _assert_user_error(e, path, "malformed")


def test_truncated_mp3(tmp_path):
    src = _write_or_skip(tmp_path / "full.mp3", wavgen.music_like(seconds=3.0, sr=44100), 44100, "MPEG_LAYER_III", "MP3")
    half = load_audio(wavgen.truncated(src, tmp_path / "half.mp3", keep=0.5))
    assert 0.3 * 3 * SR < len(half) < 0.7 * 3 * SR  # the decoder stops where the data ends
    path = wavgen.truncated(src, tmp_path / "stub.mp3", keep=0.005)
    with pytest.raises(AudioError) as e:
        load_audio(path)
    _assert_user_error(e, path, "truncated or corrupt")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_are_an_error(tmp_path, bad):
    x = wavgen.tone(440.0, seconds=0.5, sr=44100)
    x[1000] = bad
    path = wavgen.write(tmp_path / "nan.wav", np.stack([x, x], axis=1), 44100, subtype="FLOAT")
    with pytest.raises(AudioError) as e:
        load_audio(path)
    _assert_user_error(e, path, "non-finite", "frame 1000")
    with pytest.raises(AudioError) as e:
        _concat(iter_audio(path, block_frames=300))
    _assert_user_error(e, path, "non-finite", "frame 1000")


def test_iter_audio_rejects_bad_block_size(tmp_path):
    path = wavgen.write(tmp_path / "t.wav", wavgen.tone(seconds=0.1), SR)
    with pytest.raises(ValueError):
        iter_audio(path, block_frames=0)


# --- description -----------------------------------------------------------------------------


def test_describe_source():
    info = AudioInfo(44100, 2, 1_323_000, "WAV", "PCM_24", 30.0, "/music/song.wav")
    assert describe_source(info) == "song.wav: 44100 Hz, 2 ch, PCM_24, 30.0 s (resampled to 22050 Hz, mixed to mono)"
    info = AudioInfo(22050, 1, 661_794, "FLAC", "PCM_16", 661_794 / 22050, "blues.00000.flac")
    assert describe_source(info) == "blues.00000.flac: 22050 Hz, 1 ch, PCM_16, 30.0 s"


def test_describe_source_from_file(tmp_path):
    path = wavgen.write(tmp_path / "clip.aiff", np.zeros((48000, 2), np.float32), 48000, subtype="PCM_16")
    text = describe_source(audio_info(path))
    assert text == "clip.aiff: 48000 Hz, 2 ch, PCM_16, 1.0 s (resampled to 22050 Hz, mixed to mono)"
    assert "\n" not in text and math.isfinite(audio_info(path).duration)


# --- the real data, where present ------------------------------------------------------------


@pytest.mark.gtzan
def test_gtzan_track_stream_equals_whole(gtzan_audio):
    track = next(iter(sorted(gtzan_audio.glob("*/*.*"))), None)
    if track is None:
        pytest.skip("no GTZAN audio files found")
    info = audio_info(track)
    whole = load_audio(track)
    assert abs(len(whole) - info.frames * SR / info.samplerate) <= 0.5
    streamed = _concat(iter_audio(track))
    assert len(streamed) == len(whole) and np.abs(streamed - whole).max() <= STREAM_TOL


class _FakeStream:
    """A decoder whose header claims ``frames`` but which delivers ``data`` (like a mis-sized MP3)."""

    def __init__(self, data: np.ndarray, frames: int, samplerate: int = 22050) -> None:
        self.data, self.frames, self.samplerate, self.channels, self.pos = data, frames, samplerate, 1, 0

    def read(self, n: int, dtype: str = "float32", always_2d: bool = True) -> np.ndarray:
        block = self.data[self.pos : self.pos + n]
        self.pos += len(block)
        return block.reshape(-1, 1).astype(dtype)


@pytest.mark.parametrize("claimed", [0, -1, 1000, 150_000, 150_001, 400_000, 10**15])
def test_decoding_into_one_buffer_whatever_the_header_claims(claimed: int) -> None:
    from gtzan.audio import _decode_all

    data = np.random.default_rng(3).uniform(-1, 1, 150_000).astype(np.float32)
    y = _decode_all(_FakeStream(data, claimed), "fake.mp3")
    assert y.dtype == np.float32 and y.flags.c_contiguous
    np.testing.assert_array_equal(y, data)
    assert y.base is None or y.base.size <= data.size * 65 // 64  # no large unused tail is kept
