"""A study on disk: written once by ``distill``/``demo``/the study scripts, read by ``report`` and users.

Layout of a saved study folder::

    study.json          what was run and every model's measurements (format bert2sk-study/1)
    results.csv         the results table, one row per model
    RESULTS.md          the same table in markdown
    predictions.npz     the test labels and every model's test probabilities
    teacher/            the teacher's test logits with their texts (TeacherScores.save)
    students/           one bundle per student (.skops + .card.json, or a model folder)

Nothing in it names the machine: the teacher is named by its folder name
and fingerprint. The folder is written beside the target and swapped in,
so an interrupted save leaves the previous study whole.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_dir, json_default
from ..errors import InputError, ModelFileError
from ..persistence import load_student, save_student
from ..teacher.stored import load_logits, save_logits
from .result import ModelEntry, StudyResult

__all__ = ["save_study", "load_study", "slug", "STUDY_FORMAT"]

logger = logging.getLogger(__name__)

STUDY_FORMAT = "bert2sk-study/1"
_MEASURES = ("size_bytes", "latency_ms", "latency_std_ms", "batch_ms_per_1000", "fit_seconds", "deferred")


def slug(name: str) -> str:
    """A model's file name, one path component whatever the name holds.

    Examples
    --------
    >>> slug("distilled · linear · tfidf · soft targets")
    'distilled-linear-tfidf-soft_targets'
    >>> slug("distilled · transformer · text · kd 3/6 layers · onnx int8")
    'distilled-transformer-text-kd_3_6_layers-onnx_int8'
    """
    return re.sub(r"[^A-Za-z0-9._+-]", "_", name.replace(" · ", "-").replace(" ", "_"))


def display_source(source: str) -> str:
    """A teacher named without the machine: a folder's name, or a hub id as given."""
    p = Path(str(source))
    return p.name if p.is_absolute() or p.exists() else str(source)


def _num(v: Any) -> float | None:
    f = float(v)
    return f if math.isfinite(f) else None


def _entry_record(m: ModelEntry) -> dict[str, Any]:
    rec: dict[str, Any] = {k: getattr(m, k) for k in ("name", "role", "family", "kind", "features", "bundle")}
    rec.update({k: _num(getattr(m, k)) for k in _MEASURES})
    rec["thresholds"] = np.asarray(m.thresholds, dtype=float).tolist()
    return rec


def _save_students(result: StudyResult, root: Path) -> None:
    for m in result.entries():
        if m.scorer is None:
            continue
        row = result.table.loc[m.name] if m.name in result.table.index else None
        card = m.card(result.task, result.label_names, row)
        card.update(teacher=display_source(result.teacher_source), teacher_fingerprint=result.teacher_fingerprint)
        path = save_student(root / "students" / slug(m.name), m.scorer, card)
        m.bundle = path.relative_to(root).as_posix()


def _write_study(result: StudyResult, root: Path) -> None:
    _save_students(result, root)
    # the format TeacherScores.load reads: the study's teacher can stand in for the model on these texts
    size = result.models["teacher"].size_bytes
    save_logits(root / "teacher", {"test": result.teacher_logits_test},
                {"label_names": list(result.label_names), "task": result.task,
                 "source": display_source(result.teacher_source), "fingerprint": result.teacher_fingerprint,
                 "size_bytes": _num(size), "thresholds": _teacher_thresholds(result)},
                texts={"test": list(result.test_texts)}, dtype="float32")
    names = list(result.models)
    buf = io.BytesIO()
    np.savez_compressed(buf, y_test=np.asarray(result.y_test),
                        **{f"proba_{i}": result.models[n].proba.astype(np.float32) for i, n in enumerate(names)})
    (root / "predictions.npz").write_bytes(buf.getvalue())
    result.table.to_csv(root / "results.csv")
    (root / "RESULTS.md").write_text(f"# {result.title}\n\n{result.scenario}\n\n{result.to_markdown()}")
    meta = {"format": STUDY_FORMAT, "title": result.title, "scenario": result.scenario, "task": result.task,
            "label_names": list(result.label_names), "teacher": display_source(result.teacher_source),
            "teacher_fingerprint": result.teacher_fingerprint, "n_train": int(result.n_train),
            "n_labelled": int(result.n_labelled), "timings": {k: float(v) for k, v in result.timings.items()},
            "settings": result.settings, "models": [_entry_record(result.models[n]) for n in names]}
    (root / "study.json").write_text(json.dumps(meta, indent=2, default=json_default))


def _teacher_thresholds(result: StudyResult) -> Any:
    th = result.models["teacher"].thresholds
    return None if result.task != "multilabel" else np.broadcast_to(th, (len(result.label_names),))


#: what a study folder may hold besides a study (files that earlier versions and the report write there)
_OURS = {"study.json", "results.csv", "RESULTS.md", "predictions.npz", "teacher", "students", "report.html"}


def _check_replaceable(root: Path) -> None:
    if not root.exists():
        return
    if not root.is_dir():
        raise InputError(f"{root} is a file; save the study to a folder")
    foreign = sorted(p.name for p in root.iterdir() if p.name not in _OURS and not p.name.startswith("."))
    if foreign:
        raise InputError(f"{root} holds files that are not a bert2sk study ({', '.join(foreign[:3])}); "
                         "save the study to a new or empty folder")


