"""Labelling: streamed, deduplicated, never rescoring, and safe to SIGKILL."""

from __future__ import annotations

import gzip
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from bert2sk.errors import InputError
from bert2sk.teacher import Teacher
from bert2sk.teacher.cache import LogitCache
from bert2sk.teacher.labelling import label_file, label_texts

from .conftest import WORDS

ROOT = Path(__file__).resolve().parents[1]


def make_texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, int(rng.integers(4, 12)))) + f" w{i % 60}" for i in range(n)]


def counting(teacher: Teacher) -> list[int]:
    """Wrap the model's forward so every scored row is counted."""
    seen: list[int] = []
    forward = teacher.model.forward

    def wrapped(*args, **kwargs):
        seen.append(int(kwargs["input_ids"].shape[0]))
        return forward(*args, **kwargs)

    teacher.model.forward = wrapped
    return seen


@pytest.fixture
def teacher(tiny_bert) -> Teacher:
    return Teacher.from_pretrained(tiny_bert, max_length=32, batch_size=16, dtype="fp32", progress=False)


def test_never_scores_a_text_twice(teacher, tmp_path):
    texts = make_texts(150)
    texts = texts + texts[:40] + ["good film"] * 5  # repeats across and within chunks
    calls = counting(teacher)
    stats: dict = {}
    z = label_texts(teacher, iter(texts), tmp_path / "c.sqlite", chunk_size=32, progress=False, stats=stats)
    distinct = len(set(texts))
    assert sum(calls) == distinct == stats["scored"]
    assert stats["n"] == len(texts) and stats["cached"] + stats["scored"] + stats["duplicates"] == len(texts)
    np.testing.assert_allclose(z, teacher.predict_logits(texts), atol=1e-4)
    # repeats (from the cache, or scored earlier in their chunk) carry their first occurrence's row exactly
    np.testing.assert_array_equal(z[150:190], z[:40])
    np.testing.assert_array_equal(z[-5:], np.repeat(z[-5:-4], 5, axis=0))
    assert np.abs(z[1:40] - z[0]).max(1).min() > 1e-2  # and those rows differ, so a misplaced one would fail
    calls.clear()
    again = label_texts(teacher, texts, tmp_path / "c.sqlite", chunk_size=32, progress=False, stats=stats)
    assert sum(calls) == 0 and stats["cached"] == len(texts)
    np.testing.assert_array_equal(again, z)


@pytest.mark.parametrize("cache", ["none", "empty", "partly filled"])
def test_repeats_in_a_chunk_get_their_first_occurrences_row(teacher, tmp_path, cache):
    """A text seen twice in one chunk is scored once; every repeat gets that text's row, in place."""
    a, b, c, d = make_texts(4, seed=3)
    texts = [a, b, a, c, b, a, d, c]
    singles = {t: teacher.predict_logits([t], return_embeddings=True) for t in (a, b, c, d)}
    ref_z = np.vstack([singles[t][0] for t in texts])
    ref_e = np.vstack([singles[t][1] for t in texts])
    # the four texts score far apart, so a repeat given another text's row fails below
    gaps = np.abs(ref_z[:, None] - ref_z[None]).max(-1)[[0, 0, 0, 1, 1, 3], [1, 3, 6, 3, 6, 6]]
    assert gaps.min() > 0.1
    cache_path = None if cache == "none" else tmp_path / "c.sqlite"
    if cache == "partly filled":  # b comes from the cache, a, c and d are scored in the same chunk
        label_texts(teacher, [b], cache_path, return_embeddings=True, progress=False)
    calls = counting(teacher)
    stats: dict = {}
    z, e = label_texts(teacher, texts, cache_path, chunk_size=64, return_embeddings=True, progress=False,
                       stats=stats)
    # partly filled: both b's come from the cache; a, c, d are scored once, and a, a, c repeat
    n_cached, n_scored, n_repeats = (2, 3, 3) if cache == "partly filled" else (0, 4, 4)
    assert sum(calls) == stats["scored"] == n_scored
    assert (stats["cached"], stats["duplicates"], stats["n"]) == (n_cached, n_repeats, 8)
    np.testing.assert_allclose(z, ref_z, atol=1e-4)
    np.testing.assert_allclose(e, ref_e, atol=1e-4)
    for i, t in enumerate(texts):  # a repeat is a copy of its first occurrence, to the bit
        np.testing.assert_array_equal(z[i], z[texts.index(t)])
        np.testing.assert_array_equal(e[i], e[texts.index(t)])


def test_progress_into_a_log_file_is_a_summary_not_a_line_per_chunk(teacher, capsys, caplog):
    """Redirected output (not a terminal) gets the bar's start and end, not a redraw per chunk."""
    import logging

    forward = teacher.model.forward
    # pace the run (20 ms a chunk) so a bar redrawing every 0.1 s would draw a dozen times
    teacher.model.forward = lambda *a, **k: (time.sleep(0.02), forward(*a, **k))[1]
    texts = make_texts(400)
    with caplog.at_level(logging.INFO, logger="bert2sk.teacher.labelling"):
        label_texts(teacher, texts, None, chunk_size=8, progress=True)
    err = capsys.readouterr().err
    draws = err.count("teacher labelling")
    assert 1 <= draws <= 3, err
    assert "400/400" in err.rsplit("teacher labelling", 1)[-1]  # the last draw is the final count
    assert "400 texts, 0 from the cache, 400 scored" in caplog.text


