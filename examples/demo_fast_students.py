r"""Fast students on the demo corpus (issue 13): static tables, their concatenation with TF-IDF, augmentation.

    python examples/demo_fast_students.py                    # validation only: which setting to keep
    python examples/demo_fast_students.py --test             # ... and each setting once on the 400 test reviews
    python examples/demo_fast_students.py --test --variants tfidf-imdb50000 \
        --imdb ../shared/data/imdb --out demo_imdb.md        # + 50,000 teacher-scored IMDB reviews

The demo's scenario (``bert2sk demo``): its teacher (fine-tuned once and
cached by ``make demo``; fine-tuned here when missing), 200 labels, the
teacher's scores on all 1,600 training reviews. Each variant is a feature
kind and, optionally, ``augN``: N augmented texts per training review (Tang
et al. 2019: masks, nearest-neighbour swaps, n-gram windows; ``augN-wW``
keeps windows of up to W words half the time, closer to the 128 tokens the
teacher reads), scored by the teacher through its cache, and, optionally,
``imdbN``: N unlabelled IMDB reviews (``--imdb FOLDER``) in the transfer set,
scored by the teacher, learnt from by the distilled students only.

Settings are chosen on validation: 20% of the 1,600 training reviews
(seeded), held out of fitting and scored by the teacher, so a label-scarce
user has it too. With ``--test`` every variant is then refitted on all
1,600 reviews (and their augmentations) and read once on the demo's 400
test reviews. Writes ``reports/static/demo.md``.
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
VARIANTS = "tfidf,static,static-tuned,tfidf+static,tfidf-aug4,static-tuned-aug4,tfidf+static-aug4,tfidf-aug4-w64"
KINDS = ("regression", "soft")


def _parse(variant: str) -> tuple[str, int, int, int]:
    """``"tfidf-aug4-w64-imdb5000"`` -> ``("tfidf", 4, 64, 5000)``.

    (feature kind, augmented texts per text, window, IMDB reviews added to the transfer set)
    """
    head, _, imdb = variant.partition("-imdb")
    parts = head.split("-aug")
    kind, aug, window = parts[0], 0, 0
    if len(parts) == 2:
        n, _, w = parts[1].partition("-w")
        aug, window = int(n), int(w or 0)
    if kind not in ("tfidf", "static", "static-tuned", "tfidf+static") or (imdb and not imdb.isdigit()):
        raise SystemExit(f"unknown variant {variant!r}: a feature kind (tfidf, static, static-tuned, tfidf+static), "
                         "then optionally -augN and -wW, then -imdbN")
    return kind, aug, window, int(imdb or 0)


def _augment(corpus, n: int, window: int, seed: int):
    from bert2sk.features import augment_corpus

    if not n:
        return corpus
    extra = {"ngram_prob": 0.5, "max_ngram": window} if window else {}
    return augment_corpus(corpus, n_per_text=n, seed=seed, **extra)


def _with_imdb(corpus, folder: Path | None, n: int, seed: int):
    """``corpus`` plus ``n`` unlabelled IMDB reviews (a seeded sample of its unsup split) for the teacher to score.

    Movie reviews from another site and decade: the in-domain unlabelled text a user of the demo would collect,
    which the teacher labels and the distilled students learn from (the baselines never see it).
    """
    import numpy as np

    from bert2sk.data import Corpus, load_unlabelled

    if not n:
        return corpus
    if folder is None or not (folder / "imdb_unsup.jsonl.gz").exists():
        raise SystemExit(f"the -imdb{n} variants need --imdb FOLDER holding imdb_unsup.jsonl.gz "
                         "(../shared/data/imdb)")
    pool = load_unlabelled(folder / "imdb_unsup.jsonl.gz", corpus.label_names, corpus.task).texts
    pick = np.sort(np.random.default_rng(seed).choice(len(pool), size=min(n, len(pool)), replace=False))
    extra = [pool[i].replace("<br />", " ") for i in pick]  # IMDB keeps its HTML line breaks; the demo has none
    return Corpus.concat([corpus, Corpus(extra, None, corpus.label_names, corpus.task)],
                         name=f"{corpus.name}+imdb{len(extra)}")


def _rows(teacher, train, test, variant: str, seed: int, cache: Path, imdb: Path | None) -> dict[str, dict]:
    """Accuracy, fidelity and latency of the distilled linear students of one variant."""
    from bert2sk.study import run_study

    kind, aug, window, n_imdb = _parse(variant)
    transfer = _with_imdb(_augment(train, aug, window, seed), imdb, n_imdb, seed)
    res = run_study(teacher, transfer, test, features=(kind,), families=("linear",),
                    kinds=KINDS, cache_path=cache, latency_runs=30, progress=False, seed=seed)
    out = {}
    for name, row in res.table.iterrows():
        if name.startswith("distilled"):
            out[name] = {"accuracy": float(row["accuracy"]), "fidelity": float(row["fidelity"]),
                         "latency_ms": float(row["latency_ms"]), "size_mb": float(row["size_mb"])}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", default=VARIANTS)
    ap.add_argument("--test", action="store_true", help="also refit on all training reviews and read test once")
    ap.add_argument("--out", default="demo.md")
    ap.add_argument("--imdb", type=Path, default=None,
                    help="folder holding imdb_unsup.jsonl.gz, for the -imdbN variants (../shared/data/imdb)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from bert2sk.demo import DemoSettings, cache_dir, demo_teacher, split_demo_corpus

    settings = DemoSettings()
    teacher, _ = demo_teacher(settings)
    train, test = split_demo_corpus(settings)
    scarce = train.keep_labels(settings.n_labels, seed=settings.seed)
    val_idx, fit_idx = _split(len(scarce), settings.seed)
    # validation rows keep their labels for the accuracy column; the choice reads fidelity only
    fit, val = scarce.subset(fit_idx), train.subset(val_idx)
    cache = cache_dir() / "logits.sqlite"  # the demo's own: its reviews are scored already
    t0 = time.perf_counter()
    lines = ["| variant | student | val fidelity | test accuracy | test fidelity | ms/review | MB |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for variant in args.variants.split(","):
        on_val = _rows(teacher, fit, val, variant, settings.seed, cache, args.imdb)
        on_test = _rows(teacher, scarce, test, variant, settings.seed, cache, args.imdb) if args.test else {}
        for name, v in on_val.items():
            t = on_test.get(name)
            cells = (f"{t['accuracy']:.3f} | {t['fidelity']:.3f} | {t['latency_ms']:.2f} | {t['size_mb']:.1f}"
                     if t else "— | — | — | —")
            lines.append(f"| {variant} | {name} | {v['fidelity']:.3f} | {cells} |")
        print("\n".join(lines[-len(on_val):]), flush=True)
    shown = shlex.join(["python", "examples/demo_fast_students.py", *(argv if argv is not None else sys.argv[1:])])
    head = (f"Produced by `{shown}` ({(time.perf_counter() - t0) / 60:.0f} min on 2 CPU cores). Demo teacher "
            f"(fingerprint {teacher.fingerprint[:12]}), {settings.n_labels} labels, distilled linear students on "
            f"the teacher's scores; validation: {len(val_idx)} of the {len(scarce):,} training reviews, fitted on "
            f"the other {len(fit_idx):,}; test: the demo's {len(test)} held-out reviews, read once per variant "
            "after refitting on all training reviews.\n\n")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / args.out).write_text(head + "\n".join(lines) + "\n", encoding="utf-8")
    print(head + "\n".join(lines))
    return 0


def _split(n: int, seed: int):
    """Seeded (validation, fit) indices: a fifth held out."""
    import numpy as np

    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[: n // 5]), np.sort(order[n // 5:])


if __name__ == "__main__":
    raise SystemExit(main())
