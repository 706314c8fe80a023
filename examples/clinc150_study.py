"""CLINC150 (150 intents + out-of-scope): teacher, baselines and distilled students, measured.

    python examples/clinc150_study.py --data ../shared/data/clinc150/data_oos_plus.json --report
    python examples/clinc150_study.py teacher  # fine-tune (or reuse) the teacher, store its logits, stop there
    python examples/clinc150_study.py --off-domain 15000 --report   # + 15,000 teacher-scored GoEmotions comments
    python examples/clinc150_study.py --tune   # TF-IDF linear students tuned on the validation split
    python examples/clinc150_study.py students --from-logits [--labels 1510] [--report]   # no teacher model

Fine-tunes the packaged all-MiniLM-L6-v2 on the train split (15,250 queries,
validation split for early stopping), scores every query, trains TF-IDF and
embedding students (softmax heads), static and transformer students, baselines
and cascades (``--cascade-rate``: the fast students deferring their least sure
validation share to an int8 ONNX model), and writes
``reports/clinc150/`` (RESULTS_TABLES.md, results.csv, teacher_logits.npz,
teacher.json). In-scope accuracy and out-of-scope recall are reported as the
CLINC authors do; latency is mean ± std over at least 100 single-query calls.

``students --from-logits`` serves the stored logits (``teacher_logits.npz`` +
``teacher.json``) through :class:`bert2sk.teacher.TeacherScores` on a machine
without the teacher's weights: TF-IDF students only (linear, tree, svm), no
teacher latency, size or explanations. The study folder is saved under
``--study-dir`` (``~/.cache/bert2sk/studies/clinc150`` by default; its bundles
are big) and the small files go to ``reports/clinc150/``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from bert2sk.data import load_clinc150
from bert2sk.demo import cache_dir

OUT = Path(__file__).resolve().parents[1] / "reports" / "clinc150"
MAX_LENGTH = 32
SEED = 0
SEED_ROWS = (("BERT-base teacher (seed)", 0.867, 418.0, 73.7), ("DistilBERT student (seed)", 0.859, 256.0, 37.6))

logger = logging.getLogger("clinc150_study")


def run_tuning(data: Path) -> None:
    """TF-IDF linear students and baseline: settings chosen on the validation split, test scored once per choice."""
    from sklearn.linear_model import LogisticRegression, Ridge

    from bert2sk.features import TfidfFeatures
    from bert2sk.students import DistilledClassifier, SoftTargetClassifier
    from bert2sk.teacher import load_logits

    train, val, test = (load_clinc150(data, s) for s in ("train", "val", "test"))
    z, _, _ = load_logits(OUT)
    z_train = z["train"].astype(np.float32)
    vec = TfidfFeatures().fit(train.texts)
    X, X_val, X_test = (vec.transform(c.texts) for c in (train, val, test))
    grid = [("baseline LR", f"C={c}", lambda c=c: LogisticRegression(C=c, max_iter=2000), False)
            for c in (3.0, 10.0, 30.0)]
    # a temperature only rescales ridge's targets and predictions alike, so only its penalty is tuned
    grid += [("ridge on logits", f"alpha={a}", lambda a=a: DistilledClassifier(Ridge(alpha=a)), True)
             for a in (0.1, 0.3, 1.0)]
    # soft targets copy each query once per class above min_weight: at T=2 that is ~10x the copies of T=1
    # with 151 classes (minutes per fit here), so the grid stays small
    grid += [("soft-target LR", f"T={t}, alpha={al}", lambda t=t, al=al: SoftTargetClassifier(
        LogisticRegression(C=10.0, max_iter=2000), temperature=t, alpha=al), True)
        for t, al in ((1.0, 0.0), (1.0, 0.5), (2.0, 0.0))]
    rows = []
    for name, setting, make, distilled in grid:
        t0 = time.perf_counter()
        est = make()
        est.fit(X, train.labels, teacher_logits=z_train) if distilled else est.fit(X, train.labels)
        val_acc = float((est.predict_proba(X_val).argmax(1) == val.labels).mean())
        rows.append({"student": name, "setting": setting, "val": val_acc, "s": time.perf_counter() - t0, "est": est})
        print(f"{name:16s} {setting:18s} val accuracy {val_acc:.4f} ({rows[-1]['s']:.0f}s)")
    lines = ["| student | setting | validation accuracy | test accuracy | test fidelity | fit s |",
             "|---|---|---:|---:|---:|---:|"]
    for name in dict.fromkeys(r["student"] for r in rows):
        best = max((r for r in rows if r["student"] == name), key=lambda r: r["val"])
        pred = best["est"].predict_proba(X_test).argmax(1)
        cells = f"{(pred == test.labels).mean():.4f} | {(pred == z['test'].argmax(1)).mean():.4f}"
        for r in rows:
            if r["student"] == name:
                lines.append(f"| {name}{' (chosen)' if r is best else ''} | {r['setting']} | {r['val']:.4f} | "
                             f"{cells if r is best else '— | —'} | {r['s']:.0f} |")
    (OUT / "TUNING.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _command() -> str:
    """This run's command line for the files it writes (an absolute path shown relative to the project)."""
    args = [os.path.relpath(a, OUT.parents[1]) if os.path.isabs(a) else a for a in sys.argv[1:]]
    return "python examples/clinc150_study.py " + " ".join(shlex.quote(a) for a in args)


