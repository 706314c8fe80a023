"""Broad Twitter Corpus (named entities in tweets): a token teacher and its students, measured side by side.

    python examples/btc_study.py teacher [--epochs 4]            # fine-tune MiniLM, store per-word logits
    python examples/btc_study.py students --from-logits           # scikit-learn token students, no teacher model
    python examples/btc_study.py transformer                      # the cut transformer student (needs the teacher)
    python examples/btc_study.py report                           # latency side by side, results table, report.html

``teacher`` fine-tunes the packaged all-MiniLM-L6-v2 on BTC train (6,338
tweets, 64 pieces per chunk), keeps the epoch with the best dev entity F1,
scores every word of train/dev/test and stores the logits (float16,
compressed) in ``reports/btc/teacher_logits.npz`` with ``teacher.json``.
Everything after it reads those files, so the student half reruns on a
machine without the teacher. Choices (the ridge penalty, the transformer
student's epoch) are made on dev; test is scored once per model.

Models and caches go to ``--work`` (``~/.cache/bert2sk/btc`` by default);
``reports/btc/`` gets the small files only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bert2sk.demo import cache_dir  # noqa: E402
from bert2sk.tokens.data import load_btc  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "reports" / "btc"
SEED = 0
MAX_LENGTH = 64
SPLITS = ("train", "dev", "test")


def corpus_sha(corpus) -> str:
    return hashlib.sha256(json.dumps(corpus.tokens, ensure_ascii=False).encode()).hexdigest()[:16]


def load_splits(data: Path) -> dict:
    train = load_btc(data, "train")
    return {"train": train, **{s: load_btc(data, s, tag_names=train.tag_names) for s in ("dev", "test")}}


def stored_word_logits(corpora: dict) -> tuple[dict[str, list[np.ndarray]], dict]:
    """Per-sentence teacher logits per split from reports/btc, checked against the corpora."""
    from bert2sk.teacher import load_logits

    z, meta, _ = load_logits(OUT)
    out = {}
    for split, corpus in corpora.items():
        if meta["corpus_sha"][split] != corpus_sha(corpus):
            sys.exit(f"the stored logits of {split} were made from other sentences; rerun the teacher half")
        cuts = np.cumsum([len(s) for s in corpus.tokens])[:-1]
        out[split] = [a.astype(np.float32) for a in np.split(z[split], cuts)]
    return out, meta


def run_teacher(args) -> None:
    import torch

    from bert2sk.teacher import TrainingArguments, save_logits
    from bert2sk.tokens.metrics import token_scores
    from bert2sk.tokens.teacher import TokenTeacher, score_words, train_token_teacher

    torch.set_num_threads(args.threads)
    corpora = load_splits(args.data)
    work = args.work
    targs = TrainingArguments(str(work / "teacher"), epochs=args.epochs, learning_rate=args.lr, batch_size=16,
                              max_length=MAX_LENGTH, dtype=args.dtype, seed=SEED, threads=args.threads,
                              early_stopping_patience=None, save_every_steps=100, warmup_ratio=0.1,
                              freeze_embeddings=True)
    t0 = time.perf_counter()
    res = train_token_teacher(corpora["train"], targs, eval_corpus=corpora["dev"], resume=True)
    print(f"teacher fine-tuned in {res.seconds:.0f}s (this session {time.perf_counter() - t0:.0f}s); "
          f"best epoch {res.best_epoch}, dev entity F1 {res.best_entity_f1:.4f}", flush=True)
    teacher = TokenTeacher.from_pretrained(work / "teacher", max_length=MAX_LENGTH, dtype=args.dtype,
                                           threads=args.threads, progress=True)
    logits, scores = {}, {}
    for split, corpus in corpora.items():
        t1 = time.perf_counter()
        z = score_words(teacher, corpus.tokens, work / "word_logits.sqlite")
        logits[split] = np.concatenate(z)
        from bert2sk.tokens.decode import decode_iob2

        scores[split] = token_scores(corpus.tags, [decode_iob2(x, teacher.tag_names) for x in z])
        print(f"{split}: scored {len(corpus)} tweets in {time.perf_counter() - t1:.0f}s; "
              f"entity F1 {scores[split]['entity_f1']:.4f}", flush=True)
    meta = {"label_names": list(teacher.tag_names), "task": "token", "source": "all-MiniLM-L6-v2 (packaged), "
            "fine-tuned by examples/btc_study.py teacher", "fingerprint": teacher.fingerprint,
            "max_length": MAX_LENGTH, "dtype": teacher.dtype, "corpus_sha": {s: corpus_sha(c) for s, c in
                                                                              corpora.items()},
            "n_words": {s: c.n_words for s, c in corpora.items()}, "training": {
                "seconds": round(res.seconds, 1), "epochs": args.epochs, "best_epoch": res.best_epoch,
                "learning_rate": args.lr, "batch_size": 16, "threads": args.threads,
                "history": res.history}, "scores": scores,
            "size_bytes": teacher.size_bytes, "n_parameters": teacher.n_parameters}
    save_logits(OUT, logits, meta)
    print(f"stored per-word logits in {OUT.name}/teacher_logits.npz "
          f"({(OUT / 'teacher_logits.npz').stat().st_size / 1e6:.1f} MB)")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("half", choices=("teacher", "students", "transformer", "report"))
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "btc")
    ap.add_argument("--work", type=Path, default=cache_dir() / "btc")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=1e-4)
    # on a loaded 2-core machine one torch thread ran a training step 4x faster than two (measured: 2.7 s vs 11 s)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--from-logits", action="store_true", help="students: read reports/btc (no teacher model)")
    args = ap.parse_args(argv)
    if args.half == "teacher":
        run_teacher(args)


if __name__ == "__main__":
    main()
