"""A distilled linear student fitted out of core: batches in, bounded memory.

:class:`StreamingDistilledClassifier` is the TF-IDF ridge student of
:mod:`bert2sk.students.estimators` (it regresses the teacher's logit margin,
or centred logits, and predicts through a sigmoid or softmax) rebuilt so
that no step holds the whole training set:

1. the TF-IDF vocabulary and idf weights are fitted on a uniform sample of
   ``vocabulary_sample`` texts (reservoir sampling over one pass), so their
   memory does not grow with the data;
2. the regressor is ``SGDRegressor`` (squared loss, L2, averaged SGD at a
   constant rate), fed with ``partial_fit`` over shuffled batches for
   ``n_epochs`` passes; the first pass's TF-IDF batches are kept on disk for
   the later ones (``spill``), so texts are featurised once.

Memory is that of the sample's vocabulary, one shuffle buffer of texts and
one batch of TF-IDF rows, whatever the number of texts. The student keeps
the vocabulary's feature names and one weight per term, so exact linear
explanations (weight x TF-IDF value) still name words.

:func:`fit_from_shards` streams the parquet shards that
``bert2sk label --engine ray`` writes, joined with the texts of the same
input by ``(source, row)``; the teacher's logits are held in memory
(``4 * n_classes`` bytes a row), the texts are not. ``bert2sk
distill-stream DATA --labels LABELS --out OUT`` runs it from the command
line and saves :meth:`StreamingDistilledClassifier.to_pipeline`, the shape
a study saves its TF-IDF students in.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import SGDRegressor
from sklearn.utils.validation import check_is_fitted

from ..errors import InputError
from ..features.tfidf import TfidfFeatures
from ..targets import logits_to_proba, regression_targets, sigmoid

__all__ = ["StreamingDistilledClassifier", "fit_from_shards", "iter_shard_batches", "labels_manifest"]

Batches = Callable[[], Iterable[tuple[list[str], np.ndarray]]]


def _check_batch(texts, logits) -> tuple[list[str], np.ndarray]:
    texts = list(texts)
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or len(z) != len(texts):
        raise InputError(f"each batch needs one row of teacher logits per text: got {len(texts)} texts and "
                         f"logits of shape {z.shape}")
    if texts and not all(isinstance(t, str) for t in texts):
        raise InputError("texts must be strings; convert or drop non-string entries first")
    return texts, z


def _shuffled(batches: Iterable[tuple[list[str], np.ndarray]], buffer: int, batch_size: int,
              rng: np.random.Generator) -> Iterator[tuple[list[str], np.ndarray]]:
    """Re-batch a stream through a shuffle buffer of ``buffer`` rows (an input sorted by class is mixed)."""
    texts: list[str] = []
    rows: list[np.ndarray] = []

    def emit(final: bool):
        nonlocal texts, rows
        z = np.vstack(rows)
        order = rng.permutation(len(texts))
        keep = 0 if final else min(len(texts), buffer // 2)  # half the buffer stays to mix with what comes
        take, rest = order[:len(order) - keep], order[len(order) - keep:]
        for start in range(0, len(take), batch_size):
            idx = take[start:start + batch_size]
            yield [texts[i] for i in idx], z[idx]
        texts = [texts[i] for i in rest]
        rows = [z[rest]] if len(rest) else []

    for t, z in batches:
        t, z = _check_batch(t, z)
        texts.extend(t)
        rows.append(z)
        if len(texts) >= buffer:
            yield from emit(final=False)
    if texts:
        yield from emit(final=True)


class StreamingDistilledClassifier(ClassifierMixin, BaseEstimator):
    """A distilled TF-IDF linear student fitted batch by batch in bounded memory.

    Parameters
    ----------
    features : text vectoriser, default=TfidfFeatures()
        Fitted once, on the vocabulary sample; must not change afterwards.
    estimator : regressor with ``partial_fit``, default=SGDRegressor(alpha=1e-5, average=True)
        Cloned once per output (the binary margin, or each centred logit).
    vocabulary_sample : int, default=20_000
        Texts (a uniform reservoir sample of the stream) the vocabulary and idf are fitted on.
    n_epochs : int, default=5
        Passes over the data for the regressor.
    batch_size : int, default=2048
        Texts per ``partial_fit`` call.
    shuffle_buffer : int, default=16_384
        Rows mixed before they are batched: a class-sorted input would otherwise
        reach SGD one class at a time.
    temperature : float, default=1.0
        The regressor learns ``logits / temperature``; predictions are scaled back.
    spill : bool, default=True
        Keep the first epoch's TF-IDF batches in a temporary folder (removed after the fit) and read them
        back, in a new batch order, for the later epochs instead of featurising every text again: the texts
        are read twice (sample, epoch 1) instead of ``n_epochs + 1`` times. Disk: the TF-IDF non-zeros.
    task : {"auto", "binary", "multiclass"}, default="auto"
        ``auto``: binary for two teacher columns, multiclass otherwise.
    random_state : int, default=0

    Attributes
    ----------
    features_ : fitted vectoriser
    estimators_ : list of fitted regressors (one per output)
    coef_ : ndarray of shape (n_outputs, n_features)
    classes_ : ndarray
    task_ : str
    n_seen_ : int
        Rows seen in the last epoch.

    Examples
    --------
    >>> import numpy as np
    >>> texts = ["a good film", "a great film", "a bad film", "an awful film"] * 50
    >>> logits = np.array([[0, 2.0], [0, 3.0], [0, -2.0], [0, -3.0]] * 50)
    >>> student = StreamingDistilledClassifier(n_epochs=20, batch_size=32, vocabulary_sample=100,
    ...                                        features=TfidfFeatures(min_df=1, max_df=1.0))
    >>> student = student.fit(texts, teacher_logits=logits)
    >>> student.predict(["a good film", "an awful film"]).tolist()
    [1, 0]
    >>> student.fit_stream(lambda: [(texts[i:i + 40], logits[i:i + 40]) for i in range(0, 200, 40)]).n_seen_
    200
    """

    def __init__(self, features=None, estimator=None, *, vocabulary_sample: int = 20_000, n_epochs: int = 5,
                 batch_size: int = 2048, shuffle_buffer: int = 16_384, temperature: float = 1.0,
                 spill: bool = True, task: str = "auto", random_state: int = 0) -> None:
        self.features = features
        self.estimator = estimator
        self.vocabulary_sample = vocabulary_sample
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.shuffle_buffer = shuffle_buffer
        self.temperature = temperature
        self.spill = spill
        self.task = task
        self.random_state = random_state

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, X, y=None, teacher_logits=None) -> StreamingDistilledClassifier:
        """Fit on texts held in memory, in a new random order each pass; ``y`` is not used.

        Returns
        -------
        self
        """
        if teacher_logits is None:
            raise InputError(f"{type(self).__name__} learns from the teacher: pass teacher_logits=(n, k) logits")
        texts, z = _check_batch(X, teacher_logits)
        step = max(1, self.batch_size)
        rng = np.random.default_rng(self.random_state)

        def batches():  # in memory anyway: a fresh permutation each pass
            order = rng.permutation(len(texts))
            for i in range(0, len(order), step):
                idx = order[i:i + step]
                yield [texts[j] for j in idx], z[idx]

        return self.fit_stream(batches)

    def fit_stream(self, batches: Batches) -> StreamingDistilledClassifier:
        """Fit from a stream: ``batches()`` returns a fresh iterable of ``(texts, teacher_logits)`` each call.

        It is called twice (``spill=True``: to sample the vocabulary, then for the first epoch) or
        ``n_epochs + 1`` times (``spill=False``).

        Returns
        -------
        self
        """
        self._check_params()
        rng = np.random.default_rng(self.random_state)
        sample, k = self._reservoir(batches(), rng)
        task = self.task if self.task != "auto" else ("binary" if k == 2 else "multiclass")
        if task not in ("binary", "multiclass"):
            raise InputError(f"task must be 'auto', 'binary' or 'multiclass', got {self.task!r}")
        self.features_ = clone(self.features) if self.features is not None else TfidfFeatures()
        self.features_.fit(sample)
        del sample
        self.task_ = task
        self.classes_ = np.arange(k)
        n_out = 1 if task == "binary" else k
        base = self.estimator if self.estimator is not None else SGDRegressor(
            alpha=1e-5, learning_rate="constant", eta0=0.2, average=True, tol=None, random_state=self.random_state)
        self.estimators_ = [clone(base) for _ in range(n_out)]
        if not self.spill:
            for _ in range(self.n_epochs):
                self.n_seen_ = 0
                for texts, z in _shuffled(batches(), self.shuffle_buffer, self.batch_size, rng):
                    self._partial_fit(texts, z)
        else:
            with tempfile.TemporaryDirectory(prefix="bert2sk-spill-") as spill:
                self._fit_spilled(batches, rng, Path(spill))
        self.n_features_in_ = len(self.features_.get_feature_names_out())
        return self

    def partial_fit(self, X, y=None, teacher_logits=None) -> StreamingDistilledClassifier:
        """One more batch for a fitted student (its vocabulary stays as fitted).

        Returns
        -------
        self
        """
        check_is_fitted(self)
        if teacher_logits is None:
            raise InputError("partial_fit needs teacher_logits=(n, k) logits")
        self._partial_fit(*_check_batch(X, teacher_logits))
        return self

    def _check_params(self) -> None:
        for name in ("vocabulary_sample", "n_epochs", "batch_size", "shuffle_buffer"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.temperature <= 0:
            raise InputError(f"temperature must be positive, got {self.temperature!r}")

    def _reservoir(self, stream: Iterable, rng: np.random.Generator) -> tuple[list[str], int]:
        """A uniform sample of ``vocabulary_sample`` texts from one pass (Algorithm R) and the logit width."""
        size = int(self.vocabulary_sample)
        sample: list[str] = []
        seen, k = 0, None
        for texts, z in stream:
            texts, z = _check_batch(texts, z)
            if k is None and len(z):
                k = z.shape[1]
            for t in texts:
                if seen < size:
                    sample.append(t)
                else:
                    j = int(rng.integers(seen + 1))
                    if j < size:
                        sample[j] = t
                seen += 1
        if not sample or k is None:
            raise InputError("the stream holds no texts; check the data and the teacher logits")
        if k < 2:
            raise InputError(f"teacher logits need at least two columns, got {k}")
        return sample, k

    def _fit_spilled(self, batches: Batches, rng: np.random.Generator, folder: Path) -> None:
        """Epoch 1 from the stream, each featurised batch saved; later epochs read them back in a new order."""
        import scipy.sparse as sp

        self.n_seen_ = 0
        saved = 0
        for texts, z in _shuffled(batches(), self.shuffle_buffer, self.batch_size, rng):
            X, target = self._features_and_targets(texts, z)
            self._step(X, target)
            sp.save_npz(folder / f"{saved}.X.npz", X, compressed=False)
            np.save(folder / f"{saved}.y.npy", target)
            saved += 1
        for _ in range(self.n_epochs - 1):
            self.n_seen_ = 0
            for i in rng.permutation(saved):
                self._step(sp.load_npz(folder / f"{i}.X.npz"), np.load(folder / f"{i}.y.npy"))

    def _features_and_targets(self, texts: list[str], z: np.ndarray) -> tuple:
        if z.shape[1] != len(self.classes_):
            raise InputError(f"teacher logits have {z.shape[1]} columns; this student has {len(self.classes_)}")
        target = regression_targets(z, None, self.task_, len(self.classes_), self.temperature)
        return self.features_.transform(texts), target.reshape(len(texts), -1)

    def _step(self, X, target: np.ndarray) -> None:
        for j, est in enumerate(self.estimators_):
            est.partial_fit(X, target[:, j])
        self.n_seen_ = getattr(self, "n_seen_", 0) + X.shape[0]

    def _partial_fit(self, texts: list[str], z: np.ndarray) -> None:
        self._step(*self._features_and_targets(texts, z))

    # -- prediction ----------------------------------------------------------------------------
    @property
    def coef_(self) -> np.ndarray:
        check_is_fitted(self)
        return np.vstack([e.coef_ for e in self.estimators_])

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """The vocabulary's terms, one per column of :attr:`coef_`."""
        check_is_fitted(self)
        return self.features_.get_feature_names_out()

    def to_pipeline(self):
        """This fitted student as ``Pipeline([("features", ...), ("student", DistilledClassifier)])``.

        The shape a study saves its TF-IDF students in, with the fitted
        vocabulary and the fitted regressors as they are, so predictions are
        the same; :func:`~bert2sk.save_student` saves it, and ``bert2sk
        explain``, ``bench``, ``serve`` and ``export`` take the file like any
        other TF-IDF linear student.

        Returns
        -------
        sklearn.pipeline.Pipeline

        Examples
        --------
        >>> texts = ["a good film", "a great film", "a bad film", "an awful film"] * 50
        >>> logits = np.array([[0, 2.0], [0, 3.0], [0, -2.0], [0, -3.0]] * 50)
        >>> student = StreamingDistilledClassifier(n_epochs=5, batch_size=32, vocabulary_sample=100,
        ...                                        features=TfidfFeatures(min_df=1, max_df=1.0))
        >>> pipe = student.fit(texts, teacher_logits=logits).to_pipeline()
        >>> bool(np.allclose(pipe.predict_proba(texts[:4]), student.predict_proba(texts[:4])))
        True
        """
        from sklearn.multioutput import MultiOutputRegressor
        from sklearn.pipeline import Pipeline

        from .estimators import DistilledClassifier

        check_is_fitted(self)
        template = clone(self.estimators_[0])
        head = DistilledClassifier(template, task=self.task_, temperature=self.temperature)
        if self.task_ == "binary":
            head.estimator_ = self.estimators_[0]
        else:
            inner = MultiOutputRegressor(clone(template))
            inner.estimators_ = list(self.estimators_)
            inner.n_features_in_ = self.n_features_in_
            head.estimator_ = inner
        head.task_ = self.task_
        head.classes_ = self.classes_
        head.n_features_in_ = self.n_features_in_
        return Pipeline([("features", self.features_), ("student", head)])

    def decision_function(self, X) -> np.ndarray:
        """Predicted teacher logits: the margin ``(n,)`` for binary, centred logits ``(n, k)`` otherwise."""
        check_is_fitted(self)
        if isinstance(X, str):
            raise InputError("X must be a list of texts, not a single string; wrap it in a list")
        F = self.features_.transform(list(X))
        out = np.column_stack([e.predict(F) for e in self.estimators_]) * self.temperature
        return out.ravel() if self.task_ == "binary" else out

    def predict_proba(self, X) -> np.ndarray:
        """``[1 - s, s]`` with ``s = sigmoid(margin)`` (binary) or the softmax of the predicted logits."""
        d = self.decision_function(X)
        if self.task_ == "binary":
            s = sigmoid(d)
            return np.c_[1.0 - s, s]
        return logits_to_proba(d, "multiclass")

    def predict(self, X) -> np.ndarray:
        """The class (teacher column) with the highest probability."""
        proba = self.predict_proba(X)  # checks it is fitted first
        return self.classes_[proba.argmax(axis=1)]


