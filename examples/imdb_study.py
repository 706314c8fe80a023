"""The IMDB study: reproduce the seed paper's Table 1 setting and measure what distillation keeps.

Needs the IMDB data as JSON lines (id, rating, label 0/1/-1, text):
``imdb_train.jsonl.gz`` (25k), ``imdb_test.jsonl.gz`` (25k), ``imdb_unsup.jsonl.gz`` (50k).

    python examples/imdb_study.py teacher  --data ../shared/data/imdb   # fine-tune + score all 100k reviews
    python examples/imdb_study.py students --data ../shared/data/imdb   # regimes A and B, report (regime A)
    python examples/imdb_study.py students --from-logits                # the same without the teacher model
    python examples/imdb_study.py students --from-logits --regimes A --transformer-epochs 1 --transformer-texts 20000
    python examples/imdb_study.py students --from-logits --regimes A --transformer-epochs 1 \
        --transformer-layers 3,1 --transformer-texts 0,20000   # two students: all transfer texts / 20k
    python examples/imdb_study.py tune     --data ../shared/data/imdb   # regime A linear students, tuned on validation

The teacher half stores the float16 logits of every review, keyed by split,
in ``reports/imdb/`` (``teacher_logits.npz`` + ``teacher.json``, written by
:func:`bert2sk.teacher.save_logits`) and keeps them in bert2sk's logit
cache, so the student half never re-scores a review.

The student half saves each regime as a study folder
(:func:`bert2sk.study.save_study`: every student, the test predictions, the
teacher's test logits) under ``--study-dir`` (``~/.cache/bert2sk/studies/imdb``
by default: the student bundles and test texts weigh ~70 MB a regime, too
much for the repository) and writes the small files to ``reports/imdb/``:
``regime_<R>.csv`` (every column), ``regime_<R>.md`` (the table as printed)
and ``report.html`` (the first regime, rendered from its saved folder, as
``bert2sk report --study DIR`` renders it).

``--from-logits`` serves the stored logits through
:class:`bert2sk.teacher.TeacherScores` instead of the model, for a machine
without the teacher's weights: no embedding students (``--features`` minus
``embeddings``), no teacher latency, no LIME on the teacher; static students
(``--features tfidf,static-tuned``) take their table from the packaged encoder
the teacher was fine-tuned from and learn the teacher from its stored logits.
``--transformer-epochs N`` adds the transformer student to the same study:
3 layers (0, 2, 4) of the packaged all-MiniLM-L6-v2 with a new head, distilled
from the stored logits (``encoder`` start: the teacher's weights are not
needed) at the teacher's 256 tokens, plus its ONNX fp32/int8 rows.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from bert2sk.data import Corpus, load_table
from bert2sk.demo import cache_dir

OUT = Path(__file__).resolve().parents[1] / "reports" / "imdb"
TEACHER_LABELS = 10_000  # reviews the teacher was fine-tuned on (a seeded, stratified sample of train)
MAX_LENGTH = 256
SEED = 0
LABELS_A = 2000  # regime A: labelled reviews the baselines get

logger = logging.getLogger("imdb_study")


def _load(data: Path):
    names = ["neg", "pos"]
    train = load_table(data / "imdb_train.jsonl.gz", label_names=names, name="imdb-train")
    test = load_table(data / "imdb_test.jsonl.gz", label_names=names, name="imdb-test")
    unsup = load_table(data / "imdb_unsup.jsonl.gz", label_column=None, label_names=names, name="imdb-unsup")
    return train, test, unsup


def teacher_dir() -> Path:
    return cache_dir() / f"imdb-teacher-{TEACHER_LABELS}-{MAX_LENGTH}"


def run_teacher(data: Path, epochs: int) -> None:
    """Fine-tune the teacher on 10,000 train reviews, score all 100,000 and store the logits in ``OUT``."""
    from bert2sk.teacher import Teacher, TrainingArguments, label_texts, save_logits, train_teacher

    train, test, unsup = _load(data)
    sample = train.keep_labels(TEACHER_LABELS, seed=SEED).labelled()
    t0 = time.perf_counter()
    res = train_teacher(sample, TrainingArguments(
        output_dir=str(teacher_dir()), epochs=epochs, max_length=MAX_LENGTH, batch_size=16, learning_rate=5e-5,
        seed=SEED, early_stopping_patience=None), resume=True)
    train_s = time.perf_counter() - t0
    teacher = Teacher.from_pretrained(teacher_dir(), max_length=MAX_LENGTH, batch_size=32)
    cache = cache_dir() / "logits.sqlite"
    logits, seconds = {}, {}
    for name, corpus in (("test", test), ("train", train), ("unsup", unsup)):
        t1 = time.perf_counter()
        logits[name], _ = label_texts(teacher, corpus.texts, cache, return_embeddings=True)
        seconds[name] = time.perf_counter() - t1
    acc = float((logits["test"].argmax(1) == test.labels).mean())
    meta = {"label_names": list(train.label_names), "task": train.task, "source": teacher_dir().name,
            "fingerprint": teacher.fingerprint, "teacher_labels": TEACHER_LABELS, "max_length": MAX_LENGTH,
            "epochs": epochs, "history": res.history, "train_seconds": train_s, "scoring_seconds": seconds,
            "test_accuracy": acc}
    save_logits(OUT, logits, meta)
    logger.info("teacher: test accuracy %.4f; logits of %s reviews in %s", acc,
                f"{sum(len(z) for z in logits.values()):,}", OUT)


def stored_teacher(train: Corpus, test: Corpus, unsup: Corpus):
    """The teacher's stored logits (``OUT``), served by text in place of the model."""
    from bert2sk.teacher import TeacherScores

    return TeacherScores.load(OUT, corpora={"test": test, "train": train, "unsup": unsup})


