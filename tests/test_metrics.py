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