def _shard_logits(out_dir: Path) -> dict[str, np.ndarray]:
    """Every shard's logits, per source, indexed by row (NaN where a row has none)."""
    import pyarrow.parquet as pq

    logits: dict[str, np.ndarray] = {}
    for shard in sorted(out_dir.glob("part-*.parquet")):
        t = pq.read_table(shard, columns=["source", "row", "logits"])
        src = np.asarray(t.column("source").to_pylist(), dtype=object)
        row = t.column("row").to_numpy()
        col = t.column("logits").combine_chunks()
        z = col.flatten().to_numpy().reshape(-1, col.type.list_size)
        for s in np.unique(src):
            m = src == s
            top = int(row[m].max()) + 1
            have = logits.get(s)
            if have is None or len(have) < top:
                grown = np.full((top, z.shape[1]), np.nan, dtype=np.float32)
                if have is not None:
                    grown[:len(have)] = have
                logits[s] = have = grown
            have[row[m]] = z[m]
    return logits


def labels_manifest(labels: str | os.PathLike, data: str | os.PathLike) -> dict:
    """The manifest of a labelled folder, once it is known to hold shards scored from ``data``.

    Raises
    ------
    InputError
        One line: the folder is missing, was not written by ``bert2sk label
        --engine ray`` (no manifest, or no shards), or ``data`` is not the
        input it was scored from (other files, or a file whose size changed
        since a finished run).

    Examples
    --------
    >>> labels_manifest("no-such-folder", "texts.jsonl")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bert2sk.errors.InputError: labels folder not found: no-such-folder; pass the --out folder of ...
    """
    import json

    from ..teacher.ray_labelling import MANIFEST, list_sources

    out_dir = Path(labels)
    if not out_dir.is_dir():
        raise InputError(f"labels folder not found: {out_dir}; pass the --out folder of `bert2sk label DATA "
                         "--engine ray`")
    manifest_path = out_dir / MANIFEST
    if not manifest_path.exists():
        raise InputError(f"{out_dir} is not a labelled folder (no {MANIFEST}); run `bert2sk label DATA --engine ray`")
    try:
        manifest = json.loads(manifest_path.read_text())
        sources = list(manifest["sources"])
    except (ValueError, KeyError, TypeError):
        raise InputError(f"{manifest_path} is damaged (not the JSON `bert2sk label` writes); label again into a new "
                         "folder") from None
    if not any(out_dir.glob("part-*.parquet")):
        raise InputError(f"{out_dir} holds no shards yet; run `bert2sk label DATA --engine ray --out {out_dir}`")
    root, found = list_sources(data)
    if found != sources:
        raise InputError(f"{data} does not hold the files {out_dir} was labelled from ({', '.join(sources[:3])}"
                         f"{', ...' if len(sources) > 3 else ''}); pass the same input")
    for name, size, *_ in (manifest.get("finished") or {}).get("inputs") or ():
        if (root / name).stat().st_size != size:
            raise InputError(f"{name} has changed since {out_dir} was labelled from it (its size differs); "
                             "pass the input it was labelled from, or label it again")
    return manifest


