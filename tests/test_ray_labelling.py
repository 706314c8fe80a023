"""Teacher scoring on Ray Data: the same logits as the single-process path, and a rerun that resumes a kill.

One local Ray session (2 CPUs) serves the whole module: starting Ray takes
seconds. The SIGKILL test runs a real driver in a subprocess with its own
local Ray, kills its whole process group mid-run, and resumes in this session.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

pytest.importorskip("ray", reason="the Ray engine is optional: pip install 'bert2sk[ray]'")
pytest.importorskip("ray.data", reason="the Ray engine needs ray[data]: pip install 'bert2sk[ray]'")

from bert2sk.errors import InputError  # noqa: E402
from bert2sk.teacher import Teacher  # noqa: E402
from bert2sk.teacher.cache import text_hash  # noqa: E402
from bert2sk.teacher.labelling import label_texts  # noqa: E402
from bert2sk.teacher.ray_labelling import MANIFEST, init_local_ray, label_with_ray, read_labels  # noqa: E402

from .conftest import WORDS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"max_length": 32, "dtype": "fp32", "progress": False}


def make_texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, int(rng.integers(4, 12)))) + f" w{i % 60}" for i in range(n)]


@pytest.fixture(scope="module")
def ray_session():
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_worker_niceness", "0")  # as label_with_ray does: workers at the test's priority
    init_local_ray(ray, 2)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, list[str]]:
    """300 texts in three shards of three formats; returns the folder and the texts in input order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = make_texts(300)
    folder = tmp_path_factory.mktemp("ray-input")
    with open(folder / "a.jsonl", "w", encoding="utf-8") as fh:
        for t in texts[:150]:
            fh.write(json.dumps({"text": t}) + "\n")
    with open(folder / "b.csv", "w", encoding="utf-8") as fh:
        fh.write("text\n" + "".join(f'"{t}"\n' for t in texts[150:250]))
    pq.write_table(pa.table({"text": texts[250:]}), folder / "c.parquet")
    return folder, texts


@pytest.fixture(scope="module")
def reference(tiny_bert, corpus) -> np.ndarray:
    """The single-process path's logits for the same texts."""
    teacher = Teacher.from_pretrained(tiny_bert, **SETTINGS)
    return label_texts(teacher, corpus[1], None, chunk_size=128, progress=False)


@pytest.fixture(scope="module")
def labelled(ray_session, tiny_bert, corpus, tmp_path_factory) -> tuple[Path, dict]:
    """The corpus scored on Ray by 2 actors: the output folder and what the run reported."""
    out = tmp_path_factory.mktemp("ray-output") / "out"
    info = label_with_ray(tiny_bert, corpus[0], out, actors=2, batch_size=40, max_length=32, dtype="fp32",
                          progress=False)
    return out, info


def test_ray_logits_equal_the_single_process_path(labelled, corpus, reference):
    (out, info), texts = labelled, corpus[1]
    assert info["scored"] == len(texts) and info["already"] == 0 and info["actors"] == 2
    got = read_labels(out)
    assert got["source"].tolist() == ["a.jsonl"] * 150 + ["b.csv"] * 100 + ["c.parquet"] * 50
    assert got["row"].tolist() == [*range(150), *range(100), *range(50)]
    assert got["id"][0] == "a.jsonl:0" and got["id"][-1] == "c.parquet:49"
    assert got["text_sha256"] == [text_hash(t) for t in texts]
    assert (got["logits"].argmax(1) == reference.argmax(1)).mean() == 1.0
    assert np.abs(got["logits"] - reference).max() <= 1e-3
    # the rows differ from each other, so a row in the wrong place would fail above
    assert np.abs(reference[1:50] - reference[0]).max(1).min() > 1e-2
    assert got["manifest"]["fingerprint"] == info["fingerprint"]


