"""Fast students on IMDB regime A (issue 13): static tables and their concatenation with TF-IDF, from stored logits.

    python examples/imdb_fast_students.py --data ../shared/data/imdb           # validation only
    python examples/imdb_fast_students.py --data ../shared/data/imdb --test    # ... then test, read once

Regime A's scenario (``examples/imdb_study.py``): 2,000 labelled train
reviews, the teacher's stored logits on all 75,000 train + unlabelled
reviews, distilled linear students (alpha 0: the teacher's targets only).
The teacher's weights are not needed: the static table is distilled from the
packaged all-MiniLM-L6-v2 (the encoder the teacher was fine-tuned from) and,
for ``static-tuned``, fitted to the teacher's stored logits, which is where
it learns the teacher's decisions (``options["static"]["encoder"]``).

All feature kinds run in one study, so every row is measured the same way.
Settings are chosen on validation: 5,000 train reviews outside the 2,000
labelled ones (seeded), scored by the teacher and held out of fitting (their
labels only fill the accuracy column; the choice reads fidelity). With
``--test`` the study is rerun on all 75,000 reviews and read once on the
25,000 test reviews, its folder saved under ``~/.cache/bert2sk/studies/imdb``
for ``benchmarks/frontier.py``. Writes ``reports/imdb/FAST_STUDENTS.md``.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from bert2sk.data import Corpus
from bert2sk.demo import cache_dir

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "reports" / "imdb"
FEATURES = "tfidf,static,static-tuned,tfidf+static"
SEED = 0
N_VAL = 5000
LABELS_A = 2000


def _corpora(train: Corpus, unsup: Corpus) -> tuple[Corpus, Corpus, Corpus]:
    """(regime A's transfer pool, the same minus validation, validation)."""
    from imdb_study import _pool

    pool = _pool(train, unsup, LABELS_A)
    assert pool.texts[: len(train)] == train.texts
    # train reviews are the pool's first rows, in order: a held-out one keeps its label for the accuracy column
    rng = np.random.default_rng(SEED)
    val_idx = np.sort(rng.choice(np.flatnonzero(pool.labels[: len(train)] == -1), N_VAL, replace=False))
    fit_idx = np.setdiff1d(np.arange(len(pool)), val_idx)
    return pool, pool.subset(fit_idx), train.subset(val_idx)


def _study(teacher, train: Corpus, test: Corpus, features: tuple[str, ...], title: str):
    from bert2sk.study import run_study

    return run_study(teacher, train, test, features=features, families=("linear",), kinds=("regression", "soft"),
                     alpha=0.0, options={"static": {"encoder": "packaged"}}, cache_path=cache_dir() / "logits.sqlite",
                     title=title, seed=SEED, latency_runs=100)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "imdb")
    ap.add_argument("--features", default=FEATURES)
    ap.add_argument("--test", action="store_true", help="also rerun on all 75,000 reviews and read test once")
    ap.add_argument("--study-dir", type=Path, default=cache_dir() / "studies" / "imdb")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    sys.path.insert(0, str(ROOT / "examples"))  # the IMDB study's loaders and stored teacher, not a copy of them
    from imdb_study import _load, stored_teacher

    features = tuple(args.features.split(","))
    train, test, unsup = _load(args.data)
    pool, fit, val = _corpora(train, unsup)
    teacher = stored_teacher(train, test, unsup)
    t0 = time.perf_counter()
    on_val = _study(teacher, fit, val, features, "IMDB regime A, fast students (validation)").table
    on_test = None
    if args.test:
        result = _study(teacher, pool, test, features, "IMDB regime A, fast students")
        result.save(args.study_dir / "fast_A")
        on_test = result.table
    lines = ["| student | val fidelity | test accuracy | test fidelity | ROC-AUC | size MB | ms/review |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, row in on_val.iterrows():
        if name == "teacher":
            continue
        t = on_test.loc[name] if on_test is not None else None
        cells = (f"{t['accuracy']:.3f} | {t['fidelity']:.3f} | {t['roc_auc']:.3f} | {t['size_mb']:.2f} | "
                 f"{t['latency_ms']:.2f}" if t is not None else "— | — | — | — | —")
        lines.append(f"| {name} | {row['fidelity']:.3f} | {cells} |")
    shown = shlex.join(["python", "examples/imdb_fast_students.py",
                        *[a if not Path(a).is_absolute() else Path(a).name for a in
                          (argv if argv is not None else sys.argv[1:])]])
    head = (f"Produced by `{shown}` ({(time.perf_counter() - t0) / 60:.0f} min on 2 CPU cores). IMDB regime A "
            f"from the stored teacher logits: {LABELS_A:,} labels (baselines), distilled linear students on the "
            f"teacher's scores of {len(pool):,} reviews (alpha 0); static tables distilled from the packaged "
            f"all-MiniLM-L6-v2, `static-tuned` fitted to the teacher's logits. Validation: {len(val):,} unlabelled-"
            f"in-regime train reviews, fitted on the other {len(fit):,}; test: all {len(test):,} test reviews, read "
            "once after refitting on every review.\n\n")
    (OUT / "FAST_STUDENTS.md").write_text(head + "\n".join(lines) + "\n", encoding="utf-8")
    print(head + "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
