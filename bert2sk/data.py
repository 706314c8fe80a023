"""Corpora: one small dataclass and the loaders that fill it.

A :class:`Corpus` holds texts, their labels (``-1`` marks an unlabelled text,
the scikit-learn semi-supervised convention), the label names and the task.
Loaders read an ``aclImdb`` folder, JSON-lines / CSV / TSV / Parquet files,
files of unlabelled texts (those, or plain text with one text per line),
the embedded demo corpus, CLINC150 and GoEmotions files, and (with a network)
Hugging Face hub data sets.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from ._validation import check_labels_known, check_same_length, check_texts
from .errors import InputError, require

__all__ = [
    "TASKS",
    "Corpus",
    "load_aclimdb",
    "load_table",
    "load_unlabelled",
    "load_hub",
    "load_demo_corpus",
    "load_clinc150",
    "load_goemotions",
]

TASKS = ("binary", "multiclass", "multilabel")
UNLABELLED = -1


@dataclass(frozen=True, eq=False)
class Corpus:
    """Texts with labels, label names and a task.

    Parameters
    ----------
    texts : list of str
        Non-empty strings.
    labels : ndarray or None
        ``(n,)`` integer codes into ``label_names`` for binary and multiclass
        tasks, ``-1`` for an unlabelled text; ``(n, k)`` 0/1 indicators for a
        multilabel task, a row of ``-1`` for an unlabelled text. ``None``
        means no text is labelled.
    label_names : tuple of str
        One name per class (binary and multiclass) or per label (multilabel).
    task : {"binary", "multiclass", "multilabel"}
    name : str
        Shown in tables and reports.

    Examples
    --------
    >>> c = Corpus(["great film", "dull film", "no label yet"], [1, 0, -1], ("neg", "pos"), "binary")
    >>> len(c), c.n_labelled
    (3, 2)
    >>> c.labelled().texts
    ['great film', 'dull film']
    """

    texts: list[str]
    labels: np.ndarray | None
    label_names: tuple[str, ...]
    task: str
    name: str = "corpus"
    ids: list[str] | None = field(default=None)

    def __post_init__(self) -> None:
        texts = check_texts(self.texts)
        object.__setattr__(self, "texts", texts)
        if self.task not in TASKS:
            raise InputError(f"task must be one of {TASKS}, got {self.task!r}")
        names = tuple(str(n) for n in self.label_names)
        if len(names) < 2 and self.task != "multilabel":
            raise InputError(f"a {self.task} corpus needs at least two label names, got {names!r}")
        if self.task == "binary" and len(names) != 2:
            raise InputError(f"a binary corpus has exactly two label names, got {len(names)}: use task='multiclass'")
        if len(set(names)) != len(names):
            raise InputError(f"label names must be unique, got {names!r}")
        object.__setattr__(self, "label_names", names)
        if self.labels is not None:
            labels = np.asarray(self.labels)
            check_same_length(len(texts), labels, "labels")
            if self.task == "multilabel":
                if labels.ndim != 2 or labels.shape[1] != len(names):
                    raise InputError(
                        f"multilabel labels must be an (n, {len(names)}) 0/1 matrix, got shape {labels.shape}"
                    )
                ok = np.isin(labels, (0, 1)) | (labels == UNLABELLED).all(axis=1, keepdims=True)
                if not ok.all():
                    raise InputError("multilabel labels must be 0/1 (or a whole row of -1 for unlabelled)")
            else:
                if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
                    raise InputError(
                        "labels must be a 1-d array of integer codes into label_names (-1 = unlabelled); "
                        "use a loader or Corpus.from_labels to map label strings to codes"
                    )
                bad = (labels < UNLABELLED) | (labels >= len(names))
                if bad.any():
                    raise InputError(
                        f"label codes must lie in [-1, {len(names) - 1}], found {sorted(set(labels[bad].tolist()))[:5]}"
                    )
            object.__setattr__(self, "labels", labels.astype(np.int64))
        if self.ids is not None:
            check_same_length(len(texts), self.ids, "ids")

    @classmethod
    def from_labels(
        cls,
        texts: Sequence[str],
        labels: Sequence,
        label_names: Sequence[str] | None = None,
        task: str | None = None,
        name: str = "corpus",
    ) -> Corpus:
        """Build a corpus from label *values* (strings or ints, lists for multilabel).

        ``None`` marks an unlabelled text. Label names default to the sorted
        distinct values; the task is inferred when not given.

        Examples
        --------
        >>> c = Corpus.from_labels(["a b", "c d", "e f"], ["spam", "ham", None])
        >>> c.label_names, c.labels.tolist(), c.task
        (('ham', 'spam'), [1, 0, -1], 'binary')
        """
        texts = check_texts(texts)
        labels = list(labels)
        check_same_length(len(texts), labels, "labels")
        is_multi = any(isinstance(v, (list, tuple, set, np.ndarray)) for v in labels)
        if task is None:
            task = "multilabel" if is_multi else None
        values = sorted(
            {x for v in labels if v is not None for x in (v if is_multi else [v])}, key=lambda x: (str(type(x)), x)
        )
        names = [str(v) for v in values] if label_names is None else [str(n) for n in label_names]
        lookup = {str(n): i for i, n in enumerate(names)}
        check_labels_known((str(x) for v in labels if v is not None for x in (v if is_multi else [v])), list(lookup))
        if task is None:
            task = "binary" if len(names) == 2 else "multiclass"
        if task == "multilabel":
            codes = np.zeros((len(texts), len(names)), dtype=np.int64)
            for i, v in enumerate(labels):
                if v is None:
                    codes[i] = UNLABELLED
                else:
                    for x in v:
                        codes[i, lookup[str(x)]] = 1
        else:
            codes = np.array([UNLABELLED if v is None else lookup[str(v)] for v in labels], dtype=np.int64)
        return cls(texts, codes, tuple(names), task, name=name)

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def labelled_mask(self) -> np.ndarray:
        """Boolean mask of the texts that carry a label."""
        if self.labels is None:
            return np.zeros(len(self), dtype=bool)
        if self.task == "multilabel":
            return ~(self.labels == UNLABELLED).all(axis=1)
        return self.labels != UNLABELLED

    @property
    def n_labelled(self) -> int:
        return int(self.labelled_mask.sum())

    def subset(self, index: Sequence[int] | np.ndarray, name: str | None = None) -> Corpus:
        """Return the texts at ``index`` (integer positions or a boolean mask)."""
        idx = np.asarray(index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return Corpus(
            [self.texts[i] for i in idx],
            None if self.labels is None else self.labels[idx],
            self.label_names,
            self.task,
            name=name or self.name,
            ids=None if self.ids is None else [self.ids[i] for i in idx],
        )

    def labelled(self) -> Corpus:
        """Only the labelled texts."""
        return self.subset(self.labelled_mask)

    def without_labels(self, name: str | None = None) -> Corpus:
        """The same texts with every label hidden (as an unlabelled pool)."""
        return Corpus(self.texts, None, self.label_names, self.task, name=name or self.name, ids=self.ids)

    def keep_labels(self, n: int, seed: int = 0) -> Corpus:
        """Keep ``n`` labels (a seeded, class-stratified sample) and hide the rest.

        This is the label-scarce scenario distillation is for: every text
        stays, so the teacher can still score it.
        """
        mask = self.labelled_mask
        if n > mask.sum():
            raise InputError(f"asked to keep {n} labels but only {int(mask.sum())} texts are labelled")
        from sklearn.model_selection import train_test_split

        pos = np.flatnonzero(mask)
        strat = self.labels[pos] if self.task != "multilabel" else None
        if n == len(pos):
            keep = pos
        else:
            keep, _ = train_test_split(pos, train_size=n, random_state=seed, stratify=strat)
        labels = np.full_like(self.labels, UNLABELLED)
        labels[keep] = self.labels[keep]
        return Corpus(self.texts, labels, self.label_names, self.task, name=self.name, ids=self.ids)

    def split(self, test_size: float | int = 0.2, seed: int = 0) -> tuple[Corpus, Corpus]:
        """A seeded split, stratified by label for binary and multiclass tasks."""
        from sklearn.model_selection import train_test_split

        n = len(self)
        n_test = test_size if isinstance(test_size, int) else int(round(n * test_size))
        if n_test < 1 or n - n_test < 2:
            raise InputError(f"cannot split {n} texts into train and a test part of {test_size}; add more texts")
        strat = None
        if self.task != "multilabel" and self.labels is not None and self.labelled_mask.all():
            counts = np.bincount(self.labels, minlength=len(self.label_names))
            if counts[counts > 0].min() >= 2:
                strat = self.labels
        idx = np.arange(n)
        tr, te = train_test_split(idx, test_size=n_test, random_state=seed, stratify=strat)
        return self.subset(np.sort(tr)), self.subset(np.sort(te))

    @classmethod
    def concat(cls, corpora: Sequence[Corpus], name: str | None = None) -> Corpus:
        """One corpus holding the texts of ``corpora`` in order, each keeping its labels (or ``-1``).

        Every part must have the same label names and task; a part without
        labels contributes unlabelled texts. Ids are kept when every part has them.

        Examples
        --------
        >>> a = Corpus(["good", "bad"], [1, 0], ("neg", "pos"), "binary", name="train")
        >>> b = Corpus(["more text"], None, ("neg", "pos"), "binary")
        >>> c = Corpus.concat([a, b])
        >>> c.texts, c.labels.tolist(), c.name
        (['good', 'bad', 'more text'], [1, 0, -1], 'train')
        """
        parts = list(corpora)
        if not parts:
            raise InputError("Corpus.concat needs at least one corpus")
        first = parts[0]
        for other in parts[1:]:
            if tuple(other.label_names) != tuple(first.label_names) or other.task != first.task:
                raise InputError(
                    f"cannot join {other.name!r} ({other.task}, labels {list(other.label_names)[:5]}) to "
                    f"{first.name!r} ({first.task}, labels {list(first.label_names)[:5]}): give every part "
                    "the same label names and task"
                )
        ids = None
        if all(c.ids is not None for c in parts):
            ids = [i for c in parts for i in c.ids]
        labels = None
        if any(c.labels is not None for c in parts):
            labels = np.concatenate([c.hard_targets() for c in parts])
        return cls([t for c in parts for t in c.texts], labels, first.label_names, first.task,
                   name=name or first.name, ids=ids)

    def hard_targets(self) -> np.ndarray:
        """Labels in the form students take as ``y`` (codes, or an indicator matrix)."""
        if self.labels is None:
            shape = (len(self), len(self.label_names)) if self.task == "multilabel" else (len(self),)
            return np.full(shape, UNLABELLED, dtype=np.int64)
        return self.labels


def _read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    with opener(path, "rt", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise InputError(f"{path}: line {lineno} is not valid JSON ({exc.msg}); fix or remove it") from None
    return rows


def load_table(
    path: str | Path,
    text_column: str = "text",
    label_column: str | None = "label",
    label_names: Sequence[str] | None = None,
    task: str | None = None,
    name: str | None = None,
    limit: int | None = None,
) -> Corpus:
    """Load a JSON-lines (``.jsonl[.gz]``), CSV, TSV or Parquet file.

    Labels may be names or integer codes (``-1`` or a missing value means
    unlabelled); a list in a cell (or ``"a,b"`` with ``task="multilabel"``)
    makes a multilabel corpus. ``label_column=None`` loads texts only.

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "reviews.csv")
    >>> _ = open(p, "w").write("review,sentiment\\ngood,pos\\nbad,neg\\n")
    >>> load_table(p, text_column="review", label_column="sentiment").labels.tolist()
    [1, 0]
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"data file not found: {path}; check the path")
    suffixes = "".join(path.suffixes[-2:]).lower()
    import pandas as pd

    try:
        if suffixes.endswith((".jsonl", ".jsonl.gz", ".json.gz", ".ndjson")):
            df = pd.DataFrame(_read_jsonl(path))
        elif suffixes.endswith((".csv", ".csv.gz")):
            df = pd.read_csv(path)
        elif suffixes.endswith((".tsv", ".tsv.gz")):
            df = pd.read_csv(path, sep="\t")
        elif suffixes.endswith(".parquet"):
            df = pd.read_parquet(path)
        else:
            raise InputError(f"unknown file type {path.name!r}; use .jsonl[.gz], .csv, .tsv or .parquet"
                             + (" (or, for unlabelled texts, .txt)" if label_column is None else ""))
    except InputError:
        raise
    except Exception as exc:  # a corrupt file surfaces as many parser-specific errors
        raise InputError(f"could not read {path}: {exc}; check that the file is a valid {suffixes} file") from None
    if limit is not None:
        df = df.iloc[:limit]
    for col in (text_column, label_column):
        if col is not None and col not in df.columns:
            raise InputError(
                f"{path.name} has no column {col!r}; its columns are {list(df.columns)!r} — "
                "pass --text-column/--label-column (text_column=/label_column=)"
            )
    texts = df[text_column].tolist()
    name = name or path.name.split(".")[0]
    if label_column is None:
        if label_names is None:
            raise InputError("label_names are needed when the file has no label column")
        return Corpus(check_texts(texts, name=f"column {text_column!r}"), None, tuple(label_names), task or (
            "binary" if len(label_names) == 2 else "multiclass"), name=name)
    raw = df[label_column].tolist()
    values: list = []
    for v in raw:
        missing = isinstance(v, float) and np.isnan(v)
        unlabelled = isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v == UNLABELLED
        if missing or unlabelled:
            values.append(None)
        elif task == "multilabel" and isinstance(v, str):
            values.append([x.strip() for x in v.split(",") if x.strip()])
        elif hasattr(v, "tolist") and not isinstance(v, str):
            values.append(v.tolist())
        else:
            values.append(v)
    ints = [x for v in values if v is not None for x in (v if isinstance(v, list) else [v])]
    if label_names is not None and ints and all(isinstance(x, (int, np.integer)) for x in ints):
        # integer codes into the given names
        values = [None if v is None else ([label_names[int(x)] for x in v] if isinstance(v, list) else
                                          label_names[int(v)]) for v in values]
    return Corpus.from_labels(check_texts(texts, name=f"column {text_column!r}"), values, label_names, task, name)


