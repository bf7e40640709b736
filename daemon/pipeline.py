"""Samples in, verdicts out: StreamingExtractor -> bundle.predict (the blend) -> smoothing.

Silent windows (level below the threshold) skip inference: they are reported as silence, not
given a genre, and clear the smoothing history. Windows too quiet or clipping are classified as usual
and carry a warning (gtzan.daemon.level). A verdict whose calibrated probability is below the
bundle's ``uncertain_below`` is marked uncertain, for the raw window and for the smoothed verdict apart.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from gtzan.constants import DEFAULT_HOP_FRAMES, SR, WINDOW_SAMPLES
from gtzan.daemon.level import FLOOR_DBFS, level_warning, peak_dbfs
from gtzan.daemon.smoothing import Smoother, smoothing_params
from gtzan.features import FEATURE_NAMES

if TYPE_CHECKING:
    from gtzan.bundle import Prediction
    from gtzan.daemon.interfaces import Predictor
    from gtzan.features.stream import Window

# rows per run of the members: enough to share each run's fixed cost, few enough that onnxruntime's
# buffers stay small (the KNN member's distances to its 9,703 rows take 39 kB a row)
PREDICT_ROWS = 64
_RMS_MEAN = FEATURE_NAMES.index("rms_mean")
_RMS_VAR = FEATURE_NAMES.index("rms_var")
LEVEL_FLOOR_DB = FLOOR_DBFS


def level_dbfs(features: np.ndarray) -> float:
    """Window level in dBFS from its features: the RMS of the frame RMS values, sqrt(mean^2 + var)."""
    ms = float(features[_RMS_MEAN]) ** 2 + max(0.0, float(features[_RMS_VAR]))
    if ms <= 0.0:
        return LEVEL_FLOOR_DB
    return max(LEVEL_FLOOR_DB, 10.0 * math.log10(ms))


@dataclass
class WindowResult:
    """Everything known about one window; output modules render it."""

    index: int
    start_sample: int
    start: float
    end: float
    level_dbfs: float
    silent: bool
    peak_dbfs: float = LEVEL_FLOOR_DB  # the largest |sample|
    clipped: float = 0.0  # share of the samples at full scale (|x| >= 0.999)
    level_warning: str | None = None  # "quiet", "clipping" (gtzan.daemon.level) or None
    label: int | None = None  # raw blended genre index
    scores: np.ndarray | None = None  # blended vote share (10,)
    probs: np.ndarray | None = None  # calibrated blend probabilities (10,)
    probability: float | None = None  # probs[label]
    uncertain: bool | None = None  # probability below the bundle's threshold
    member_probs: dict[str, np.ndarray] = field(default_factory=dict)
    member_votes: dict[str, int] = field(default_factory=dict)
    smoothed: int | None = None
    smoothed_probs: np.ndarray | None = None  # calibrated probabilities averaged over the last N windows
    smoothed_probability: float | None = None  # smoothed_probs[smoothed]
    smoothed_uncertain: bool | None = None
    features_ms: float = 0.0
    inference_ms: float = 0.0
    arrival: float = 0.0  # monotonic time the window's last sample arrived
    note: str | None = None  # e.g. the synthetic demo pattern playing
    features: np.ndarray | None = field(default=None, repr=False)  # the 58 features (not printed)


class Pipeline:
    """Feeds blocks to the streaming extractor and turns each finished window into a WindowResult."""

    def __init__(
        self,
        bundle: Predictor,
        hop_frames: int = DEFAULT_HOP_FRAMES,
        smooth_seconds: float = 3.0,
        silence_db: float = -60.0,
    ):
        from gtzan.features.stream import StreamingExtractor

        self.bundle = bundle
        self.extractor = StreamingExtractor(hop_frames)
        self.hop_seconds = self.extractor.hop_samples / SR
        self.smooth_n, self.smooth_k = smoothing_params(smooth_seconds, self.hop_seconds)
        self.smoother = Smoother(self.smooth_n, self.smooth_k)
        self.silence_db = silence_db
        self.uncertain_below = float(bundle.uncertain_below)
        self.samples_in = 0
        self._n = 0
        self._pending_ms = 0.0  # extractor time not yet charged to a window
        self._ahead: dict[int, tuple[Prediction, int, float]] = {}  # start sample -> predict_ahead's row

    def extract(self, samples: np.ndarray) -> tuple[list[Window], float]:
        """Add one block to the extractor: the windows it completed, oldest first, and the extractor's
        milliseconds per window (time spent on blocks that completed none is charged to the next)."""
        t0 = time.perf_counter()
        windows = self.extractor.push(np.asarray(samples, dtype=np.float32))
        self._pending_ms += (time.perf_counter() - t0) * 1000.0
        self.samples_in += len(samples)
        if not windows:
            return [], 0.0
        feat_ms = self._pending_ms / len(windows)
        self._pending_ms = 0.0
        return windows, feat_ms

    def push(self, samples: np.ndarray, arrival: float) -> list[WindowResult]:
        """Add one block; return the windows it completed, in order."""
        windows, feat_ms = self.extract(samples)
        return self.classify(windows, arrival, feat_ms) if windows else []

    def classify(
        self, windows: Sequence[Window], arrival: float, feat_ms: float | Sequence[float]
    ) -> list[WindowResult]:
        """Blend and smoothe windows whose features are known (by push, or computed elsewhere).

        The members run once per ``PREDICT_ROWS`` windows given (their outputs do not depend on how rows
        are batched: tests/test_daemon_batching.py), so many windows at a time cost far less per window.
        ``feat_ms`` is the extractor's time, one for all windows or one per window.
        """
        per_ms = [float(feat_ms)] * len(windows) if isinstance(feat_ms, (int, float)) else list(feat_ms)
        results: list[WindowResult] = []
        for w, ms in zip(windows, per_ms, strict=True):
            lvl = level_dbfs(w.features)
            silent = lvl < self.silence_db
            clipped = w.clipped / WINDOW_SAMPLES
            results.append(
                WindowResult(
                    index=self._n,
                    start_sample=int(w.start_sample),
                    start=float(w.start),
                    end=float(w.end),
                    level_dbfs=lvl,
                    silent=silent,
                    peak_dbfs=peak_dbfs(w.peak),
                    clipped=clipped,
                    level_warning=level_warning(lvl, silent, clipped),
                    features_ms=ms,
                    arrival=arrival,
                    features=w.features,
                )
            )
            self._n += 1
        everyone = [i for i, r in enumerate(results) if not r.silent]
        for i in everyone:
            known = self._ahead.pop(results[i].start_sample, None)
            if known is not None:
                self._predicted(results[i], *known)
        todo = [i for i in everyone if results[i].label is None]
        for i, row in zip(todo, self._run_members([windows[i] for i in todo]), strict=True):
            self._predicted(results[i], *row)
        for r in results:
            if r.silent:
                self.smoother.reset()
            else:
                r.smoothed, r.smoothed_probs = self.smoother.update(r.probs)
                r.smoothed_probability = float(r.smoothed_probs[r.smoothed])
                r.smoothed_uncertain = r.smoothed_probability < self.uncertain_below
        return results

    def predict_ahead(self, windows: Sequence[Window]) -> None:
        """Run the members now on windows that ``classify`` will be given later, after others.

        --fast's main process computes a clip's last windows while its worker still computes earlier
        ones, which go out first: predicted meanwhile, they leave less to do once the worker is done.
        The members' outputs do not depend on how rows are batched, so the results are the same.
        """
        loud = [w for w in windows if not level_dbfs(w.features) < self.silence_db]
        for w, row in zip(loud, self._run_members(loud), strict=True):
            self._ahead[int(w.start_sample)] = row

    def _run_members(self, windows: Sequence[Window]) -> Iterator[tuple[Prediction, int, float]]:
        """Each window's row of the members' prediction, ``PREDICT_ROWS`` windows a run: the run's
        prediction, the window's row in it and the run's milliseconds per window."""
        for c in range(0, len(windows), PREDICT_ROWS):
            rows = windows[c : c + PREDICT_ROWS]
            t = time.perf_counter()
            pred = self.bundle.predict(np.stack([w.features for w in rows]))
            ms = (time.perf_counter() - t) * 1000.0 / len(rows)
            for j in range(len(rows)):
                yield pred, j, ms

    def _predicted(self, r: WindowResult, pred: Prediction, j: int, inference_ms: float) -> None:
        """Fill in a window's result from row j of the members' prediction."""
        r.label = int(pred.labels[j])
        r.scores = np.asarray(pred.scores[j], dtype=np.float64)
        r.probs = np.asarray(pred.probs[j], dtype=np.float64)
        r.probability = float(pred.confidence[j])
        r.uncertain = r.probability < self.uncertain_below
        r.member_probs = {m: np.asarray(p[j]) for m, p in pred.member_probs.items()}
        r.member_votes = {m: int(v[j]) for m, v in pred.member_votes.items()}
        r.inference_ms = inference_ms
