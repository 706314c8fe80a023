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
    np.testing.assert_allclose(z, teacher.predict_logits(texts), atol=1e-5)
    calls.clear()
    again = label_texts(teacher, texts, tmp_path / "c.sqlite", chunk_size=32, progress=False, stats=stats)
    assert sum(calls) == 0 and stats["cached"] == len(texts)
    np.testing.assert_array_equal(again, z)


def test_embeddings_and_npy_output(teacher, tmp_path):
    texts = make_texts(50)
    out = tmp_path / "out" / "logits.npy"
    z, emb = label_texts(teacher, texts, tmp_path / "c.sqlite", chunk_size=16, return_embeddings=True,
                         progress=False, out_path=out)
    assert isinstance(z, np.memmap) and z.shape == (50, 2) and emb.shape == (50, 32)
    ref_z, ref_e = teacher.predict_logits(texts, return_embeddings=True)
    np.testing.assert_allclose(np.load(out), ref_z, atol=1e-5)
    np.testing.assert_allclose(np.load(tmp_path / "out" / "logits.embeddings.npy"), ref_e, atol=1e-5)
    assert sorted(p.name for p in out.parent.iterdir()) == ["logits.embeddings.npy", "logits.npy"]


def test_label_file_streams_jsonl_and_csv(teacher, tmp_path):
    texts = make_texts(30)
    jl = tmp_path / "in.jsonl.gz"
    with gzip.open(jl, "wt") as fh:
        for i, t in enumerate(texts):
            fh.write(json.dumps({"id": i, "review": t}) + "\n")
    summary = label_file(teacher, jl, tmp_path / "z.npy", text_column="review", chunk_size=8, progress=False)
    assert summary["shape"] == (30, 2) and summary["scored"] == 30
    np.testing.assert_allclose(np.load(tmp_path / "z.npy"), teacher.predict_logits(texts), atol=1e-5)
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
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err[-2000:]
    stats = json.loads(out.strip().splitlines()[-1])
    distinct = len(set(make_texts(n)))
    assert stats["scored"] == distinct - done_before  # only the remaining texts were scored
    assert stats["cached"] + stats["scored"] + stats["duplicates"] == n

    with LogitCache(cache) as c:
        assert c.integrity_ok() and c.count() == distinct
    teacher = Teacher.from_pretrained(tiny_bert, max_length=32, batch_size=16, dtype="fp32", progress=False)
    fresh = label_texts(teacher, make_texts(n), tmp_path / "fresh.sqlite", chunk_size=500, progress=False)
    np.testing.assert_allclose(np.load(tmp_path / "second.npy"), fresh, atol=1e-5)
