"""The one definition of the 58 GTZAN features (Kaggle ``features_3_sec.csv`` / ``features_30_sec.csv``).

The Kaggle tables use plain librosa defaults (n_fft 2048, hop 512, centred frames): mean and variance
over frames of chroma_stft, rms, spectral centroid / bandwidth / rolloff, zero-crossing rate, of the
harmonic and percussive waveforms of ``librosa.effects.hpss``, and of 20 MFCCs; tempo from
``librosa.beat.beat_track``; length in samples. This package computes exactly that, without librosa:

- ``frames``: everything about one STFT frame that does not depend on its neighbours;
- ``window``: the per-window pieces built on those frames (tuning, chroma, top_db clip, onsets, tempo,
  harmonic mask);
- ``recipe``: the order in which a window's pieces become its 58 values (``clip_features``);
- ``stream``: the same recipe over rolling windows of a stream, sharing frames between them;
- ``filters``, ``medians``: librosa's filter banks and tempo estimator, and the HPSS median filters
  (optionally the C kernel ``_median``).
"""

from __future__ import annotations

from gtzan.features.names import FEATURE_NAMES
from gtzan.features.recipe import clip_features
from gtzan.features.stream import StreamingExtractor, Window
from gtzan.features.window import n_frames, window_starts

__all__ = ["FEATURE_NAMES", "StreamingExtractor", "Window", "clip_features", "n_frames", "window_starts"]
