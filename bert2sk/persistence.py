"""Save and load fitted students: skops files with an explicit trust list, or model folders, plus a card.

A scikit-learn student is ``NAME.skops`` (the fitted pipeline, no pickle)
next to ``NAME.card.json`` (task, label names, features, teacher
fingerprint, metrics, library versions). Loading never trusts a type
bert2sk does not know; a user who trusts a file with other types names
them explicitly. A transformer student is a folder ``NAME/`` (a Hugging
Face model in safetensors, or an ONNX graph) holding the same card as
``bert2sk_student.json``; no code is executed to load either.

Bundles are portable: TF-IDF students carry everything they need. A
student on sentence embeddings needs its encoder (the teacher's, or the
packaged MiniLM), too big to copy into every bundle; its card names the
encoder by folder name and content fingerprint (plus a path relative to the
bundle when the encoder sits nearby), never by a machine path. Loading finds
it (``encoder=``, that relative path, the packaged encoder, the bert2sk cache
folder) and checks the fingerprint, or says in one line which encoder to
supply and how.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Iterable, Mapping
from pathlib import Path

from ._io import atomic_write_bytes, json_default
from .errors import InputError, ModelFileError

__all__ = ["save_student", "load_student", "TRUSTED_TYPES", "card_path", "encoder_fingerprint"]

# Every type a bert2sk student pipeline may contain. Anything else in a file
# is refused unless the caller names it in ``trusted``.
TRUSTED_TYPES: frozenset[str] = frozenset({
    "bert2sk.students.DistilledClassifier",
    "bert2sk.students.SoftTargetClassifier",
    "bert2sk.students.FoldCappedCalibratedCV",
    "bert2sk.features.SentenceEmbeddings",
    "bert2sk.features.StaticFeatures",
    "bert2sk.features.clean_text",
    "bert2sk.features.TfidfFeatures",
    "sklearn.pipeline.Pipeline",
    "sklearn.pipeline.FeatureUnion",
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
    if hasattr(model, "save_bundle"):  # a transformer student or a cascade: a folder, not a skops file
        return Path(model.save_bundle(Path(path), {"model_class": type(model).__name__, **(card or {}),
                                                   "versions": _versions()}))
    import skops.io as sio

    path = Path(path)
    if path.suffix != ".skops":
        path = path.with_name(path.name + ".skops")
    import io

    encoders = _encoder_steps(model)
    facts = [_encoder_facts(step.model, path.parent) for step in encoders]
    with _portable_encoders(encoders, facts):
        data = sio.dumps(model)
    untrusted = _types_in(io.BytesIO(data)) - TRUSTED_TYPES
    if untrusted:
        raise InputError(
            f"this model holds types bert2sk would refuse to load: {sorted(untrusted)}; "
            "build the student from bert2sk features and scikit-learn estimators"
        )
    meta = {"format": "bert2sk-student/1", "model_class": type(model).__name__, **(card or {}),
            "versions": _versions()}
    if facts:
        meta["encoder"] = facts[0]
    try:
        card_bytes = json.dumps(meta, indent=2, default=json_default).encode()
    except TypeError as exc:
        raise InputError(f"the card is not JSON-serialisable: {exc}") from None
    atomic_write_bytes(path, data)
    atomic_write_bytes(card_path(path), card_bytes)
    return path


def load_student(path: str | os.PathLike, trusted: Iterable[str] = (), encoder: str | os.PathLike | None = None,
                 *, require_encoder: bool = True) -> tuple[object, dict]:
    """Load a student saved by :func:`save_student`; returns ``(model, card)``.

    Only types on :data:`TRUSTED_TYPES` (plus ``trusted``, which you name
    explicitly) are loaded; a foreign or corrupt file raises
    :class:`~bert2sk.errors.ModelFileError`.

    Parameters
    ----------
    path : path
        The ``.skops`` file (or a student folder).
    trusted : iterable of str
        Further types you trust in this file.
    encoder : path or None
        The encoder folder of a student on sentence embeddings, when it is not
        where the card says (``--encoder PATH`` on the command line). It must
        have the fingerprint the card records.
    require_encoder : bool
        ``False`` loads an embedding student whose encoder cannot be found
        (its saved numbers are still readable; scoring texts needs the encoder).
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
    for step in _encoder_steps(model):
        found = _find_encoder(step.model, card.get("encoder"), path.parent, encoder, require_encoder)
        if found is not None:
            step.model = found
    return model, card


def _load_bundle(path: Path) -> tuple[object, dict]:
    """A student saved as a folder: read its card, then let its kind load it (weights only, no code)."""
    from .students.bundle import read_card

    fmt = read_card(path).get("format")
    from .students.cascade import CASCADE_FORMAT, CascadeClassifier
    from .students.onnx import ONNX_FORMAT, OnnxStudent
    from .students.transformer import TRANSFORMER_FORMAT, TransformerStudent

    loaders = {TRANSFORMER_FORMAT: TransformerStudent.load_bundle, ONNX_FORMAT: OnnxStudent.load_bundle,
               CASCADE_FORMAT: CascadeClassifier.load_bundle}
    if fmt not in loaders:
        raise ModelFileError(f"{path} holds a {fmt!r} model that this bert2sk cannot load; upgrade bert2sk")
    return loaders[fmt](path)


# --------------------------------------------------------------------------- encoders of embedding students

_PACKAGED = "packaged all-MiniLM-L6-v2"
_MAX_UPS = 4  # a relative encoder path climbs at most this many folders (a study beside its teacher); else none
# what decides an encoder's vectors: its weights and its vocabulary (config.json also records versions and
# label names, which re-saving changes, so it is left out)
_FINGERPRINTED = (".safetensors", ".bin", "vocab.txt", "tokenizer.json", "spiece.model", "sentencepiece.bpe.model",
                  "merges.txt", "vocab.json")