def _pool(train: Corpus, unsup: Corpus, n_labels: int | None) -> Corpus:
    """Train reviews (``n_labels`` of them labelled, or all) plus the unlabelled reviews."""
    kept = train if n_labels is None else train.keep_labels(n_labels, seed=SEED)
    labels = np.concatenate([kept.labels, np.full(len(unsup), -1)])
    return Corpus(kept.texts + unsup.texts, labels, train.label_names, "binary", name="imdb-train+unsup")


def _regime(regime: str) -> tuple[int | None, float]:
    """(labelled reviews the baselines get, alpha of the distilled students) of a regime."""
    return (LABELS_A, 0.0) if regime == "A" else (None, 0.5)


def _scenario(regime: str, pool: Corpus, alpha: float, from_logits: bool,
              transformer: tuple[tuple[int, int], ...] = ()) -> str:
    """The study's scenario line; ``transformer``: (layers, transfer texts) of each transformer student."""
    text = (f"Regime {regime}: {pool.n_labelled:,} labelled reviews; baselines learn from them, distilled "
            f"students from the teacher's scores on all {len(pool):,} train + unlabelled reviews"
            f"{f' (hard labels mixed in with alpha={alpha})' if alpha else ''}. Teacher: MiniLM-L6 fine-tuned "
            f"on {TEACHER_LABELS:,} IMDB train reviews at {MAX_LENGTH} tokens. Test: all 25,000 test reviews.")
    if from_logits:
        text += " Rerun from the stored teacher logits (no teacher model: no embedding students, no teacher latency)."
    from bert2sk.students.transformer import pick_layers

    for layers, n_texts in transformer:
        kept = ", ".join(str(i) for i in pick_layers(6, layers))
        text += (f" A transformer student keeps {layers} of the 6 layers of the packaged all-MiniLM-L6-v2 ({kept}) "
                 "with a new head and learns from the teacher's logits and the labels there are (alpha 0.5, T 2) on "
                 + ("every transfer text." if n_texts >= len(pool) else
                    f"a seeded sample of {n_texts:,} transfer texts (its fit costs per text what the "
                    "scikit-learn students' costs per thousand)."))
    return text


def _command() -> str:
    """This run's command line for the files it writes (an absolute path shown relative to the project)."""
    args = [os.path.relpath(a, OUT.parents[1]) if os.path.isabs(a) else a for a in sys.argv[1:]]
    return "python examples/imdb_study.py " + " ".join(shlex.quote(a) for a in args)


def write_report(study: Path, path: Path, teacher=None) -> Path:
    """``report.html`` of a saved study: what ``bert2sk report --study STUDY --docs 20`` writes."""
    from bert2sk.report import write_report as _write
    from bert2sk.study import load_study

    result = load_study(study, teacher=teacher)
    return _write(result, path, n_docs=20, teacher_docs=3 if result.teacher_scorer else 0)


