"""The IMDB study: reproduce the seed paper's Table 1 setting and measure what distillation keeps.

Needs the IMDB data as JSON lines (id, rating, label 0/1/-1, text):
``imdb_train.jsonl.gz`` (25k), ``imdb_test.jsonl.gz`` (25k), ``imdb_unsup.jsonl.gz`` (50k).

    python examples/imdb_study.py teacher  --data ../shared/data/imdb   # fine-tune + score all 100k reviews
    python examples/imdb_study.py students --data ../shared/data/imdb   # regimes A and B, RESULTS.md, report
    python examples/imdb_study.py tune     --data ../shared/data/imdb   # regime A linear students, tuned on validation

The teacher half writes ``reports/imdb/teacher_logits.npz`` (float16 logits of
every review, keyed by split) and keeps the scores in bert2sk's logit cache,
so the student half never re-scores a review.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from bert2sk.data import Corpus, load_table
from bert2sk.demo import cache_dir

OUT = Path(__file__).resolve().parents[1] / "reports" / "imdb"
TEACHER_LABELS = 10_000  # reviews the teacher was fine-tuned on (a seeded, stratified sample of train)
MAX_LENGTH = 256
SEED = 0


def _load(data: Path):
    names = ["neg", "pos"]
    train = load_table(data / "imdb_train.jsonl.gz", label_names=names, name="imdb-train")
    test = load_table(data / "imdb_test.jsonl.gz", label_names=names, name="imdb-test")
    unsup = load_table(data / "imdb_unsup.jsonl.gz", label_column=None, label_names=names, name="imdb-unsup")
    return train, test, unsup


def teacher_dir() -> Path:
    return cache_dir() / f"imdb-teacher-{TEACHER_LABELS}-{MAX_LENGTH}"


def run_teacher(data: Path, epochs: int) -> None:
    from bert2sk.teacher import Teacher, TrainingArguments, label_texts, train_teacher

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
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT / "teacher_logits.npz", **{k: v.astype(np.float16) for k, v in logits.items()})
    acc = float((logits["test"].argmax(1) == test.labels).mean())
    meta = {"teacher_labels": TEACHER_LABELS, "max_length": MAX_LENGTH, "epochs": epochs,
            "history": res.history, "train_seconds": train_s, "scoring_seconds": seconds,
            "test_accuracy": acc, "fingerprint": teacher.fingerprint}
    (OUT / "teacher.json").write_text(json.dumps(meta, indent=2))
    print(json.dumps(meta, indent=2))


def _pool(train: Corpus, unsup: Corpus, n_labels: int | None) -> Corpus:
    """Train reviews (``n_labels`` of them labelled, or all) plus the unlabelled reviews."""
    kept = train if n_labels is None else train.keep_labels(n_labels, seed=SEED)
    labels = np.concatenate([kept.labels, np.full(len(unsup), -1)])
    return Corpus(kept.texts + unsup.texts, labels, train.label_names, "binary", name="imdb-train+unsup")


def run_students(data: Path, regimes: list[str], families: tuple[str, ...], features: tuple[str, ...],
                 report: bool) -> None:
    from bert2sk.report import write_report
    from bert2sk.study import run_study
    from bert2sk.teacher import Teacher

    train, test, unsup = _load(data)
    teacher = Teacher.from_pretrained(teacher_dir(), max_length=MAX_LENGTH, batch_size=32)
    sections = []
    for regime in regimes:
        n = 2000 if regime == "A" else None
        pool = _pool(train, unsup, n)
        alpha = 0.0 if regime == "A" else 0.5
        t0 = time.perf_counter()
        scenario = (f"Regime {regime}: {pool.n_labelled:,} labelled reviews; baselines learn from them, distilled "
                    f"students from the teacher's scores on all {len(pool):,} train + unlabelled reviews"
                    f"{' (hard labels mixed in with alpha=0.5)' if alpha else ''}. Teacher: MiniLM-L6 fine-tuned "
                    f"on {TEACHER_LABELS:,} IMDB train reviews at {MAX_LENGTH} tokens. Test: all 25,000 test reviews.")
        result = run_study(teacher, pool, test, families=families, features=features, alpha=alpha,
                           cache_path=cache_dir() / "logits.sqlite", title=f"IMDB regime {regime}",
                           scenario=scenario, seed=SEED)
        seconds = time.perf_counter() - t0
        OUT.mkdir(parents=True, exist_ok=True)
        result.table.to_csv(OUT / f"regime_{regime}.csv")
        sections.append(f"## Regime {regime}\n\n{scenario}\n\nRun time: {seconds / 60:.1f} min.\n\n"
                        f"{result.to_markdown()}")
        if report and regime == regimes[0]:
            write_report(result, OUT / "report.html", n_docs=20, teacher_docs=3)
    (OUT / "RESULTS_TABLES.md").write_text("\n\n".join(sections))


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

    train, test, unsup = _load(data)
    z = np.load(OUT / "teacher_logits.npz")
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
        grid += [("linear-svr", c, lambda c=c: DistilledClassifier(LinearSVR(
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
            print(f"{name:10s} {value:>6} {max_features:>7} val fidelity {val_fid:.4f}")
    lines = ["| student | setting | max_features | validation fidelity | test accuracy | test fidelity |",
             "|---|---:|---:|---:|---:|---:|"]
    for name in ("ridge", "linear-svr", "soft LR"):
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
    (OUT / "TUNING.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("half", choices=["teacher", "students", "tune"])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/imdb"))
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--regimes", default="A,B")
    ap.add_argument("--families", default="linear,tree,svm")
    ap.add_argument("--features", default="tfidf,embeddings")
    ap.add_argument("--no-report", action="store_true")
    args = ap.parse_args()
    if args.half == "teacher":
        run_teacher(args.data, args.epochs)
    elif args.half == "tune":
        run_tuning(args.data)
    else:
        run_students(args.data, args.regimes.split(","), tuple(args.families.split(",")),
                     tuple(args.features.split(",")), not args.no_report)


if __name__ == "__main__":
    main()
