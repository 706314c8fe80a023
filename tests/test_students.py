"""Students: the scikit-learn contract, real fitting quality, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC, LinearSVR
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils.estimator_checks import parametrize_with_checks

from bert2sk.errors import InputError
from bert2sk.features import TfidfFeatures
from bert2sk.students import (
    DistilledClassifier,
    FoldCappedCalibratedCV,
    SoftTargetClassifier,
    make_baseline,
    make_distilled,
)

_LIBLINEAR_WEIGHTS = "liblinear's solver is not exactly sample-weight equivalent (the inner estimator fails too)"
_TREE_PROBA = "a pure tree leaf gives probability exactly 0, which this multilabel format check rejects"

STUDENTS = [
    DistilledClassifier(),
    DistilledClassifier(DecisionTreeRegressor(max_depth=4, random_state=0)),
    DistilledClassifier(LinearSVR(random_state=0)),
    DistilledClassifier(Ridge(), temperature=2.0, alpha=0.3),
    SoftTargetClassifier(),
    SoftTargetClassifier(DecisionTreeClassifier(max_depth=4, random_state=0)),
    SoftTargetClassifier(LinearSVC(random_state=0)),
    SoftTargetClassifier(LogisticRegression(max_iter=500), temperature=2.0, alpha=0.5),
    FoldCappedCalibratedCV(LinearSVC(random_state=0), cv=3),
]


def _expected_failures(est) -> dict[str, str]:
    inner = type(est.estimator).__name__
    if inner in ("LinearSVR", "LinearSVC"):
        return {"check_sample_weight_equivalence_on_dense_data": _LIBLINEAR_WEIGHTS,
                "check_sample_weight_equivalence_on_sparse_data": _LIBLINEAR_WEIGHTS}
    if isinstance(est, SoftTargetClassifier) and inner == "DecisionTreeClassifier":
        return {"check_classifiers_multilabel_output_format_predict_proba": _TREE_PROBA}
    return {}


@parametrize_with_checks(STUDENTS, expected_failed_checks=_expected_failures)
def test_sklearn_contract(estimator, check):
    check(estimator)


def _linear_teacher(task: str, n: int = 400, k: int = 3, seed: int = 0):
    """Features and teacher logits that a linear student can represent exactly."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8))
    if task == "binary":
        W = rng.normal(size=(8, 1)) * 2
        z = np.c_[np.zeros(n), X @ W]
    else:
        z = X @ (rng.normal(size=(8, k)) * 2)
    return X, z


@pytest.mark.parametrize("task", ["binary", "multiclass", "multilabel"])
@pytest.mark.parametrize("kind", ["regression", "soft"])
def test_linear_student_reaches_high_fidelity(task, kind):
    X, z = _linear_teacher(task)
    Xtr, Xte, ztr, zte = X[:300], X[300:], z[:300], z[300:]
    if kind == "regression":
        student = DistilledClassifier(Ridge(alpha=1e-3), task=task if task == "multilabel" else "auto")
    else:
        student = SoftTargetClassifier(LogisticRegression(C=100, max_iter=2000),
                                       task=task if task == "multilabel" else "auto")
    student.fit(Xtr, teacher_logits=ztr)
    pred = student.predict(Xte)
    if task == "multilabel":
        agreement = (pred == (zte > 0)).mean()
    else:
        agreement = (pred == zte.argmax(1)).mean()
    assert agreement >= 0.95, agreement
    if kind == "regression":
        # regression on logits recovers the teacher's logits themselves, not only its decisions
        d = student.decision_function(Xte)
        target = zte[:, 1] - zte[:, 0] if task == "binary" else (
            zte - zte.mean(1, keepdims=True) if task == "multiclass" else zte)
        assert np.corrcoef(d.ravel(), target.ravel())[0, 1] > 0.99


def test_unlabelled_rows_use_teacher_and_alpha_mixes_labels():
    X, z = _linear_teacher("binary")
    y = np.full(len(X), -1)
    y[:20] = (z[:20, 1] > 0).astype(int)
    a = DistilledClassifier(alpha=0.0).fit(X, y, teacher_logits=z)
    b = DistilledClassifier(alpha=0.9).fit(X, y, teacher_logits=z)
    assert not np.allclose(a.decision_function(X), b.decision_function(X))
    assert (a.predict(X) == z.argmax(1)).mean() > 0.95


def test_string_classes_map_to_teacher_columns():
    X, z = _linear_teacher("binary")
    y = np.where(z.argmax(1) == 1, "pos", "neg").astype(object)
    y[50:] = -1
    student = SoftTargetClassifier().fit(X, y, teacher_logits=z)
    assert student.classes_.tolist() == ["neg", "pos"]
    assert set(student.predict(X)) <= {"neg", "pos"}


