"""Static students next to TF-IDF and embedding students, one study per setting, on a real teacher.

    python examples/static_study.py --teacher DIR [--data ../shared/data/clinc150/data_oos_plus.json]
        [--train-size N] [--labels 1510] [--augment 2] [--features tfidf,static] [--families linear] [--tag NAME]

Runs :func:`bert2sk.study.run_study` with the kinds ``tfidf``, ``embeddings``,
``static`` (the teacher's encoder distilled into one vector per token),
``static-tuned`` (that table fine-tuned on the teacher's logits) and, on
request, ``tfidf+static``. ``--augment N`` adds N augmented texts per
training text (Tang et al. 2019; scored by the teacher, unlabelled, so only
distilled students see them). Writes ``reports/static/<tag>.md`` and
``<tag>.csv``: the command, the teacher (folder name and fingerprint), and
accuracy, fidelity, size and per-text latency of every model, measured in
the same run. Settings were chosen on the validation split, never on test.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "reports" / "static"
DATA = ROOT.parent / "shared" / "data" / "clinc150" / "data_oos_plus.json"


def _args(argv: list[str] | None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", required=True, help="a fine-tuned CLINC150 teacher folder")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--train-size", type=int, default=0, help="a seeded sample of this many training texts (0: all)")
    ap.add_argument("--labels", type=int, default=0, help="keep this many labels (stratified); 0 keeps all")
    ap.add_argument("--augment", type=int, default=0, help="augmented texts per training text (0: none)")
    ap.add_argument("--families", default="linear")
    ap.add_argument("--kinds", default="regression,soft")
    ap.add_argument("--features", default="tfidf,embeddings,static,static-tuned",
                    help="student kinds (tfidf+static too, slow with many classes)")
    ap.add_argument("--max-length", type=int, default=32)
    ap.add_argument("--cache", type=Path, default=None, help="logit cache (default: beside the teacher)")
    ap.add_argument("--tag", default=None)
    return ap.parse_args(argv)


def _markdown(table, command: str, teacher: str, seconds: float) -> str:
    cols = ["accuracy", "fidelity", "size_mb", "latency_ms", "ms_per_1000"]
    lines = [f"`{command}`", "", f"teacher: {teacher}; {seconds / 60:.0f} min", "",
             "| model | accuracy | fidelity | size MB | ms/text | ms per 1,000 batched |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, row in table[cols].iterrows():
        lines.append(f"| {name} | {row['accuracy']:.3f} | {row['fidelity']:.3f} | {row['size_mb']:.1f} | "
                     f"{row['latency_ms']:.3f} | {row['ms_per_1000']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from bert2sk.data import load_clinc150
    from bert2sk.features import augment_corpus
    from bert2sk.study import run_study
    from bert2sk.teacher import Teacher

    teacher = Teacher.from_pretrained(args.teacher, max_length=args.max_length, progress=False)
    train, test = (load_clinc150(args.data, s) for s in ("train", "test"))
    if args.train_size:
        import numpy as np

        keep = np.sort(np.random.default_rng(0).permutation(len(train))[:args.train_size])
        train = train.subset(keep)
    if args.labels:
        train = train.keep_labels(args.labels, seed=0)
    if args.augment:
        train = augment_corpus(train, n_per_text=args.augment, seed=0)
    features = args.features.split(",")
    cache = args.cache or Path(args.teacher).with_name(Path(args.teacher).name + ".logits.sqlite")
    t0 = time.perf_counter()
    res = run_study(teacher, train, test, features=features, families=tuple(args.families.split(",")),
                    kinds=tuple(args.kinds.split(",")), cache_path=cache, latency_runs=100, progress=False)
    seconds = time.perf_counter() - t0
    tag = args.tag or f"clinc150_labels{args.labels or 'all'}_aug{args.augment}"
    OUT.mkdir(parents=True, exist_ok=True)
    res.table.to_csv(OUT / f"{tag}.csv")
    shown = [a if not Path(a).is_absolute() else Path(a).name for a in (argv if argv is not None else sys.argv[1:])]
    command = shlex.join(["python", "examples/static_study.py", *shown])
    label = f"{Path(args.teacher).name} (fingerprint {teacher.fingerprint[:12]})"
    (OUT / f"{tag}.md").write_text(_markdown(res.table, command, label, seconds), encoding="utf-8")
    print(_markdown(res.table, command, label, seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
