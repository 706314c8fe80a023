"""Teacher labelling: the single-process path vs Ray Data with 1 and 2 actors, on the same IMDB reviews.

Scores the same ``--n`` IMDB test reviews (a seeded sample; default 2,000) four ways, one after the other in one
run, with the same teacher folder and settings (fp32 unless ``--dtype``):

(a) single process: :func:`bert2sk.teacher.labelling.label_texts` with 2 torch threads, no cache;
(b) Ray, 1 actor x 2 threads;  (c) Ray, 2 actors x 1 thread (its steady rate / 2 is the docs/s per core);
(a') the single-process run again, to show how far the machine's load moved during the run.

The Ray runs share one local Ray session (2 CPUs) whose start is timed on its own. For each Ray run it prints
the wall time (actor start-up, model loading and the last batch's tail included) and the steady rate between the
first and the last shard written, and checks the logits against (a): decision agreement and max |diff|.

Without ``--teacher`` the teacher is a stand-in: the packaged all-MiniLM-L6-v2 encoder with a randomly
initialised (seeded) two-class head, saved once to a temporary folder so every actor loads the same weights.
Its speed is that of any MiniLM-L6 teacher; its decisions mean nothing.

Usage::

    nice -n 10 python benchmarks/ray_labelling.py                 # n=2000, 256 tokens
    nice -n 10 python benchmarks/ray_labelling.py --teacher demo  # the demo's fine-tuned teacher
    python benchmarks/ray_labelling.py --quick                    # n=64, not saved

Output: ``reports/benchmarks/ray_labelling.txt`` (``--out FILE`` elsewhere).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from _record import SHARED_DATA, Output, add_output_args, display_path, resolve_teacher, teacher_label

IMDB = SHARED_DATA / "imdb" / "imdb_test.jsonl.gz"


def load_imdb(n: int, seed: int = 0) -> list[str]:
    with gzip.open(IMDB, "rt", encoding="utf-8") as fh:
        texts = [json.loads(line)["text"] for line in fh if line.strip()]
    idx = np.random.default_rng(seed).permutation(len(texts))[:n]
    return [texts[i] for i in idx]


def stand_in_teacher(folder: Path) -> Path:
    """The packaged encoder with a seeded random 2-class head, saved so every process loads the same head."""
    import torch

    from bert2sk.teacher.model import load_tokenizer_and_model, packaged_encoder_path

    torch.manual_seed(0)
    tokenizer, model = load_tokenizer_and_model(packaged_encoder_path(), num_labels=2)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def shard_times(out: Path) -> tuple[float, float, int, int]:
    """(first, last) shard modification times, rows after the first shard, rows in total."""
    import pyarrow.parquet as pq

    shards = sorted(out.glob("part-*.parquet"), key=lambda p: p.stat().st_mtime)
    rows = [pq.ParquetFile(s).metadata.num_rows for s in shards]
    return shards[0].stat().st_mtime, shards[-1].stat().st_mtime, sum(rows[1:]), sum(rows)


LOADS: list[float] = []  # the 1-minute load average at every line that shows it


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    LOADS.append(one)
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min), niceness {os.nice(0)}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--teacher", default=None, help="teacher folder, or 'demo'; default: the stand-in (see above)")
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--dtype", default="fp32")
    ap.add_argument("--batch-size", type=int, default=64, help="texts per Ray actor call (and per shard)")
    add_output_args(ap)
    args = ap.parse_args()
    n = 64 if args.quick else args.n
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import ray

    from bert2sk.teacher import Teacher
    from bert2sk.teacher.labelling import label_texts
    from bert2sk.teacher.ray_labelling import init_local_ray, label_with_ray, read_labels

    rec = Output(__file__)
    work = Path(tempfile.mkdtemp(prefix="b2sk-ray-bench-"))
    try:
        teacher_dir = resolve_teacher(args.teacher)
        if teacher_dir is None:
            teacher_dir = str(stand_in_teacher(work / "stand-in-teacher"))
            who = "STAND-IN: packaged all-MiniLM-L6-v2 + seeded random 2-class head (speed only; no fine-tuned teacher)"
        else:
            who = None
        texts = load_imdb(n)
        data = work / "imdb_sample.jsonl"
        data.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
        settings = {"max_length": args.max_length, "dtype": args.dtype}
        teacher = Teacher.from_pretrained(teacher_dir, threads=2, batch_size=32, progress=False, **settings)
        rec.say(f"teacher: {who or teacher_label(teacher_dir, teacher)}",
                f"data: {n:,} IMDB test reviews (seeded sample of {display_path(IMDB)}), {args.max_length} tokens "
                f"head+tail, {teacher.dtype}; Ray batch {args.batch_size} texts",
                f"at start: {load_line()}", "")

        start = time.perf_counter()
        ref = label_texts(teacher, texts, None, chunk_size=512, progress=False)
        single = time.perf_counter() - start
        del teacher
        rows = [("(a) single process, 2 threads", single, single, n / single, None, None, None)]
        rec.say(f"(a) single process: {single:.1f} s, {n / single:.2f} docs/s   [{load_line()}]")

        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        os.environ.setdefault("RAY_worker_niceness", "0")
        start = time.perf_counter()
        init_local_ray(ray, 2)
        ray_start = time.perf_counter() - start
        rec.say(f"local Ray start (2 CPUs): {ray_start:.1f} s")
        try:
            for label, actors, threads in (("(b) Ray, 1 actor x 2 threads", 1, 2),
                                           ("(c) Ray, 2 actors x 1 thread", 2, 1)):
                out = work / f"out-{actors}x{threads}"
                start = time.perf_counter()
                info = label_with_ray(teacher_dir, data, out, actors=actors, threads_per_actor=threads,
                               batch_size=args.batch_size, progress=False, **settings)
                wall = time.perf_counter() - start
                first, last, after_first, total = shard_times(out)
                steady = after_first / (last - first) if last > first else float("nan")
                z = read_labels(out)["logits"]
                agree = float((z.argmax(1) == ref.argmax(1)).mean())
                diff = float(np.abs(z - ref).max())
                rows.append((label, wall, wall, n / wall, steady, (agree, diff), info["rows_per_actor"]))
                shards = list(out.glob("part-*.parquet"))
                size = sum(f.stat().st_size for f in shards)
                rec.say(f"{label}: {wall:.1f} s wall, {n / wall:.2f} docs/s wall, {steady:.2f} docs/s steady; "
                        f"agreement with (a) {agree:.4f}, max |logit diff| {diff:.2e}; rows per actor "
                        f"{info['rows_per_actor']}; shards {len(shards)} files, {size / 1e3:.0f} kB, "
                        f"{size / total:.0f} bytes a row   [{load_line()}]")
        finally:
            ray.shutdown()

        teacher = Teacher.from_pretrained(teacher_dir, threads=2, batch_size=32, progress=False, **settings)
        start = time.perf_counter()
        label_texts(teacher, texts, None, chunk_size=512, progress=False)
        again = time.perf_counter() - start
        rows.append(("(a') single process again", again, again, n / again, None, None, None))
        rec.say(f"(a') single process again (the load may have moved): {again:.1f} s, {n / again:.2f} docs/s   "
                f"[{load_line()}]")
        base = rows[0][3]
        rec.say("", f"{'run':34s} {'wall s':>8s} {'docs/s':>8s} {'vs (a)':>7s} {'steady docs/s':>14s} "
                f"{'vs (a)':>7s} {'agree':>7s} {'max|dz|':>9s}  rows per actor")
        for label, wall, _, rate, steady, check, per_actor in rows:
            s = "" if steady is None else f"{steady:14.2f} {steady / base:7.2f}"
            c = "" if check is None else f" {check[0]:7.4f} {check[1]:9.1e}  {'/'.join(map(str, per_actor))}"
            rec.say(f"{label:34s} {wall:8.1f} {rate:8.2f} {rate / base:7.2f} {s:>22s}{c}")
        c = rows[2]
        rec.say("",
                f"Ray overhead on one machine: {ray_start:.1f} s to start Ray, then per run the actors' start-up "
                "(import torch/transformers, load the model) and the last batches' tail: the gap between wall and "
                "steady docs/s above.",
                f"Per core ((c) steady / 2): {c[4] / 2:.2f} docs/s at {args.max_length} tokens {args.dtype}.",
                "Shards: parquet (zstd) with source, row, id, text_sha256 and the logits; the bytes a row above "
                f"include each file's footer, spread over {args.batch_size} rows (the command's default batch is "
                "512).",
                f"at end: {load_line()}",
                f"1-minute load average over the run: {min(LOADS):.2f} to {max(LOADS):.2f} on {os.cpu_count()} CPUs; "
                + ("the machine was shared with other jobs: read the ratios (same run, same load), not the absolute "
                   "rates." if max(LOADS) > 2.5 else "a quiet machine."))
        rec.finish(args.out, args.quick)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
