"""ONNX export of TF-IDF students: the graph in ONNX Runtime decides as the pipeline, or export refuses and says why."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline
from typer.testing import CliRunner

from bert2sk.errors import InputError
from bert2sk.persistence import save_student
from bert2sk.students import make_baseline, make_distilled

from .test_serve_compiled import _fit, _logits, _texts

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

# texts the tokenizer must get right: markup, repeated words, accents, upper case, digits, underscores, NUL
HARD = ["It is a GOOD film<br />REALLY<BR>good, good", "Café ÉLAN élan naïve — très bien", "x1 22 ___ ab_cd a b c",
        "good\u0000film", "<b>superb</b> plot!!!", "", "...", "tab\tgood\nfilm\u00a0plot", "é a bé"]


def _onnx_proba(path, texts: list[str]) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(["probabilities"], {"text": np.array(texts[i:i + 64], dtype=object)})[0]
                           for i in range(0, len(texts), 64)])


def _agreement(got: np.ndarray, want: np.ndarray) -> float:
    """Share of rows deciding the same class; a row whose top classes tie in the pipeline may pick either."""
    top = np.sort(want, axis=1)
    tie = (top[:, -1] - top[:, -2]) < 1e-6
    same = got.argmax(1) == want.argmax(1)
    return float((same | tie).mean())


@pytest.mark.parametrize(("make", "task"), [
    (lambda: make_distilled("linear"), "binary"),
    (lambda: make_distilled("linear"), "multiclass"),
    (lambda: make_distilled("linear", task="multilabel"), "multilabel"),
    (lambda: make_baseline("linear"), "binary"),
    (lambda: make_distilled("linear", kind="soft"), "multiclass"),
    (lambda: make_distilled("tree"), "binary"),
    (lambda: make_distilled("tree", n_classes=4), "multiclass"),
    (lambda: make_baseline("tree"), "binary"),
], ids=["distilled-linear-binary", "distilled-linear-multiclass", "distilled-linear-multilabel", "baseline-linear",
        "soft-linear-multiclass", "distilled-tree-binary", "distilled-tree-multiclass", "baseline-tree"])
def test_exported_graph_matches_the_pipeline_on_a_test_split(tmp_path, make, task):
    from bert2sk.serve.onnx_export import export_tfidf_onnx

    train, test = _texts()
    test = test + HARD
    pipe = _fit(make(), task, train)
    path = export_tfidf_onnx(pipe, tmp_path / "student.onnx", {"name": "s"})
    got, want = _onnx_proba(path, test), pipe.predict_proba(test)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-4
    assert _agreement(got, want) >= 0.999


def test_unsupported_features_and_students_are_refused_with_the_reason(tmp_path):
    from bert2sk.serve.onnx_export import export_tfidf_onnx

    train, _ = _texts()
    y = _logits(train, "binary").argmax(1)
    odd = Pipeline([("features", TfidfVectorizer(token_pattern=r"\w+", stop_words="english")),
                    ("student", make_baseline("linear"))]).fit(train, y)
    with pytest.raises(InputError, match=r"token_pattern='\\\\w\+'.*stop words"):
        export_tfidf_onnx(odd, tmp_path / "odd.onnx")
    calibrated = Pipeline([("features", TfidfVectorizer()), ("student", make_baseline("svm"))]).fit(train, y)
    with pytest.raises(InputError, match="cannot be exported to ONNX.*calibrated SVM"):
        export_tfidf_onnx(calibrated, tmp_path / "svm.onnx")
    assert not (tmp_path / "odd.onnx").exists() and not (tmp_path / "svm.onnx").exists()


def test_export_command_writes_a_file_that_onnx_runtime_runs(tmp_path):
    from bert2sk.cli import app

    train, test = _texts()
    pipe = _fit(make_distilled("linear"), "binary", train)
    saved = save_student(tmp_path / "student", pipe, {"task": "binary", "label_names": ["neg", "pos"]})
    result = CliRunner().invoke(app, ["export", str(saved), "--onnx", str(tmp_path / "out.onnx")])
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(_onnx_proba(tmp_path / "out.onnx", test[:20]), pipe.predict_proba(test[:20]),
                               atol=1e-5)
