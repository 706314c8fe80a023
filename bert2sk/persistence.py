"""Save and load fitted students: skops files with an explicit trust list, or model folders, plus a card.

A scikit-learn student is ``NAME.skops`` (the fitted pipeline, no pickle)
next to ``NAME.card.json`` (task, label names, features, teacher
fingerprint, metrics, library versions). Loading never trusts a type
bert2sk does not know; a user who trusts a file with other types names
them explicitly. A transformer student is a folder ``NAME/`` (a Hugging
Face model in safetensors, or an ONNX graph) holding the same card as
``bert2sk_student.json``; no code is executed to load either.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Iterable, Mapping
from pathlib import Path

from ._io import atomic_write_bytes
from .errors import InputError, ModelFileError

__all__ = ["save_student", "load_student", "TRUSTED_TYPES", "card_path"]

# Every type a bert2sk student pipeline may contain. Anything else in a file
# is refused unless the caller names it in ``trusted``.
TRUSTED_TYPES: frozenset[str] = frozenset({
    "bert2sk.students.DistilledClassifier",
    "bert2sk.students.SoftTargetClassifier",
    "bert2sk.students.FoldCappedCalibratedCV",
    "bert2sk.features.SentenceEmbeddings",
    "bert2sk.features.clean_text",
    "bert2sk.features.TfidfFeatures",
    "sklearn.pipeline.Pipeline",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.feature_extraction.text.CountVectorizer",
    "sklearn.linear_model._ridge.Ridge",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.linear_model._stochastic_gradient.SGDClassifier",
    "sklearn.linear_model._stochastic_gradient.SGDRegressor",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.tree._tree.Tree",
    "sklearn.svm._classes.LinearSVC",
    "sklearn.svm._classes.LinearSVR",
    "sklearn.svm._classes.SVR",
    "sklearn.svm._classes.SVC",
    "sklearn.calibration.CalibratedClassifierCV",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.multioutput.MultiOutputRegressor",
    "sklearn.multiclass.OneVsRestClassifier",
    "sklearn.preprocessing._label.LabelBinarizer",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.dummy.DummyClassifier",
    "sklearn.utils._metadata_requests.MetadataRequest",
    "builtins.slice",
    "numpy.float32",
    "numpy.float64",
    "numpy.int64",
    "numpy.int32",
    "numpy.dtype",
    "collections.OrderedDict",
    "builtins.dict",
    "builtins.list",
    "builtins.tuple",
    "builtins.str",
    "builtins.int",
    "builtins.float",
    "builtins.bool",
    "numpy.ndarray",
})


def _types_in(source) -> set[str]:
    """Every ``module.Class`` a skops file would build, read from its schema without loading it.

    skops' own check passes most scikit-learn types silently; bert2sk wants
    *its* list to decide, so it reads the whole schema.
    """
    import zipfile

    with zipfile.ZipFile(source) as zf:
        schema = json.loads(zf.read("schema.json"))
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__module__" in node and "__class__" in node:
                found.add(f"{node['__module__']}.{node['__class__']}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def card_path(path: str | os.PathLike) -> Path:
    """Where the JSON card of the student at ``path`` lives."""
    p = Path(path)
    return p.with_name(p.name.removesuffix(".skops") + ".card.json")


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("bert2sk", "scikit-learn", "numpy", "scipy", "skops", "transformers", "torch"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def save_student(path: str | os.PathLike, model, card: Mapping[str, object] | None = None) -> Path:
    """Save a fitted student (usually a ``Pipeline([features, student])``) and its card.

    Parameters
    ----------
    path : path
        ``.skops`` is appended when missing.
    model : estimator
        Fitted; its types must be on :data:`TRUSTED_TYPES` so it can be loaded back.
    card : mapping
        JSON-serialisable facts: task, label_names, features, teacher fingerprint, metrics...

    Returns
    -------
    Path of the ``.skops`` file.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from bert2sk.students import DistilledClassifier
    >>> m = DistilledClassifier().fit(np.eye(4), teacher_logits=np.c_[np.zeros(4), [1, -1, 2, -2]])
    >>> p = save_student(tempfile.mkdtemp() + "/tiny", m, {"task": "binary"})
    >>> loaded, meta = load_student(p)
    >>> meta["task"], loaded.predict(np.eye(4)).tolist()
    ('binary', [1, 0, 1, 0])
    """
    if hasattr(model, "save_bundle"):  # a transformer student: a model folder, not a skops file
        return Path(model.save_bundle(Path(path), {"model_class": type(model).__name__, **(card or {}),
                                                   "versions": _versions()}))
    import skops.io as sio

    path = Path(path)
    if path.suffix != ".skops":
        path = path.with_name(path.name + ".skops")
    import io

    data = sio.dumps(model)
    untrusted = _types_in(io.BytesIO(data)) - TRUSTED_TYPES
    if untrusted:
        raise InputError(
            f"this model holds types bert2sk would refuse to load: {sorted(untrusted)}; "
            "build the student from bert2sk features and scikit-learn estimators"
        )
    meta = {"format": "bert2sk-student/1", "model_class": type(model).__name__, **(card or {}),
            "versions": _versions()}
    try:
        card_bytes = json.dumps(meta, indent=2, default=_json_default).encode()
    except TypeError as exc:
        raise InputError(f"the card is not JSON-serialisable: {exc}") from None
    atomic_write_bytes(path, data)
    atomic_write_bytes(card_path(path), card_bytes)
    return path


def _json_default(obj):
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def load_student(path: str | os.PathLike, trusted: Iterable[str] = ()) -> tuple[object, dict]:
    """Load a student saved by :func:`save_student`; returns ``(model, card)``.

    Only types on :data:`TRUSTED_TYPES` (plus ``trusted``, which you name
    explicitly) are loaded; a foreign or corrupt file raises
    :class:`~bert2sk.errors.ModelFileError`.
    """
    import zipfile

    import skops.io as sio

    path = Path(path)
    if path.is_dir():
        return _load_bundle(path)
    if not path.exists() and path.with_name(path.name + ".skops").exists():
        path = path.with_name(path.name + ".skops")
    if not path.is_file():
        raise ModelFileError(f"no student file at {path}; pass the .skops file written by `bert2sk distill`")
    try:
        present = _types_in(path)
        untrusted = sio.get_untrusted_types(file=path)
    except (zipfile.BadZipFile, KeyError, ValueError, json.JSONDecodeError, EOFError, OSError):
        raise ModelFileError(
            f"{path} is not a readable skops file (corrupt, truncated or another format); "
            "re-save the student with bert2sk"
        ) from None
    allowed = TRUSTED_TYPES | set(trusted)
    refused = sorted((present | set(untrusted)) - allowed)
    if refused:
        raise ModelFileError(
            f"{path} contains types bert2sk does not trust: {refused[:8]}; load it only if you made it, "
            "by naming them: load_student(path, trusted=[...])"
        )
    try:
        model = sio.load(path, trusted=sorted(set(untrusted)))
    except Exception as exc:  # skops raises many types for damaged payloads
        raise ModelFileError(f"{path} could not be loaded ({type(exc).__name__}: {exc}); re-save the student") from None
    card: dict = {}
    cp = card_path(path)
    if cp.exists():
        try:
            card = json.loads(cp.read_text())
        except json.JSONDecodeError:
            raise ModelFileError(f"the card {cp} is not valid JSON; re-save the student or delete the card") from None
    return model, card


_BUNDLE_CARD = "bert2sk_student.json"


def _load_bundle(path: Path) -> tuple[object, dict]:
    """A student saved as a folder: read its card, then let its kind load it (weights only, no code)."""
    try:
        fmt = json.loads((path / _BUNDLE_CARD).read_text()).get("format")
    except (OSError, json.JSONDecodeError, AttributeError):
        raise ModelFileError(f"{path} is a folder without a readable {_BUNDLE_CARD}, so it is not a saved "
                             "student; pass a .skops file or a student folder written by bert2sk") from None
    from .students.onnx import ONNX_FORMAT, OnnxStudent
    from .students.transformer import TRANSFORMER_FORMAT, TransformerStudent

    loaders = {TRANSFORMER_FORMAT: TransformerStudent.load_bundle, ONNX_FORMAT: OnnxStudent.load_bundle}
    if fmt not in loaders:
        raise ModelFileError(f"{path} holds a {fmt!r} model that this bert2sk cannot load; upgrade bert2sk")
    return loaders[fmt](path)
