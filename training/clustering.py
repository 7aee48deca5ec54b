"""Scoring a 10-neuron code against the true digits: pure functions on label arrays.

The neurons are unordered, so a confusion matrix (true digit x argmax neuron) is read through a
mapping from neurons to digits: the reference's majority vote (each neuron votes for the digit it
fires on most; two neurons may pick the same digit) or the best one-to-one assignment (Hungarian),
the convention of the clustering literature. NMI and ARI need no mapping at all.
"""

import numpy as np

# scipy.optimize and sklearn.metrics are imported where they are used: together they take about a
# second to import, which the app would otherwise pay at start-up


def confusion(labels: np.ndarray, neurons: np.ndarray, k: int = 10) -> np.ndarray:
    """(k, k) counts: rows are true digits, columns the index of the most active neuron."""
    labels, neurons = np.asarray(labels, np.int64), np.asarray(neurons, np.int64)
    if labels.shape != neurons.shape:
        raise ValueError(f"labels {labels.shape} and neurons {neurons.shape} differ in shape")
    return np.bincount(labels * k + neurons, minlength=k * k).reshape(k, k)


def majority_mapping(cm: np.ndarray) -> np.ndarray:
    """neuron -> digit, each neuron to the digit it fires on most (the reference's method)."""
    return cm.argmax(0)


def hungarian_mapping(cm: np.ndarray) -> np.ndarray:
    """neuron -> digit, one to one, maximising the matched count."""
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(cm, maximize=True)  # rows: digits, cols: neurons
    mapping = np.empty(cm.shape[1], np.int64)
    mapping[cols] = rows
    return mapping


def mapped_accuracy(cm: np.ndarray, mapping: np.ndarray) -> float:
    """Share of images whose neuron maps to their digit, in percent."""
    return float(100 * cm[mapping, np.arange(cm.shape[1])].sum() / cm.sum())


def matched_order(cm: np.ndarray) -> np.ndarray:
    """Neuron order that puts the Hungarian matches on the diagonal (column i = digit i's neuron)."""
    return np.argsort(hungarian_mapping(cm), kind="stable")


def scores(labels: np.ndarray, neurons: np.ndarray) -> dict:
    """Everything the model card and the tab show about a code."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    cm = confusion(labels, neurons)
    majority, matched = majority_mapping(cm), hungarian_mapping(cm)
    return {
        "confusion": cm.tolist(),
        "acc_majority": round(mapped_accuracy(cm, majority), 2),
        "acc_matched": round(mapped_accuracy(cm, matched), 2),
        "mapping_majority": majority.tolist(),
        "mapping_matched": matched.tolist(),
        "nmi": round(float(normalized_mutual_info_score(labels, neurons)), 4),
        "ari": round(float(adjusted_rand_score(labels, neurons)), 4),
        "neurons_used": int((cm.sum(0) > 0).sum()),
    }