def save_study(result: StudyResult, directory: str | os.PathLike) -> Path:
    """Write ``result`` to ``directory``, replacing a study there only once the new one is whole.

    A folder holding anything but a bert2sk study is refused, never replaced;
    a report of the previous study there goes with it (write a new one).

    Examples
    --------
    See :func:`load_study`.
    """
    root = Path(directory)
    _check_replaceable(root)
    return atomic_dir(root, lambda tmp: _write_study(result, tmp))


def _read_meta(root: Path) -> dict[str, Any]:
    path = root / "study.json"
    if not path.is_file():
        raise ModelFileError(f"no saved study in {root} (study.json is missing); point at the folder written by "
                             "`bert2sk distill --out` or StudyResult.save")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ModelFileError(f"{path} is not valid JSON; rerun the study that wrote it") from None
    if not isinstance(meta, dict) or meta.get("format") != STUDY_FORMAT:
        raise ModelFileError(f"{path} is not a bert2sk study ({STUDY_FORMAT}); rerun the study with this version")
    return meta


def _entry(rec: dict[str, Any], proba: np.ndarray, root: Path, encoder: Any | None) -> ModelEntry:
    scorer = None
    if rec.get("bundle"):
        # an embedding student whose encoder is absent still loads: the report only runs it when the teacher is given
        scorer, _ = load_student(root / rec["bundle"], encoder=encoder, require_encoder=False)
    th = np.asarray(rec.get("thresholds", 0.5), dtype=float)
    measures = {k: (float("nan") if rec.get(k) is None else float(rec[k])) for k in _MEASURES}
    return ModelEntry(rec["name"], rec["role"], rec["family"], rec["kind"], rec["features"], proba, scorer=scorer,
                      thresholds=th if th.ndim else float(th), bundle=rec.get("bundle"), **measures)


def _teacher_scorer(teacher: Any, fingerprint: str, settings: dict[str, Any]) -> Any:
    from ..teacher import Teacher

    if not hasattr(teacher, "predict_proba"):
        teacher = Teacher.from_pretrained(teacher, progress=False, **settings)
    if fingerprint and getattr(teacher, "fingerprint", fingerprint) != fingerprint:
        raise InputError(f"this teacher (fingerprint {teacher.fingerprint}) is not the one the study was run with "
                         f"({fingerprint}); pass the teacher that made the study")
    teacher.progress = False
    return lambda texts: teacher.predict_proba(list(texts))


def load_study(directory: str | os.PathLike, teacher: Any | None = None) -> StudyResult:
    """Read a study written by :func:`save_study`, without the teacher unless one is given.

    Parameters
    ----------
    directory : path
    teacher : Teacher, path or None
        The study's teacher, for explanations that run it (LIME on the
        teacher); it must have the fingerprint the study recorded.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from bert2sk.data import Corpus
    >>> from bert2sk.teacher import TeacherScores
    >>> from bert2sk.study import run_study
    >>> texts = ["good film", "bad film", "great plot", "awful plot"] * 3
    >>> corpus = Corpus(texts, np.array([1, 0, 1, 0] * 3), ("neg", "pos"), "binary")
    >>> scores = TeacherScores(texts, np.c_[np.zeros(12), [2.0, -2, 1, -1] * 3], ("neg", "pos"), "binary")
    >>> result = run_study(scores, corpus, corpus, features=("tfidf",), families=("linear",), latency_runs=2)
    >>> folder = result.save(tempfile.mkdtemp() + "/study")
    >>> again = load_study(folder)
    >>> again.table.loc["distilled · linear · tfidf · soft targets", "accuracy"]
    np.float64(1.0)
    """
    import pandas as pd

    root = Path(directory)
    meta = _read_meta(root)
    z, _, texts = load_logits(root / "teacher")
    if not texts or "test" not in texts or "test" not in z:
        raise ModelFileError(f"{root / 'teacher'} holds no test texts and logits; rerun the study that wrote it")
    with np.load(root / "predictions.npz", allow_pickle=False) as npz:
        y_test = npz["y_test"]
        probas = [npz[f"proba_{i}"].astype(np.float64) for i in range(len(meta["models"]))]
    # the teacher's folder is the embedding students' encoder
    encoder = teacher if isinstance(teacher, (str, os.PathLike)) else getattr(teacher, "source_path", None)
    models = {rec["name"]: _entry(rec, p, root, encoder) for rec, p in zip(meta["models"], probas, strict=True)}
    table = pd.read_csv(root / "results.csv", index_col="model")
    return StudyResult(
        title=meta["title"], scenario=meta["scenario"], task=meta["task"], label_names=tuple(meta["label_names"]),
        teacher_source=meta["teacher"], teacher_fingerprint=meta["teacher_fingerprint"], test_texts=texts["test"],
        y_test=y_test, teacher_logits_test=z["test"].astype(np.float64), n_train=meta["n_train"],
        n_labelled=meta["n_labelled"], models=models, table=table, timings=meta.get("timings", {}),
        teacher_scorer=None if teacher is None else _teacher_scorer(
            teacher, meta["teacher_fingerprint"], meta.get("settings", {}).get("teacher", {})),
        settings=meta.get("settings", {}),
    )

