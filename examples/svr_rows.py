"""The TF-IDF SVR student next to the ridge student, on a study's own texts and stored teacher logits.

    python examples/svr_rows.py imdb     --data ../shared/data/imdb
    python examples/svr_rows.py clinc150 --data ../shared/data/clinc150/data_oos_plus.json [--out FILE.md]

Until commit cc5bbdd the "distilled · svm · tfidf · logit regression" student
was ``LinearSVR(loss="squared_epsilon_insensitive", epsilon=0)``, which is
ridge regression (it matched ``Ridge(alpha=1)`` to 1e-4), so those rows
repeated the linear student's; it is now a real epsilon-insensitive SVR.
This script fits both on the study's training texts with targets from the
teacher's stored logits (``reports/<study>/``, read by
:func:`bert2sk.teacher.load_logits`), without the teacher model, and prints
one table row per regime and student (``--out`` also writes it as markdown).
The study scripts' own tables now carry the SVR row; this is the side-by-side
check.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bert2sk.teacher import load_logits

REPORTS = Path(__file__).resolve().parents[1] / "reports"


def _imdb(data: Path):
    import imdb_study as s

    train, test, unsup = s._load(data)
    z, _, _ = load_logits(REPORTS / "imdb")
    z_pool = np.concatenate([z["train"], z["unsup"]]).astype(np.float64)
    for regime, n, alpha in (("A", 2000, 0.0), ("B", None, 0.5)):
        yield f"regime {regime}", s._pool(train, unsup, n), z_pool, alpha, test, z["test"].astype(np.float64)


def _clinc(data: Path):
    from bert2sk.data import load_clinc150

    train, test = (load_clinc150(data, s) for s in ("train", "test"))
    z, _, _ = load_logits(REPORTS / "clinc150")
    # both regimes train the distilled students on every train query's logits (alpha = 0): one fit serves both
    yield "both regimes", train, z["train"].astype(np.float64), 0.0, test, z["test"].astype(np.float64)


def main() -> None:
    from sklearn.pipeline import Pipeline

    from bert2sk.bench import latency, serialized_size
    from bert2sk.features import TfidfFeatures
    from bert2sk.metrics import score
    from bert2sk.students import make_distilled

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("study", choices=("imdb", "clinc150"))
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=None, help="also write the table to this markdown file")
    args = ap.parse_args()
    regimes = _imdb(args.data) if args.study == "imdb" else _clinc(args.data)
    lines = ["| regime | student | accuracy | macro-F1 | ROC-AUC | fidelity | ECE | size MB | ms/doc ± std | fit s |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for regime, train, z_train, alpha, test, z_test in regimes:
        vec = TfidfFeatures().fit(train.texts)
        X, X_test = vec.transform(train.texts), vec.transform(test.texts)
        for family in ("svm", "linear"):
            est = make_distilled(family, "regression", train.task, "tfidf", alpha=alpha, random_state=0,
                                 n_classes=len(train.label_names))
            t0 = time.perf_counter()
            est.fit(X, train.hard_targets(), teacher_logits=z_train)
            fit_s = time.perf_counter() - t0
            s = score(est.predict_proba(X_test), test.labels, train.task, z_test)
            pipe = Pipeline([("features", vec), ("student", est)])
            lat = latency(pipe.predict_proba, test.texts[:200], n_runs=200, warmup=3)
            name = "SVR (epsilon-insensitive, now)" if family == "svm" else "ridge (= the old svm row)"
            lines.append(f"| {regime} | {name} | {s['accuracy']:.3f} | {s['f1_macro']:.3f} | {s['roc_auc']:.3f} | "
                         f"{s['fidelity']:.3f} | {s['ece']:.3f} | {serialized_size(pipe) / 1e6:.2f} | "
                         f"{lat['mean_ms']:.2f} ± {lat['std_ms']:.2f} | {fit_s:.0f} |")
            print(lines[-1], flush=True)
    if args.out is not None:
        args.out.write_text(f"Produced by `python examples/svr_rows.py {args.study} --data {args.data}` (full test "
                            "split, seed 0, TF-IDF fitted on the study's training texts, targets from the stored "
                            "teacher logits).\n\n" + "\n".join(lines) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