def run_students(data: Path, regimes: list[str], families: tuple[str, ...], features: tuple[str, ...],
                 report: bool, from_logits: bool, study_dir: Path, transformer_epochs: int = 0,
                 transformer_layers: tuple[int, ...] = (3,), transformer_texts: tuple[int, ...] = (0,)) -> None:
    """Each regime: run the study, save its folder, write ``regime_<R>.csv/.md`` (and the first one's report)."""
    from bert2sk.study import run_study

    train, test, unsup = _load(data)
    options = {}
    if from_logits:
        # the teacher's embeddings need its model; static tables come from the encoder it was fine-tuned from
        teacher, features = stored_teacher(train, test, unsup), tuple(f for f in features if f != "embeddings")
        options["static"] = {"encoder": "packaged"}
    else:
        from bert2sk.teacher import Teacher

        teacher = Teacher.from_pretrained(teacher_dir(), max_length=MAX_LENGTH, batch_size=32)
    if len(transformer_texts) == 1:
        transformer_texts = transformer_texts * len(transformer_layers)
    if len(transformer_texts) != len(transformer_layers):
        raise SystemExit(f"--transformer-texts gives {len(transformer_texts)} sample sizes for "
                         f"{len(transformer_layers)} students (--transformer-layers): give one, or one per student")
    if transformer_epochs:
        # stored scores carry no teacher layers to cut: start from the encoder the teacher was fine-tuned from
        features += ("transformer",)
        options["transformer"] = {"encoder": "packaged" if from_logits else None, "max_length": MAX_LENGTH,
                                  "epochs": transformer_epochs, "batch_size": 32, "learning_rate": 1e-4,
                                  "students": [{"layers": n, "max_texts": k or None}
                                               for n, k in zip(transformer_layers, transformer_texts, strict=True)]}
    OUT.mkdir(parents=True, exist_ok=True)
    for regime in regimes:
        n_labels, alpha = _regime(regime)
        pool = _pool(train, unsup, n_labels)
        students = zip(transformer_layers, transformer_texts, strict=True)
        scenario = _scenario(regime, pool, alpha, from_logits,
                             tuple((n, k or len(pool)) for n, k in students) if transformer_epochs else ())
        t0 = time.perf_counter()
        result = run_study(teacher, pool, test, families=families, features=features, alpha=alpha, options=options,
                           cache_path=cache_dir() / "logits.sqlite", title=f"IMDB regime {regime}",
                           scenario=scenario, seed=SEED)
        minutes = (time.perf_counter() - t0) / 60
        folder = result.save(study_dir / f"regime_{regime}")
        result.table.to_csv(OUT / f"regime_{regime}.csv")
        (OUT / f"regime_{regime}.md").write_text(
            f"Produced by `{_command()}` ({minutes:.1f} min on 2 CPU cores; study folder saved outside the "
            f"repository).\n\n{scenario}\n\n{result.to_markdown()}")
        print(f"Regime {regime} ({minutes:.1f} min)\n{result.to_markdown()}", flush=True)
        if report and regime == regimes[0]:
            write_report(folder, OUT / "report.html", None if from_logits else teacher)


