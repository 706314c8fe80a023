"""GoEmotions (28 labels, multilabel): teacher, one-vs-rest baselines and distilled students, measured.

    python examples/goemotions_study.py teacher  --data ../shared/data/goemotions  # fine-tune + score all splits
    python examples/goemotions_study.py students --data ../shared/data/goemotions --report
    python examples/goemotions_study.py students --labels 2000 --report   # label-scarce regime
    python examples/goemotions_study.py students --from-logits [--labels 2000] [--report]   # no teacher model
    python examples/goemotions_study.py students --from-logits --transformer-epochs 5 --report   # + transformer

The teacher half fine-tunes the packaged all-MiniLM-L6-v2 with per-label
sigmoids (binary cross-entropy) on the 43,410 train comments, keeps the epoch
with the best dev micro-F1 and tunes one decision threshold per label on dev.
It stores every split's logits in ``reports/goemotions/`` (``teacher_logits.npz``,
float16, and ``teacher.json`` with the thresholds, written by
:func:`bert2sk.teacher.save_logits`) and in bert2sk's logit cache, so the
student half never re-scores.

The student half trains one-vs-rest baselines on the gold labels and
distilled students on the teacher's per-label logits (regression + sigmoids)
or per-label soft targets, tunes every model's thresholds on dev (never on
test) and saves the study folder (:func:`bert2sk.study.save_study`) under
``--study-dir`` (``~/.cache/bert2sk/studies/goemotions`` by default: its
student bundles weigh ~90 MB). To ``reports/goemotions/`` it writes the small
files: RESULTS_TABLES.md, results.csv, per_label.csv, timings.json and, with
``--report``, report.html (rendered from the saved folder, as
``bert2sk report --study DIR --docs 12`` renders it). ``--labels N`` is the
label-scarce regime: baselines see N labelled comments (a seeded sample),
distilled students the teacher's logits on all train comments; its files get
a ``_labelsN`` suffix.

``--from-logits`` serves the stored logits and thresholds through
:class:`bert2sk.teacher.TeacherScores` instead of the model, on a machine
without the teacher's weights: TF-IDF students only, no teacher latency or
teacher explanations. ``--transformer-epochs N`` adds the transformer student
to the same study: 3 layers (0, 2, 4) of the packaged all-MiniLM-L6-v2 with a
new 28-label head, distilled from the stored logits alone (``encoder`` start:
the teacher's weights are not needed), its thresholds tuned on dev like every
other model's, plus its ONNX fp32/int8 rows.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import time
from pathlib import Path

from bert2sk.data import load_goemotions
from bert2sk.demo import cache_dir

OUT = Path(__file__).resolve().parents[1] / "reports" / "goemotions"
MAX_LENGTH = 48  # the 99.9th percentile of train comments is 44 word pieces
SEED = 0
EPOCHS = 6  # dev micro-F1 rose every epoch to 6 (0.32 -> 0.54); early stopping ends a run sooner if it stalls

logger = logging.getLogger("goemotions_study")


def teacher_dir(epochs: int) -> Path:
    return cache_dir() / f"goemotions-teacher-{MAX_LENGTH}-e{epochs}"


def _splits(data: Path):
    return tuple(load_goemotions(data, s) for s in ("train", "dev", "test"))


def run_teacher(data: Path, epochs: int) -> None:
    """Fine-tune the teacher, score every split and store the logits and dev-tuned thresholds in ``OUT``."""
    from bert2sk.teacher import Teacher, TrainingArguments, label_texts, save_logits, train_teacher

    train, dev, test = _splits(data)
    res = train_teacher(train, TrainingArguments(
        output_dir=str(teacher_dir(epochs)), epochs=epochs, max_length=MAX_LENGTH, batch_size=32, learning_rate=1e-4,
        seed=SEED, early_stopping_patience=1), eval_corpus=dev, resume=True)
    teacher = Teacher.from_pretrained(teacher_dir(epochs), max_length=MAX_LENGTH, batch_size=64)
    cache = cache_dir() / "logits.sqlite"
    t1 = time.perf_counter()
    z = {name: label_texts(teacher, c.texts, cache, return_embeddings=True)[0]
         for name, c in (("train", train), ("dev", dev), ("test", test))}
    score_s = time.perf_counter() - t1
    meta = {"label_names": list(train.label_names), "task": train.task, "source": teacher_dir(epochs).name,
            "fingerprint": teacher.fingerprint, "max_length": MAX_LENGTH, "epochs": epochs,
            "best_epoch": res.best_epoch, "history": res.history,
            "thresholds": None if res.thresholds is None else [float(t) for t in res.thresholds],
            "train_seconds": res.seconds, "scoring_seconds": score_s}
    save_logits(OUT, z, meta)
    logger.info("teacher logits and thresholds stored in %s", OUT)


def stored_teacher(train, dev, test):
    """The teacher's stored logits and dev-tuned thresholds (``OUT``), served by text in place of the model."""
    from bert2sk.teacher import TeacherScores

    return TeacherScores.load(OUT, corpora={"train": train, "dev": dev, "test": test})


