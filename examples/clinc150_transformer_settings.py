"""CLINC150: transformer-student settings compared on the validation split (never on test).

    python examples/clinc150_transformer_settings.py [--variants L3-transfer,L3-teacher,L4-teacher,L3-teacher-aug1]
    python examples/clinc150_transformer_settings.py --variants tfidf,tfidf-off15000,L3-teacher-off15000 \
        --out OFF_DOMAIN.md

Needs the CLINC150 teacher fine-tuned by ``examples/clinc150_study.py`` (in the
bert2sk cache) and its stored logits in ``reports/clinc150``. Each variant is a
:class:`bert2sk.TransformerStudent` distilled on the 15,250 train queries (plus,
for ``-augN``, N teacher-scored augmentations per query after Tang et al.; for
``-offN``, N off-domain texts the teacher scores: GoEmotions' Reddit comments,
a seeded sample, as unlabelled rows) and measured on the 3,100 validation
queries: accuracy, fidelity, and both on the out-of-scope queries, which is
where students part from the teacher. ``tfidf[-offN]``, ``soft[-offN]`` and
``static[-offN]`` are the study's distilled linear students on the same transfer
set: ridge on the logits over TF-IDF, soft-target logistic regression over
TF-IDF, ridge over the tuned static table. They show what the off-domain texts
buy a fast student. Writes ``reports/clinc150/TRANSFORMER_SETTINGS.md``
(or ``--out``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

from bert2sk.data import load_clinc150
from bert2sk.demo import cache_dir

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clinc150_study import MAX_LENGTH, OUT, SEED, off_domain_texts  # noqa: E402

VARIANTS = ("L3-transfer", "L3-teacher", "L4-teacher", "L3-teacher-aug1")


def _parse(variant: str) -> tuple[int, str, int, int]:
    """(layers, vocabulary, augmentations per query, off-domain texts) of a variant; layers 0: tfidf or static."""
    parts = variant.split("-")
    fast = parts[0] in ("tfidf", "soft", "static")
    layers, vocabulary = (0, parts[0]) if fast else (int(parts[0][1:]), parts[1])
    rest = parts[1:] if fast else parts[2:]
    aug = sum(int(p[3:]) for p in rest if p.startswith("aug"))
    off = sum(int(p[3:]) for p in rest if p.startswith("off"))
    return layers, vocabulary, aug, off


def _scores(pred: np.ndarray, corpus, teacher_pred: np.ndarray) -> dict[str, float]:
    """Accuracy and fidelity, overall and on the out-of-scope queries."""
    oos = corpus.labels == corpus.label_names.index("oos")
    return {"acc": float((pred == corpus.labels).mean()), "fid": float((pred == teacher_pred).mean()),
            "oos_recall": float((pred[oos] == corpus.labels[oos]).mean()),
            "oos_fid": float((pred[oos] == teacher_pred[oos]).mean())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/clinc150/data_oos_plus.json"))
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--off-domain", type=Path, default=Path("../shared/data/goemotions"),
                    help="GoEmotions folder whose train comments the -offN variants sample")
    ap.add_argument("--out", default="TRANSFORMER_SETTINGS.md", help="file name in reports/clinc150/")
    ap.add_argument("--test", action="store_true",
                    help="also score the test split once per variant (for settings already chosen on validation)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline

    from bert2sk.bench import serialized_size
    from bert2sk.features import StaticFeatures, TfidfFeatures, augment_texts
    from bert2sk.students import DistilledClassifier, SoftTargetClassifier
    from bert2sk.students.transformer import TransformerStudent
    from bert2sk.teacher import Teacher, label_texts, load_logits

    train, val, test = (load_clinc150(args.data, s) for s in ("train", "val", "test"))
    z, _, _ = load_logits(OUT)
    teacher_dir = cache_dir() / f"clinc150-teacher-{MAX_LENGTH}"
    teacher = Teacher.from_pretrained(teacher_dir, max_length=MAX_LENGTH, batch_size=64, progress=False)
    oos = val.labels == val.label_names.index("oos")
    t_val = z["val"].argmax(1)
    rows = []
    for variant in args.variants.split(","):
        layers, vocabulary, aug, off = _parse(variant)
        texts, logits = list(train.texts), z["train"].astype(np.float32)
        labels = train.labels.copy()
        extra = augment_texts(texts, n_per_text=aug, seed=SEED) if aug else []
        extra += off_domain_texts(args.off_domain, off) if off else []
        if extra:
            extra_z = label_texts(teacher, extra, cache_dir() / "logits.sqlite", progress=False)
            texts, logits = texts + extra, np.vstack([logits, extra_z])
            labels = np.concatenate([labels, -np.ones(len(extra), dtype=labels.dtype)])
        t0 = time.perf_counter()
        if layers:
            student = TransformerStudent(teacher=str(teacher_dir), layers=layers, vocabulary=vocabulary,
                                         epochs=args.epochs, max_length=MAX_LENGTH, seed=SEED)
            student.fit(texts, labels, teacher_logits=logits)
            pieces, mb, epochs = student.vocabulary_size_, student.size_bytes_ / 1e6, len(student.history_)
        elif vocabulary in ("tfidf", "soft"):
            head = (DistilledClassifier(Ridge(alpha=1.0)) if vocabulary == "tfidf" else
                    SoftTargetClassifier(LogisticRegression(C=10.0, max_iter=2000)))
            student = Pipeline([("features", TfidfFeatures()), ("head", head)])
            student.fit(texts, labels, head__teacher_logits=logits)
            pieces, mb, epochs = 0, serialized_size(student) / 1e6, 0
        else:  # the study's static-tuned features (table fine-tuned on these logits) and its ridge head
            table = StaticFeatures(str(teacher_dir), tune_epochs=2, random_state=SEED, progress=False)
            table.fit(texts, teacher_logits=logits, task="multiclass")
            head = DistilledClassifier(Ridge(alpha=10.0)).fit(table.transform(texts), labels, teacher_logits=logits)
            # both steps fitted already: refitting the table would drop its tuning
            student = Pipeline([("features", table), ("head", head)])
            pieces, mb, epochs = 0, serialized_size(student) / 1e6, 2
        rows.append({"variant": variant, "layers": layers, "vocabulary": vocabulary, "aug": aug,
                     "transfer": len(texts), "pieces": pieces, "mb": mb, "epochs": epochs,
                     "minutes": (time.perf_counter() - t0) / 60, **_scores(student.predict(val.texts), val, t_val)})
        if args.test:
            rows[-1]["test"] = _scores(student.predict(test.texts), test, z["test"].argmax(1))
        logging.info("%s", rows[-1])
    t_acc = float((t_val == val.labels).mean())
    t_oos = float((t_val[oos] == val.labels[oos]).mean())
    flags = (f" --out {args.out}" if args.out != "TRANSFORMER_SETTINGS.md" else "") + (" --test" if args.test else "")
    lines = [f"Produced by `python examples/clinc150_transformer_settings.py --variants {args.variants}{flags}` "
             f"({args.epochs} epochs at most, best epoch by fidelity on a 10% slice of the transfer set; 2 CPU cores)"
             f". Validation split: 3,100 queries, {int(oos.sum())} out of scope. Teacher: "
             f"accuracy {t_acc:.4f}, OOS recall {t_oos:.4f}.", "",
             "| variant | layers | word pieces | transfer texts | size MB (fp32) | val accuracy | val fidelity | "
             "OOS recall | OOS fidelity | epochs run | fit min |", "|---|" + "---:|" * 10]
    for r in rows:
        pieces = f"{r['pieces']:,}" if r["pieces"] else "—"
        lines.append(f"| {r['variant']} | {r['layers'] or '—'} | {pieces} | {r['transfer']:,} | {r['mb']:.1f} | "
                     f"{r['acc']:.4f} | {r['fid']:.4f} | {r['oos_recall']:.4f} | {r['oos_fid']:.4f} | "
                     f"{r['epochs']} | {r['minutes']:.1f} |")
    if args.test:
        t_test = z["test"].argmax(1)
        n_oos = int((test.labels == test.label_names.index("oos")).sum())
        lines += ["", f"Test split, read once per variant: 5,500 queries, {n_oos:,} out of scope. Teacher: accuracy "
                      f"{(t_test == test.labels).mean():.4f}.", "",
                  "| variant | test accuracy | test fidelity | OOS recall | OOS fidelity |", "|---|" + "---:|" * 4]
        lines += [f"| {r['variant']} | {r['test']['acc']:.4f} | {r['test']['fid']:.4f} | "
                  f"{r['test']['oos_recall']:.4f} | {r['test']['oos_fid']:.4f} |" for r in rows]
    (OUT / args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
