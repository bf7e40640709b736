"""How the 58 features move when the audio is multiplied by a gain g > 0, as an exact transform.

Each feature is a statistic of per-frame quantities whose dependence on a gain follows from its
definition (``gtzan.features.frames``, ``gtzan.features.window``):

- scale by g: ``rms_mean``, ``harmony_mean``, ``perceptr_mean`` (the frame RMS and the HPSS waveforms are
  linear in the signal: the soft masks compare medians of |STFT|, so they do not change);
- scale by g**2: ``rms_var``, ``harmony_var``, ``perceptr_var``;
- shift by sqrt(128) * 20*log10(g) (11.31 per dB): ``mfcc1_mean``. The mel power scales by g**2, so every
  dB value moves by 20*log10(g); the top_db clip is relative to the window's loudest band and moves with
  it; the orthonormal DCT's row 0 is 1/sqrt(128) on each of the 128 bands, its other rows sum to zero;
- unchanged: ``length``, chroma (each frame is normalised to its peak and the tuning estimate compares
  pitch-peak magnitudes with each other), spectral centroid, bandwidth and rolloff (ratios of magnitudes),
  zero-crossing rate (signs), ``tempo`` (differences of dB values), the variance of every MFCC and the
  mean of MFCCs 2-20.

The transform is exact up to float32 rounding (at most 6e-7 of a feature's spread, its magnitude or for a
mean its standard deviation, on the GTZAN windows tested) as long as

- nothing clips: g * x stays within full scale, or is kept as float beyond it;
- the dB conversion's ``amin`` floor (1e-10 = -100 dB) stays under the top_db floor: the window's loudest
  mel band must be at least -20 dB at gain 1 and at gain g (``is_exact``). Below that, bands that reach
  -100 dB stop moving with the gain and the MFCCs (means and variances) and tempo drift. On the GTZAN
  windows the loudest band lies 41-53 dB above the window's RMS level in dBFS, so the floor is reached
  only near -60 dBFS, the daemon's silence threshold; digital silence is at it at every gain;
- samples stay clear of the zero-crossing threshold (1e-10): a sample that a gain moves across it can
  change a crossing. 16-bit audio has no nonzero sample below 3e-5, so this needs gains under -110 dB;
  in float audio about one sample in (g * RMS) / 1e-10 is that close to zero (one in 1e9 at -20 dBFS).

Rounding can in principle move a discrete value (a frame's rolloff bin, the tuning histogram's peak, the
tempo's BPM bin) when it sits on a decision boundary to within 1e-7; the tests have not seen it happen.
"""

from __future__ import annotations

import math

import numpy as np

from gtzan.features import FEATURE_NAMES
from gtzan.features import frames as fr
from gtzan.features.window import centred_frames

LINEAR = ("rms_mean", "harmony_mean", "perceptr_mean")
QUADRATIC = ("rms_var", "harmony_var", "perceptr_var")
DB_SHIFTED = ("mfcc1_mean",)
MFCC1_PER_DB = math.sqrt(fr.N_MELS)  # mfcc1_mean moves by this much per dB of gain
AMIN_DB = 10.0 * math.log10(fr.AMIN)  # -100 dB
LOUDEST_BAND_MIN_DB = AMIN_DB + fr.TOP_DB  # -20 dB: below it the amin floor shows through the top_db clip

_EXPONENT = np.zeros(len(FEATURE_NAMES))
_EXPONENT[[FEATURE_NAMES.index(n) for n in LINEAR]] = 1.0
_EXPONENT[[FEATURE_NAMES.index(n) for n in QUADRATIC]] = 2.0
_MFCC1 = FEATURE_NAMES.index("mfcc1_mean")


def gain_db(g: float | np.ndarray) -> np.ndarray:
    """20*log10(g) for gains g > 0."""
    g = np.asarray(g, dtype=np.float64)
    if not np.all(np.isfinite(g) & (g > 0)):
        raise ValueError("gains must be finite and positive")
    return 20.0 * np.log10(g)


def apply_gain(features: np.ndarray, g: float | np.ndarray) -> np.ndarray:
    """The features of the audio times g, from the features at gain 1 (FEATURE_NAMES order, last axis).

    ``features`` is one 58-vector or a table (n, 58); ``g`` a scalar or one gain per row (n,). Exact under
    the conditions in the module docstring; returns a new float64 array.
    """
    f = np.array(features, dtype=np.float64)
    if f.shape[-1] != len(FEATURE_NAMES):
        raise ValueError(f"need {len(FEATURE_NAMES)} features on the last axis, got shape {f.shape}")
    db = gain_db(g)
    f *= np.asarray(g, dtype=np.float64)[..., None] ** _EXPONENT
    f[..., _MFCC1] += MFCC1_PER_DB * db
    return f


def loudest_band_db(y: np.ndarray) -> float:
    """The window's loudest mel band in dB (what its top_db clip is relative to)."""
    return float(fr.analyze(*centred_frames(np.asarray(y, dtype=np.float32))).db_max.max())


def is_exact(loudest_db: float | np.ndarray, g: float | np.ndarray) -> np.ndarray:
    """Whether apply_gain is exact (without clipping) for windows whose ``loudest_band_db`` at gain 1 is given."""
    low = np.asarray(loudest_db, dtype=np.float64) + np.minimum(gain_db(g), 0.0)
    return low >= LOUDEST_BAND_MIN_DB


LEVEL_RMS = 0.1  # the level every window is brought to by at_level (about GTZAN's median rms_mean)


def at_level(features: np.ndarray, rms: float = LEVEL_RMS) -> np.ndarray:
    """The features each window would have at the gain that makes its ``rms_mean`` equal ``rms``.

    Models fed these cannot tell a quiet recording from a loud one: the answer no longer depends on the
    volume (up to clipping and the floors in the module docstring), at the price of the information the
    level carried. A window with ``rms_mean`` 0 (digital silence) is left as it is.
    """
    f = np.asarray(features, dtype=np.float64)
    level = f[..., FEATURE_NAMES.index("rms_mean")]
    g = np.where(level > 0, rms / np.where(level > 0, level, 1.0), 1.0)
    return apply_gain(f, g)
