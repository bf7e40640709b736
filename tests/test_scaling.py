"""The log-variance scaler that networks and KNN see (training.scaling)."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.train
pytest.importorskip("sklearn")

from gtzan.features import FEATURE_NAMES  # noqa: E402
from gtzan.training.scaling import LOG_FLOOR, LogVarianceScaler, variance_columns  # noqa: E402


def _rows(n: int = 50) -> np.ndarray:
    rng = np.random.default_rng(1)
    return np.exp(rng.normal(size=(n, len(FEATURE_NAMES))) * 3)


def test_variance_columns_are_logged_then_standardised():
    X = _rows()
    Z = LogVarianceScaler().fit(X).transform(X)
    var = variance_columns()
    assert var.sum() == 28 and not var[0]
    expected = np.where(var, np.log(X + LOG_FLOOR), X)
    np.testing.assert_allclose(Z, (expected - expected.mean(0)) / expected.std(0), rtol=1e-12, atol=1e-12)


def test_without_the_log_it_is_a_standard_scaler():
    from sklearn.preprocessing import StandardScaler

    X = _rows()
    np.testing.assert_allclose(
        LogVarianceScaler(log_variances=False).fit(X).transform(X), StandardScaler().fit(X).transform(X), atol=1e-12
    )


def test_zero_and_constant_columns_stay_finite():
    X = _rows()
    X[:, variance_columns()] = 0.0
    X[:, 0] = 66149.0
    Z = LogVarianceScaler().fit(X).transform(X)
    assert np.all(np.isfinite(Z)) and np.all(Z[:, 0] == 0.0)


def test_wrong_width_is_refused():
    with pytest.raises(ValueError, match="58 features"):
        LogVarianceScaler().fit(np.ones((3, 5)))


def test_a_column_constant_up_to_rounding_is_not_amplified():
    """Rows at one level have rms_mean 0.1 give or take 1e-17: float32 input must not turn that into noise."""
    from gtzan.gain import at_level

    X = at_level(_rows(500) * 1e-3)
    j = FEATURE_NAMES.index("rms_mean")
    assert np.ptp(X[:, j]) < 1e-15
    sc = LogVarianceScaler().fit(X)
    assert sc.scale_[j] == 1.0
    z32 = sc.transform(X.astype(np.float32).astype(np.float64))
    assert np.max(np.abs(z32[:, j])) < 1e-6
