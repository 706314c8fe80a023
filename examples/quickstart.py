"""Distil a teacher into scikit-learn students in a few lines, then explain one.

Run:  .venv/bin/python examples/quickstart.py [TEACHER_DIR]

Without TEACHER_DIR it uses the demo teacher that `bert2sk demo` fine-tuned
and cached (run `make demo` once first).
"""

from __future__ import annotations

import sys

import numpy as np
from sklearn.pipeline import Pipeline

from bert2sk import DistilledClassifier, Teacher, TfidfFeatures, explain_text, load_demo_corpus, make_baseline
from bert2sk.demo import DemoSettings, cache_dir
from bert2sk.metrics import evaluate


def main() -> None:
    teacher_dir = sys.argv[1] if len(sys.argv) > 1 else cache_dir() / f"demo-teacher-{DemoSettings().teacher_key()}"
    teacher = Teacher.from_pretrained(teacher_dir, max_length=128)
    train, test = load_demo_corpus().split(400, seed=0)
    scarce = train.keep_labels(200, seed=0)  # the user has 200 labels; the teacher scores every review

    z_train = teacher.predict_logits(train.texts)
    z_test = teacher.predict_logits(test.texts)

    labelled = scarce.labelled_mask
    baseline = Pipeline([("tfidf", TfidfFeatures()), ("clf", make_baseline("linear"))])
    baseline.fit(np.array(scarce.texts, dtype=object)[labelled], scarce.labels[labelled])
    student = Pipeline([("tfidf", TfidfFeatures()), ("student", DistilledClassifier())])
    student.fit(scarce.texts, scarce.labels, student__teacher_logits=z_train)  # -1 = unlabelled

    table = evaluate({"baseline (200 labels)": baseline.predict_proba(test.texts),
                      "distilled (teacher on 1,600)": student.predict_proba(test.texts)},
                     test.labels, "binary", z_test)
    print(table[["accuracy", "f1_macro", "roc_auc", "fidelity", "ece"]].round(3))

    attribution = explain_text(student, test.texts[0], class_names=["neg", "pos"])
    print("\nwhy the student decided on the first test review:")
    for term, weight in attribution.top(8):
        print(f"  {term:>15} {weight:+.3f}")


if __name__ == "__main__":
    main()