def _read_lines(path: Path) -> list[str]:
    """One text per non-blank line of a plain-text file (``.txt`` or ``.txt.gz``)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            return [line.rstrip("\r\n") for line in fh if line.strip()]
    except (UnicodeDecodeError, OSError) as exc:
        raise InputError(f"could not read {path} as UTF-8 text with one text per line ({exc}); "
                         "convert it to UTF-8, or use a .jsonl/.csv/.parquet file with a text column") from None


def load_unlabelled(
    path: str | Path,
    label_names: Sequence[str],
    task: str | None = None,
    text_column: str = "text",
    name: str | None = None,
) -> Corpus:
    """Load texts without labels: a corpus whose every label is ``-1``, for a teacher to score.

    Parameters
    ----------
    path : str or Path
        ``.txt`` (or ``.txt.gz``) with one text per line (blank lines are
        skipped), or a ``.jsonl[.gz]``/``.csv``/``.tsv``/``.parquet`` file
        with a ``text_column``; any label column in it is ignored.
    label_names : sequence of str
        The label names of the corpus these texts will join (the teacher's).
    task : {"binary", "multiclass", "multilabel"} or None
        Default: binary for two label names, multiclass for more.
    text_column : str
        Column holding the text (table files only).
    name : str or None
        Default: the file name without its suffixes.

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "more.txt")
    >>> _ = open(p, "w").write("a first review\\n\\nanother one\\n")
    >>> c = load_unlabelled(p, ("neg", "pos"))
    >>> c.texts, c.labels.tolist(), c.n_labelled
    (['a first review', 'another one'], [-1, -1], 0)
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"unlabelled text file not found: {path}; check the path")
    task = task or ("binary" if len(label_names) == 2 else "multiclass")
    name = name or path.name.split(".")[0]
    if "".join(path.suffixes[-2:]).lower().endswith((".txt", ".txt.gz")):
        texts = _read_lines(path)
        if not texts:
            raise InputError(f"{path} holds no text; put one text per line")
        corpus = Corpus(check_texts(texts, name=path.name), None, tuple(label_names), task, name=name)
    else:
        corpus = load_table(path, text_column, None, label_names=label_names, task=task, name=name)
    shape = (len(corpus), len(corpus.label_names)) if task == "multilabel" else (len(corpus),)
    return Corpus(corpus.texts, np.full(shape, UNLABELLED, dtype=np.int64), corpus.label_names, task, name=name)


