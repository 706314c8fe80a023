"""Single-text latency of a distilled student with many linear outputs: one input check or one per output.

A logit-regression student over k classes with a regressor that is not
natively multi-output (``LinearSVR``) sits in a ``MultiOutputRegressor``,
which validates the input once per output before each product.
``DistilledClassifier`` checks it once and takes the k products itself. In one
run, on the same fitted student and the same single-row TF-IDF inputs, this
times (a) ``MultiOutputRegressor.predict`` and (b) ``DistilledClassifier.decision_function``,
checks they agree, and prints (a)/(b). Goal: (b) at least 5x faster at 151 outputs.

    python benchmarks/multioutput.py [--outputs 151] [--docs 3000] [--runs 300] [--quick] [--out FILE]

Data: CLINC150 queries from ``../shared/data`` when present (otherwise the
packaged demo reviews), with random teacher logits: speed does not depend on
what the logits mean. The result is printed and saved to
``reports/benchmarks/multioutput.txt`` (a ``--quick`` run is not saved unless
``--out`` is given).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from _record import SHARED_DATA, Output, add_output_args, display_path

CLINC = SHARED_DATA / "clinc150" / "data_oos_plus.json"


def _texts(n: int) -> tuple[list[str], str]:
    if CLINC.exists():
        rows = json.loads(CLINC.read_text())["train"]
        return [t for t, _ in rows][:n], f"CLINC150 train queries ({display_path(CLINC)})"
    from bert2sk.data import load_demo_corpus

    return list(load_demo_corpus().texts[:n]), "the packaged demo reviews"


def _per_call_ms(fn, rows, runs: int) -> tuple[float, float]:
    for r in rows[:5]:
        fn(r)
    times = []
    for i in range(runs):
        t0 = time.perf_counter()
        fn(rows[i % len(rows)])
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.mean(times)), float(np.std(times))


def _parse_args(argv: list[str] | None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--outputs", type=int, default=151)
    ap.add_argument("--docs", type=int, default=3000, help="training texts (--quick: 500)")
    ap.add_argument("--runs", type=int, default=300, help="timed single-text calls (--quick: 50)")
    add_output_args(ap)
    args = ap.parse_args(argv)
    if args.quick:
        args.docs, args.runs = min(args.docs, 500), min(args.runs, 50)
    return args


def main(argv: list[str] | None = None) -> int:
    from bert2sk.features import TfidfFeatures
    from bert2sk.students import make_distilled

    args = _parse_args(argv)
    out = Output(__file__, argv)
    texts, source = _texts(args.docs)
    X = TfidfFeatures().fit(texts).transform(texts)
    logits = np.random.default_rng(0).normal(size=(X.shape[0], args.outputs))
    student = make_distilled("svm", "regression", "multiclass", "tfidf").fit(X, teacher_logits=logits)
    rows = [X[i] for i in range(min(X.shape[0], 500))]
    # same results both ways (the temperature is 1)
    np.testing.assert_allclose(student.decision_function(X[:200]),
                               student.estimator_.predict(X[:200]), rtol=1e-10, atol=1e-10)
    a = _per_call_ms(student.estimator_.predict, rows, args.runs)
    b = _per_call_ms(student.decision_function, rows, args.runs)
    ratio = a[0] / b[0]
    out.say(
        f"data: {len(texts):,} texts from {source}; {X.shape[1]:,} TF-IDF features; {args.outputs} outputs "
        f"(LinearSVR each); {args.runs} single-text calls after 5 warm-up calls",
        f"(a) MultiOutputRegressor.predict        {a[0]:8.3f} ± {a[1]:.3f} ms",
        f"(b) DistilledClassifier.decision_function {b[0]:6.3f} ± {b[1]:.3f} ms",
        f"(a)/(b) = {ratio:.1f}x; goal >= 5x at 151 outputs: {'MET' if ratio >= 5 else 'NOT MET'}",
    )
    out.finish(args.out, args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