_fingerprints: dict[tuple, str] = {}


def encoder_fingerprint(directory: str | os.PathLike) -> str:
    """A content fingerprint of an encoder folder: SHA-256 of its weight and vocabulary files (first 16 hex digits).

    Two folders with the same files give the same fingerprint wherever they
    are; re-saving with another library version (config.json) does not change it.
    """
    import hashlib

    root = Path(directory)
    files = sorted(f for f in root.iterdir() if f.is_file() and f.name.endswith(_FINGERPRINTED))
    key = (str(root.resolve()), tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files))
    if key not in _fingerprints:
        h = hashlib.sha256()
        for f in files:
            h.update(f.name.encode() + b"\0")
            with f.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        _fingerprints[key] = h.hexdigest()[:16]
    return _fingerprints[key]


def _encoder_steps(model) -> list:
    """The sentence-embedding featurizers in a student (a pipeline's steps, or the model itself)."""
    from .features import SentenceEmbeddings

    steps = [s for _, s in getattr(model, "steps", [])] or [model]
    return [s for s in steps if isinstance(s, SentenceEmbeddings)]


def _packaged_path() -> Path | None:
    try:
        from .teacher.model import packaged_encoder_path

        return Path(packaged_encoder_path()).resolve()
    except Exception:  # noqa: BLE001 - no packaged encoder: then nothing is "the packaged one"
        return None


def _encoder_facts(model: str | None, bundle_dir: Path) -> dict:
    """The card's ``encoder`` entry: name, fingerprint, packaged or not, and a nearby relative path."""
    packaged = _packaged_path()
    src = Path(model).expanduser().resolve() if model else packaged
    if src is None or not src.is_dir():
        return {"name": Path(str(model)).name if model else _PACKAGED, "fingerprint": None, "packaged": model is None}
    if packaged is not None and src == packaged:
        return {"name": _PACKAGED, "fingerprint": encoder_fingerprint(src), "packaged": True}
    facts = {"name": src.name, "fingerprint": encoder_fingerprint(src), "packaged": False}
    try:
        rel = Path(os.path.relpath(src, bundle_dir.resolve()))
    except ValueError:  # another drive
        rel = None
    if rel is not None and rel.parts.count("..") <= _MAX_UPS:
        facts["path"] = rel.as_posix()
    return facts


class _portable_encoders:  # noqa: N801 - used as a context manager, named like one
    """While saving, each encoder step names its encoder (folder name, or None for the packaged one), not a path."""

    def __init__(self, steps: list, facts: list[dict]) -> None:
        self.steps, self.facts, self.saved = steps, facts, []

    def __enter__(self) -> None:
        self.saved = [s.model for s in self.steps]
        for s, f in zip(self.steps, self.facts, strict=True):
            s.model = None if f["packaged"] else f["name"]

    def __exit__(self, *exc) -> None:
        for s, m in zip(self.steps, self.saved, strict=True):
            s.model = m


def _cache_root() -> Path:
    # the folder `bert2sk demo` keeps its teacher in (bert2sk.demo.cache_dir, which sits downstream of this module)
    return Path(os.environ.get("BERT2SK_CACHE") or Path("~/.cache/bert2sk").expanduser())


def _candidates(stored: str | None, facts: dict, bundle_dir: Path) -> list[Path]:
    """Where an encoder may be, most specific first."""
    out = []
    if facts.get("path"):
        out.append(bundle_dir / facts["path"])
    if facts.get("packaged"):
        packaged = _packaged_path()
        out += [packaged] if packaged is not None else []
    if facts.get("name"):
        out.append(_cache_root() / facts["name"])
    if stored and not facts:  # a student saved before bundles named their encoder holds a path
        out.append(Path(stored).expanduser())
    return out


def _find_encoder(stored: str | None, facts: dict | None, bundle_dir: Path, given: str | os.PathLike | None,
                  required: bool) -> str | None:
    """The encoder folder to use, checked against the card's fingerprint; ``None`` keeps the stored value."""
    facts = dict(facts or {})
    want = facts.get("fingerprint")
    if given is not None:
        return _check_given(Path(given).expanduser(), facts)
    if not facts and stored is None:
        return None  # an old student on the packaged encoder
    for cand in _candidates(stored, facts, bundle_dir):
        if cand.is_dir() and (want is None or encoder_fingerprint(cand) == want):
            return str(cand.resolve())
    if not required or (facts and want is None):  # a hub id (no folder to fingerprint) stays as it was saved
        return None
    name = facts.get("name") or Path(str(stored)).name
    fp = f" (fingerprint {want})" if want else ""
    raise ModelFileError(f"this student embeds texts with the encoder {name!r}{fp}, which is not where its card "
                         "says; supply that encoder's folder: --encoder PATH on the command line, "
                         "load_student(path, encoder=PATH) in Python")


def _check_given(path: Path, facts: dict) -> str:
    if not path.is_dir():
        raise ModelFileError(f"encoder folder not found: {path}; pass the folder of the model the student was "
                             f"fitted on ({facts.get('name', 'its teacher')})")
    want = facts.get("fingerprint")
    if want and encoder_fingerprint(path) != want:
        raise ModelFileError(f"{path.name} (fingerprint {encoder_fingerprint(path)}) is not the encoder this student "
                             f"was fitted on ({facts.get('name')!r}, fingerprint {want}); pass that one")
    return str(path.resolve())
