"""How fast is a static student per text, next to TF-IDF and embedding students and the teacher?

In one process, on the same texts, times single-text calls (mean ± std) and
batched scoring of four text -> probability pipelines distilled from one
teacher: (a) the teacher, (b) a linear student on the teacher's mean-pooled
embeddings, (c) a linear student on TF-IDF, (d) a linear student on static
token vectors distilled from the teacher; plus the static featurizer alone.
Prints the ratios. Goal: (d) at least 100x faster per text than (b).

    python benchmarks/static.py [--teacher DIR|demo] [--texts queries|reviews] [--train 300] [--runs 200]
                                [--quick] [--out FILE]

Without ``--teacher`` the packaged all-MiniLM-L6-v2 encoder with a random head
stands in (timing only: its students imitate noise). ``queries`` are CLINC150
test queries (``../shared/data``), ``reviews`` the packaged movie reviews.
The result is printed and saved to ``reports/benchmarks/static.txt`` (a
``--quick`` run is not saved unless ``--out`` is given).
"""

from __future__ import annotations

import argparse
import json
import os
import time

from _record import SHARED_DATA, Output, add_output_args, display_path, resolve_teacher, teacher_label

CLINC = SHARED_DATA / "clinc150" / "data_oos_plus.json"
STATIC_CACHE = os.path.join(os.environ.get("BERT2SK_CACHE") or os.path.expanduser("~/.cache/bert2sk"), "static")


def _texts(which: str, n: int) -> tuple[list[str], str]:
    if which == "queries":
        if not CLINC.exists():
            raise SystemExit(f"--texts queries needs {display_path(CLINC)}; use --texts reviews")
        data = json.loads(CLINC.read_text(encoding="utf-8"))
        return [q for q, _ in data["test"][:n]], f"CLINC150 test queries ({display_path(CLINC)})"
    from bert2sk.data import load_demo_corpus

    return list(load_demo_corpus().texts[:n]), "the packaged movie reviews"


def _parse_args(argv: list[str] | None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", default=None, help="trained teacher dir, or 'demo' for the demo's cached teacher "
                                                    "(default: packaged encoder, random head)")
    ap.add_argument("--texts", choices=("queries", "reviews"), default="queries")
    ap.add_argument("--train", type=int, default=300, help="texts the students are distilled on (--quick: 60)")
    ap.add_argument("--runs", type=int, default=200, help="single-text calls per student (teacher and embedding "
                                                          "student: a quarter; --quick: 20)")
    ap.add_argument("--max-length", type=int, default=None, help="teacher tokens (default: 32 queries, 256 reviews)")
    add_output_args(ap)
    args = ap.parse_args(argv)
    if args.quick:
        args.train, args.runs = min(args.train, 60), min(args.runs, 20)
    args.max_length = args.max_length or (32 if args.texts == "queries" else 256)
    return args


def _students(teacher, teacher_dir: str | None, train: list[str]):
    """The three students of ``teacher`` as text pipelines, and the seconds each featurizer took to fit."""
    from sklearn.pipeline import Pipeline

    from bert2sk.features import SentenceEmbeddings, StaticFeatures, TfidfFeatures
    from bert2sk.students import make_distilled

    z = teacher.predict_logits(train)
    fitted, fit_s = {}, {}
    feats = {
        "embeddings": SentenceEmbeddings(teacher_dir, max_length=teacher.max_length, truncation=teacher.truncation,
                                         normalize=False, dtype=teacher.dtype),
        "tfidf": TfidfFeatures(min_df=1),
        "static": StaticFeatures(teacher_dir, cache_dir=STATIC_CACHE),
    }
    for name, f in feats.items():
        t0 = time.perf_counter()
        f.fit(train)
        fit_s[name] = time.perf_counter() - t0
        student = make_distilled("linear", features=name).fit(f.transform(train), teacher_logits=z)
        fitted[name] = Pipeline([("features", f), ("student", student)])
    return fitted, fit_s


def _row(label: str, single: dict, batch_ms: float) -> str:
    return (f"{label:<34} {single['mean_ms'] * 1000:>12,.1f} ± {single['std_ms'] * 1000:>9,.1f} µs"
            f"   {batch_ms:>10,.1f} µs/text batched")  # ms per 1,000 texts = µs per text


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    teacher_dir = resolve_teacher(args.teacher)
    from bert2sk.bench import batch_latency, latency
    from bert2sk.teacher import Teacher

    out = Output(__file__, argv)
    texts, source = _texts(args.texts, args.train + 200)
    train, test = texts[:args.train], texts[args.train:]
    teacher = Teacher.from_pretrained(teacher_dir, max_length=args.max_length, progress=False)
    which = (teacher_label(teacher_dir, teacher) if teacher_dir else
             "packaged all-MiniLM-L6-v2 encoder with a RANDOM head (timing only, not a real teacher)")
    out.say(f"teacher: {which}; max_length {args.max_length}", f"texts: {source}; {len(train)} to distil, "
            f"{len(test)} to time")
    pipes, fit_s = _students(teacher, teacher_dir, train)
    static = pipes["static"][0]
    out.say(f"static table: {static.vectors_.shape[0]:,} tokens x {static.n_features_out_} dims, float16, "
            f"{static.table_megabytes:.1f} MB; fitted in {fit_s['static']:.1f} s (from the cache when it was there)")

    slow_runs = max(args.runs // 4, 10)

    def timed(fn, runs: int, n_batch: int = 1000) -> tuple[dict, float]:
        return latency(fn, test, runs), batch_latency(fn, test, n_batch)

    rows = {
        "(d) static student": timed(pipes["static"].predict_proba, args.runs),
        "    static featurizer alone": timed(static.transform, args.runs),
        "(c) TF-IDF student": timed(pipes["tfidf"].predict_proba, args.runs),
        # the encoders last: torch's worker threads keep spinning after a forward pass and would slow the others
        "(b) embedding student": timed(pipes["embeddings"].predict_proba, slow_runs, 200),
        "(a) teacher": timed(teacher.predict_proba, slow_runs, 200),
    }
    out.say(f"{'per text, one call per text':<34} {'mean ± std':>27}   {'batched':>10}")
    out.say(*(_row(k, s, b) for k, (s, b) in rows.items()))
    d, b, a, c = (rows[k][0]["mean_ms"] for k in ("(d) static student", "(b) embedding student", "(a) teacher",
                                                  "(c) TF-IDF student"))
    out.say(f"(b)/(d) = {b / d:,.0f}x   (goal >= 100x: {'met' if b / d >= 100 else 'NOT met'})",
            f"(a)/(d) = {a / d:,.0f}x   (c)/(d) = {c / d:,.1f}x")
    out.finish(args.out, args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