def iter_shard_batches(labels: str | os.PathLike, data: str | os.PathLike, batch_size: int = 2048,
                       segments: int = 1) -> Iterator[tuple[list[str], np.ndarray]]:
    """``(texts, logits)`` batches from a labelled output folder and its input (joined by source and row).

    ``data`` is the input the folder was labelled from (the same file or
    folder). Only the logits are held in memory; texts are read as they
    stream. ``segments > 1`` reads each file at that many evenly spaced
    places at once, each batch taking rows from all of them, so a file
    sorted by class still gives mixed batches (each extra reader re-reads
    the file up to its segment).
    """
    import itertools

    from ..teacher.ray_labelling import _iter_records, list_sources

    out_dir = Path(labels)
    manifest = labels_manifest(out_dir, data)
    root, sources = list_sources(data)
    logits = _shard_logits(out_dir)
    segments = max(1, int(segments))
    for source in sources:
        z = logits.get(source, np.full((1, 1), np.nan, dtype=np.float32))
        n = len(z)
        bounds = np.linspace(0, n, segments + 1).astype(int)
        readers = [itertools.islice(enumerate(_iter_records(root / source, manifest["text_column"], None)), a, b)
                   for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
        per = max(1, -(-batch_size // len(readers)))
        seen = 0
        while readers:
            rows: list[int] = []
            texts: list[str] = []
            for reader in list(readers):
                got = list(itertools.islice(reader, per))
                if len(got) < per:
                    readers.remove(reader)
                rows += [r for r, _ in got]
                texts += [t for _, (t, _) in got]
            if not rows:
                break
            idx = np.asarray(rows)
            if idx.max() >= n or np.isnan(z[idx, 0]).any():
                bad = int(idx[(idx >= n) | np.isnan(z[np.minimum(idx, n - 1), 0])][0])
                raise InputError(f"{source} row {bad} has no teacher logits in {out_dir}; rerun the labelling "
                                 "command to finish it")
            seen += len(rows)
            yield texts, z[idx]
        if seen < n:
            raise InputError(f"{out_dir} has logits for {n} rows of {source} but the file has {seen}; "
                             "pass the input it was labelled from")


def fit_from_shards(labels: str | os.PathLike, data: str | os.PathLike,
                    student: StreamingDistilledClassifier | None = None,
                    segments: int = 16) -> StreamingDistilledClassifier:
    """Fit a streaming student on every row of a labelled folder, reading texts from ``data`` as it goes.

    ``segments``: see :func:`iter_shard_batches` (mixes a class-sorted file; 1 streams in file order).

    Examples
    --------
    >>> student = fit_from_shards("labels/", "texts/")  # doctest: +SKIP
    >>> student.predict(["a fine film"])  # doctest: +SKIP
    """
    student = clone(student) if student is not None else StreamingDistilledClassifier()
    return student.fit_stream(lambda: iter_shard_batches(labels, data, batch_size=student.batch_size,
                                                         segments=segments))
