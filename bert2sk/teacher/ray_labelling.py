"""Teacher scoring on Ray Data: one machine or a cluster, resumable shard by shard.

:func:`label_with_ray` reads texts (a ``.jsonl[.gz]``, ``.csv[.gz]``,
``.tsv[.gz]`` or ``.parquet`` file, or a folder of such shards), scores them
with a pool of teacher actors (``Dataset.map_batches`` with a callable class,
``threads_per_actor`` torch threads in each) and writes parquet shards into
one output folder. Each shard row holds:

``source``, ``row``
    The input file (relative to the input folder) and the row's position in
    it: together, the row's place in the input.
``id``
    A stable id: the ``id_column`` value when one is given, else ``source:row``.
``text_sha256``
    The sha256 of the text's UTF-8 bytes (32 bytes; the same key as the logit cache).
``logits``
    float32, one per class (the same values as :meth:`Teacher.predict_logits`).
``embedding``
    The mean-pooled last-layer vector, only with ``embeddings=True``.

:func:`read_labels` gathers the shards back, in input order.

How a rerun resumes: shard-level bookkeeping, not Ray Data checkpointing
------------------------------------------------------------------------
Each actor writes the shard of the batch it has just scored itself, through
a temporary file and a rename, so a shard is either whole or absent. The
shards are the only record of what is done: a rerun reads their ``source``
and ``row`` columns (a few bytes a row), and the readers skip those rows
before anything reaches a teacher. A ``SIGKILL`` at any moment therefore
loses at most the batch each actor was scoring, and a finished run holds
every input row exactly once (:func:`read_labels` checks it). A run that
ends records so in the manifest (with each input's size and time), and a
rerun on unchanged inputs then returns without starting Ray.

Ray Data's ``CheckpointConfig`` (beta in Ray 2.60) was the other choice. It
was not taken because (i) it needs a unique id column that survives every
operator, and Ray's file readers give no row number, so inputs without an id
column could not be resumed; (ii) it records progress in a separate
checkpoint folder that must agree with the output, where here the output is
the record; (iii) its filter runs in extra actors, each reserving 1 GiB, a
poor fit for the small machines this also has to run on.

How rows reach the actors: one Ray task per input file reads it (and
numbers its rows), streaming; it packs each ``batch_size`` rows into one
block, and each block goes to whichever actor is free, so the rows of a
single file are spread over every actor. Reading itself is not parallel
within a file: an input so large that one reader cannot keep the actors
busy should come as a folder of shards.

Where files live: every node must see the teacher folder, the input and the
output folder at the same paths (a shared file system on a cluster).

Ray is optional: ``pip install 'bert2sk[ray]'``.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import InputError, require

__all__ = ["label_with_ray", "read_labels", "list_sources", "default_actors", "MANIFEST"]

logger = logging.getLogger(__name__)

#: The file in the output folder that records what the shards were scored with.
MANIFEST = "_bert2sk_labels.json"
_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet")
_INSTALL = "pip install 'bert2sk[ray]'"


# -- input ---------------------------------------------------------------------------------------------------
def _supported(path: Path) -> bool:
    return path.name.lower().removesuffix(".gz").endswith(_SUFFIXES) and not path.name.startswith((".", "_"))


def list_sources(data: str | os.PathLike) -> tuple[Path, list[str]]:
    """The input root and its files (relative, sorted): a single file, or every supported file under a folder.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> for name in ("b.jsonl", "a.csv", "notes.txt"):
    ...     _ = (d / name).write_text("text\\n")
    >>> list_sources(d)[1]
    ['a.csv', 'b.jsonl']
    """
    path = Path(data)
    if path.is_file():
        if not _supported(path):
            raise InputError(f"cannot read {path.name!r}; give a .jsonl[.gz], .csv[.gz], .tsv[.gz] or .parquet file "
                             "or a folder of them")
        return path.parent, [path.name]
    if path.is_dir():
        files = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file() and _supported(p))
        if not files:
            raise InputError(f"{path} holds no .jsonl/.csv/.tsv/.parquet files; check the folder")
        return path, files
    raise InputError(f"data not found: {path}; check the path")


def _iter_records(path: Path, text_column: str, id_column: str | None) -> Iterator[tuple[str, object]]:
    """``(text, id value or None)`` per record of one file, streamed."""
    name = path.name.lower()
    base = name.removesuffix(".gz")
    want = [text_column] + ([id_column] if id_column else [])
    if base.endswith(".parquet"):
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        missing = [c for c in want if c not in pf.schema_arrow.names]
        if missing:
            raise InputError(f"{path.name} has no column {missing[0]!r} (it has {pf.schema_arrow.names}); "
                             "pass --text-column / --id-column with the right name")
        for rb in pf.iter_batches(batch_size=4096, columns=want):
            texts = rb.column(text_column).to_pylist()
            ids = rb.column(id_column).to_pylist() if id_column else [None] * len(texts)
            yield from zip(texts, ids, strict=True)
        return
    opener = gzip.open if name.endswith(".gz") else open
    if base.endswith((".csv", ".tsv")):
        csv.field_size_limit(1 << 30)
        with opener(path, "rt", encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh, delimiter="\t" if base.endswith(".tsv") else ",")
            missing = [c for c in want if c not in (reader.fieldnames or ())]
            if missing:
                raise InputError(f"{path.name} has no column {missing[0]!r} (it has {reader.fieldnames}); "
                                 "pass --text-column / --id-column with the right name")
            for rec in reader:
                yield rec[text_column], rec[id_column] if id_column else None
        return
    with opener(path, "rt", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path.name}: line {lineno} is not valid JSON ({exc.msg}); fix or drop it") from None
            if not isinstance(rec, dict) or any(c not in rec for c in want):
                raise InputError(f"{path.name}: line {lineno} lacks a field of {want}; "
                                 "pass --text-column / --id-column with the right name")
            yield rec[text_column], rec[id_column] if id_column else None


def _text_hash(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def _read_source(batch: dict, *, root: str, text_column: str, id_column: str | None, done: dict,
                 rows_per_batch: int) -> Iterator:
    """Ray Data UDF: one input file in, one packed batch of not-yet-scored rows out per ``rows_per_batch``.

    Each output is a one-row Arrow table whose columns hold a whole batch as
    lists (``source``; ``row``, ``id``, ``text``, ``text_sha256``), so a block
    of the dataset is a batch of texts and cannot be cut between rows; the
    dataset's 1-byte block size target then closes every block as soon as it is
    yielded (see :func:`label_with_ray`).
    """
    for source in batch["source"]:
        source = str(source)
        skip = done.get(source)
        skip = set() if skip is None else set(np.asarray(skip).tolist())
        out: dict[str, list] = {"row": [], "id": [], "text": [], "text_sha256": []}
        for row, (text, ident) in enumerate(_iter_records(Path(root) / source, text_column, id_column)):
            if row in skip:
                continue
            if not isinstance(text, str) or not text.strip():
                raise InputError(f"{source}: row {row} has an empty or non-string text ({text!r:.40}); "
                                 "drop empty texts first")
            out["row"].append(row)
            out["id"].append(f"{source}:{row}" if ident is None else str(ident))
            out["text"].append(text)
            out["text_sha256"].append(_text_hash(text))
            if len(out["row"]) == rows_per_batch:
                yield _packed(source, out)
                out = {k: [] for k in out}
        if out["row"]:
            yield _packed(source, out)


def _packed(source: str, cols: dict[str, list]):
    """One batch as a one-row Arrow table of list columns."""
    import pyarrow as pa

    return pa.table({
        "source": pa.array([source], pa.string()),
        "row": pa.array([cols["row"]], pa.list_(pa.int64())),
        "id": pa.array([cols["id"]], pa.list_(pa.string())),
        "text": pa.array([cols["text"]], pa.list_(pa.string())),
        "text_sha256": pa.array([cols["text_sha256"]], pa.list_(pa.binary(32))),
    })


def _unpacked(table) -> dict[str, list]:
    """The rows of packed batches (as :func:`_packed` makes them), as columns of plain lists."""
    cols: dict[str, list] = {"source": [], "row": [], "id": [], "text": [], "text_sha256": []}
    for i in range(table.num_rows):
        rows = table.column("row")[i].as_py()
        cols["source"] += [table.column("source")[i].as_py()] * len(rows)
        cols["row"] += rows
        for name in ("id", "text", "text_sha256"):
            cols[name] += table.column(name)[i].as_py()
    return cols


# -- output shards ---------------------------------------------------------------------------------------------
def _shard_table(batch: dict, logits: np.ndarray, embeddings: np.ndarray | None, fingerprint: str):
    import pyarrow as pa

    def fixed(rows: np.ndarray):
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        return pa.FixedSizeListArray.from_arrays(pa.array(rows.ravel()), rows.shape[1])

    cols = {
        "source": pa.array([str(s) for s in batch["source"]], pa.string()),
        "row": pa.array(np.asarray(batch["row"], dtype=np.int64)),
        "id": pa.array([str(s) for s in batch["id"]], pa.string()),
        "text_sha256": pa.array([bytes(h) for h in batch["text_sha256"]], pa.binary(32)),
        "logits": fixed(logits),
    }
    if embeddings is not None:
        cols["embedding"] = fixed(embeddings)
    return pa.table(cols).replace_schema_metadata({"bert2sk_fingerprint": fingerprint})


def write_shard(out_dir: str | os.PathLike, table) -> str:
    """Write one shard atomically (temporary file, then rename); its name is a hash of its rows' places.

    The same rows always give the same name, so a batch written twice (a
    retried task) replaces itself instead of adding duplicates.
    """
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    h = hashlib.sha256()
    for s, r in zip(table.column("source").to_pylist(), table.column("row").to_pylist(), strict=True):
        h.update(f"{s}\0{r}\0".encode())
    name = f"part-{h.hexdigest()[:20]}.parquet"
    tmp = out_dir / f".{name}.{os.getpid()}.tmp"
    try:
        pq.write_table(table, tmp, compression="zstd")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, out_dir / name)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return name


def _shards(out_dir: Path) -> list[Path]:
    return sorted(out_dir.glob("part-*.parquet"))


def _done_rows(out_dir: Path) -> tuple[dict[str, np.ndarray], int]:
    """Rows already in shards, per source; leftover temporary files of a killed run are removed."""
    import pyarrow.parquet as pq

    for tmp in out_dir.glob(".part-*.tmp"):
        tmp.unlink(missing_ok=True)
    per_source: dict[str, list[np.ndarray]] = {}
    n = 0
    for shard in _shards(out_dir):
        t = pq.read_table(shard, columns=["source", "row"])
        sources = np.asarray(t.column("source").to_pylist(), dtype=object)
        rows = t.column("row").to_numpy()
        for s in np.unique(sources):
            per_source.setdefault(str(s), []).append(rows[sources == s])
        n += len(rows)
    return {s: np.concatenate(parts) for s, parts in per_source.items()}, n


# -- the scoring actor ---------------------------------------------------------------------------------------
class _TeacherActor:
    """Ray Data callable class: loads the teacher once per actor, scores a batch, writes its shard."""

    def __init__(self, teacher: str, teacher_kwargs: dict, threads: int, out_dir: str, embeddings: bool,
                 fingerprint: str, pause: float = 0.0) -> None:
        import torch

        from .model import Teacher

        torch.set_num_threads(threads)
        self.teacher = Teacher.from_pretrained(teacher, threads=threads, progress=False, **teacher_kwargs)
        if self.teacher.fingerprint != fingerprint:
            raise InputError(f"the teacher at {teacher} on this worker differs from the driver's "
                             "(fingerprint mismatch); every node must see the same teacher folder")
        self.out_dir = out_dir
        self.embeddings = embeddings
        self.fingerprint = fingerprint
        self.pause = pause  # tests slow a run down to kill it mid-way

    def __call__(self, packed) -> dict:
        batch = _unpacked(packed)
        texts = batch["text"]
        if self.embeddings:
            z, e = self.teacher.predict_logits(texts, return_embeddings=True)
        else:
            z, e = self.teacher.predict_logits(texts), None
        if self.pause:
            time.sleep(self.pause)
        name = write_shard(self.out_dir, _shard_table(batch, z, e, self.fingerprint))
        return {"shard": np.array([name], dtype=object), "rows": np.array([len(texts)], dtype=np.int64),
                "actor": np.array([os.getpid()], dtype=np.int64)}


# -- the driver ----------------------------------------------------------------------------------------------
def default_actors(cpus: int, threads_per_actor: int) -> int:
    """One actor per ``threads_per_actor`` CPUs, at least one.

    Examples
    --------
    >>> default_actors(8, 2), default_actors(2, 1), default_actors(1, 4)
    (4, 2, 1)
    """
    return max(1, int(cpus) // max(1, int(threads_per_actor)))


def _check_manifest(out_dir: Path, manifest: dict) -> None:
    path = out_dir / MANIFEST
    if path.exists():
        old = json.loads(path.read_text())
        for key in ("fingerprint", "text_column", "id_column", "embeddings", "sources"):
            if old.get(key) != manifest.get(key):
                raise InputError(
                    f"{out_dir} holds shards written with another {key} ({old.get(key)!r:.80}, now "
                    f"{manifest.get(key)!r:.80}); use another --out folder, or delete this one to start over")
        return
    if _shards(out_dir):
        raise InputError(f"{out_dir} holds shards but no {MANIFEST}; it was not written by this command. "
                         "Use another --out folder")
    from .._io import atomic_write_bytes

    atomic_write_bytes(path, json.dumps(manifest, indent=1).encode())


def _input_stamp(root: Path, sources: list[str]) -> list:
    """Size and modification time of each input: a finished run is only finished for unchanged inputs."""
    return [[s, (root / s).stat().st_size, (root / s).stat().st_mtime_ns] for s in sources]


def _mark_finished(out_dir: Path, rows: int, stamp: list) -> None:
    """Record in the manifest that every row of these inputs is in the shards (a rerun then starts no Ray)."""
    from .._io import atomic_write_bytes

    manifest = json.loads((out_dir / MANIFEST).read_text())
    manifest["finished"] = {"rows": rows, "inputs": stamp}
    atomic_write_bytes(out_dir / MANIFEST, json.dumps(manifest, indent=1).encode())


def _start_ray(address: str | None, cpus: int):
    """``(ray, started)``: connect to ``address``, reuse a running session, or start a local Ray of ``cpus`` CPUs."""
    try:
        ray = require("ray", "ray")
        require("ray.data", "ray")
    except ImportError as exc:
        raise type(exc)(f"{exc} (the Ray engine needs it: {_INSTALL})") from None
    if ray.is_initialized():
        return ray, False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no network calls at run time
    if address:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    else:
        # Ray lowers its workers' priority by 15 by default; the scoring actors *are* the work here, and on a
        # machine shared with other jobs a niceness of 15 starves them (they keep the driver's niceness instead)
        os.environ.setdefault("RAY_worker_niceness", "0")
        init_local_ray(ray, cpus)
    return ray, True


def init_local_ray(ray, cpus: int, attempts: int = 3) -> None:
    """Start a local Ray of ``cpus`` CPUs, retrying when its node misses Ray's fixed 30 s start-up window.

    On a machine busy with other work the raylet can take longer than Ray
    waits for it; a second attempt usually finds the processes warm.
    """
    for attempt in range(attempts):
        try:
            ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, configure_logging=False,
                     object_store_memory=256 * 1024 * 1024)
            return
        except Exception as exc:
            if "timed out during startup" not in str(exc) or attempt == attempts - 1:
                raise
            logger.warning("Ray's node did not start within its 30 s window (a busy machine?); retrying")
            ray.shutdown()


def _sigterm_handler():
    """The current SIGTERM handler, or ``None`` outside the main thread (where handlers cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    handler = signal.getsignal(signal.SIGTERM)
    return signal.SIG_DFL if handler is None else handler  # None: set outside Python; the default stands in


def _exit_on_sigterm() -> None:
    """Make SIGTERM raise ``SystemExit(143)`` in the main thread, so ``finally`` blocks run.

    By default a SIGTERM ends the process at once (Ray's core worker aborts
    it): ``ray.shutdown()`` never runs, and the Ray processes this call
    started are left to notice their parent's death, or not, on systems
    without Linux's parent-death signal. A second SIGTERM while the first is
    being handled is ignored, so it cannot cut the shutdown short.
    """
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        logger.warning("teacher labelling on Ray: terminated (SIGTERM); shutting Ray down. Rerun to resume")
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def _restore_sigterm(handler) -> None:
    if handler is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def label_with_ray(
    teacher: str | os.PathLike,
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    text_column: str = "text",
    id_column: str | None = None,
    address: str | None = None,
    actors: int | None = None,
    threads_per_actor: int = 1,
    batch_size: int = 512,
    max_length: int = 256,
    dtype: str = "auto",
    truncation: str = "head+tail",
    embeddings: bool = False,
    progress: bool = True,
    _pause: float = 0.0,
) -> dict:
    """Score every text of ``data`` with the teacher on Ray and write parquet shards into ``out``.

    Parameters
    ----------
    teacher : path
        Teacher model folder (every Ray node must see it at this path).
    data : path
        A ``.jsonl[.gz]``/``.csv[.gz]``/``.tsv[.gz]``/``.parquet`` file or a folder of them.
    out : path
        Output folder of ``part-*.parquet`` shards (created; reused by a rerun).
    text_column, id_column : str
        The text's column; a column of unique ids (default: ``source:row``).
    address : str, optional
        A running Ray cluster (``auto`` or ``ray://host:10001``). Without it, a
        local Ray with ``actors * threads_per_actor`` CPUs is started and shut
        down. If Ray is already initialised in this process, that session is used.
    actors : int, optional
        Teacher actors (model copies). Default: the CPUs Ray offers divided by ``threads_per_actor``.
    threads_per_actor : int
        Torch threads in each actor (and the CPUs each one reserves).
    batch_size : int
        Texts per actor call: the unit of scoring, of shard and of loss on a kill.
    max_length, dtype, truncation
        As for :class:`~bert2sk.teacher.Teacher`.
    embeddings : bool
        Also store mean-pooled embeddings.
    progress : bool
        Show a progress bar of rows scored.

    Returns
    -------
    dict
        ``out``, ``fingerprint``, ``scored`` (rows scored now), ``already`` (rows found in
        shards before), ``shards`` (written now), ``actors``, ``threads_per_actor``, ``seconds``,
        ``rows_per_actor`` (rows each actor scored now, largest first).

    Notes
    -----
    A Ray this call started or connected to is shut down however the call
    ends: on an error, on Ctrl-C, and on SIGTERM, which raises
    ``SystemExit(143)`` while the call runs (in the main thread; the
    previous handler is restored after). A rerun then resumes.

    Examples
    --------
    >>> info = label_with_ray("my-teacher", "texts.jsonl", "labels/")  # doctest: +SKIP
    >>> read_labels("labels/")["logits"].shape  # doctest: +SKIP
    (100000, 2)
    """
    from .model import Teacher, progress_bar

    if batch_size < 1 or threads_per_actor < 1 or (actors is not None and actors < 1):
        raise InputError("batch_size, threads_per_actor and actors must be positive")
    root, sources = list_sources(data)
    teacher = str(teacher)
    teacher_kwargs = {"max_length": max_length, "dtype": dtype, "truncation": truncation,
                      "batch_size": min(32, batch_size)}
    # the driver loads the teacher once too: its fingerprint names what the shards hold
    t = Teacher.from_pretrained(teacher, progress=False, **teacher_kwargs)
    fingerprint = t.fingerprint
    manifest = {"fingerprint": fingerprint, "teacher": Path(teacher).name, "label_names": list(t.label_names),
                "task": t.task, "max_length": max_length, "truncation": truncation, "dtype": t.dtype,
                "text_column": text_column, "id_column": id_column, "embeddings": embeddings, "sources": sources}
    del t
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_manifest(out_dir, manifest)
    done, already = _done_rows(out_dir)
    stamp = _input_stamp(root, sources)
    finished = json.loads((out_dir / MANIFEST).read_text()).get("finished")
    if finished and finished.get("rows") == already and finished.get("inputs") == stamp:
        logger.info("teacher labelling on Ray: all %d rows are already in %s; nothing to score", already, out_dir)
        return {"out": str(out_dir), "fingerprint": fingerprint, "scored": 0, "already": already, "shards": 0,
                "actors": 0, "threads_per_actor": threads_per_actor, "seconds": 0.0, "rows_per_actor": []}

    local_cpus = actors * threads_per_actor if actors else (os.cpu_count() or 1)
    sigterm_before = _sigterm_handler()
    ray, started = _start_ray(address, local_cpus)
    if started:  # installed after ray.init, which sets handlers of its own
        _exit_on_sigterm()
    started_at = time.perf_counter()
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # one bar of our own, not one per operator
        ctx.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        cpus = int(ray.cluster_resources().get("CPU", local_cpus))
        n_actors = actors or default_actors(cpus, threads_per_actor)
        if n_actors * threads_per_actor > cpus:
            raise InputError(f"{n_actors} actors x {threads_per_actor} threads need {n_actors * threads_per_actor} "
                             f"CPUs but Ray offers {cpus}; lower --actors or --threads-per-actor")
        ds = ray.data.from_items([{"source": s} for s in sources], override_num_blocks=len(sources))
        # A map task gathers what its function yields into blocks of up to target_max_block_size (128 MiB by
        # default), and an actor task takes whole blocks: left so, a file's batches reach the actors as one
        # block and one actor scores the whole file. The reader yields each batch packed into one row (its
        # columns are lists), and this dataset's 1-byte target closes a block at every row, so every block
        # is one batch, sent to whichever actor is free, and the reader streams instead of filling a block.
        # (Ray's streaming repartition would cut blocks by rows too, but it runs as tasks that need a CPU,
        # which the actors hold.) The setting is this dataset's copy of the context, not the session's.
        ds.context.target_max_block_size = 1
        # reading is light next to scoring; num_cpus=0 lets it run while the actors hold every CPU
        ds = ds.map_batches(_read_source, batch_size=1, num_cpus=0,
                            fn_kwargs={"root": str(root), "text_column": text_column, "id_column": id_column,
                                       "done": done, "rows_per_batch": batch_size})
        # one batch at a time per actor: an actor that is slow to start does not find every batch queued on
        # the first one ready (Ray's default queues several per actor), and a kill loses at most that batch
        pool = ray.data.ActorPoolStrategy(size=n_actors, max_tasks_in_flight_per_actor=1)
        ds = ds.map_batches(_TeacherActor, batch_size=1, batch_format="pyarrow", compute=pool,
                            num_cpus=threads_per_actor,
                            fn_constructor_kwargs={"teacher": teacher, "teacher_kwargs": teacher_kwargs,
                                                   "threads": threads_per_actor, "out_dir": str(out_dir.resolve()),
                                                   "embeddings": embeddings, "fingerprint": fingerprint,
                                                   "pause": _pause})
        scored = shards = 0
        per_actor: dict[int, int] = {}
        with progress_bar(None, f"teacher labelling on Ray ({n_actors} actors)", progress) as bar:
            for summary in ds.iter_batches(batch_size=None, batch_format="numpy"):
                n = int(np.sum(summary["rows"]))
                scored += n
                shards += len(summary["rows"])
                for pid, rows in zip(summary["actor"].tolist(), summary["rows"].tolist(), strict=True):
                    per_actor[pid] = per_actor.get(pid, 0) + rows
                bar.update(n)
    except Exception as exc:
        cause = _user_error(exc)
        if cause is not None:
            raise cause from None
        raise
    finally:
        if started:
            ray.shutdown()
            _restore_sigterm(sigterm_before)
    seconds = time.perf_counter() - started_at
    _mark_finished(out_dir, already + scored, stamp)
    logger.info("teacher labelling on Ray: %d rows scored into %d shards (%d were already done) in %.1f s",
                scored, shards, already, seconds)
    return {"out": str(out_dir), "fingerprint": fingerprint, "scored": scored, "already": already, "shards": shards,
            "actors": n_actors, "threads_per_actor": threads_per_actor, "seconds": seconds,
            "rows_per_actor": sorted(per_actor.values(), reverse=True)}


def _user_error(exc: BaseException) -> InputError | None:
    """The InputError a Ray task raised, if ``exc`` wraps one: the deepest, so the user sees its one line."""
    seen: set[int] = set()
    found = None
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, InputError):
            found = exc
        inner = getattr(exc, "cause", None)
        exc = inner if isinstance(inner, BaseException) else (exc.__cause__ or exc.__context__)
    if found is None:
        return None
    # Ray appends its retry advice (and sometimes a traceback) to the message: keep our line
    lines = [line for line in str(found).strip().splitlines()
             if line.strip() and not line.startswith(("Traceback", " ", "ray::", "File "))]
    return InputError(lines[0] if lines else type(found).__name__)


