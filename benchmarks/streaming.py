"""The streaming (out-of-core) distilled student vs the in-memory ridge student: peak memory and fidelity.

Training texts: IMDB train + unsup reviews (75,000) with the IMDB study's *stored* teacher logits
(``reports/imdb/teacher_logits.npz``: train, unsup and test, float16, from the fine-tuned MiniLM-L6 teacher
of ``reports/imdb/teacher.json``); nothing is re-scored. A seeded 10,000-review sample and all 75,000 are
written as the input and the labelled parquet shards that ``bert2sk label --engine ray`` would write
(``source``, ``row``, ``logits``), then each student is fitted in a fresh child process:

* streaming: :func:`bert2sk.students.streaming.fit_from_shards` (TF-IDF vocabulary on a reservoir sample of
  ``--vocabulary-sample`` texts, averaged SGD over ``--epochs`` passes of shuffled batches);
* in memory: ``TfidfFeatures`` on all texts + ``DistilledClassifier(Ridge(alpha=1))``, the study's ridge student.

Peak memory is the child's ``ru_maxrss`` right after the fit (the test texts are loaded after it), next to the
child's RSS after its imports. Fidelity is agreement with the teacher's decisions on the 25,000 test reviews.

Usage::

    nice -n 10 python benchmarks/streaming.py
    python benchmarks/streaming.py --quick     # 2,000 / 6,000 texts, 2 epochs, not saved

Output: ``reports/benchmarks/streaming.txt`` (``--out FILE`` elsewhere).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _record import ROOT, SHARED_DATA, Output, add_output_args, display_path

IMDB = SHARED_DATA / "imdb"
LOGITS = ROOT / "reports" / "imdb" / "teacher_logits.npz"


def read_texts(split: str) -> list[str]:
    with gzip.open(IMDB / f"imdb_{split}.jsonl.gz", "rt", encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh if line.strip()]


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def write_inputs(folder: Path, n: int, seed: int = 0) -> None:
    """``folder/input/texts.jsonl`` (n texts of train + unsup) and ``folder/labels/`` (their stored logits)."""
    from bert2sk.teacher.ray_labelling import MANIFEST, _shard_table, write_shard

    stored = np.load(LOGITS)
    texts = read_texts("train") + read_texts("unsup")
    z = np.vstack([stored["train"], stored["unsup"]]).astype(np.float32)
    idx = np.sort(np.random.default_rng(seed).permutation(len(texts))[:n])  # input order kept (class-sorted)
    (folder / "input").mkdir(parents=True)
    with open(folder / "input" / "texts.jsonl", "w", encoding="utf-8") as fh:
        for i in idx:
            fh.write(json.dumps({"text": texts[i]}) + "\n")
    labels = folder / "labels"
    labels.mkdir()
    (labels / MANIFEST).write_text(json.dumps({"sources": ["texts.jsonl"], "text_column": "text",
                                               "fingerprint": "stored IMDB study logits"}))
    for start in range(0, n, 4096):
        rows = np.arange(start, min(n, start + 4096))
        batch = {"source": ["texts.jsonl"] * len(rows), "row": rows, "id": [f"texts.jsonl:{i}" for i in rows],
                 "text_sha256": [bytes(32)] * len(rows)}
        write_shard(labels, _shard_table(batch, z[idx[rows]], None, "stored"))


def child(kind: str, folder: Path, epochs: int, sample: int) -> dict:
    """Fit one student in this (fresh) process; report memory, time and test fidelity."""
    from sklearn.linear_model import Ridge

    from bert2sk.features.tfidf import TfidfFeatures
    from bert2sk.students.estimators import DistilledClassifier
    from bert2sk.students.streaming import StreamingDistilledClassifier, fit_from_shards, iter_shard_batches

    base = rss_mb()
    start = time.perf_counter()
    if kind == "streaming":
        student = fit_from_shards(folder / "labels", folder / "input",
                                  StreamingDistilledClassifier(n_epochs=epochs, vocabulary_sample=sample))
        predict = student.predict
        n_features = student.n_features_in_
    else:
        texts, zs = [], []
        for t, z in iter_shard_batches(folder / "labels", folder / "input"):
            texts += t
            zs.append(z)
        vec = TfidfFeatures().fit(texts)
        model = DistilledClassifier(Ridge(alpha=1.0)).fit(vec.transform(texts), teacher_logits=np.vstack(zs))
        del texts

        def predict(x):
            return model.predict(vec.transform(x))

        n_features = len(vec.vocabulary_)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    test = read_texts("test")
    teacher = np.load(LOGITS)["test"].astype(np.float32).argmax(1)
    fid = float((predict(test) == teacher).mean())
    return {"kind": kind, "base_mb": base, "peak_mb": peak, "seconds": seconds, "fidelity": fid,
            "n_features": n_features}


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,75000")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--vocabulary-sample", type=int, default=20_000)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--folder", default=None, help=argparse.SUPPRESS)
    add_output_args(ap)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, Path(args.folder), args.epochs, args.vocabulary_sample)))
        return
    sizes = [2000, 6000] if args.quick else [int(s) for s in args.sizes.split(",")]
    epochs = 2 if args.quick else args.epochs
    rec = Output(__file__)
    rec.say(f"teacher logits: {display_path(LOGITS)} (stored by the IMDB study; fine-tuned MiniLM-L6 teacher, "
            "not re-scored)",
            f"training texts: seeded samples of IMDB train + unsup ({display_path(IMDB)}), in file order; "
            "fidelity on the 25,000 test reviews",
            f"streaming student: vocabulary sample {args.vocabulary_sample:,}, {epochs} epochs, batch 2048, "
            f"shuffle buffer 16,384; in-memory: TfidfFeatures on all texts + Ridge(alpha=1)",
            f"at start: {load_line()}, niceness {os.nice(0)}", "")
    work = Path(tempfile.mkdtemp(prefix="b2sk-stream-bench-"))
    results = []
    try:
        for n in sizes:
            write_inputs(work / f"n{n}", n)
        for kind, n in [(kind, n) for kind in ("streaming", "in-memory") for n in sizes]:
            folder = work / f"n{n}"
            cmd = [sys.executable, __file__, "--child", kind, "--folder", str(folder), "--epochs", str(epochs),
                   "--vocabulary-sample", str(args.vocabulary_sample)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"child {kind} n={n} failed:\n{done.stderr[-3000:]}")
            r = json.loads(done.stdout.strip().splitlines()[-1]) | {"n": n}
            results.append(r)
            rec.say(f"n={n:>6,} {kind:10s}: peak {r['peak_mb']:7.0f} MB (after imports {r['base_mb']:.0f} MB), "
                    f"fit {r['seconds']:6.1f} s, {r['n_features']:,} features, fidelity {r['fidelity']:.4f}   "
                    f"[{load_line()}]")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    by = {(r["kind"], r["n"]): r for r in results}
    small, large = sizes[0], sizes[-1]
    rec.say("", f"{'student':12s} {'n':>7s} {'peak MB':>8s} {'fit s':>7s} {'fidelity':>9s}")
    for r in results:
        rec.say(f"{r['kind']:12s} {r['n']:7,} {r['peak_mb']:8.0f} {r['seconds']:7.1f} {r['fidelity']:9.4f}")
    for kind in ("streaming", "in-memory"):
        a, b = by[(kind, small)], by[(kind, large)]
        rec.say(f"{kind}: peak memory x{b['peak_mb'] / a['peak_mb']:.2f} when the texts grow "
                f"x{large / small:.1f} ({small:,} -> {large:,}); above the imports: "
                f"x{(b['peak_mb'] - b['base_mb']) / max(1.0, a['peak_mb'] - a['base_mb']):.2f}")
    gap = by[("streaming", large)]["fidelity"] - by[("in-memory", large)]["fidelity"]
    rec.say(f"fidelity, streaming minus in-memory ridge at n={large:,}: {100 * gap:+.2f} points",
            f"at end: {load_line()}")
    rec.finish(args.out, args.quick)


if __name__ == "__main__":
    main()
