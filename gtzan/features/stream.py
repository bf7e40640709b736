"""Incremental extraction of the 58 features over rolling 3 s windows of a stream.

Every STFT frame of the stream is analysed once (spectrum, mel, MFCC, chroma, pitch peaks, percussive
median, onset strength) and, once its 15 neighbours on each side have arrived, split into harmonic and
percussive parts. A window reuses all of that for its interior frames; it recomputes only what depends
on its own edges: the two zero-padded frames at each end, the HPSS harmonic median near the borders,
the top_db clip, the tempo estimate and the statistics. The result equals
``gtzan.features.clip_features`` on the window's samples (both run ``gtzan.features.recipe``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from gtzan.constants import DEFAULT_HOP_FRAMES, HOP, N_FFT, SR, WINDOW_SAMPLES
from gtzan.features import filters, medians
from gtzan.features import frames as fr
from gtzan.features import window as wn
from gtzan.features.recipe import OnsetReuse, window_features

_WIN_FRAMES = wn.n_frames(WINDOW_SAMPLES)  # 130 frames in a window
_EDGE = 2  # zero-padded frames at each end of a window: 0, 1 and 128, 129
_H = fr.HPSS_KERNEL // 2  # 15
_SHARED = (_EDGE + _H, _WIN_FRAMES - _EDGE - _H)  # window frames 17..112 reuse the stream's HPSS
_TAIL0 = _WIN_FRAMES - _EDGE  # first tail edge frame (128)
_LAG = N_FFT // HOP - 1  # an overlap-added block also holds the frames 1..3 before its own
_OLA = (_SHARED[0] + _LAG, _SHARED[1])  # window blocks 20..111 sum shared frames only: the stream's


CLIP_LEVEL = 0.999  # |sample| at or above this counts as full scale (16-bit full scale is 0.99997)


class Window(NamedTuple):
    start_sample: int
    start: float
    end: float
    features: np.ndarray
    peak: float  # the largest |sample|
    clipped: int  # samples at or above CLIP_LEVEL in magnitude

    @classmethod
    def at(cls, start_sample: int, features: np.ndarray, peak: float, clipped: int) -> Window:
        """The window starting at ``start_sample``: its start and end in seconds follow from it."""
        return cls(start_sample, start_sample / SR, (start_sample + WINDOW_SAMPLES) / SR, features, peak, clipped)


def sample_peak(w: np.ndarray) -> tuple[float, int]:
    """A window's largest |sample| and its samples at full scale (counted only when the peak gets there).

    About 11 us for a 3 s window, against milliseconds for its features.
    """
    if not w.size:
        return 0.0, 0
    peak = max(float(w.max()), -float(w.min()))
    return peak, int(np.count_nonzero(np.abs(w) >= CLIP_LEVEL)) if peak >= CLIP_LEVEL else 0


class _FrameStore:
    """Analysed stream frames [base, base + count) in fixed-size arrays (bounded memory)."""

    _FIELDS = {
        "D": ((fr.N_BINS,), np.complex64),
        "mag": ((fr.N_BINS,), np.float32),
        "power": ((fr.N_BINS,), np.float32),
        "perc": ((fr.N_BINS,), np.float32),
        "rms": ((), np.float64),
        "zcr": ((), np.float64),
        "centroid": ((), np.float64),
        "bandwidth": ((), np.float64),
        "rolloff": ((), np.float64),
        "db": ((fr.N_MELS,), np.float32),
        "db_min": ((), np.float32),
        "db_max": ((), np.float32),
        "mfcc": ((fr.N_MFCC,), np.float32),
        "onset": ((), np.float32),
        "has_onset": ((), bool),
        "onset_at_floor": ((), np.float32),  # onset strength clipped at onset_floor (NaN: none yet)
        "onset_floor": ((), np.float32),
        "chroma": ((fr.N_CHROMA,), np.float32),
        "chroma_tuning": ((), np.float64),
        "td_h": ((N_FFT,), np.float32),  # harmonic frame, before the synthesis window
        "has_td": ((), bool),
        "y_h": ((HOP,), np.float64),
        "has_y_h": ((), bool),  # harmonic signal block of frames f-3..f
    }

    def __init__(self, capacity: int) -> None:
        self.cap = capacity  # frames the store must hold at once
        self.base = 0  # stream index of the oldest stored frame
        self.off = 0  # its row in the arrays
        self.count = 0
        rows = 2 * capacity  # slack so that compaction happens once per `capacity` frames
        self.a = {k: np.zeros((rows, *shape), dtype=dt) for k, (shape, dt) in self._FIELDS.items()}
        self.pitch: list[np.ndarray] = []

    @property
    def end(self) -> int:
        return self.base + self.count

    def drop_before(self, frame: int) -> None:
        k = min(max(0, frame - self.base), self.count)
        if k:
            del self.pitch[:k]
            self.base += k
            self.off += k
            self.count -= k

    def append(self, fd: fr.FrameData) -> None:
        n = len(fd)
        if self.count + n > self.cap:
            raise RuntimeError("frame store overflow")
        if self.off + self.count + n > 2 * self.cap:
            live = slice(self.off, self.off + self.count)
            for arr in self.a.values():
                arr[: self.count] = arr[live]
            self.off = 0
        rows = slice(self.off + self.count, self.off + self.count + n)
        for name in fr.FrameData.__dataclass_fields__:
            if name in self.a:
                self.a[name][rows] = getattr(fd, name)
        self.a["chroma_tuning"][rows] = np.nan
        self.a["has_onset"][rows] = False
        self.a["onset_floor"][rows] = np.nan
        self.a["has_td"][rows] = False
        self.a["has_y_h"][rows] = False
        self.pitch += fd.pitch
        self.count += n

    def rows(self, first: int, last: int) -> slice:
        return slice(first - self.base + self.off, last - self.base + self.off)

    def index(self, first: int, last: int) -> slice:
        """Positions in the pitch lists (which hold live frames only)."""
        return slice(first - self.base, last - self.base)


class StreamingExtractor:
    """Feed blocks of 22,050 Hz mono samples of any size; get the features of every complete window.

    Windows are ``WINDOW_SAMPLES`` long and start every ``hop_frames`` 512-sample frames
    (``hop_samples`` samples; gtzan.constants.hop_frames turns 0.5 s into 22 frames, 0.5108 s). Memory
    stays bounded whatever the stream length.
    """

    def __init__(self, hop_frames: int = DEFAULT_HOP_FRAMES, sr: int = SR) -> None:
        if sr != SR:
            raise ValueError(f"StreamingExtractor needs {SR} Hz input, got {sr} Hz")
        if isinstance(hop_frames, bool) or not isinstance(hop_frames, (int, np.integer)) or hop_frames < 1:
            raise ValueError(f"the hop must be a whole number of frames (at least 1), got {hop_frames!r}")
        self.sr = sr
        self.hop_frames = int(hop_frames)
        self.hop_samples = self.hop_frames * HOP
        self._chunk = self.hop_samples
        # frames analysed together: a few calls per hop, not one per small capture block
        self._batch = max(1, min(self.hop_frames, 8))
        self.reset()

    def reset(self) -> None:
        """Forget the stream: the next sample pushed is sample 0."""
        self._buf = np.zeros(0, dtype=np.float32)  # the samples still needed are self._buf[self._a : self._b]
        self._a = self._b = 0
        self._y0 = 0  # stream index of self._buf[self._a]
        self._n = 0  # samples received
        self._next_frame = _EDGE  # stream frames 0 and 1 are never shared by a window
        self._next_td = _EDGE + _H
        self._next_window = 0  # start frame of the next window
        self._store = _FrameStore(_WIN_FRAMES + self._chunk // HOP + 2 * _H + 8)

    @property
    def samples_received(self) -> int:
        return self._n

    def push(self, block: np.ndarray) -> list[Window]:
        """Add samples; returns the windows completed by them, oldest first.

        Non-finite samples (a glitching device) are replaced: NaN by 0, infinities by full scale.
        """
        y = np.asarray(block, dtype=np.float32).reshape(-1)
        if y.size and not np.all(np.isfinite(y)):
            y = np.nan_to_num(y, nan=0.0, posinf=1.0, neginf=-1.0)
        out: list[Window] = []
        for i in range(0, y.size, self._chunk):
            out += self._ingest(y[i : i + self._chunk])
        return out

    # --- internals ------------------------------------------------------------------------------

    def _samples(self, a: int, b: int) -> np.ndarray:
        return self._buf[self._a + a - self._y0 : self._a + b - self._y0]

    def _keep(self, y: np.ndarray) -> None:
        """Append samples to the buffer: a copy of what is kept only when the buffer is full, not per block."""
        if self._b + y.size > self._buf.size:
            n = self._b - self._a
            buf = np.empty(max(2 * (n + y.size), WINDOW_SAMPLES), dtype=np.float32)
            buf[:n] = self._buf[self._a : self._b]  # a new array: views handed out stay valid
            self._buf, self._a, self._b = buf, 0, n
        self._buf[self._b : self._b + y.size] = y
        self._b += y.size

    def _ingest(self, y: np.ndarray) -> list[Window]:
        self._keep(y)
        self._n += y.size
        out = []
        while True:
            s0 = self._next_window * HOP
            if s0 + WINDOW_SAMPLES > self._n:
                break
            edges = self._analyse_frames(
                min(self._next_window + _TAIL0 - 1, self._last_full_frame()), self._edge_frames(self._next_window)
            )
            assert edges is not None  # returned whenever edge frames are passed
            self._split_hpss()
            out.append(self._emit(self._next_window, edges))
            self._next_window += self.hop_frames
            self._trim()
        # Between windows, analyse frames as they arrive, a few at a time, so that little is left to do
        # when a window completes; a block that completed windows leaves its remaining frames to the
        # next window, which analyses them in the same call as its own edge frames.
        if not out and self._last_full_frame() - self._next_frame + 1 >= self._batch:
            self._analyse_frames(self._last_full_frame())
        self._trim()
        return out

    def _last_full_frame(self) -> int:
        return (self._n - N_FFT // 2) // HOP

    def _analyse_frames(self, last: int, extra: tuple[np.ndarray, np.ndarray] | None = None) -> fr.FrameData | None:
        """Analyse stream frames up to ``last`` (inclusive) that are still needed by a future window.

        ``extra`` (frames, and their edge-padded copies for the zero-crossing rate) are analysed in the
        same call, which costs less than a call of their own, and returned.
        """
        st = self._store
        first = max(self._next_frame, self._next_window + _EDGE)
        if st.count and first > st.end:  # frames skipped by a hop longer than a window
            st.drop_before(first)
        if st.count == 0:
            st.base = first
        limit = st.base + st.cap
        last = min(last, limit - 1)
        frames = np.zeros((0, N_FFT), dtype=np.float32)
        if last >= first:
            a, b = first * HOP - N_FFT // 2, last * HOP + N_FFT // 2
            frames = filters.strided_frames(self._samples(a, b), N_FFT, HOP)
        if extra is None and not len(frames):
            return None
        zc = frames
        if extra is not None:
            frames, zc = np.concatenate([frames, extra[0]]), np.concatenate([frames, extra[1]])
        fd = fr.analyze(frames, zc)
        k = last + 1 - first if last >= first else 0
        if k:
            st.append(fr.take(fd, slice(0, k)))
            self._next_frame = last + 1
            self._onsets(first, last + 1)
        return fr.take(fd, slice(k, None)) if extra is not None else None

    def _edge_frames(self, s: int) -> tuple[np.ndarray, np.ndarray]:
        """The window's frames that reach past its ends (zero-padded), and their edge-padded copies."""
        start = s * HOP
        w = self._samples(start, start + WINDOW_SAMPLES)
        hz, he = wn.centred_frames(w, 0, _EDGE)
        tz, te = wn.centred_frames(w, _TAIL0, _WIN_FRAMES)
        return np.concatenate([hz, tz]), np.concatenate([he, te])

    def _onsets(self, first: int, last: int) -> None:
        st = self._store
        lo = max(first, st.base + 1)
        if lo >= last:
            return
        r = st.rows(lo, last)
        p = st.rows(lo - 1, last - 1)
        st.a["onset"][r] = wn.onset_diffs(st.a["db"][r], st.a["db"][p])
        st.a["has_onset"][r] = True

    def _split_hpss(self) -> None:
        """Harmonic/percussive frames for every stored frame with 15 stored neighbours on each side."""
        st = self._store
        first = max(self._next_td, st.base + _H)
        last = st.end - _H  # exclusive
        if last <= first:
            return
        rows = st.rows(first - _H, last + _H)
        mag = st.a["mag"][rows]
        harm = medians.time_median(mag, _H, _H + (last - first))
        r = st.rows(first, last)
        st.a["td_h"][r] = wn.harmonic_frames(st.a["D"][r], st.a["perc"][r], harm)
        st.a["has_td"][r] = True
        self._next_td = last
        self._harmonic_blocks(first, last)

    def _harmonic_blocks(self, first: int, last: int) -> None:
        """Overlap-added, normalised harmonic blocks f for frames f in [first, last) whose three previous
        frames are also known: exactly the blocks a window's inverse STFT computes from the same frames."""
        st = self._store
        lo = max(first, st.base + _LAG)
        while lo < last and not st.a["has_td"][st.rows(lo - _LAG, lo)].all():  # after a gap in the stream
            lo += 1
        if lo >= last:
            return
        td = st.a["td_h"][st.rows(lo - _LAG, last)]
        blocks = fr.ola_blocks(td)[_LAG : _LAG + last - lo]
        r = st.rows(lo, last)
        st.a["y_h"][r] = blocks / fr.interior_sumsquare()
        st.a["has_y_h"][r] = True

    def _harmonic_signal(self, s: int, head: fr.FrameData, tail: fr.FrameData) -> np.ndarray:
        """The window's harmonic signal (its inverse STFT), equal to ``fr.overlap_add`` of all 130 frames.

        Only the blocks near the window's ends are overlap-added here, from border frames whose 31-frame
        medians reach the window's edges and reflect there; blocks 20..111 sum shared frames alone and
        are the stream's.
        """
        st, a, n = self._store, self._store.a, _WIN_FRAMES
        lo, hi = _SHARED
        b0, b1 = _OLA
        assert a["has_td"][st.rows(s + lo, s + hi)].all() and a["has_y_h"][st.rows(s + b0, s + b1)].all()
        # The border frames of both ends (window frames 0..16 and 113..129) in one inverse FFT: each
        # frame's result does not depend on the others transformed with it. Their masked spectra are
        # written in place, part by part, rather than gathering the parts' spectra first.
        assert head.D is not None and head.perc is not None and tail.D is not None and tail.perc is not None
        head_src = st.rows(s + _EDGE, s + lo)  # window frames 2..16
        tail_src = st.rows(s + hi, s + _TAIL0)  # window frames 113..127
        head_mags = np.concatenate([head.mag, a["mag"][st.rows(s + _EDGE, s + lo + _H)]])  # frames 0..31
        tail_mags = np.concatenate([a["mag"][st.rows(s + hi - _H, s + _TAIL0)], tail.mag])  # frames 98..129
        head_harm = medians.time_median(head_mags, 0, lo)
        tail_harm = medians.time_median(tail_mags, _H, _H + n - hi)
        parts: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...] = (
            (head.D, head.perc, head_harm[:_EDGE]),
            (a["D"][head_src], a["perc"][head_src], head_harm[_EDGE:]),
            (a["D"][tail_src], a["perc"][tail_src], tail_harm[: n - hi - _EDGE]),
            (tail.D, tail.perc, tail_harm[n - hi - _EDGE :]),
        )
        spec = np.empty((lo + n - hi, fr.N_BINS), dtype=np.complex64)
        row = 0
        for D, perc, harm in parts:
            fr.harmonic_spectrum(D, harm, perc, out=spec[row : row + len(D)])
            row += len(D)
        border = fr.inverse_frames(spec)
        td = np.empty((b0, N_FFT), dtype=np.float32)  # window frames 0..19
        td[:lo] = border[:lo]
        td[lo:] = a["td_h"][st.rows(s + lo, s + b0)]
        env = fr.window_sumsquare(n)
        first = fr.normalise_ola(fr.ola_blocks(td)[:b0], env[: b0 * HOP])
        t0 = b1 - _LAG  # window frames 109..129
        td = np.empty((n - t0, N_FFT), dtype=np.float32)
        td[: hi - t0] = a["td_h"][st.rows(s + t0, s + hi)]
        td[hi - t0 :] = border[lo:]
        last = fr.normalise_ola(fr.ola_blocks(td)[_LAG:], env[b1 * HOP :])
        y = np.concatenate([first[N_FFT // 2 :], a["y_h"][st.rows(s + b0, s + b1)].reshape(-1), last])
        return y[:WINDOW_SAMPLES]

    def _trim(self) -> None:
        keep_frame = self._next_window + _EDGE - 1  # one frame before the window for onset differences
        self._store.drop_before(keep_frame)
        keep_sample = min(self._next_window * HOP, self._next_frame * HOP - N_FFT // 2)
        k = keep_sample - self._y0
        if k > 0:
            self._a += k
            self._y0 = keep_sample

    def _emit(self, s: int, edges: fr.FrameData) -> Window:
        """Features of the window whose first frame is stream frame s; ``edges`` analyses its edge frames."""
        st = self._store
        start = s * HOP
        w = self._samples(start, start + WINDOW_SAMPLES)
        n = _WIN_FRAMES
        head, tail = fr.take(edges, slice(0, _EDGE)), fr.take(edges, slice(_EDGE, None))
        mid = st.rows(s + _EDGE, s + _TAIL0)
        pmid = st.index(s + _EDGE, s + _TAIL0)
        a = st.a

        def cat(name: str) -> np.ndarray:
            return np.concatenate([getattr(head, name), a[name][mid], getattr(tail, name)])

        light = fr.FrameData(
            D=None,
            mag=None,
            power=None,
            perc=None,
            rms=cat("rms"),
            zcr=cat("zcr"),
            centroid=cat("centroid"),
            bandwidth=cat("bandwidth"),
            rolloff=cat("rolloff"),
            db=cat("db"),
            db_min=cat("db_min"),
            db_max=cat("db_max"),
            mfcc=cat("mfcc"),
            pitch=head.pitch + st.pitch[pmid] + tail.pitch,
        )

        def chroma(tuning: float) -> np.ndarray:
            """The edge frames' chroma, and the stored frames' where computed at another tuning."""
            assert head.power is not None and tail.power is not None  # edge frames are analysed in full
            stale = np.flatnonzero(a["chroma_tuning"][mid] != tuning) + mid.start
            # one product for the edge and stale frames (each frame's chroma is its own row's)
            new = wn.chroma_frames(np.concatenate([head.power, a["power"][stale], tail.power]), tuning)
            a["chroma"][stale] = new[_EDGE : _EDGE + stale.size]
            a["chroma_tuning"][stale] = tuning
            out = np.empty((n, fr.N_CHROMA), dtype=np.float32)
            out[:_EDGE] = new[:_EDGE]
            out[_EDGE:_TAIL0] = a["chroma"][mid]
            out[_TAIL0:] = new[_EDGE + stale.size :]
            return out

        diffs = np.zeros(n, dtype=np.float32)
        reuse = np.zeros(n, dtype=bool)
        diffs[_EDGE:_TAIL0] = a["onset"][mid]
        reuse[_EDGE + 1 : _TAIL0] = a["has_onset"][mid][1:]
        # Strengths clipped at the window's top_db floor, kept per frame with that floor: consecutive
        # windows mostly share their loudest frame, hence their floor, and then most of these strengths.
        # Window frames 3..127 are stream frames compared with stream frames (1 and 2 involve edge frames).
        floor = wn.db_floor(light)
        kept = st.rows(s + _EDGE + 1, s + _TAIL0)
        at_floor = np.zeros(n, dtype=np.float32)
        at_floor_ok = np.zeros(n, dtype=bool)
        at_floor[_EDGE + 1 : _TAIL0] = a["onset_at_floor"][kept]
        at_floor_ok[_EDGE + 1 : _TAIL0] = a["onset_floor"][kept] == floor
        feats = window_features(
            w,
            light,
            chroma,
            lambda: self._harmonic_signal(s, head, tail),
            OnsetReuse(diffs, reuse, at_floor, at_floor_ok),
        )
        computed = at_floor_ok[_EDGE + 1 : _TAIL0]
        a["onset_at_floor"][kept] = at_floor[_EDGE + 1 : _TAIL0]
        a["onset_floor"][kept] = np.where(computed, floor, np.float32(np.nan))
        return Window.at(start, feats, *sample_peak(w))
