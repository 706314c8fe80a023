"""Resumable, deduplicated teacher scoring of large text collections.

:func:`label_texts` reads texts in chunks (a generator works, so a corpus
never has to fit in memory), looks each chunk up in a :class:`LogitCache`,
scores only what is missing, and commits that chunk before reading the next.
Kill the process at any point and rerun: committed chunks are reused, so no
text is scored twice. :func:`label_file` does the same for a JSON-lines or
CSV file and writes the logits to an ``.npy`` file atomically; the CLI's
``bert2sk label`` calls it.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._io import publish
from ..errors import InputError
from .cache import LogitCache, text_hash
from .model import progress_bar

__all__ = ["label_texts", "label_file", "iter_text_column"]

logger = logging.getLogger(__name__)


def _chunks(texts: Iterable[str], size: int) -> Iterator[list[str]]:
    it = iter(texts)
    while True:
        chunk = list(itertools.islice(it, size))
        if not chunk:
            return
        yield chunk


def _check_chunk(chunk: list[str], offset: int) -> None:
    for i, t in enumerate(chunk):
        if not isinstance(t, str):
            raise InputError(
                f"text {offset + i} is {type(t).__name__} ({t!r:.40}), not a string; "
                "convert or drop non-string entries (e.g. missing values) first"
            )
        if not t.strip():
            raise InputError(f"text {offset + i} is empty or whitespace only; drop empty texts first")


class _NpyRowWriter:
    """Append float32 rows to a temporary file, then publish them as one ``.npy`` atomically.

    The row count of a streamed input is unknown until its end, and the
    ``.npy`` header holds the shape, so rows go to a raw side file first and
    are copied behind the header at the end (in blocks: memory stays flat).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, raw = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".rows", dir=path.parent)
        self._raw_path = Path(raw)
        self._raw = os.fdopen(fd, "wb")
        self.n = 0
        self.width: int | None = None

    def write(self, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        if self.width is None:
            self.width = rows.shape[1]
        self._raw.write(rows.tobytes())
        self.n += len(rows)

    def publish(self) -> Path:
        self._raw.close()
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as out, open(self._raw_path, "rb") as raw:
                header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
                          "shape": (self.n, self.width or 0)}
                np.lib.format.write_array_header_1_0(out, header)
                while block := raw.read(1 << 24):
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
            publish(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        finally:
            self._raw_path.unlink(missing_ok=True)
        return self.path

    def discard(self) -> None:
        self._raw.close()
        self._raw_path.unlink(missing_ok=True)


class _RowSinks:
    """Where labelled rows go, chunk by chunk: ``.npy`` files (``out_path``) or lists in memory."""

    def __init__(self, out_path: str | os.PathLike | None, embeddings_out_path: str | os.PathLike | None,
                 with_embeddings: bool) -> None:
        self.with_embeddings = with_embeddings
        self.parts: list[np.ndarray] = []
        self.emb_parts: list[np.ndarray] = []
        self.writers: list[_NpyRowWriter] = []
        if out_path is not None:
            out_path = Path(out_path)
            self.writers.append(_NpyRowWriter(out_path))
            if with_embeddings:
                emb_path = Path(embeddings_out_path) if embeddings_out_path else out_path.with_name(
                    out_path.name.removesuffix(".npy") + ".embeddings.npy")
                self.writers.append(_NpyRowWriter(emb_path))

    def write(self, logits: np.ndarray, embeddings: np.ndarray | None) -> None:
        rows = (logits, embeddings) if self.with_embeddings else (logits,)
        if self.writers:
            for writer, block in zip(self.writers, rows, strict=True):
                writer.write(block)
        else:
            for parts, block in zip((self.parts, self.emb_parts), rows, strict=False):
                parts.append(block)

    def discard(self) -> None:
        for writer in self.writers:
            writer.discard()

    def result(self) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """The whole run's rows: read-only memory maps of the published files, or joined arrays."""
        if self.writers:
            arrays = [np.load(writer.publish(), mmap_mode="r") for writer in self.writers]
        else:
            arrays = [np.concatenate(parts) for parts in (self.parts, self.emb_parts)[:1 + self.with_embeddings]]
        return (arrays[0], arrays[1]) if self.with_embeddings else arrays[0]


@dataclass
class _ChunkPlan:
    """One chunk's lookup: the rows the cache held, and the texts left to score."""

    texts: list[str]
    hashes: list[bytes]
    logits: np.ndarray | None  # (n, k) from the cache, NaN where missing; None when nothing was cached
    embeddings: np.ndarray | None
    missing: np.ndarray  # bool per text: not in the cache
    to_score: dict[bytes, int]  # hash -> position of its first missing occurrence, in order

    @property
    def n_cached(self) -> int:
        return int((~self.missing).sum())

    @property
    def n_repeats(self) -> int:
        """Missing texts that repeat an earlier missing text of this chunk (they get its row)."""
        return int(self.missing.sum()) - len(self.to_score)


def _plan_chunk(chunk: list[str], cache: LogitCache | None, fingerprint: str, with_embeddings: bool) -> _ChunkPlan:
    """Look a chunk up in the cache and list each distinct missing text once."""
    hashes = [text_hash(t) for t in chunk]
    if cache is not None:
        z, e, missing = cache.get_many(fingerprint, hashes, with_embeddings=with_embeddings)
    else:
        z, e, missing = None, None, np.ones(len(chunk), dtype=bool)
    to_score: dict[bytes, int] = {}
    for i in np.flatnonzero(missing):
        to_score.setdefault(hashes[i], int(i))
    return _ChunkPlan(chunk, hashes, z, e, missing, to_score)


def _score_missing(teacher, plan: _ChunkPlan, with_embeddings: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """One forward pass per distinct missing text, however often it repeats."""
    out = teacher.predict_logits([plan.texts[i] for i in plan.to_score.values()], return_embeddings=with_embeddings)
    return out if with_embeddings else (out, None)


def _fill(cached: np.ndarray | None, new: np.ndarray, plan: _ChunkPlan) -> np.ndarray:
    """``cached`` with every missing text given the scored row of its text (repeats share their first's row)."""
    rows = cached if cached is not None else np.full((len(plan.texts), new.shape[1]), np.nan, dtype=np.float32)
    row_of = {h: j for j, h in enumerate(plan.to_score)}
    where = np.flatnonzero(plan.missing)
    rows[where] = new[[row_of[plan.hashes[i]] for i in where]]
    return rows


def _label_chunk(teacher, chunk: list[str], cache: LogitCache | None, fingerprint: str, with_embeddings: bool,
                 counts: dict[str, int]) -> tuple[np.ndarray, np.ndarray | None]:
    """Logits (and embeddings) for one chunk: cached rows, the rest scored and committed to the cache."""
    plan = _plan_chunk(chunk, cache, fingerprint, with_embeddings)
    z, e = plan.logits, plan.embeddings
    if plan.to_score:
        new_z, new_e = _score_missing(teacher, plan, with_embeddings)
        if cache is not None:  # committed before the next chunk is read: a kill loses one chunk at most
            cache.put_many(fingerprint, list(plan.to_score), new_z, new_e)
        z = _fill(z, new_z, plan)
        if with_embeddings:
            e = _fill(e, new_e, plan)
    counts["n"] += len(chunk)
    counts["cached"] += plan.n_cached
    counts["scored"] += len(plan.to_score)
    counts["duplicates"] += plan.n_repeats
    return z, e


def _check_arguments(texts: Iterable[str], chunk_size: int, total: int | None) -> int | None:
    """Reject a bad chunk size or a bare string; return the number of texts when it is known."""
    if chunk_size < 1:
        raise InputError(f"chunk_size must be positive, got {chunk_size}")
    if isinstance(texts, str):
        raise InputError(f"texts must be an iterable of strings, not a single string; wrap it: [{texts[:30]!r}...]")
    if total is None and hasattr(texts, "__len__"):
        total = len(texts)  # type: ignore[arg-type]
    return total


def _label_chunks(teacher, texts: Iterable[str], cache: LogitCache | None, sinks: _RowSinks, chunk_size: int,
                  bar, counts: dict[str, int]) -> None:
    """Label ``texts`` chunk by chunk into ``sinks``, counting into ``counts`` and advancing ``bar``."""
    fingerprint = teacher.fingerprint
    # one bar for the whole run; the teacher's per-chunk bar would flicker under it
    inner_progress, teacher.progress = teacher.progress, False
    try:
        for chunk in _chunks(texts, chunk_size):
            _check_chunk(chunk, counts["n"])
            sinks.write(*_label_chunk(teacher, chunk, cache, fingerprint, sinks.with_embeddings, counts))
            bar.update(len(chunk))
            bar.set_postfix(cached=counts["cached"], scored=counts["scored"], refresh=False)
    finally:
        teacher.progress = inner_progress


def label_texts(
    teacher,
    texts: Iterable[str],
    cache_path: str | os.PathLike | None,
    chunk_size: int = 512,
    return_embeddings: bool = False,
    progress: bool = True,
    *,
    out_path: str | os.PathLike | None = None,
    embeddings_out_path: str | os.PathLike | None = None,
    total: int | None = None,
    stats: dict | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Teacher logits for every text, scoring only texts the cache does not hold.

    Parameters
    ----------
    teacher : Teacher
        The scoring model; its :attr:`~bert2sk.teacher.Teacher.fingerprint` keys the cache.
    texts : iterable of str
        Any iterable, including a generator: it is read ``chunk_size`` texts
        at a time and never held whole.
    cache_path : path or None
        SQLite cache file (created when missing). Each chunk's new rows are
        committed before the next chunk is read, so an interrupted run loses
        at most one chunk of work. ``None`` scores without a cache (texts
        repeated inside a chunk are still scored once).
    chunk_size : int
        Texts per chunk: the unit of commit and of memory.
    return_embeddings : bool
        Also return mean-pooled last-layer embeddings ``(n, d)``.
    progress : bool
        Show a progress bar (with cache hits and newly scored counts). Into
        a file rather than a terminal it redraws only every 30 s and ends
        with one summary line; a summary is also logged at INFO level.
    out_path : path, optional
        Write the logits to this ``.npy`` file (atomically: a temporary file
        is renamed over it at the end) and return a read-only memory map of
        it instead of an in-memory array. With this, memory stays bounded by
        one chunk whatever the number of texts.
    embeddings_out_path : path, optional
        Same for embeddings; defaults to ``<out_path stem>.embeddings.npy``
        when ``out_path`` is given and ``return_embeddings`` is true.
    total : int, optional
        Number of texts, for the progress bar's ETA (taken from ``len(texts)`` when it has one).
    stats : dict, optional
        Filled with counts: ``n`` texts, ``cached`` (found in the cache),
        ``scored`` (forward passes run, one per distinct new text) and
        ``duplicates`` (repeats of a text already seen in this run).

    Returns
    -------
    logits : ndarray of shape (n, k)
    embeddings : ndarray of shape (n, d)
        Only with ``return_embeddings=True``.

    Examples
    --------
    >>> from bert2sk.teacher import Teacher  # doctest: +SKIP
    >>> z = label_texts(Teacher.from_pretrained("my-teacher"), open("texts.txt"), "cache.sqlite")  # doctest: +SKIP
    """
    total = _check_arguments(texts, chunk_size, total)
    counts = {"n": 0, "cached": 0, "scored": 0, "duplicates": 0}
    started = time.perf_counter()
    cache = LogitCache(cache_path) if cache_path is not None else None
    try:
        sinks = _RowSinks(out_path, embeddings_out_path, return_embeddings)
        try:
            with progress_bar(total, "teacher labelling", progress) as bar:
                _label_chunks(teacher, texts, cache, sinks, chunk_size, bar, counts)
            if counts["n"] == 0:
                raise InputError("texts is empty; pass at least one text")
        except BaseException:
            sinks.discard()
            raise
    finally:
        if cache is not None:
            cache.close()
        if stats is not None:
            stats.update(counts)
    logger.info("teacher labelling: %d texts, %d from the cache, %d scored, %d repeats, in %.1f s",
                counts["n"], counts["cached"], counts["scored"], counts["duplicates"], time.perf_counter() - started)
    return sinks.result()


def iter_text_column(path: str | os.PathLike, text_column: str = "text") -> Iterator[str]:
    """Stream one text column from a ``.jsonl[.gz]``, ``.csv[.gz]`` or ``.tsv[.gz]`` file, row by row."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"data file not found: {path}; check the path")
    name = path.name.lower()
    opener = gzip.open if name.endswith(".gz") else open
    base = name.removesuffix(".gz")
    if base.endswith((".jsonl", ".ndjson", ".json")):
        with opener(path, "rt", encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"{path}: line {lineno} is not valid JSON ({exc.msg}); fix or remove it") from None
                if not isinstance(row, dict) or text_column not in row:
                    keys = sorted(row) if isinstance(row, dict) else type(row).__name__
                    raise InputError(f"{path}: line {lineno} has no field {text_column!r} (it has {keys}); "
                                     "pass --text-column (text_column=) with the right name")
                yield row[text_column]
    elif base.endswith((".csv", ".tsv")):
        csv.field_size_limit(1 << 30)  # long documents exceed csv's 128 kB default
        with opener(path, "rt", encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh, delimiter="\t" if base.endswith(".tsv") else ",")
            if reader.fieldnames is None or text_column not in reader.fieldnames:
                raise InputError(f"{path.name} has no column {text_column!r}; its columns are {reader.fieldnames!r} — "
                                 "pass --text-column (text_column=)")
            for row in reader:
                yield row[text_column]
    else:
        raise InputError(f"cannot stream {path.name!r}; use a .jsonl[.gz], .csv[.gz] or .tsv[.gz] file")


def label_file(
    teacher,
    in_path: str | os.PathLike,
    out_path: str | os.PathLike,
    text_column: str = "text",
    cache_path: str | os.PathLike | None = None,
    chunk_size: int = 512,
    return_embeddings: bool = False,
    progress: bool = True,
) -> dict:
    """Score a JSON-lines or CSV file and write its logits to ``out_path`` (``.npy``).

    The file is streamed (never loaded whole); row ``i`` of the output
    belongs to the ``i``-th record. The ``.npy`` appears only when every row
    is scored (temporary file, then rename). ``cache_path`` defaults to
    ``<out_path>.cache.sqlite`` so rerunning an interrupted command resumes it.

    Returns
    -------
    dict
        ``out_path``, ``embeddings_path`` (or None), ``cache_path``, ``fingerprint``,
        ``shape`` and the counts of :func:`label_texts` (``n``, ``cached``, ``scored``, ``duplicates``).
    """
    out_path = Path(out_path)
    if out_path.suffix != ".npy":
        raise InputError(f"out_path must end in .npy, got {out_path.name!r}")
    cache_path = Path(cache_path) if cache_path is not None else out_path.with_name(out_path.name + ".cache.sqlite")
    stats: dict = {}
    emb_path = out_path.with_name(out_path.name.removesuffix(".npy") + ".embeddings.npy") if return_embeddings else None
    result = label_texts(teacher, iter_text_column(in_path, text_column), cache_path, chunk_size=chunk_size,
                         return_embeddings=return_embeddings, progress=progress, out_path=out_path,
                         embeddings_out_path=emb_path, stats=stats)
    logits = result[0] if return_embeddings else result
    return {"out_path": str(out_path), "embeddings_path": None if emb_path is None else str(emb_path),
            "cache_path": str(cache_path), "fingerprint": teacher.fingerprint, "shape": tuple(logits.shape), **stats}