def _scenario(n_train: int, labels: int | None, from_logits: bool) -> str:
    if labels:
        text = (f"CLINC150, label-scarce: baselines learn from {labels:,} labelled train queries (stratified); "
                f"distilled students from the teacher's logits on all {n_train:,} train queries. Teacher: MiniLM-L6 "
                f"fine-tuned on all train labels ({MAX_LENGTH} tokens).")
    else:
        text = (f"CLINC150 (data_oos_plus): 151 classes (150 intents + oos). Teacher: MiniLM-L6 fine-tuned on all "
                f"{n_train:,} train queries ({MAX_LENGTH} tokens). Baselines learn from the same labels; distilled "
                "students from the teacher's logits on the same queries (alpha = 0).")
    if from_logits:
        text += (" Rerun from the stored teacher logits (TF-IDF students only; teacher latency and size unknown, "
                 "shown as n/a).")
    return text


def _num(value: float, fmt: str = ".2f") -> str:
    return "n/a" if value is None or math.isnan(value) else format(value, fmt)


def _scope_table(result, oos: int):
    """The study's table with in-scope accuracy and out-of-scope recall, as the CLINC authors report them."""
    import pandas as pd

    y = result.y_test
    in_scope = y != oos
    extra = []
    for name, entry in result.models.items():
        pred = entry.proba.argmax(1)
        extra.append({"model": name, "in_scope_accuracy": float((pred[in_scope] == y[in_scope]).mean()),
                      "oos_recall": float((pred[~in_scope] == oos).mean())})
    return result.table.join(pd.DataFrame(extra).set_index("model"))