def load_aclimdb(path: str | Path, split: str = "train", limit: int | None = None) -> Corpus:
    """Load an ``aclImdb`` folder (``train/pos``, ``train/neg``, ``train/unsup``, ``test/...``).

    ``split`` is ``train``, ``test`` or ``unsup`` (unlabelled). ``path`` may
    point at ``aclImdb`` or at one of its split folders.
    """
    root = Path(path)
    base = root / split if (root / split).is_dir() else root
    if split == "unsup":
        base = root / "train" if (root / "train" / "unsup").is_dir() else base
        parts = [("unsup", UNLABELLED)]
    else:
        parts = [("neg", 0), ("pos", 1)]
    texts, labels, ids = [], [], []
    for sub, code in parts:
        folder = base / sub
        if not folder.is_dir():
            raise InputError(
                f"{folder} is not a folder; point to an aclImdb directory with {split}/neg and {split}/pos"
            )
        for f in sorted(folder.glob("*.txt")):
            texts.append(f.read_text(encoding="utf-8"))
            labels.append(code)
            ids.append(f"{split}/{sub}/{f.name}")
            if limit and len(texts) >= limit * (parts.index((sub, code)) + 1):
                break
    return Corpus(texts, np.array(labels), ("neg", "pos"), "binary", name=f"imdb-{split}", ids=ids)


