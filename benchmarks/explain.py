"""How much cheaper is explaining a distilled student than explaining the teacher?

For one IMDB review, times (a) LIME on the teacher, (b) LIME on a distilled
TF-IDF linear student with the same number of samples, (c) the student's exact
linear attribution, and prints the ratios. Goals: (c) under 50 ms, (b) at least
100x faster than (a).

    python benchmarks/explain.py [--teacher DIR|demo] [--samples 500] [--train 300] [--quick] [--out FILE]

``--teacher demo`` is the teacher ``bert2sk demo`` fine-tuned and cached. The
result is printed and saved to ``reports/benchmarks/explain.txt`` (a
``--quick`` run is not saved unless ``--out`` is given).
"""

from __future__ import annotations

import argparse
import gzip
import json
import time

from _record import SHARED_DATA, Output, add_output_args, display_path, resolve_teacher, teacher_label

IMDB = SHARED_DATA / "imdb" / "imdb_test.jsonl.gz"


def _reviews(n_train: int) -> tuple[str, list[str], str]:
    if IMDB.exists():
        rows = []
        with gzip.open(IMDB, "rt", encoding="utf-8") as fh:
            for line in fh:
                rows.append(json.loads(line)["text"])
                if len(rows) > n_train:
                    break
        return rows[0], rows[1:], f"IMDB test set ({display_path(IMDB)})"
    from bert2sk.data import load_demo_corpus

    corpus = load_demo_corpus()
    return corpus.texts[0], list(corpus.texts[1:n_train + 1]), "the packaged demo corpus"


def _time(fn, repeat: int = 1) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _parse_args(argv: list[str] | None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", default=None, help="trained teacher dir, or 'demo' for the demo's cached teacher "
                                                    "(default: packaged encoder, random head)")
    ap.add_argument("--samples", type=int, default=500, help="LIME samples for both (a) and (b) (--quick: 100)")
    ap.add_argument("--train", type=int, default=300, help="reviews scored by the teacher to distil the student "
                                                           "(--quick: 60)")
    ap.add_argument("--max-length", type=int, default=256)
    add_output_args(ap)
    args = ap.parse_args(argv)
    if args.quick:
        args.samples, args.train = min(args.samples, 100), min(args.train, 60)
    return args


def _distil(teacher, train: list[str]):
    """A TF-IDF linear student of ``teacher`` on ``train``, as a text pipeline."""
    from sklearn.pipeline import Pipeline

    from bert2sk.features import TfidfFeatures
    from bert2sk.students import make_distilled

    logits = teacher.predict_logits(train)
    feats = TfidfFeatures(min_df=1).fit(train)
    student = make_distilled("linear").fit(feats.transform(train), teacher_logits=logits)
    return Pipeline([("features", feats), ("student", student)])


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    teacher_dir = resolve_teacher(args.teacher)
    from bert2sk.explain import explain_lime, explain_linear
    from bert2sk.teacher import Teacher

    out = Output(__file__, argv)
    review, train, source = _reviews(args.train)
    teacher = Teacher.from_pretrained(teacher_dir, max_length=args.max_length, progress=False)
    which = (teacher_label(teacher_dir, teacher) if teacher_dir else
             "packaged all-MiniLM-L6-v2 encoder with a RANDOM head (timing only, not a real teacher)")
    out.say(f"teacher: {which}; max_length {args.max_length}", f"review: first of {source}, {len(review):,} characters")

    t0 = time.perf_counter()
    pipe = _distil(teacher, train)
    secs = time.perf_counter() - t0
    out.say(f"distilled linear TF-IDF student on {len(train)} teacher-scored reviews in {secs:.1f}s")

    names = ["neg", "pos"]
    tb, b = _time(lambda: explain_lime(pipe, review, num_samples=args.samples, random_state=0,
                                       class_names=names)[0], repeat=3)
    explain_linear(pipe, review)  # warm-up: vectorizer analyser and imports
    tc, c = _time(lambda: explain_linear(pipe, review)[0], repeat=20)
    # the teacher last: torch's worker threads keep spinning after a forward pass and would slow (b) and (c)
    ta, a = _time(lambda: explain_lime(teacher.predict_proba, review, num_samples=args.samples, random_state=0,
                                       class_names=names, task="binary")[0])

    out.say(
        f"(a) LIME on the teacher,          {args.samples} samples: {ta * 1000:10.1f} ms",
        f"(b) LIME on the distilled student, {args.samples} samples: {tb * 1000:10.1f} ms",
        f"(c) exact linear attribution:                   {tc * 1000:10.2f} ms",
        f"(a)/(b) = {ta / tb:,.0f}x   (goal >= 100x: {'met' if ta / tb >= 100 else 'NOT met'})",
        f"(a)/(c) = {ta / tc:,.0f}x   (b)/(c) = {tb / tc:,.0f}x   (c) < 50 ms: {'met' if tc < 0.05 else 'NOT met'}",
        f"top words (c): {[w for w, _ in c.top(8)]}",
        f"top words (b): {[w for w, _ in b.top(8)]}",
    )
    out.finish(args.out, args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
