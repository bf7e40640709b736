"""Parity of an exported graph with its model: a KNN's neighbour ties are rounding, not export errors."""

from __future__ import annotations

import numpy as np
import pytest

from gtzan.export.verify import compare, neighbour_ties

KNeighborsClassifier = pytest.importorskip("sklearn.neighbors").KNeighborsClassifier


def test_a_query_halfway_between_two_training_rows_is_a_neighbour_tie() -> None:
    train = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 10.0]])
    knn = KNeighborsClassifier(n_neighbors=1).fit(train, [0, 1, 2])
    x = np.array([[1.0, 0.0], [0.2, 0.0], [9.0, 9.0]])
    assert neighbour_ties(knn, None, x).tolist() == [True, False, False]


def test_excused_rows_agree_and_leave_the_probability_difference() -> None:
    ref = np.array([[1.0, 0.0], [0.8, 0.2], [0.3, 0.7]])
    new = np.array([[0.0, 1.0], [0.8, 0.2], [0.3, 0.7]])  # row 0 took the other neighbour
    strict = compare(ref, new, "original")
    assert strict.max_abs_prob_diff == 1.0 and strict.label_agreement < 1.0
    excused = compare(ref, new, "original", excuse=np.array([True, False, False]))
    assert excused.max_abs_prob_diff == 0.0 and excused.label_agreement == 1.0 and excused.excused_rows == 1
    worse = new.copy()
    worse[2] = [0.9, 0.1]  # a real error elsewhere is still caught
    assert compare(ref, worse, "original", excuse=np.array([True, False, False])).max_abs_prob_diff > 0.5
