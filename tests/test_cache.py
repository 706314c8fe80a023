"""The on-disk logit cache: round trips, isolation per teacher, clear errors on foreign files."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from bert2sk.errors import InputError
from bert2sk.teacher.cache import LogitCache, text_hash


def test_round_trip_with_and_without_embeddings(tmp_path):
    path = tmp_path / "sub" / "cache.sqlite"
    hashes = [text_hash(t) for t in ("a", "b", "c")]
    z = np.arange(6, dtype=np.float32).reshape(3, 2)
    e = np.ones((3, 4), dtype=np.float32)
    with LogitCache(path) as cache:
        cache.put_many("fp1", hashes[:2], z[:2])
        cache.put_many("fp1", hashes[2:], z[2:], e[2:])
        assert cache.count() == 3 and cache.count("fp1") == 3 and cache.count("fp2") == 0
    with LogitCache(path) as cache:  # reopened: rows survive
        got, emb, missing = cache.get_many("fp1", hashes)
        np.testing.assert_array_equal(got, z)
        assert emb is None and not missing.any()
        got, emb, missing = cache.get_many("fp1", hashes, with_embeddings=True)
        assert missing.tolist() == [True, True, False]  # rows without an embedding do not count
        np.testing.assert_array_equal(emb[2], e[2])
        cache.put_many("fp1", hashes[:1], z[:1], e[:1])  # adding an embedding later replaces the row
        assert cache.get_many("fp1", hashes, with_embeddings=True)[2].tolist() == [False, True, False]
        # another teacher sees nothing
        assert cache.get_many("fp2", hashes)[2].all()
        assert cache.fingerprints() == ["fp1"] and cache.integrity_ok()


def test_duplicates_and_large_lookups(tmp_path):
    hashes = [text_hash(f"t{i}") for i in range(1200)]  # more than one IN (...) batch
    z = np.random.default_rng(0).normal(size=(1200, 3)).astype(np.float32)
    with LogitCache(tmp_path / "c.sqlite") as cache:
        cache.put_many("fp", hashes, z)
        got, _, missing = cache.get_many("fp", hashes + hashes[:5])
        assert not missing.any()
        np.testing.assert_array_equal(got[:1200], z)
        np.testing.assert_array_equal(got[1200:], z[:5])


def test_corrupt_and_foreign_files_are_named(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(InputError, match=r"junk\.sqlite.*Delete it"):
        LogitCache(junk)
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(InputError, match="another program"):
        LogitCache(other)
    with pytest.raises(InputError, match="is a folder"):
        LogitCache(tmp_path)


def test_bad_shapes(tmp_path):
    with LogitCache(tmp_path / "c.sqlite") as cache, pytest.raises(InputError, match="one row per hash"):
        cache.put_many("fp", [text_hash("a")], np.zeros((2, 2)))