def test_a_finished_run_is_not_run_again(labelled, tiny_bert, corpus):
    from typer.testing import CliRunner

    from bert2sk.cli import app

    out, _ = labelled
    before = sorted(p.name for p in out.iterdir())
    again = label_with_ray(tiny_bert, corpus[0], out, actors=2, batch_size=40, max_length=32, dtype="fp32",
                           progress=False)
    assert again["scored"] == 0 and again["already"] == len(corpus[1]) and again["shards"] == 0
    # the command line delegates to the same function
    result = CliRunner().invoke(app, ["label", str(corpus[0]), "--teacher", str(tiny_bert), "--out", str(out),
                                      "--engine", "ray", "--actors", "2", "--max-length", "32", "--dtype", "fp32",
                                      "--quiet"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "0 rows scored" in result.output and "300 already there" in result.output
    assert sorted(p.name for p in out.iterdir()) == before


def test_another_teacher_cannot_add_to_an_output_folder(labelled, tiny_bert_multiclass, corpus):
    with pytest.raises(InputError, match="fingerprint"):
        label_with_ray(tiny_bert_multiclass, corpus[0], labelled[0], actors=1, max_length=32, dtype="fp32",
                       progress=False)


def test_rerun_after_an_interruption_scores_only_the_missing_rows(labelled, tiny_bert, corpus, reference, tmp_path):
    """A simulated kill: an unfinished run's shards (some deleted) and a temporary file a killed writer left.

    The real SIGKILL of a driver is ``test_sigkill_mid_run_then_rerun_has_every_row_once`` (slow).
    """
    import shutil

    folder, texts = corpus
    first = labelled[0]
    out = tmp_path / "out"
    out.mkdir()
    manifest = json.loads((first / MANIFEST).read_text())
    del manifest["finished"]  # as a killed run leaves it
    (out / MANIFEST).write_text(json.dumps(manifest))
    shards = sorted(first.glob("part-*.parquet"))
    for shard in shards[::2]:
        shutil.copy(shard, out / shard.name)
    (out / ".part-0123.parquet.999.tmp").write_bytes(b"PAR1 half a file")
    kept = len(read_labels(out)["row"])
    assert 0 < kept < len(texts)

    info = label_with_ray(tiny_bert, folder, out, actors=2, batch_size=16, max_length=32, dtype="fp32",
                          progress=False)
    assert info["already"] == kept and info["scored"] == len(texts) - kept
    got = read_labels(out)  # raises if a row appears twice
    assert len(got["row"]) == len(texts) and got["text_sha256"] == [text_hash(t) for t in texts]
    assert np.abs(got["logits"] - reference).max() <= 1e-3
    assert not list(out.glob(".*.tmp"))


def test_the_rows_of_one_file_are_spread_over_the_actors(ray_session, tiny_bert, tmp_path, monkeypatch):
    """One input file of 6 batches and 2 actors: both actors score some of it (the reader cuts a block per batch).

    About distribution, not timing: the pool is made to wait until both actors have loaded the model
    (else the first one ready could score everything before the other starts); then 6 blocks of one
    batch each go to whichever actor is free, one at a time per actor, while the paused actors are busy.
    """
    import ray.data

    # the dataset copies the session's context when it is created; only this test waits for every actor
    monkeypatch.setattr(ray.data.DataContext.get_current(), "wait_for_min_actors_s", 600)
    texts = make_texts(48, seed=3)
    data = tmp_path / "one.jsonl"
    data.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    info = label_with_ray(tiny_bert, data, tmp_path / "out", actors=2, batch_size=8, max_length=32, dtype="fp32",
                          progress=False, _pause=0.3)
    assert info["scored"] == 48 and info["shards"] == 6
    assert len(info["rows_per_actor"]) == 2 and min(info["rows_per_actor"]) > 0, info["rows_per_actor"]
    got = read_labels(tmp_path / "out")
    assert got["row"].tolist() == list(range(48)) and got["text_sha256"] == [text_hash(t) for t in texts]
    shard_rows = sorted(len(pq.read_table(s, columns=["row"])) for s in (tmp_path / "out").glob("part-*.parquet"))
    assert shard_rows == [8] * 6


def test_embeddings_and_id_column(ray_session, tiny_bert, tmp_path):
    texts = make_texts(30, seed=5)
    data = tmp_path / "with_ids.jsonl"
    data.write_text("".join(json.dumps({"doc": f"d{i}", "body": t}) + "\n" for i, t in enumerate(texts)))
    label_with_ray(tiny_bert, data, tmp_path / "out", text_column="body", id_column="doc", actors=1,
                   batch_size=16, max_length=32, dtype="fp32", embeddings=True, progress=False)
    got = read_labels(tmp_path / "out", embeddings=True)
    assert got["id"].tolist() == [f"d{i}" for i in range(30)]
    z, e = Teacher.from_pretrained(tiny_bert, **SETTINGS).predict_logits(texts, return_embeddings=True)
    assert np.abs(got["embedding"] - e).max() <= 1e-3 and np.abs(got["logits"] - z).max() <= 1e-3


def test_bad_input_is_one_clear_error(ray_session, tiny_bert, tmp_path):
    data = tmp_path / "x.jsonl"
    data.write_text(json.dumps({"content": "a fine film"}) + "\n")
    with pytest.raises(InputError, match="lacks a field") as info:
        label_with_ray(tiny_bert, data, tmp_path / "out", actors=1, max_length=32, dtype="fp32", progress=False)
    assert "\n" not in str(info.value) and "Traceback" not in str(info.value)
    with pytest.raises(InputError, match="not found"):
        label_with_ray(tiny_bert, tmp_path / "missing.jsonl", tmp_path / "out2", progress=False)


def _own_processes(pgid: int) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid=,pgid=,comm="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.split()[1] == str(pgid)]


def _start_driver(teacher, folder, out) -> subprocess.Popen:
    """A labelling driver in its own process group, starting its own local Ray (2 actors, slowed down)."""
    script = textwrap.dedent(f"""
        from bert2sk.teacher.ray_labelling import label_with_ray
        label_with_ray({str(teacher)!r}, {str(folder)!r}, {str(out)!r}, actors=2, batch_size=16,
                       max_length=32, dtype="fp32", progress=False, _pause=0.5)
    """)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)  # the child must start its own Ray, not join this module's
    return subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_for_shards(proc: subprocess.Popen, out, n: int) -> None:
    """Until the driver has written ``n`` shards (a failure if it ends first or takes over 4 minutes)."""
    deadline = time.monotonic() + 240
    while len(list(out.glob("part-*.parquet"))) < n:
        if proc.poll() is not None:
            pytest.fail(f"the labelling subprocess ended before the signal: {proc.stderr.read()[-2000:]!r}")
        if time.monotonic() > deadline:
            pytest.fail("no shard written within 4 minutes")
        time.sleep(0.2)


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_has_every_row_once(ray_session, tiny_bert, corpus, reference, tmp_path):
    """A real driver with its own local Ray, SIGKILLed (whole process group) after its first shards."""
    folder, texts = corpus
    out = tmp_path / "out"
    proc = _start_driver(tiny_bert, folder, out)
    try:
        _wait_for_shards(proc, out, 3)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stderr.close()
    for _ in range(50):  # Ray's own processes die with their parent; give them a moment
        if not _own_processes(proc.pid):
            break
        time.sleep(0.2)
    assert not _own_processes(proc.pid), "processes of the killed run are still alive"
    written = read_labels(out)
    assert 0 < len(written["row"]) < len(texts), "the kill should land mid-run"

    info = label_with_ray(tiny_bert, folder, out, actors=2, batch_size=16, max_length=32, dtype="fp32",
                          progress=False)
    assert info["already"] == len(written["row"]) and info["already"] + info["scored"] == len(texts)
    got = read_labels(out)  # raises if a row appears twice
    assert len(got["row"]) == len(texts)
    assert got["text_sha256"] == [text_hash(t) for t in texts]
    assert np.abs(got["logits"] - reference).max() <= 1e-3
    # no check for leftover temporary files here: under heavy load a writer of the killed run was seen to leave
    # one after the rerun's clean-up (it is ignored by every reader and removed by the next run)
    assert (out / MANIFEST).exists()


def _process_starts() -> dict[int, int]:
    """``{pid: (parent pid, start time)}`` of every process, from /proc (start time tells a reused pid apart)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # ended meanwhile
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            found[int(entry.name)] = (int(fields[1]), int(fields[19]))
    return found


def _descendants(root: int) -> dict[int, int]:
    """``{pid: start time}`` of ``root`` and every process below it."""
    table = _process_starts()
    tree = {root: table[root][1]}
    grew = True
    while grew:
        grew = False
        for pid, (parent, start) in table.items():
            if parent in tree and pid not in tree:
                tree[pid] = start
                grew = True
    return tree


def _still_alive(tree: dict[int, int]) -> list[int]:
    table = _process_starts()
    return [pid for pid, start in tree.items() if pid in table and table[pid][1] == start]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc")
def test_sigterm_shuts_ray_down_then_rerun_has_every_row_once(ray_session, tiny_bert, corpus, reference, tmp_path):
    """A driver with its own local Ray gets SIGTERM after its first shard: it shuts Ray down and exits 143.

    Without the handler Ray's core worker aborts the process at once (``ray.shutdown()`` never runs);
    the exit code 143 shows the ``finally`` ran. Every process the driver had started must be gone.
    """
    folder, texts = corpus
    out = tmp_path / "out"
    proc = _start_driver(tiny_bert, folder, out)
    tree: dict[int, int] = {}
    try:
        _wait_for_shards(proc, out, 1)
        tree = _descendants(proc.pid)  # Ray's processes are all up once an actor has written a shard
        assert len(tree) > 3, "the driver should have started Ray's processes"
        proc.send_signal(signal.SIGTERM)  # the driver only, as a service manager or `kill` would
        try:
            proc.wait(timeout=180)  # a hang guard, not a speed check
        except subprocess.TimeoutExpired:
            pytest.fail("the driver did not exit within 3 minutes of SIGTERM")
        stderr = proc.stderr.read()
        assert proc.returncode == 128 + signal.SIGTERM, stderr[-2000:]
        assert "shutting Ray down" in stderr
        for _ in range(150):
            if not _still_alive(tree):
                break
            time.sleep(0.2)
        assert not _still_alive(tree), "processes the driver started outlived it"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
        for pid in _still_alive(tree):
            os.kill(pid, signal.SIGKILL)
        proc.stderr.close()
    written = read_labels(out)
    assert 0 < len(written["row"]) < len(texts), "the signal should land mid-run"

    info = label_with_ray(tiny_bert, folder, out, actors=2, batch_size=16, max_length=32, dtype="fp32",
                          progress=False)
    assert info["already"] == len(written["row"]) and info["already"] + info["scored"] == len(texts)
    got = read_labels(out)  # raises if a row appears twice
    assert len(got["row"]) == len(texts) and got["text_sha256"] == [text_hash(t) for t in texts]
    assert np.abs(got["logits"] - reference).max() <= 1e-3


def test_the_sigterm_handler_exits_once_and_is_restored(ray_session, tiny_bert, tmp_path):
    """SIGTERM raises SystemExit(143) once (a second is ignored during the clean-up); the caller's handler
    comes back after; a call that joins a running session (it shuts nothing down) leaves the handler alone."""
    from bert2sk.teacher import ray_labelling

    def mine(signum, frame):  # pragma: no cover - never called
        pass

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        ray_labelling._exit_on_sigterm()
        assert signal.getsignal(signal.SIGTERM) is not mine
        with pytest.raises(SystemExit) as exc:
            signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)
        assert exc.value.code == 143 and signal.getsignal(signal.SIGTERM) == signal.SIG_IGN  # a second one waits
        ray_labelling._restore_sigterm(mine)
        assert signal.getsignal(signal.SIGTERM) is mine
        data = tmp_path / "few.jsonl"
        data.write_text("".join(json.dumps({"text": t}) + "\n" for t in make_texts(8, seed=9)))
        label_with_ray(tiny_bert, data, tmp_path / "out", actors=1, batch_size=8, max_length=32, dtype="fp32",
                       progress=False)
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_distill_stream_fits_a_student_from_the_shards_that_other_commands_take(labelled, tiny_bert, corpus,
                                                                                   tmp_path):
    """`bert2sk distill-stream` on the shards this module labelled: a saved student with its test figures."""
    from typer.testing import CliRunner

    from bert2sk.cli import app
    from bert2sk.metrics import score
    from bert2sk.persistence import load_student

    out, _ = labelled
    test_texts = make_texts(60, seed=11)
    z_test = Teacher.from_pretrained(tiny_bert, **SETTINGS).predict_logits(test_texts)
    y_test = np.random.default_rng(0).integers(0, 2, len(test_texts))
    test_file = tmp_path / "test.jsonl"
    test_file.write_text("".join(json.dumps({"text": t, "label": f"class_{y}"}) + "\n"
                                 for t, y in zip(test_texts, y_test, strict=True)))
    student_path = tmp_path / "student"
    runner = CliRunner()
    env = {"COLUMNS": "200", "BERT2SK_CACHE": str(tmp_path / "cache")}
    result = runner.invoke(app, ["distill-stream", str(corpus[0]), "--labels", str(out), "--out", str(student_path),
                                 "--test", str(test_file), "--teacher", str(tiny_bert), "--epochs", "3",
                                 "--vocabulary-sample", "200", "--batch-size", "64", "--quiet"], env=env)
    assert result.exit_code == 0, result.output
    assert "fitted on 300 texts" in result.output and "fidelity" in result.output
    model, card = load_student(student_path.with_suffix(".skops"))
    assert card["task"] == "binary" and card["label_names"] == ["class_0", "class_1"]
    assert card["teacher_fingerprint"] == read_labels(out)["manifest"]["fingerprint"]
    assert card["training"]["texts"] == 300 and card["training"]["labels"] == out.name
    expected = score(model.predict_proba(test_texts), y_test, "binary", teacher_logits=z_test)
    assert card["metrics"]["accuracy"] == pytest.approx(expected["accuracy"])
    assert card["metrics"]["fidelity"] == pytest.approx(expected["fidelity"])
    assert f"fidelity {expected['fidelity']:.3f}" in result.output
    # saved like a study's TF-IDF student: explain scores it exactly, bench times it
    explained = runner.invoke(app, ["explain", test_texts[0], "--model", str(student_path.with_suffix(".skops"))],
                              env=env)
    assert explained.exit_code == 0 and "compiled linear, exact" in explained.output, explained.output
    timed = runner.invoke(app, ["bench", "--model", str(student_path.with_suffix(".skops")), "--data",
                                str(test_file), "--runs", "3"], env=env)
    assert timed.exit_code == 0 and "student.skops" in timed.output, timed.output