def _scenario(n_train: int, labels: int | None, from_logits: bool, transformer: bool = False) -> str:
    if labels:
        text = (f"GoEmotions, label-scarce: baselines learn from {labels:,} labelled train comments (a seeded "
                f"sample); distilled students from the teacher's per-label logits on all {n_train:,} train "
                f"comments (alpha = 0). Teacher: MiniLM-L6 fine-tuned here on all train labels ({MAX_LENGTH} "
                "tokens, per-label sigmoids). Every model's per-label thresholds are tuned on dev.")
    else:
        text = (f"GoEmotions (simplified): 28 labels (27 emotions + neutral), multilabel. Teacher: MiniLM-L6 "
                f"fine-tuned here on all {n_train:,} train comments ({MAX_LENGTH} tokens, per-label sigmoids). "
                "Baselines are one-vs-rest on the gold labels; distilled students learn the teacher's per-label "
                "logits on the same comments (alpha = 0). Every model's per-label thresholds are tuned on dev.")
    if from_logits:
        text += (" Rerun from the stored teacher logits (no teacher model: no embedding students, no teacher "
                 "latency).")
    if transformer:
        text += (" The transformer student keeps 3 of the 6 layers of the packaged all-MiniLM-L6-v2 (0, 2, 4) "
                 "with a new 28-label head and learns from the teacher's logits and the gold labels (alpha 0.5, "
                 "T 2).")
    return text


def _command() -> str:
    """This run's command line for the files it writes (an absolute path shown relative to the project)."""
    args = [os.path.relpath(a, OUT.parents[1]) if os.path.isabs(a) else a for a in sys.argv[1:]]
    return "python examples/goemotions_study.py " + " ".join(shlex.quote(a) for a in args)


def _per_label(result):
    """Per-label precision, recall, F1, support and fidelity of every model, one frame."""
    import pandas as pd

    from bert2sk.metrics import per_class_scores

    teacher = result.models["teacher"]
    frames = []
    for name, entry in result.models.items():
        df = per_class_scores(entry.proba, result.y_test, "multilabel", result.label_names, entry.thresholds,
                              teacher_proba=teacher.proba, teacher_thresholds=teacher.thresholds)
        df.insert(0, "model", name)
        frames.append(df)
    return pd.concat(frames)


def write_report(study: Path, path: Path, teacher=None) -> Path:
    """``report.html`` of a saved study: what ``bert2sk report --study STUDY --docs 12`` writes."""
    from bert2sk.report import write_report as _write
    from bert2sk.study import load_study

    result = load_study(study, teacher=teacher)
    return _write(result, path, n_docs=12, teacher_docs=3 if result.teacher_scorer else 0)


