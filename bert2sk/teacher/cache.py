"""A crash-safe on-disk cache of teacher logits, keyed by teacher and text content.

Scoring is the slow step of distillation, so its results are kept in one
SQLite file: one row per (teacher fingerprint, sha256 of the text) with the
float32 logits (and, when asked for, the mean-pooled embedding) as blobs.
SQLite in WAL mode with one transaction per chunk means a run killed at any
moment (even ``SIGKILL``) leaves every committed chunk readable and nothing
half written, so the next run resumes where the last one stopped.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["LogitCache", "text_hash"]

# "b2sk" as a big-endian int: lets us tell our own file from any other SQLite file.
APPLICATION_ID = 0x6232736B
SCHEMA_VERSION = 1
_IN_CHUNK = 500  # stays below SQLite's bound-parameter limit on old builds


def text_hash(text: str) -> bytes:
    """The 32-byte sha256 digest of a text's UTF-8 bytes (the cache key).

    Examples
    --------
    >>> text_hash("a fine film").hex()[:12]
    'bac6d0ff1e0a'
    """
    return hashlib.sha256(text.encode("utf-8")).digest()


class LogitCache:
    """Teacher logits (and optional embeddings) stored by content in a SQLite file.

    Parameters
    ----------
    path : str or Path
        The cache file; created (with its folder) when missing.
    timeout : float
        Seconds to wait for another process that holds the write lock.

    Examples
    --------
    >>> import tempfile, os
    >>> with LogitCache(os.path.join(tempfile.mkdtemp(), "c.sqlite")) as cache:
    ...     h = [text_hash("good"), text_hash("bad")]
    ...     cache.put_many("teacher-1", h, np.array([[0.0, 2.0], [0.0, -1.0]], dtype=np.float32))
    ...     logits, _, missing = cache.get_many("teacher-1", h + [text_hash("new")])
    >>> logits[:2].tolist(), missing.tolist()
    ([[0.0, 2.0], [0.0, -1.0]], [False, False, True])
    """

    def __init__(self, path: str | Path, timeout: float = 60.0) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise InputError(
                f"logit cache path {self.path} is a folder; give a file path such as {self.path}/cache.sqlite")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        try:
            self._con = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise InputError(
                f"cannot open the logit cache {self.path} ({exc}); check the path and its permissions") from None
        try:
            self._setup(fresh)
        except sqlite3.DatabaseError as exc:
            self._con.close()
            raise self._foreign(str(exc)) from None

    def _foreign(self, why: str) -> InputError:
        return InputError(
            f"{self.path} is not a usable bert2sk logit cache ({why}); it is corrupt or belongs to something else. "
            f"Delete it (rm {self.path}) or choose another cache path; the teacher will rescore what it held."
        )

    def _setup(self, fresh: bool) -> None:
        con = self._con
        app_id = con.execute("PRAGMA application_id").fetchone()[0]
        if fresh and app_id == 0:
            # WAL lets readers run during a write and keeps the main file intact on a crash.
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("BEGIN IMMEDIATE")
            con.execute(f"PRAGMA application_id={APPLICATION_ID}")
            con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            con.execute(
                "CREATE TABLE IF NOT EXISTS logits (fingerprint TEXT NOT NULL, text_sha256 BLOB NOT NULL, "
                "logits BLOB NOT NULL, embedding BLOB, PRIMARY KEY (fingerprint, text_sha256)) WITHOUT ROWID"
            )
            con.execute("COMMIT")
        else:
            if app_id != APPLICATION_ID:
                raise sqlite3.DatabaseError("it is an SQLite file written by another program")
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"cache format version {version}, this bert2sk reads {SCHEMA_VERSION}")
            con.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable against a killed process in WAL mode; only power loss may drop the last commit.
        con.execute("PRAGMA synchronous=NORMAL")

    # -- context manager ---------------------------------------------------------------
    def __enter__(self) -> LogitCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the file (safe to call twice)."""
        if getattr(self, "_con", None) is not None:
            self._con.close()
            self._con = None

    # -- reads and writes --------------------------------------------------------------
    def get_many(
        self, fingerprint: str, hashes: Sequence[bytes], *, with_embeddings: bool = False
    ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray]:
        """Look up rows for one teacher.

        Parameters
        ----------
        fingerprint : str
            The teacher's :attr:`~bert2sk.teacher.Teacher.fingerprint`.
        hashes : sequence of bytes
            :func:`text_hash` of each text.
        with_embeddings : bool
            Also return embeddings; a row cached without one counts as missing.

        Returns
        -------
        logits : ndarray of shape (n, k) or None
            float32, NaN on missing rows; ``None`` when nothing was found.
        embeddings : ndarray of shape (n, d) or None
        missing : ndarray of bool, shape (n,)
        """
        found: dict[bytes, tuple[bytes, bytes | None]] = {}
        unique = list(dict.fromkeys(hashes))
        try:
            for start in range(0, len(unique), _IN_CHUNK):
                part = unique[start:start + _IN_CHUNK]
                marks = ",".join("?" * len(part))
                for h, z, e in self._con.execute(
                    "SELECT text_sha256, logits, embedding FROM logits "
                    f"WHERE fingerprint=? AND text_sha256 IN ({marks})",
                    [fingerprint, *part],
                ):
                    found[bytes(h)] = (z, e)
        except sqlite3.DatabaseError as exc:
            raise self._foreign(str(exc)) from None
        n = len(hashes)
        missing = np.ones(n, dtype=bool)
        logits = emb = None
        for i, h in enumerate(hashes):
            row = found.get(h)
            if row is None or (with_embeddings and row[1] is None):
                continue
            z = np.frombuffer(row[0], dtype=np.float32)
            if logits is None:
                logits = np.full((n, z.size), np.nan, dtype=np.float32)
            logits[i] = z
            if with_embeddings:
                e = np.frombuffer(row[1], dtype=np.float32)
                if emb is None:
                    emb = np.full((n, e.size), np.nan, dtype=np.float32)
                emb[i] = e
            missing[i] = False
        return logits, emb, missing

    def put_many(
        self, fingerprint: str, hashes: Sequence[bytes], logits: np.ndarray, embeddings: np.ndarray | None = None
    ) -> None:
        """Store rows for one teacher in a single transaction (all or nothing).

        Existing rows are replaced, so adding embeddings to a row that had
        only logits works.
        """
        logits = np.ascontiguousarray(logits, dtype=np.float32)
        if logits.ndim != 2 or len(logits) != len(hashes):
            raise InputError(
                f"logits must be (n, k) with one row per hash; got {logits.shape} for {len(hashes)} hashes")
        if embeddings is not None:
            embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
            if len(embeddings) != len(hashes):
                raise InputError("embeddings need one row per hash")
        rows: Iterable = (
            (fingerprint, h, logits[i].tobytes(), None if embeddings is None else embeddings[i].tobytes())
            for i, h in enumerate(hashes)
        )
        try:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                self._con.executemany(
                    "INSERT OR REPLACE INTO logits (fingerprint, text_sha256, logits, embedding) VALUES (?,?,?,?)", rows
                )
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if "full" in str(exc).lower():
                raise InputError(f"disk full while writing the logit cache {self.path}; free space and rerun "
                                 "(scored chunks already committed are kept)") from None
            raise

    def count(self, fingerprint: str | None = None) -> int:
        """Rows held (for one teacher, or for all)."""
        if fingerprint is None:
            return int(self._con.execute("SELECT COUNT(*) FROM logits").fetchone()[0])
        return int(self._con.execute("SELECT COUNT(*) FROM logits WHERE fingerprint=?", (fingerprint,)).fetchone()[0])

    def fingerprints(self) -> list[str]:
        """The teachers that have rows in this cache."""
        return [r[0] for r in self._con.execute("SELECT DISTINCT fingerprint FROM logits ORDER BY fingerprint")]

    def integrity_ok(self) -> bool:
        """True when SQLite's ``integrity_check`` finds nothing wrong."""
        return self._con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    def __repr__(self) -> str:
        return f"LogitCache({str(self.path)!r})"
