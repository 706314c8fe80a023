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
for ``benchmarks/frontier.py``, and ``reports/imdb/FAST_STUDENTS.md`` is written.

``--cascade STUDY`` adds a cascade to the saved regime A study of
``imdb_study.py`` (the one with the transformer students): the TF-IDF student
most faithful on validation answers, and the reviews it is least sure of go
to ``--fallback`` (the 3-layer transformer student in int8, by default). Its
threshold is the fast student's margin that defers ``--defer-rate`` of the
validation reviews (0.15: set beforehand from the latency budget, fast
student ~0.03x plus 15% of an int8 transformer student at ~0.25x stays
under issue 13's 0.1x of the teacher). No test figure is looked at to pick
anything; the study's table, ``regime_A.md``/``.csv`` and ``report.html``
are rewritten with the new row.

    python examples/imdb_fast_students.py --data ../shared/data/imdb --features tfidf \
        --cascade ~/.cache/bert2sk/studies/imdb/regime_A
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
FALLBACK = "distilled · transformer · text · kd 3/6 layers · encoder start · onnx int8"
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
    ap.add_argument("--cascade", type=Path, default=None, help="a saved regime A study to add a cascade to")
    ap.add_argument("--fallback", default=FALLBACK, help="the cascade's fallback: a student of that study")
    ap.add_argument("--defer-rate", type=float, default=0.15, help="share of validation reviews to defer")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    sys.path.insert(0, str(ROOT / "examples"))  # the IMDB study's loaders and stored teacher, not a copy of them
    from imdb_study import _load, stored_teacher

    features = tuple(args.features.split(","))
    train, test, unsup = _load(args.data)
    pool, fit, val = _corpora(train, unsup)
    teacher = stored_teacher(train, test, unsup)
    t0 = time.perf_counter()
    val_result = _study(teacher, fit, val, features, "IMDB regime A, fast students (validation)")
    on_val = val_result.table
    if args.cascade is not None:
        add_to_study(args.cascade, val_result, args.fallback, args.defer_rate)
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
    shown = _shown()
    head = (f"Produced by `{shown}` ({(time.perf_counter() - t0) / 60:.0f} min on 2 CPU cores). IMDB regime A "
            f"from the stored teacher logits: {LABELS_A:,} labels (baselines), distilled linear students on the "
            f"teacher's scores of {len(pool):,} reviews (alpha 0); static tables distilled from the packaged "
            f"all-MiniLM-L6-v2, `static-tuned` fitted to the teacher's logits. Validation: {len(val):,} unlabelled-"
            f"in-regime train reviews, fitted on the other {len(fit):,}; test: all {len(test):,} test reviews, read "
            "once after refitting on every review.\n\n")
    if args.test:  # the published table holds test figures; a validation-only run just prints
        (OUT / "FAST_STUDENTS.md").write_text(head + "\n".join(lines) + "\n", encoding="utf-8")
    print(head + "\n".join(lines))
    return 0


def add_to_study(study: Path, val_result, fallback: str, defer_rate: float) -> None:
    """The cascade of the saved study's TF-IDF student most faithful on validation, its threshold set there."""
    from imdb_study import write_report

    from bert2sk.students.cascade import margin_for_rate, top_two_margin
    from bert2sk.study import add_cascade, load_study

    result = load_study(study)
    val = val_result.table
    candidates = [n for n in val.index if n.startswith("distilled") and n in result.models
                  and result.models[n].features == "tfidf"]
    if not candidates:
        raise SystemExit(f"no TF-IDF student of {study.name} was fitted on validation; include tfidf in --features")
    fast = max(candidates, key=lambda n: float(val.loc[n, "fidelity"]))
    margin = margin_for_rate(top_two_margin(val_result.models[fast].proba), defer_rate)
    for old in [n for n, m in result.models.items() if m.family == "cascade"]:  # a rerun regenerates the row
        del result.models[old]
        result.table = result.table.drop(index=old)
    entry = add_cascade(result, fast, fallback, margin=margin)
    logging.getLogger("imdb_fast_students").info("%s: margin %.4f (defers %.0f%% of validation), %.1f%% of test",
                                                 entry.name, margin, 100 * defer_rate, 100 * entry.deferred)
    result.save(study)
    md = OUT / f"{study.name}.md"
    produced = md.read_text().split("\n\n", 1)[0] if md.exists() else ""
    note = (f"The cascade row was added afterwards by `{_shown()}` (no training): `{fast}` answers and defers "
            f"reviews with a top-two probability margin below {margin:.4f} (the margin that defers "
            f"{defer_rate:.0%} of 5,000 validation reviews, for a student fitted without them) to `{fallback}`; "
            f"it deferred {entry.deferred:.1%} of the test reviews.")
    md.write_text(f"{produced}\n\n{result.scenario}\n\n{note}\n\n{result.to_markdown()}")
    result.table.to_csv(OUT / f"{study.name}.csv")
    write_report(study, OUT / "report.html")


def _shown() -> str:
    """This run's command line, with no machine's paths in it (a home folder shown as ``~``, left for the shell)."""
    args = [a if not Path(a).is_absolute() else _home_relative(a) for a in sys.argv[1:]]
    return " ".join(["python", "examples/imdb_fast_students.py",
                     *[a if a.startswith("~/") and shlex.quote(a[2:]) == a[2:] else shlex.quote(a) for a in args]])


def _home_relative(path: str) -> str:
    p = Path(path)
    try:
        return "~/" + p.relative_to(Path.home()).as_posix()
    except ValueError:
        return p.name


if __name__ == "__main__":
    raise SystemExit(main())