def test_text_pipeline_gridsearch_and_clone(sentiment):
    texts, y = sentiment
    logits = np.c_[np.zeros(len(y)), np.where(y == 1, 3.0, -3.0)]
    pipe = Pipeline([("tfidf", TfidfFeatures(min_df=1)), ("student", DistilledClassifier(Ridge()))])
    search = GridSearchCV(pipe, {"student__estimator__alpha": [0.1, 1.0]}, cv=3)
    search.fit(texts, y, student__teacher_logits=logits)
    assert search.best_score_ > 0.9
    c = clone(search.best_estimator_)
    assert c.get_params()["student__estimator__alpha"] in (0.1, 1.0)


@pytest.mark.parametrize("family", ["linear", "tree", "svm"])
def test_factories_fit(family, sentiment):
    texts, y = sentiment
    vec = TfidfFeatures(min_df=1).fit(texts)
    X = vec.transform(texts)
    logits = np.c_[np.zeros(len(y)), np.where(y == 1, 2.0, -2.0)]
    assert make_baseline(family).fit(X, y).score(X, y) > 0.8
    for kind in ("regression", "soft"):
        assert make_distilled(family, kind).fit(X, teacher_logits=logits).score(X, y) > 0.8


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"teacher_logits": np.zeros((5, 2))}, "one row per sample"),
        ({"teacher_logits": np.full((10, 2), np.nan)}, "NaN"),
        ({"y": np.zeros(7)}, "y has 7 rows"),
        ({}, "requires y to be passed"),
        ({"y": np.array(["a"] * 5 + ["zzz"] * 5, dtype=object), "teacher_logits": np.zeros((10, 3))},
         "cannot match the labels"),
    ],
)
def test_bad_input_names_the_fix(kwargs, message):
    X = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(InputError, match=message):
        DistilledClassifier().fit(X, **kwargs)


def test_bad_hyperparameters():
    X, z = _linear_teacher("binary", n=20)
    with pytest.raises(InputError, match="temperature"):
        DistilledClassifier(temperature=0).fit(X, teacher_logits=z)
    with pytest.raises(InputError, match="alpha"):
        SoftTargetClassifier(alpha=2.0).fit(X, teacher_logits=z)
    with pytest.raises(InputError, match="task"):
        DistilledClassifier(task="regression").fit(X, teacher_logits=z)
    with pytest.raises(InputError, match="sample_weight"):
        from sklearn.neighbors import KNeighborsClassifier

        SoftTargetClassifier(KNeighborsClassifier()).fit(X, teacher_logits=z)


def test_svm_student_is_a_real_svr_not_ridge():
    """The svm regression student must use the SVR loss: outlying teacher logits pull it less than ridge."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5))
    margin = X @ np.array([2.0, -1.0, 0.5, 0.0, 1.0])
    noisy = margin.copy()
    noisy[:40] += rng.choice([-30.0, 30.0], size=40)  # 10% wildly wrong teacher scores
    logits = np.c_[np.zeros_like(noisy), noisy]
    svr = make_distilled("svm", features="embeddings").fit(X, teacher_logits=logits)
    ridge = make_distilled("linear", features="embeddings").fit(X, teacher_logits=logits)
    err_svr = np.abs(svr.decision_function(X[40:]) - margin[40:]).mean()
    err_ridge = np.abs(ridge.decision_function(X[40:]) - margin[40:]).mean()
    assert err_svr < 0.5 * err_ridge


def test_svm_baseline_fits_labels_rarer_than_its_folds():
    """One-vs-rest on scarce labels meets labels with 1 or 2 positives; the calibrated SVM must still fit."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6))
    Y = (X[:, :3] > 0).astype(int)
    Y[:, 1] = 0
    Y[[0, 1], 1] = 1  # two positives: two folds
    Y[:, 2] = 0
    Y[5, 2] = 1  # one positive: calibrated on the training rows
    clf = make_baseline("svm", task="multilabel").fit(X, Y)
    assert [e.n_folds_ for e in clf.estimators_] == [3, 2, 1]
    p = clf.predict_proba(X)
    assert p.shape == (200, 3) and np.isfinite(p).all()
    assert ((p[:, 0] > 0.5) == Y[:, 0]).mean() > 0.9
    with pytest.raises(InputError, match="int cv"):
        FoldCappedCalibratedCV(LinearSVC(), cv=[(np.arange(5), np.arange(5))]).fit(X[:5], Y[:5, 0])


def test_multi_output_linear_students_predict_like_their_regressors():
    """The one-check path for linear outputs gives what MultiOutputRegressor.predict gives, dense or sparse."""
    import scipy.sparse as sp

    X, z = _linear_teacher("multiclass", n=120, k=4)
    for feats in (X, sp.csr_matrix(X)):
        student = make_distilled("svm", features="embeddings").fit(feats, teacher_logits=z)
        expected = student.estimator_.predict(feats)
        np.testing.assert_allclose(student.decision_function(feats), expected, rtol=1e-12, atol=1e-12)
        with pytest.raises(ValueError, match="features"):
            student.decision_function(np.ones((2, X.shape[1] + 1)))