def test_embeddings_and_npy_output(teacher, tmp_path):
    texts = make_texts(50)
    out = tmp_path / "out" / "logits.npy"
    z, emb = label_texts(teacher, texts, tmp_path / "c.sqlite", chunk_size=16, return_embeddings=True,
                         progress=False, out_path=out)
    assert isinstance(z, np.memmap) and z.shape == (50, 2) and emb.shape == (50, 32)
    ref_z, ref_e = teacher.predict_logits(texts, return_embeddings=True)
    np.testing.assert_allclose(np.load(out), ref_z, atol=1e-4)
    np.testing.assert_allclose(np.load(tmp_path / "out" / "logits.embeddings.npy"), ref_e, atol=1e-4)
    assert sorted(p.name for p in out.parent.iterdir()) == ["logits.embeddings.npy", "logits.npy"]


def test_label_file_streams_jsonl_and_csv(teacher, tmp_path):
    texts = make_texts(30)
    jl = tmp_path / "in.jsonl.gz"
    with gzip.open(jl, "wt") as fh:
        for i, t in enumerate(texts):
            fh.write(json.dumps({"id": i, "review": t}) + "\n")
    summary = label_file(teacher, jl, tmp_path / "z.npy", text_column="review", chunk_size=8, progress=False)
    assert summary["shape"] == (30, 2) and summary["scored"] == 30
    np.testing.assert_allclose(np.load(tmp_path / "z.npy"), teacher.predict_logits(texts), atol=1e-4)
    csv_path = tmp_path / "in.csv"
    csv_path.write_text("text\n" + "\n".join(f'"{t}"' for t in texts) + "\n")
    summary = label_file(teacher, csv_path, tmp_path / "z2.npy", cache_path=tmp_path / "z.npy.cache.sqlite",
                         progress=False)
    assert summary["cached"] == 30 and summary["scored"] == 0
    with pytest.raises(InputError, match="no field 'text'.*text-column"):
        label_file(teacher, jl, tmp_path / "bad.npy", progress=False)
    assert not (tmp_path / "bad.npy").exists()
    with pytest.raises(InputError, match="empty"):
        label_texts(teacher, ["good", "  "], None, progress=False)


KILL_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    sys.path.insert(0, {tests!r})
    from conftest import WORDS
    from bert2sk.teacher import Teacher
    from bert2sk.teacher.labelling import label_texts
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, int(rng.integers(4, 12)))) + f" w{{i % 60}}" for i in range({n})]
    teacher = Teacher.from_pretrained({model!r}, max_length=32, batch_size=16, dtype="fp32", progress=False,
                                      threads=1)
    if {pace}:
        # pace the run (10 ms a batch) so the kill lands mid-run however fast the machine is
        import time
        forward = teacher.model.forward
        teacher.model.forward = lambda *a, **k: (time.sleep(0.01), forward(*a, **k))[1]
    stats = {{}}
    z = label_texts(teacher, (t for t in texts), {cache!r}, chunk_size={chunk}, progress=False, stats=stats)
    np.save({out!r}, z)
    print(json.dumps(stats))
""")


def _run_script(tiny_bert, cache, out, n, chunk, pace=False) -> subprocess.Popen:
    script = KILL_SCRIPT.format(tests=str(ROOT / "tests"), n=n, model=str(tiny_bert), cache=str(cache),
                                chunk=chunk, out=str(out), pace=pace)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, text=True)


def _rows(cache: Path) -> int:
    if not cache.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{cache}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM logits").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0  # not created yet


def test_sigkill_mid_run_then_resume(tiny_bert, tmp_path):
    n, chunk = 3000, 100
    cache = tmp_path / "kill.sqlite"
    proc = _run_script(tiny_bert, cache, tmp_path / "first.npy", n, chunk, pace=True)
    deadline = time.time() + 60
    while _rows(cache) < 3 * chunk and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.communicate()[1][-2000:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = _rows(cache)
    assert 0 < done_before < n and not (tmp_path / "first.npy").exists()

    with LogitCache(cache) as c:  # readable and intact after SIGKILL
        assert c.integrity_ok() and c.count() == done_before

    second = _run_script(tiny_bert, cache, tmp_path / "second.npy", n, chunk)
    out, err = second.communicate(timeout=600)
    assert second.returncode == 0, err[-2000:]
    stats = json.loads(out.strip().splitlines()[-1])
    distinct = len(set(make_texts(n)))
    assert stats["scored"] == distinct - done_before  # only the remaining texts were scored
    assert stats["cached"] + stats["scored"] + stats["duplicates"] == n

    with LogitCache(cache) as c:
        assert c.integrity_ok() and c.count() == distinct
    teacher = Teacher.from_pretrained(tiny_bert, max_length=32, batch_size=16, dtype="fp32", progress=False)
    fresh = label_texts(teacher, make_texts(n), tmp_path / "fresh.sqlite", chunk_size=500, progress=False)
    np.testing.assert_allclose(np.load(tmp_path / "second.npy"), fresh, atol=1e-4)
