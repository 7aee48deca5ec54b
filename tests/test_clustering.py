"""The neuron-to-digit mappings and scores on hand-made codes."""

import numpy as np
import pytest

from training.clustering import (
    confusion,
    hungarian_mapping,
    majority_mapping,
    mapped_accuracy,
    matched_order,
    scores,
)


def test_permuted_identity_scores_100():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 5000)
    perm = rng.permutation(10)
    s = scores(labels, perm[labels])  # every digit has its own neuron, in a shuffled order
    assert s["acc_majority"] == s["acc_matched"] == 100
    assert s["nmi"] == pytest.approx(1) and s["ari"] == pytest.approx(1)
    assert np.array_equal(np.asarray(s["mapping_matched"])[perm], np.arange(10))
    cm = np.asarray(s["confusion"])
    assert np.array_equal(np.diag(cm[:, matched_order(cm)]), np.bincount(labels, minlength=10))


def test_majority_can_reuse_a_digit_hungarian_cannot():
    # neurons 0 and 1 both fire mostly on digit 0; digit 1 has no neuron of its own
    labels = np.array([0] * 6 + [1] * 4)
    neurons = np.array([0, 0, 0, 1, 1, 1, 0, 0, 1, 1])
    cm = confusion(labels, neurons, k=2)
    assert cm.tolist() == [[3, 3], [2, 2]]
    assert majority_mapping(cm).tolist() == [0, 0]
    assert mapped_accuracy(cm, majority_mapping(cm)) == 60  # all zeros right, all ones wrong
    assert sorted(hungarian_mapping(cm).tolist()) == [0, 1]
    assert mapped_accuracy(cm, hungarian_mapping(cm)) == 50


def test_one_neuron_for_everything():
    labels = np.repeat(np.arange(10), 100)
    s = scores(labels, np.zeros_like(labels))
    assert s["acc_majority"] == s["acc_matched"] == 10
    assert s["neurons_used"] == 1
    assert s["nmi"] == pytest.approx(0) and s["ari"] == pytest.approx(0)


def test_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        confusion(np.zeros(3), np.zeros(4))