def _markdown(table, header: str) -> str:
    # a cascade's row says what share of test queries its fallback answered
    deferred = "deferred" in table and bool(table["deferred"].notna().any())
    lines = [header, "", "| model | accuracy | in-scope acc | OOS recall | macro-F1 | fidelity | size MB | "
             "ms/query ± std |" + (" deferred |" if deferred else ""),
             "|---|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if deferred else "")]
    for name, r in table.iterrows():
        latency = "n/a" if math.isnan(r.latency_ms) else f"{r.latency_ms:.2f} ± {r.latency_std_ms:.2f}"
        lines.append(f"| {name} | {r.accuracy:.3f} | {r.in_scope_accuracy:.3f} | {r.oos_recall:.3f} | "
                     f"{r.f1_macro:.3f} | {r.fidelity:.3f} | {_num(r.size_mb)} | {latency} |"
                     + (f" {_num(r.deferred, '.1%')} |" if deferred else ""))
    lines += ["", "Seed study (Table: BERT-base teacher, DistilBERT student; their hardware, not ours):", "",
              "| model | accuracy | size MB | ms/query |", "|---|---:|---:|---:|"]
    lines += [f"| {name} | {acc:.3f} | {size:.0f} | {ms} |" for name, acc, size, ms in SEED_ROWS]
    return "\n".join(lines) + "\n"


def _svg(table) -> str:
    from bert2sk.report.plots import accuracy_latency_svg

    short = {"baseline · ": "base · ", "distilled · ": "dist · ", "logit regression": "logit", "soft targets": "soft"}
    points = []
    for name, r in table.iterrows():
        if math.isnan(r.latency_ms) or math.isnan(r.size_mb):
            continue  # the stored-logits teacher has no latency or size to place
        for a, b in short.items():
            name = name.replace(a, b)
        points.append({"short": name, "role": r.role, "size_mb": r.size_mb, "latency_ms": r.latency_ms,
                       "accuracy": r.accuracy})
    points += [{"short": name.replace(" teacher", "").replace(" student", ""), "role": "published",
                "size_mb": size, "latency_ms": ms, "accuracy": acc} for name, acc, size, ms in SEED_ROWS]
    # the trees sit near 0.1-0.6: plotting only what competes keeps the interesting corner readable
    return accuracy_latency_svg([p for p in points if p["accuracy"] > 0.7])


def write_files(result, table, suffix: str, header: str) -> None:
    """RESULTS_TABLES, results, per_class and accuracy_latency files of one regime in ``OUT``."""
    from bert2sk.metrics import per_class_scores

    table.to_csv(OUT / f"results{suffix}.csv")
    teacher_entry = result.models["teacher"]
    best = table[table.role == "distilled"].accuracy.idxmax()
    y, names = result.y_test, result.label_names
    per_class = per_class_scores(result.models[best].proba, y, "multiclass", names, teacher_proba=teacher_entry.proba)
    per_class.insert(0, "teacher_f1", per_class_scores(teacher_entry.proba, y, "multiclass", names)["f1"])
    per_class.to_csv(OUT / f"per_class{suffix}.csv")
    (OUT / f"RESULTS_TABLES{suffix}.md").write_text(_markdown(table, header))
    (OUT / f"accuracy_latency{suffix}.svg").write_text(_svg(table))


def run_from_logits(data: Path, labels: int | None, report: bool, study_dir: Path) -> None:
    """TF-IDF students from the stored teacher logits; the study folder goes to ``study_dir``."""
    from bert2sk.report import write_report
    from bert2sk.study import load_study, run_study
    from bert2sk.teacher import TeacherScores

    train, val, test = (load_clinc150(data, s) for s in ("train", "val", "test"))
    teacher = TeacherScores.load(OUT, corpora={"train": train, "val": val, "test": test})
    suffix, study_train = ("", train) if not labels else (f"_labels{labels}", train.keep_labels(labels, seed=SEED))
    t0 = time.perf_counter()
    result = run_study(teacher, study_train, test, families={"tfidf": ("linear", "tree", "svm")},
                       features=("tfidf",), latency_runs=200, title="CLINC150",
                       scenario=_scenario(len(train), labels, True), seed=SEED)
    study_s = time.perf_counter() - t0
    folder = result.save(study_dir / (f"labels{labels}" if labels else "every_label"))
    table = _scope_table(result, test.label_names.index("oos"))
    header = (f"Produced by `{_command()}` ({study_s / 60:.1f} min on 2 shared CPU cores; study folder saved outside "
              f"the repository). {result.scenario} The teacher row is the stored logits: its latency and size are "
              "unknown here (n/a); latency is one query at a time on raw text, mean ± std of 200 calls.")
    write_files(result, table, suffix, header)
    logger.info("study %.1f min; timings %s", study_s / 60, json.dumps(result.timings))
    print(_markdown(table, header), flush=True)
    if report:
        write_report(load_study(folder), OUT / f"report{suffix}.html", n_docs=10, teacher_docs=0,
                     explain_class="oos")


def off_domain_texts(folder: Path, n: int, seed: int = SEED) -> list[str]:
    """``n`` GoEmotions train comments, a seeded sample: text no CLINC intent is about, for the teacher to score."""
    from bert2sk.data import load_goemotions

    texts = load_goemotions(folder, "train").texts
    rng = np.random.default_rng(seed)
    return [texts[i] for i in sorted(rng.choice(len(texts), size=min(n, len(texts)), replace=False))]


def train_and_score(args: argparse.Namespace):
    """Fine-tune (or reuse) the teacher and store its logits of every split in ``OUT``."""
    from bert2sk.teacher import Teacher, TrainingArguments, label_texts, save_logits, train_teacher

    train, val, test = (load_clinc150(args.data, s) for s in ("train", "val", "test"))
    out_dir = cache_dir() / f"clinc150-teacher-{MAX_LENGTH}"
    res = train_teacher(train, TrainingArguments(
        output_dir=str(out_dir), epochs=args.epochs, max_length=MAX_LENGTH, batch_size=32, learning_rate=1e-4,
        seed=SEED, early_stopping_patience=2), eval_corpus=val, resume=True)
    teacher = Teacher.from_pretrained(out_dir, max_length=MAX_LENGTH, batch_size=64)
    cache = cache_dir() / "logits.sqlite"
    z = {name: label_texts(teacher, c.texts, cache, progress=False) for name, c in
         (("train", train), ("val", val), ("test", test))}
    # the one stored-logits format (bert2sk.teacher.save_logits): TeacherScores.load(OUT, corpora=...) serves it
    save_logits(OUT, z, {"label_names": list(train.label_names), "task": train.task, "source": out_dir.name,
                         "fingerprint": teacher.fingerprint, "max_length": MAX_LENGTH, "history": res.history,
                         "train_seconds": res.seconds,
                         "test_accuracy": float((z["test"].argmax(1) == test.labels).mean())})
    logger.info("teacher %s: test accuracy %.4f", teacher.fingerprint, (z["test"].argmax(1) == test.labels).mean())
    return teacher, res, z, cache, (train, val, test)


def _cascades(families: dict, transformer: dict, rate: float, teacher_layers: int) -> list[dict]:
    """The cascades of the study: its fastest distilled students deferring their least sure queries.

    The fast parts are the soft-target linear students (TF-IDF, and the tuned static table when it is in the
    study); the fallbacks the int8 ONNX rows (the teacher's own and the transformer student's), the cheapest
    faithful models of the study. The defer rate is fixed before the run, from the latency budget, not chosen
    on test: see ``--cascade-rate``.
    """
    from bert2sk.study.transformer_kind import transformer_kind_label

    student = f"distilled · transformer · text · {transformer_kind_label(teacher_layers, **transformer)} · onnx int8"
    fast = ["distilled · linear · tfidf · soft targets"]
    if "static-tuned" in families:
        fast.append("distilled · linear · static-tuned · soft targets")
    return ([{"fast": f, "fallback": "teacher · onnx int8", "defer_rate": rate} for f in fast]
            + [{"fast": fast[0], "fallback": student, "defer_rate": rate}])


def run_with_teacher(args: argparse.Namespace) -> None:
    """Fine-tune (or reuse) the teacher, store its logits and run every student family on TF-IDF and embeddings."""
    from bert2sk.data import Corpus
    from bert2sk.study import run_study

    teacher, res, z, cache, (train, val, test) = train_and_score(args)
    suffix, study_train = ("", train)
    if args.labels:
        suffix, study_train = f"_labels{args.labels}", train.keep_labels(args.labels, seed=SEED)
    if args.off_domain:
        # unlabelled rows: the baselines never see them, every distilled student learns the teacher's view of them
        extra = off_domain_texts(args.off_domain_folder, args.off_domain)
        study_train = Corpus(study_train.texts + extra,
                             np.concatenate([study_train.labels, np.full(len(extra), -1)]),
                             study_train.label_names, study_train.task, name="clinc150-train+off-domain")
    t1 = time.perf_counter()
    # A linear SVM on dense 384-d embeddings with 151 outputs costs 10+ minutes per student here (151
    # one-vs-rest problems over ~10 soft-target copies per query) for no gain over logistic regression.
    families = {"tfidf": ("linear", "tree", "svm"), "embeddings": ("linear", "tree")}
    options = {}
    if "static" in args.kinds:
        # the tuned table is the static student worth measuring (reports/static: +9 points over the plain one)
        families["static-tuned"] = ("linear",)
    if "transformer" in args.kinds:
        families["transformer"] = ("transformer",)
        options["transformer"] = {"layers": args.student_layers, "epochs": args.student_epochs,
                                  "vocabulary": args.student_vocabulary}
    if "transformer" in args.kinds and args.cascade_rate > 0:
        options["cascades"] = _cascades(families, options["transformer"], args.cascade_rate,
                                        teacher.model.config.num_hidden_layers)
    # dev: the validation split, where a cascade's defer rate becomes a margin (never the test split)
    result = run_study(teacher, study_train, test, dev=val, families=families, features=tuple(families),
                       cache_path=cache, latency_runs=200, title="CLINC150",
                       scenario=_scenario(len(train), args.labels, False), seed=SEED, options=options)
    study_s = time.perf_counter() - t1
    study_dir = args.study_dir or cache_dir() / "studies" / "clinc150"
    result.save(study_dir / (f"labels{args.labels}" if args.labels else "every_label"))
    table = _scope_table(result, test.label_names.index("oos"))
    write_files(result, table, suffix, f"Produced by `{_command()}` ({study_s / 60:.0f} min for the students on 2 "
                                       f"CPU cores; study folder saved outside the repository). {result.scenario}")
    meta = {"history": res.history, "train_seconds": res.seconds, "study_seconds": study_s,
            "test_accuracy": float((z["test"].argmax(1) == test.labels).mean()), "max_length": MAX_LENGTH,
            "fingerprint": teacher.fingerprint}
    logger.info("%s", json.dumps(meta, indent=2))
    if args.report:
        from bert2sk.report import write_report

        write_report(result, OUT / f"report{suffix}.html", n_docs=10, teacher_docs=2, explain_class="oos")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("half", nargs="?", choices=("all", "teacher", "students"), default="all",
                    help="all (default): teacher and students; teacher: fine-tune, score and store the logits only; "
                         "students: only the students (needs --from-logits)")
    ap.add_argument("--data", type=Path, default=Path("../shared/data/clinc150/data_oos_plus.json"))
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--report", action="store_true", help="also write report.html (10 queries)")
    ap.add_argument("--labels", type=int, default=None,
                    help="label-scarce regime: baselines get this many labelled queries (stratified), distilled "
                         "students the teacher's logits on all train queries; files get a _labelsN suffix")
    ap.add_argument("--tune", action="store_true",
                    help="only tune the TF-IDF linear students on the validation split (needs teacher_logits.npz)")
    ap.add_argument("--from-logits", action="store_true",
                    help="students from teacher_logits.npz + teacher.json, no teacher model (TF-IDF only)")
    ap.add_argument("--kinds", type=lambda v: tuple(v.split(",")), default=("static", "transformer"),
                    help="student kinds beside TF-IDF and embeddings (comma-separated; default static,transformer)")
    ap.add_argument("--student-layers", type=int, default=3, help="transformer student: teacher layers kept")
    ap.add_argument("--student-epochs", type=int, default=3, help="transformer student: training epochs")
    ap.add_argument("--student-vocabulary", choices=("teacher", "transfer"), default="transfer",
                    help="transformer student: keep the teacher's word pieces, or only those the transfer set uses")
    ap.add_argument("--cascade-rate", type=float, default=0.2, metavar="R",
                    help="cascades (with the transformer kind): the fast students defer this share of validation "
                         "queries, their least sure, to an int8 ONNX model (default 0.2: the int8 rows cost "
                         "<= 0.3x the teacher, so the mean stays near 0.1x; 0 leaves cascades out)")
    ap.add_argument("--off-domain", type=int, default=0, metavar="N",
                    help="add N off-domain texts (GoEmotions comments, seeded sample) the teacher scores to the "
                         "distilled students' transfer set")
    ap.add_argument("--off-domain-folder", type=Path, default=Path("../shared/data/goemotions"))
    ap.add_argument("--study-dir", type=Path, default=None,
                    help="where the study folder is saved (default: ~/.cache/bert2sk/studies/clinc150)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    if args.tune:
        run_tuning(args.data)
    elif args.half == "teacher":
        train_and_score(args)
    elif args.half == "students" or args.from_logits:
        if not args.from_logits:
            ap.error("students needs --from-logits (the teacher path runs without the 'students' word)")
        run_from_logits(args.data, args.labels, args.report, args.study_dir or cache_dir() / "studies" / "clinc150")
    else:
        run_with_teacher(args)


if __name__ == "__main__":
    main()