def load_demo_corpus() -> Corpus:
    """The embedded demo corpus: Pang & Lee's polarity v2.0 movie reviews.

    2,000 full-length reviews (1,000 positive, 1,000 negative), CC BY 4.0,
    Bo Pang and Lillian Lee (ACL 2004); shipped inside the package, so it
    needs no network and no download.

    Examples
    --------
    >>> c = load_demo_corpus()
    >>> len(c), c.label_names, c.task
    (2000, ('neg', 'pos'), 'binary')
    """
    ref = resources.files("bert2sk") / "_data" / "movie_review_polarity.jsonl.gz"
    with resources.as_file(ref) as p:
        rows = _read_jsonl(Path(p))
    return Corpus(
        [r["text"] for r in rows],
        np.array([r["label"] for r in rows]),
        ("neg", "pos"),
        "binary",
        name="movie-review-polarity",
        ids=[r["id"] for r in rows],
    )


def load_clinc150(path: str | Path, split: str = "train") -> Corpus:
    """Load a CLINC150 JSON file (e.g. ``data_oos_plus.json``): 150 intents + ``oos``.

    Out-of-scope queries (``oos_train``/``oos_val``/``oos_test``) are kept as
    the class ``oos``.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"CLINC150 file not found: {path}")
    data = json.loads(path.read_text(encoding="utf-8"))
    if split not in data:
        raise InputError(f"{path.name} has no split {split!r}; it has {sorted(data)!r}")
    rows = list(data[split]) + list(data.get(f"oos_{split}", []))
    names = sorted({lab for key in ("train", "oos_train") for _, lab in data.get(key, [])} | {"oos"})
    return Corpus.from_labels([r[0] for r in rows], [r[1] for r in rows], names, "multiclass",
                              name=f"clinc150-{split}")


def load_goemotions(folder: str | Path, split: str = "train") -> Corpus:
    """Load GoEmotions (simplified) ``{train,dev,test}.tsv`` with ``labels.txt`` (multilabel)."""
    folder = Path(folder)
    names_file = folder / "labels.txt"
    if not names_file.exists():
        raise InputError(f"{names_file} not found; point to the GoEmotions folder")
    names = [ln.strip() for ln in names_file.read_text().splitlines() if ln.strip()]
    import pandas as pd

    df = pd.read_csv(folder / f"{split}.tsv", sep="\t", header=None, names=["text", "labels", "id"],
                     quoting=3, keep_default_na=False)
    labels = [[names[int(x)] for x in str(v).split(",") if x.strip()] for v in df["labels"]]
    return Corpus.from_labels(df["text"].tolist(), labels, names, "multilabel", name=f"goemotions-{split}")


def load_hub(
    dataset_id: str,
    split: str = "train",
    text_column: str = "text",
    label_column: str = "label",
    limit: int | None = None,
) -> Corpus:  # pragma: no cover - needs a network
    """Load a Hugging Face hub data set (needs a network and ``pip install datasets``)."""
    datasets = require("datasets")
    try:
        ds = datasets.load_dataset(dataset_id, split=split)
    except Exception as exc:
        raise InputError(
            f"could not load hub data set {dataset_id!r} ({type(exc).__name__}: {exc}); "
            "without a network, pass a local file or folder instead"
        ) from None
    if limit:
        ds = ds.select(range(min(limit, len(ds))))
    feat = ds.features.get(label_column)
    names = getattr(feat, "names", None)
    return load_table_from_columns(ds[text_column], ds[label_column], names, name=dataset_id)


def load_table_from_columns(texts: Sequence, labels: Sequence, label_names: Sequence[str] | None, name: str) -> Corpus:
    values = [None if (isinstance(v, int) and v == UNLABELLED) else v for v in labels]
    if label_names is not None:
        values = [None if v is None else label_names[int(v)] for v in values]
    return Corpus.from_labels(list(texts), values, label_names, None, name)