def run_students(data: Path, report: bool, epochs: int, labels: int | None, from_logits: bool,
                 study_dir: Path, transformer_epochs: int = 0) -> None:
    """Run the study, save its folder and write the tables (and the report) to ``OUT``."""
    from bert2sk.study import run_study

    train, dev, test = _splits(data)
    if from_logits:
        teacher = stored_teacher(train, dev, test)
    else:
        from bert2sk.teacher import Teacher

        teacher = Teacher.from_pretrained(teacher_dir(epochs), max_length=MAX_LENGTH, batch_size=64)
    suffix, study_train = ("", train) if not labels else (f"_labels{labels}", train.keep_labels(labels, seed=SEED))
    # On dense 384-d embeddings, one-vs-rest trees cost 28 fits of 10-30 s each (soft targets twice that) and
    # explain nothing a reader can use (splits on embedding dimensions); embeddings get the linear family only.
    families = {"tfidf": ("linear", "tree", "svm"), "embeddings": ("linear",)}
    features = ("tfidf",) if from_logits else ("tfidf", "embeddings")
    options = {}
    if transformer_epochs:
        # the teacher's own layers are not at hand with stored scores: start from the packaged encoder it was
        # fine-tuned from, keep every other layer, learn the 28-label head and the rest from the stored logits
        features += ("transformer",)
        options["transformer"] = {"encoder": "packaged" if from_logits else None, "max_length": MAX_LENGTH,
                                  "epochs": transformer_epochs,
                                  "batch_size": 32, "learning_rate": 1e-4}
    t0 = time.perf_counter()
    result = run_study(teacher, study_train, test, dev=dev, families=families, features=features, options=options,
                       cache_path=cache_dir() / "logits.sqlite", latency_runs=200, title="GoEmotions",
                       scenario=_scenario(len(train), labels, from_logits, bool(transformer_epochs)), seed=SEED)
    study_s = time.perf_counter() - t0
    folder = result.save(study_dir / (f"labels{labels}" if labels else "every_label"))
    OUT.mkdir(parents=True, exist_ok=True)
    result.table.to_csv(OUT / f"results{suffix}.csv")
    per_label = _per_label(result)
    per_label.to_csv(OUT / f"per_label{suffix}.csv")
    (OUT / f"RESULTS_TABLES{suffix}.md").write_text(
        f"Produced by `{_command()}` ({study_s / 60:.1f} min on 2 CPU cores; study folder saved outside the "
        f"repository).\n\n{result.scenario}\n\n{result.to_markdown()}\n{_per_label_markdown(per_label, result)}")
    print(result.to_markdown(), flush=True)
    timing = {"study_seconds": study_s, "timings": result.timings,
              "fit_seconds": {n: m.fit_seconds for n, m in result.models.items() if m.role != "teacher"}}
    (OUT / f"timings{suffix}.json").write_text(json.dumps(timing, indent=2) + "\n")
    logger.info("timings: %s", json.dumps(timing))
    if report:
        write_report(folder, OUT / f"report{suffix}.html", None if from_logits else teacher)


def _per_label_markdown(per_label, result) -> str:
    """Per-label F1 of the teacher, the best baseline and the best distilled student, with fidelity."""
    table = result.table
    best = {role: table[table.role == role].f1_macro.idxmax() for role in ("baseline", "distilled")}
    cols = {"teacher": "teacher", best["baseline"]: "best baseline", best["distilled"]: "best distilled"}
    lines = [f"Per-label F1 on test (best baseline = {best['baseline']}; best distilled = {best['distilled']}; "
             "fidelity = agreement with the teacher's decision on that label).", "",
             "| label | support | teacher F1 | best baseline F1 | best distilled F1 | distilled fidelity |",
             "|---|---:|---:|---:|---:|---:|"]
    by_model = {m: per_label[per_label.model == m] for m in cols}
    t = by_model["teacher"]
    for label in t.sort_values("support", ascending=False).index:
        row = [label, f"{int(t.loc[label, 'support'])}"]
        row += [f"{by_model[m].loc[label, 'f1']:.3f}" for m in cols]
        row.append(f"{by_model[best['distilled']].loc[label, 'fidelity']:.3f}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("half", choices=("teacher", "students"))
    ap.add_argument("--data", type=Path, default=Path("../shared/data/goemotions"))
    ap.add_argument("--epochs", type=int, default=EPOCHS, help="teacher epochs (both halves: names its directory)")
    ap.add_argument("--report", action="store_true", help="also write report.html")
    ap.add_argument("--labels", type=int, default=None,
                    help="label-scarce regime: baselines get this many labelled comments, distilled students the "
                         "teacher's logits on all train comments; files get a _labelsN suffix")
    ap.add_argument("--from-logits", action="store_true",
                    help="students from teacher_logits.npz + teacher.json, no teacher model (TF-IDF only)")
    ap.add_argument("--transformer-epochs", type=int, default=0,
                    help="also distil a 3-layer transformer student from the packaged encoder (this many epochs)")
    ap.add_argument("--study-dir", type=Path, default=None,
                    help="where the study folder is saved (default: ~/.cache/bert2sk/studies/goemotions)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    if args.half == "teacher":
        run_teacher(args.data, args.epochs)
    else:
        run_students(args.data, args.report, args.epochs, args.labels, args.from_logits,
                     args.study_dir or cache_dir() / "studies" / "goemotions", args.transformer_epochs)


if __name__ == "__main__":
    main()
