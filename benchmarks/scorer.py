"""One text through a TF-IDF student: the pipeline, the compiled scorer, ONNX Runtime and the teacher, side by side.

A distilled linear TF-IDF student (ridge on margin targets, the default
``distilled · linear · tfidf`` student) is fitted on IMDB training reviews
(their labels as margins: where the weights come from does not change the
speed), then one short text is scored, one call at a time, by

(a) ``Pipeline.predict_proba([text])`` (what a saved student offers today),
(b) ``compile_scorer(pipe).score(text, k=5)``: probabilities and the top-5 reasons,
(c) the same student exported to ONNX, run by ONNX Runtime (file size and load time too),
(d) the teacher's ``predict_proba([text])``.

It also checks, on the whole test split, that (b) gives the pipeline's
probabilities (max |diff|, goal <= 1e-9) and the exact attribution's reasons.
Goals: (b) <= 50 us median; (b) >= 200x faster than (d).

    python benchmarks/scorer.py [--teacher demo|DIR|packaged|none] [--train 5000] [--test 2000] [--runs 3000]
                                [--quick] [--out FILE]

``--teacher demo`` (the default) is the teacher ``bert2sk demo`` fine-tuned
and cached; when it is missing the teacher column is skipped with a reason.
``packaged`` times the packaged all-MiniLM-L6-v2 encoder with a random head
(the demo teacher's architecture and cost, not a trained teacher).
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _record import SHARED_DATA, Output, add_output_args, demo_teacher_dir, display_path, teacher_label

IMDB = SHARED_DATA / "imdb"
SHORT = "A wonderful film: the plot is gripping and the acting really good."


def _reviews(name: str, n: int) -> tuple[list[str], np.ndarray, str]:
    path = IMDB / f"imdb_{name}.jsonl.gz"
    if path.exists():
        rows = []
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                rows.append(json.loads(line))
        rng = np.random.default_rng(0)
        rows = [rows[i] for i in rng.permutation(len(rows))[:n]]
        return [r["text"] for r in rows], np.array([int(r["label"]) for r in rows]), display_path(path)
    from bert2sk.data import load_demo_corpus

    corpus = load_demo_corpus()
    half = len(corpus.texts) // 2
    part = slice(0, half) if name == "train" else slice(half, None)
    return list(corpus.texts[part])[:n], np.asarray(corpus.labels[part])[:n], "the packaged demo corpus"


def _median_us(fn, text: str, runs: int) -> float:
    for _ in range(min(200, runs)):  # warm-up: caches, lazy imports, branch predictors
        fn(text)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn(text)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def _teacher(arg: str):
    """``(predict_proba, label)`` of the teacher to time, or ``(None, reason)``."""
    from bert2sk.teacher import Teacher

    if arg == "none":
        return None, "skipped (--teacher none)"
    if arg == "demo":
        path = demo_teacher_dir()
        if not (path / "config.json").exists():
            return None, ("skipped: no demo teacher on this machine (run `make demo` once, or pass --teacher DIR, "
                          "or --teacher packaged for the same architecture with a random head)")
        t = Teacher.from_pretrained(str(path), progress=False)
        return t.predict_proba, teacher_label(path, t)
    if arg == "packaged":
        t = Teacher.from_pretrained(None, progress=False)
        return t.predict_proba, "packaged all-MiniLM-L6-v2 encoder with a RANDOM head (timing only)"
    t = Teacher.from_pretrained(arg, progress=False)
    return t.predict_proba, teacher_label(arg, t)


def _student(train: list[str], y: np.ndarray):
    from sklearn.pipeline import Pipeline

    from bert2sk.features import TfidfFeatures
    from bert2sk.students import make_distilled

    pipe = Pipeline([("features", TfidfFeatures()), ("student", make_distilled("linear"))])
    return pipe.fit(train, y, student__teacher_logits=np.c_[np.zeros(len(y)), 4.0 * y - 2.0])


def _parity(pipe, scorer, test: list[str], n_reasons: int) -> tuple[float, int, int]:
    """Max |p diff| on the split; how many of ``n_reasons`` texts have exactly the exact attribution's reasons."""
    from bert2sk.explain import explain_linear

    diff = float(np.abs(scorer.predict_proba(test) - pipe.predict_proba(test)).max())
    same = 0
    for text in test[:n_reasons]:
        s = scorer.score(text, k=None)
        [a] = explain_linear(pipe, text, labels=[scorer.class_names.index(s.explained)])
        exact = {t: w for t, w in zip(a.terms, a.term_weights, strict=True) if w != 0.0}
        same += dict(s.reasons).keys() == exact.keys() and all(
            abs(w - exact[t]) <= 1e-12 for t, w in s.reasons)
    return diff, same, min(n_reasons, len(test))


