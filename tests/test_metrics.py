"""Metrics: known values, and one table for many models."""

from __future__ import annotations

import numpy as np
import pytest

from bert2sk.errors import InputError
from bert2sk.metrics import evaluate, expected_calibration_error, fidelity, score


def test_perfectly_calibrated_has_zero_ece():
    rng = np.random.default_rng(0)
    p = rng.uniform(size=200_000)
    y = (rng.uniform(size=p.size) < p).astype(int)
    assert expected_calibration_error(np.c_[1 - p, p], y) < 0.01
    assert expected_calibration_error(np.c_[1 - p, p], 1 - y) > 0.3


def test_scores_for_three_tasks():
    z = np.array([[2.0, 0.0, -1.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    from bert2sk.targets import sigmoid, softmax

    mc = score(softmax(z), np.array([0, 1, 2, 1]), "multiclass", z)
    assert mc["accuracy"] == 0.75 and mc["fidelity"] == 1.0 and mc["kl_to_teacher"] == pytest.approx(0)
    y_ml = (z >= 0).astype(int)
    ml = score(sigmoid(z), y_ml, "multilabel", z)
    assert ml["accuracy"] == 1.0 and ml["f1_micro"] == 1.0 and ml["logit_mse"] == pytest.approx(0, abs=1e-6)
    # flipping every logit flips every decision except those exactly at the threshold (z = 0)
    assert fidelity(sigmoid(-z), sigmoid(z), "multilabel") == pytest.approx((z == 0).mean())


def test_evaluate_table_and_errors():
    p = np.array([[0.8, 0.2], [0.3, 0.7]])
    table = evaluate({"a": p, "b": p[:, ::-1]}, np.array([0, 1]), "binary", np.log(p),
                     extra={"a": {"role": "distilled"}})
    assert table.loc["a", "accuracy"] == 1.0 and table.loc["b", "fidelity"] == 0.0
    assert table.loc["a", "role"] == "distilled"
    with pytest.raises(InputError, match="one label per text"):
        score(p, np.array([0]), "binary")


def test_per_class_scores_match_sklearn_and_fidelity_per_class():
    from sklearn.metrics import precision_recall_fscore_support

    from bert2sk.metrics import per_class_scores, top_confusions

    rng = np.random.default_rng(0)
    k = 5
    y = rng.integers(0, k, 300)
    proba = rng.dirichlet(np.ones(k), 300)
    proba[np.arange(150), y[:150]] += 1.0  # half the rows right
    proba /= proba.sum(1, keepdims=True)
    teacher = rng.dirichlet(np.ones(k), 300)
    names = [f"c{i}" for i in range(k)]
    df = per_class_scores(proba, y, "multiclass", names, teacher_proba=teacher)
    p, r, f, s = precision_recall_fscore_support(y, proba.argmax(1), labels=range(k), zero_division=0)
    np.testing.assert_allclose(df[["precision", "recall", "f1", "support"]].to_numpy(), np.c_[p, r, f, s])
    t = teacher.argmax(1)
    for c in range(k):
        assert df["fidelity"].iloc[c] == pytest.approx((proba.argmax(1)[t == c] == c).mean())
    pairs = top_confusions(y, proba.argmax(1), names, top=3)
    counts = {}
    for a, b in zip(y, proba.argmax(1), strict=True):
        if a != b:
            counts[(names[a], names[b])] = counts.get((names[a], names[b]), 0) + 1
    assert [n for *_, n in pairs] == sorted(counts.values(), reverse=True)[:3]
    assert all(counts[(a, b)] == n for a, b, n in pairs)


def test_multilabel_per_label_scores_use_each_sides_thresholds():
    from bert2sk.metrics import fidelity, per_class_scores

    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    student = np.array([[0.6, 0.2], [0.4, 0.7], [0.7, 0.3], [0.2, 0.1]])
    teacher = np.array([[0.9, 0.1], [0.1, 0.8], [0.8, 0.8], [0.1, 0.6]])
    df = per_class_scores(student, y, "multilabel", ["a", "b"], thresholds=np.array([0.5, 0.25]),
                          teacher_proba=teacher, teacher_thresholds=np.array([0.5, 0.7]))
    # student decisions: a=[1,0,1,0], b=[0,1,1,0]; teacher: a=[1,0,1,0], b=[0,1,1,0]
    assert df["f1"].tolist() == [1.0, 1.0] and df["fidelity"].tolist() == [1.0, 1.0]
    assert fidelity(student, teacher, "multilabel", np.array([0.5, 0.25]), np.array([0.5, 0.7])) == 1.0
    assert fidelity(student, teacher, "multilabel", 0.5) < 1.0


def test_tuned_thresholds_separate_informative_labels_and_leave_noise_off():
    from bert2sk.metrics import tune_thresholds

    rng = np.random.default_rng(0)
    n = 4000
    y = (rng.random((n, 2)) < [0.2, 0.03]).astype(int)
    # Label 0 is well separated by a score band below 0.5; label 1 is pure noise.
    p = np.column_stack([0.1 + 0.2 * y[:, 0] + 0.05 * rng.random(n), 0.2 * rng.random(n)])
    t = tune_thresholds(p, y)
    assert 0.15 < t[0] <= 0.31
    # noise: a chance run of positives among the very top scores may win a threshold, never a low one
    assert t[1] > 0.19
    y_new = (rng.random((n, 2)) < [0.2, 0.03]).astype(int)
    p_new = np.column_stack([0.1 + 0.2 * y_new[:, 0] + 0.05 * rng.random(n), 0.2 * rng.random(n)])
    pred = p_new >= t
    assert (pred[:, 0] == y_new[:, 0]).mean() > 0.99 and pred[:, 1].mean() < 0.01