def read_labels(out: str | os.PathLike, *, embeddings: bool = False, check_complete: bool = True) -> dict:
    """The shards of an output folder as arrays, in input order (by source file, then row).

    Parameters
    ----------
    out : path
        A folder written by :func:`label_with_ray`.
    embeddings : bool
        Also return the ``embedding`` column.
    check_complete : bool
        Raise when a row appears twice (it never should).

    Returns
    -------
    dict
        ``source``, ``row``, ``id`` (object arrays / int64), ``text_sha256`` (list of bytes),
        ``logits`` ``(n, k)`` float32, ``embedding`` ``(n, d)`` when asked for, and ``manifest``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out_dir = Path(out)
    shards = _shards(out_dir)
    if not (out_dir / MANIFEST).exists() or not shards:
        raise InputError(f"{out_dir} holds no labelled shards; run `bert2sk label DATA --engine ray --out {out_dir}`")
    cols = ["source", "row", "id", "text_sha256", "logits"] + (["embedding"] if embeddings else [])
    table = pa.concat_tables([pq.read_table(s, columns=cols) for s in shards])
    source = np.asarray(table.column("source").to_pylist(), dtype=object)
    row = table.column("row").to_numpy()
    order = np.lexsort((row, source.astype(str)))
    hashes = table.column("text_sha256").to_pylist()
    if check_complete and len(order) > 1:
        same = (source[order][1:] == source[order][:-1]) & (row[order][1:] == row[order][:-1])
        if same.any():
            i = order[1:][same][0]
            raise InputError(f"{out_dir}: row {row[i]} of {source[i]} appears more than once; "
                             "delete the folder and label again")

    def matrix(name: str) -> np.ndarray:
        col = table.column(name).combine_chunks()
        width = col.type.list_size
        return col.flatten().to_numpy().reshape(-1, width)[order]

    result = {"source": source[order], "row": row[order],
              "id": np.asarray(table.column("id").to_pylist(), dtype=object)[order],
              "text_sha256": [hashes[i] for i in order],
              "logits": matrix("logits"), "manifest": json.loads((out_dir / MANIFEST).read_text())}
    if embeddings:
        result["embedding"] = matrix("embedding")
    return result