def run_tuning(data: Path) -> None:
    """Regime A's linear students: regularisation chosen on a validation slice of the unlabelled pool.

    The slice is scored by the teacher but never used for fitting, so choosing
    by validation fidelity uses nothing a label-scarce user lacks; the test
    split is only read once, for the chosen settings.
    """
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.svm import LinearSVR

    from bert2sk.features import TfidfFeatures
    from bert2sk.students import DistilledClassifier, SoftTargetClassifier
    from bert2sk.teacher import load_logits

    train, test, unsup = _load(data)
    z, _, _ = load_logits(OUT)
    pool = _pool(train, unsup, 2000)
    z_pool = np.concatenate([z["train"], z["unsup"]]).astype(np.float32)
    rng = np.random.default_rng(SEED)
    val = rng.choice(np.flatnonzero(pool.labels == -1), 5000, replace=False)
    fit = np.setdiff1d(np.arange(len(pool)), val)
    rows = []
    for max_features in (200_000, 500_000):
        vec = TfidfFeatures(max_features=max_features).fit([pool.texts[i] for i in fit])
        X = vec.transform(pool.texts)
        X_test = vec.transform(test.texts)
        grid = [("ridge", a, lambda a=a: DistilledClassifier(Ridge(alpha=a))) for a in (0.1, 0.3, 1.0, 3.0)]
        # the squared loss at epsilon 0 makes LinearSVR ridge regression (C = 1 / (2 alpha)), kept as a check
        grid += [("linear SVR, squared loss", c, lambda c=c: DistilledClassifier(LinearSVR(
            C=c, epsilon=0.0, loss="squared_epsilon_insensitive", max_iter=5000, random_state=SEED)))
            for c in (0.5, 2.0)]
        grid += [("soft LR", c, lambda c=c: SoftTargetClassifier(LogisticRegression(C=c, max_iter=2000)))
                 for c in (10.0, 100.0)]
        for name, value, make in grid:
            t0 = time.perf_counter()
            est = make().fit(X[fit], pool.labels[fit], teacher_logits=z_pool[fit])
            val_fid = float((est.predict_proba(X[val]).argmax(1) == z_pool[val].argmax(1)).mean())
            rows.append({"student": name, "setting": value, "max_features": max_features,
                         "val_fidelity": val_fid, "seconds": time.perf_counter() - t0, "est": est, "X_test": X_test})
            logger.info("%s %s %s: validation fidelity %.4f", name, value, max_features, val_fid)
    lines = ["| student | setting | max_features | validation fidelity | test accuracy | test fidelity |",
             "|---|---:|---:|---:|---:|---:|"]
    for name in dict.fromkeys(r["student"] for r in rows):
        best = max((r for r in rows if r["student"] == name), key=lambda r: r["val_fidelity"])
        p = best["est"].predict_proba(best["X_test"])
        acc = float((p.argmax(1) == test.labels).mean())
        fid = float((p.argmax(1) == z["test"].argmax(1)).mean())
        for r in rows:
            if r["student"] == name:
                chosen = " (chosen)" if r is best else ""
                test_cells = f"{acc:.4f} | {fid:.4f}" if r is best else "— | —"
                lines.append(f"| {name}{chosen} | {r['setting']} | {r['max_features']:,} | {r['val_fidelity']:.4f} | "
                             f"{test_cells} |")
    (OUT / "TUNING.md").write_text(f"Produced by `{_command()}`.\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))


def _ints(value: str) -> tuple[int, ...]:
    """``"3,1"`` -> ``(3, 1)``, for the options that take one number per transformer student."""
    try:
        return tuple(int(v) for v in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, e.g. 3,1; got {value!r}") from None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("half", choices=["teacher", "students", "tune"])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/imdb"))
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--regimes", default="A,B")
    ap.add_argument("--families", default="linear,tree,svm")
    ap.add_argument("--features", default="tfidf,embeddings")
    ap.add_argument("--no-report", action="store_true")
    ap.add_argument("--from-logits", action="store_true",
                    help="students from reports/imdb/teacher_logits.npz + teacher.json, no teacher model "
                         "(no embedding students)")
    ap.add_argument("--transformer-epochs", type=int, default=0,
                    help="also distil a 3-layer transformer student from the packaged encoder (this many epochs)")
    ap.add_argument("--transformer-layers", type=_ints, default=(3,),
                    help="comma-separated layer counts, one transformer student each (default 3; e.g. 3,1)")
    ap.add_argument("--transformer-texts", type=_ints, default=(0,),
                    help="train each transformer student on a seeded sample of this many transfer texts (0: all); "
                         "one number for all students or one per --transformer-layers entry")
    ap.add_argument("--study-dir", type=Path, default=None,
                    help="where each regime's study folder is saved (default: ~/.cache/bert2sk/studies/imdb)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    if args.half == "teacher":
        run_teacher(args.data, args.epochs)
    elif args.half == "tune":
        run_tuning(args.data)
    else:
        run_students(args.data, args.regimes.split(","), tuple(args.families.split(",")),
                     tuple(args.features.split(",")), not args.no_report, args.from_logits,
                     args.study_dir or cache_dir() / "studies" / "imdb", args.transformer_epochs,
                     args.transformer_layers, args.transformer_texts)


if __name__ == "__main__":
    main()
