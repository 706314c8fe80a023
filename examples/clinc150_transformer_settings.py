"""CLINC150: transformer-student settings compared on the validation split (never on test).

    python examples/clinc150_transformer_settings.py [--variants L3-transfer,L3-teacher,L4-teacher,L3-teacher-aug1]

Needs the CLINC150 teacher fine-tuned by ``examples/clinc150_study.py`` (in the
bert2sk cache) and its stored logits in ``reports/clinc150``. Each variant is a
:class:`bert2sk.TransformerStudent` distilled on the 15,250 train queries (plus,
for ``-augN``, N teacher-scored augmentations per query after Tang et al.) and
measured on the 3,100 validation queries: accuracy, fidelity, and both on the
out-of-scope queries, which is where students part from the teacher. Writes
``reports/clinc150/TRANSFORMER_SETTINGS.md``.
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
from clinc150_study import MAX_LENGTH, OUT, SEED  # noqa: E402

VARIANTS = ("L3-transfer", "L3-teacher", "L4-teacher", "L3-teacher-aug1")


def _parse(variant: str) -> tuple[int, str, int]:
    parts = variant.split("-")
    aug = int(parts[2][3:]) if len(parts) > 2 else 0
    return int(parts[0][1:]), parts[1], aug


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/clinc150/data_oos_plus.json"))
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--epochs", type=int, default=5)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    from bert2sk.features import augment_texts
    from bert2sk.students.transformer import TransformerStudent
    from bert2sk.teacher import Teacher, label_texts, load_logits

    train, val = (load_clinc150(args.data, s) for s in ("train", "val"))
    z, _, _ = load_logits(OUT)
    teacher_dir = cache_dir() / f"clinc150-teacher-{MAX_LENGTH}"
    teacher = Teacher.from_pretrained(teacher_dir, max_length=MAX_LENGTH, batch_size=64, progress=False)
    oos = val.labels == val.label_names.index("oos")
    z_val = z["val"].astype(np.float32)
    t_val = z_val.argmax(1)
    rows = []
    for variant in args.variants.split(","):
        layers, vocabulary, aug = _parse(variant)
        texts, logits = list(train.texts), z["train"].astype(np.float32)
        labels = train.labels.copy()
        if aug:
            extra = augment_texts(texts, n_per_text=aug, seed=SEED)
            extra_z = label_texts(teacher, extra, cache_dir() / "logits.sqlite", progress=False)
            texts, logits = texts + extra, np.vstack([logits, extra_z])
            labels = np.concatenate([labels, -np.ones(len(extra), dtype=labels.dtype)])
        t0 = time.perf_counter()
        student = TransformerStudent(teacher=str(teacher_dir), layers=layers, vocabulary=vocabulary,
                                     epochs=args.epochs, max_length=MAX_LENGTH, seed=SEED)
        student.fit(texts, labels, teacher_logits=logits)
        pred = student.predict(val.texts)
        rows.append({"variant": variant, "layers": layers, "vocabulary": vocabulary, "aug": aug,
                     "transfer": len(texts), "pieces": student.vocabulary_size_, "mb": student.size_bytes_ / 1e6,
                     "acc": float((pred == val.labels).mean()), "fid": float((pred == t_val).mean()),
                     "oos_recall": float((pred[oos] == val.labels[oos]).mean()),
                     "oos_fid": float((pred[oos] == t_val[oos]).mean()), "epochs": len(student.history_),
                     "minutes": (time.perf_counter() - t0) / 60})
        logging.info("%s", rows[-1])
    t_acc = float((t_val == val.labels).mean())
    t_oos = float((t_val[oos] == val.labels[oos]).mean())
    lines = [f"Produced by `python examples/clinc150_transformer_settings.py --variants {args.variants}` "
             f"({args.epochs} epochs at most, best epoch by fidelity on a 10% slice of the transfer set; 2 CPU cores "
             f"shared with other jobs). Validation split: 3,100 queries, {int(oos.sum())} out of scope. Teacher: "
             f"accuracy {t_acc:.4f}, OOS recall {t_oos:.4f}.", "",
             "| variant | layers | word pieces | transfer texts | size MB (fp32) | val accuracy | val fidelity | "
             "OOS recall | OOS fidelity | epochs run | fit min |", "|---|" + "---:|" * 10]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['layers']} | {r['pieces']:,} | {r['transfer']:,} | {r['mb']:.1f} | "
                     f"{r['acc']:.4f} | {r['fid']:.4f} | {r['oos_recall']:.4f} | {r['oos_fid']:.4f} | "
                     f"{r['epochs']} | {r['minutes']:.1f} |")
    (OUT / "TRANSFORMER_SETTINGS.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
