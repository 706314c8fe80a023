"""How much cheaper is explaining a distilled student than explaining the teacher?

For one IMDB review, times (a) LIME on the teacher, (b) LIME on a distilled
TF-IDF linear student with the same number of samples, (c) the student's exact
linear attribution, and prints the ratios. Goals: (c) under 50 ms, (b) at least
100x faster than (a).

    python benchmarks/explain.py [--teacher DIR] [--samples 500] [--train 300]
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path

SHARED_IMDB = Path(__file__).resolve().parents[2] / "shared" / "data" / "imdb"


def _reviews(n_train: int) -> tuple[str, list[str], str]:
    path = SHARED_IMDB / "imdb_test.jsonl.gz"
    if path.exists():
        rows = []
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                rows.append(json.loads(line)["text"])
                if len(rows) > n_train:
                    break
        return rows[0], rows[1:], f"IMDB test set ({path})"
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", default=None, help="trained teacher dir (default: packaged encoder, random head)")
    ap.add_argument("--samples", type=int, default=500, help="LIME samples for both (a) and (b)")
    ap.add_argument("--train", type=int, default=300, help="reviews scored by the teacher to distil the student")
    ap.add_argument("--max-length", type=int, default=256)
    args = ap.parse_args()

    from sklearn.pipeline import Pipeline

    from bert2sk.explain import explain_lime, explain_linear
    from bert2sk.features import TfidfFeatures
    from bert2sk.students import make_distilled
    from bert2sk.teacher import Teacher

    review, train, source = _reviews(args.train)
    teacher = Teacher.from_pretrained(args.teacher, max_length=args.max_length, progress=False)
    which = args.teacher or "packaged all-MiniLM-L6-v2 encoder with a RANDOM head (timing only, not a real teacher)"
    print(f"teacher: {which}; max_length {args.max_length}")
    print(f"review: first of {source}, {len(review):,} characters")

    t0 = time.perf_counter()
    logits = teacher.predict_logits(train)
    feats = TfidfFeatures(min_df=1).fit(train)
    student = make_distilled("linear").fit(feats.transform(train), teacher_logits=logits)
    pipe = Pipeline([("features", feats), ("student", student)])
    print(f"distilled linear TF-IDF student on {len(train)} teacher-scored reviews in {time.perf_counter() - t0:.1f}s")

    names = ["neg", "pos"]
    tb, b = _time(lambda: explain_lime(pipe, review, num_samples=args.samples, random_state=0,
                                       class_names=names)[0], repeat=3)
    explain_linear(pipe, review)  # warm-up: vectorizer analyser and imports
    tc, c = _time(lambda: explain_linear(pipe, review)[0], repeat=20)
    # the teacher last: torch's worker threads keep spinning after a forward pass and would slow (b) and (c)
    ta, a = _time(lambda: explain_lime(teacher.predict_proba, review, num_samples=args.samples, random_state=0,
                                       class_names=names, task="binary")[0])

    print(f"(a) LIME on the teacher,          {args.samples} samples: {ta * 1000:10.1f} ms")
    print(f"(b) LIME on the distilled student, {args.samples} samples: {tb * 1000:10.1f} ms")
    print(f"(c) exact linear attribution:                   {tc * 1000:10.2f} ms")
    print(f"(a)/(b) = {ta / tb:,.0f}x   (goal >= 100x: {'met' if ta / tb >= 100 else 'NOT met'})")
    print(f"(a)/(c) = {ta / tc:,.0f}x   (b)/(c) = {tb / tc:,.0f}x   (c) < 50 ms: {'met' if tc < 0.05 else 'NOT met'}")
    print(f"top words (c): {[w for w, _ in c.top(8)]}")
    print(f"top words (b): {[w for w, _ in b.top(8)]}")


if __name__ == "__main__":
    main()
