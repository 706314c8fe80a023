"""The loop's losses against values computed by hand with NumPy (no torch code in the reference)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bert2sk.errors import InputError
from bert2sk.teacher import classification_loss, distillation_loss


def _t(a, dtype=None):
    import torch

    return torch.tensor(np.asarray(a), dtype=dtype)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _bce_with_logits(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    p = 1 / (1 + np.exp(-z))
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def _numpy_kd(z_s, z_t, y, alpha, temperature) -> float:
    """alpha * CE on labelled rows + (1 - alpha) * T^2 * KL(teacher_T || student_T), mean over all rows."""
    ce = -_log_softmax(z_s)[np.arange(len(y)), np.maximum(y, 0)] * (y >= 0)
    log_t, log_s = _log_softmax(z_t / temperature), _log_softmax(z_s / temperature)
    kl = (np.exp(log_t) * (log_t - log_s)).sum(axis=1)
    return float(np.mean(alpha * ce + (1 - alpha) * temperature**2 * kl))


def test_kd_one_row_by_hand():
    # p_t = (1/4, 3/4), p_s = (1/2, 1/2): KL = 1/4 ln(1/2) + 3/4 ln(3/2)
    z_s, z_t = _t([[0.0, 0.0]]), _t([[0.0, math.log(3.0)]])
    expected = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    got = distillation_loss(z_s, z_t, _t([-1]), "binary", alpha=0.0, temperature=1.0)
    assert float(got) == pytest.approx(expected, abs=1e-6) and expected == pytest.approx(0.130812, abs=1e-6)
    # labelled: alpha * CE adds alpha * ln 2 (the student is 50/50 on the true class)
    got = distillation_loss(z_s, z_t, _t([1]), "binary", alpha=0.25, temperature=1.0)
    assert float(got) == pytest.approx(0.25 * math.log(2) + 0.75 * expected, abs=1e-6)


@pytest.mark.parametrize("alpha,temperature", [(0.5, 2.0), (0.3, 1.0), (1.0, 4.0), (0.0, 0.5)])
def test_kd_multiclass_with_unlabelled_rows_matches_numpy(alpha, temperature):
    rng = np.random.default_rng(0)
    z_s, z_t = rng.normal(0, 2, (6, 4)), rng.normal(0, 2, (6, 4))
    y = np.array([2, -1, 0, 3, -1, 1])
    got = distillation_loss(_t(z_s), _t(z_t), _t(y), "multiclass", alpha=alpha, temperature=temperature)
    assert float(got) == pytest.approx(_numpy_kd(z_s, z_t, y, alpha, temperature), rel=1e-5)
    # no labels at all: only the KL term, still averaged over every row
    got = distillation_loss(_t(z_s), _t(z_t), None, "multiclass", alpha=alpha, temperature=temperature)
    assert float(got) == pytest.approx(_numpy_kd(z_s, z_t, -np.ones(6, int), alpha, temperature), rel=1e-5)


def test_kd_multilabel_matches_numpy():
    rng = np.random.default_rng(1)
    z_s, z_t = rng.normal(0, 2, (5, 3)), rng.normal(0, 2, (5, 3))
    y = np.array([[1, 0, 1], [-1, -1, -1], [0, 0, 0], [0, 1, 1], [-1, -1, -1]])
    labelled = (y >= 0).all(axis=1)
    hard = _bce_with_logits(z_s, np.maximum(y, 0)).mean(axis=1) * labelled
    soft = _bce_with_logits(z_s, 1 / (1 + np.exp(-z_t))).mean(axis=1)
    expected = float(np.mean(0.4 * hard + 0.6 * soft))
    got = distillation_loss(_t(z_s), _t(z_t), _t(y), "multilabel", alpha=0.4, temperature=3.0)
    assert float(got) == pytest.approx(expected, rel=1e-5)  # temperature is not used for multilabel


def test_kd_gradient_vanishes_when_the_student_is_the_teacher():
    import torch

    z = torch.tensor([[0.3, -1.2, 2.0], [1.0, 0.0, -0.5]], requires_grad=True)
    distillation_loss(z, z.detach().clone(), torch.tensor([-1, -1]), "multiclass").backward()
    assert float(z.grad.abs().max()) < 1e-6


def test_kd_refuses_bad_arguments():
    z = _t([[0.0, 1.0]])
    with pytest.raises(InputError, match="alpha"):
        distillation_loss(z, z, None, "binary", alpha=1.5)
    with pytest.raises(InputError, match="temperature"):
        distillation_loss(z, z, None, "binary", temperature=0)
    with pytest.raises(InputError, match="teacher logits.*targets="):
        distillation_loss(z, None, None, "binary")
    with pytest.raises(InputError, match="shape"):
        distillation_loss(z, _t([[0.0, 1.0, 2.0]]), None, "binary")
    with pytest.raises(InputError, match="task"):
        distillation_loss(z, z, None, "regression")


def test_classification_loss_ignores_unlabelled_rows():
    rng = np.random.default_rng(2)
    z = rng.normal(0, 1, (4, 3))
    y = np.array([2, -1, 0, -1])
    expected = float(np.mean(-_log_softmax(z)[[0, 2], [2, 0]]))
    assert float(classification_loss(_t(z), None, _t(y), "multiclass")) == pytest.approx(expected, rel=1e-5)
    ml = np.array([[1, 0, 1], [-1, -1, -1], [0, 1, 0], [0, 0, 0]])
    expected = float(_bce_with_logits(z[[0, 2, 3]], ml[[0, 2, 3]]).mean())
    assert float(classification_loss(_t(z), None, _t(ml), "multilabel")) == pytest.approx(expected, rel=1e-5)
    none = classification_loss(_t(z).requires_grad_(), None, _t([-1, -1, -1, -1]), "multiclass")
    assert float(none.detach()) == 0.0 and none.requires_grad