def _onnx(pipe, card: dict, text: str, runs: int) -> tuple[int, float, float] | str:
    """ONNX file size, session load time (ms) and median per-text latency (us), or why it was skipped."""
    try:
        import onnxruntime as ort

        from bert2sk.serve import export_tfidf_onnx
    except ImportError as exc:
        return f"skipped: {exc} (pip install 'bert2sk[onnx]')"
    with tempfile.TemporaryDirectory() as tmp:
        path = export_tfidf_onnx(pipe, Path(tmp) / "student.onnx", card)
        size = path.stat().st_size
        t0 = time.perf_counter()
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        load_ms = (time.perf_counter() - t0) * 1e3
        us = _median_us(lambda t: session.run(["probabilities"], {"text": np.array([t], dtype=object)}), text,
                        max(runs // 10, 50))
    return size, load_ms, us


def _parse_args(argv: list[str] | None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", default="demo", help="demo (default), a teacher folder, packaged or none")
    ap.add_argument("--train", type=int, default=5000, help="IMDB training reviews for the student (--quick: 500)")
    ap.add_argument("--test", type=int, default=2000, help="IMDB test reviews for the parity check (--quick: 200)")
    ap.add_argument("--runs", type=int, default=3000, help="single-text calls timed per way (--quick: 300)")
    add_output_args(ap)
    args = ap.parse_args(argv)
    if args.quick:
        args.train, args.test, args.runs = min(args.train, 500), min(args.test, 200), min(args.runs, 300)
    return args


def _row(name: str, us: float, base: float) -> str:
    return f"{name:<46} {us:>12,.1f} us   {base / us:>9,.1f}x"


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    from bert2sk.serve import compile_scorer

    out = Output(__file__, argv)
    train, y, source = _reviews("train", args.train)
    test, _, test_source = _reviews("test", args.test)
    pipe = _student(train, y)
    card = {"task": "binary", "label_names": ["neg", "pos"], "name": "distilled-linear-tfidf"}
    scorer = compile_scorer(pipe, card)
    out.say(f"student: distilled linear TF-IDF on {len(train):,} reviews of {source}, "
            f"{len(scorer.terms):,} terms", f"text: {SHORT!r} ({len(SHORT.split())} words)")

    diff, same, n = _parity(pipe, scorer, test, min(len(test), 300))
    out.say(f"parity on {len(test):,} test reviews of {test_source}: max |p diff| {diff:.2e} "
            f"(goal <= 1e-9: {'met' if diff <= 1e-9 else 'NOT met'}); reasons equal to explain_linear's on {same}/{n}")

    pipeline_us = _median_us(lambda t: pipe.predict_proba([t]), SHORT, max(args.runs // 10, 50))
    compiled_us = _median_us(lambda t: scorer.score(t, k=5), SHORT, args.runs)
    proba_us = _median_us(scorer.proba, SHORT, args.runs)
    onnx = _onnx(pipe, card, SHORT, args.runs)
    teacher_fn, teacher_name = _teacher(args.teacher)  # last: torch's threads would slow the others
    teacher_us = _median_us(lambda t: teacher_fn([t]), SHORT, 100) if teacher_fn else None

    out.say("", f"median latency of one text, one call at a time ({args.runs:,} calls; speed-up vs (a))",
            _row("(a) Pipeline.predict_proba([text])", pipeline_us, pipeline_us),
            _row("(b) compiled: probabilities + top-5 reasons", compiled_us, pipeline_us),
            _row("    compiled: probabilities only", proba_us, pipeline_us))
    if isinstance(onnx, str):
        out.say(f"(c) ONNX Runtime: {onnx}")
    else:
        size, load_ms, onnx_us = onnx
        out.say(_row("(c) ONNX Runtime, probabilities", onnx_us, pipeline_us),
                f"    ONNX file {size / 1e6:.2f} MB, session load {load_ms:.0f} ms")
    if teacher_us is None:
        out.say(f"(d) teacher: {teacher_name}")
    else:
        out.say(_row("(d) teacher predict_proba([text])", teacher_us, pipeline_us), f"    teacher: {teacher_name}")
    out.say("", f"(b) <= 50 us: {'met' if compiled_us <= 50 else 'NOT met'} ({compiled_us:.1f} us)")
    if teacher_us is not None:
        ratio = teacher_us / compiled_us
        out.say(f"(d)/(b) = {ratio:,.0f}x (goal >= 200x: {'met' if ratio >= 200 else 'NOT met'})")
    out.finish(args.out, args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
