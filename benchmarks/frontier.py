"""The accuracy-vs-latency frontier of a saved study, re-timed side by side in one run (seed 001's benchmark).

For every model of a study saved by ``bert2sk distill`` (or a study script)
— the teacher, transformer students (PyTorch, ONNX fp32/int8), the teacher
through ONNX Runtime, scikit-learn students — it prints size on disk,
single-text latency (mean ± std over >= 100 calls after a warm-up,
tokenisation included), ms per 1,000 texts batched, and the study's
accuracy and fidelity; then each model's latency and size as a ratio of the
teacher's, and the goals of issue 12 where they apply.

    python benchmarks/frontier.py --study DIR --teacher TEACHER_DIR [--runs 200] [--out FILE]

Embedding students need the teacher's encoder; they are timed only when
``--teacher`` is given. Nothing is retrained.

A study run from stored teacher scores has no teacher model to time.
``--teacher stand-in`` times one with the same compute in its place: the
packaged all-MiniLM-L6-v2 (the architecture every bert2sk teacher here was
fine-tuned from) with a seeded random head of the study's outputs, at the
study's token length. It is labelled as such; its quality figures are the
real teacher's, from the study.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import Output, display_path, resolve_teacher, teacher_label  # noqa: E402


def _size(path: Path) -> int:
    if path.is_dir():  # weights only, as for the teacher: tokenizer files are the same for every model
        # a cascade folder holds its parts: a skops file and a model folder
        return sum(_size(f) for f in path.iterdir() if f.is_dir() or f.suffix in (".safetensors", ".onnx", ".skops"))
    return path.stat().st_size + (path.with_name(path.name.removesuffix(".skops") + ".card.json").stat().st_size
                                  if path.suffix == ".skops" else 0)


def stand_in_teacher(folder: Path, result) -> str:
    """The packaged encoder with a seeded random head of the study's outputs and task, saved to ``folder``."""
    import torch

    from bert2sk.teacher.model import load_tokenizer_and_model, packaged_encoder_path

    torch.manual_seed(0)
    multilabel = result.task == "multilabel"
    tokenizer, model = load_tokenizer_and_model(
        packaged_encoder_path(), num_labels=len(result.label_names),
        problem_type="multi_label_classification" if multilabel else "single_label_classification")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def _models(study: Path, teacher_dir: str | None, work: Path):
    from bert2sk.persistence import load_student
    from bert2sk.study import load_study

    result = load_study(study)
    if teacher_dir == "stand-in":
        teacher_dir = stand_in_teacher(work / "stand-in-teacher", result)
    rows = []
    if teacher_dir:
        from bert2sk.teacher import Teacher

        t = Teacher.from_pretrained(teacher_dir, progress=False, max_length=_max_length(result))
        rows.append(("teacher", sum(f.stat().st_size for f in Path(teacher_dir).glob("*.safetensors")),
                     t.predict_proba))
    for name, entry in result.models.items():
        if entry.bundle is None or (entry.features == "embeddings" and not teacher_dir):
            continue
        scorer, _ = load_student(study / entry.bundle)
        if entry.features == "embeddings":  # the saved pipeline names the encoder by path; use the one given
            scorer.set_params(features__model=teacher_dir)
        rows.append((name, _size(study / entry.bundle), scorer.predict_proba))
        quick = _compiled(scorer, entry)
        if quick is not None:  # how `bert2sk serve` runs it: the same probabilities, checked when compiling
            rows.append((name + COMPILED, _size(study / entry.bundle), quick.predict_proba))
    return result, rows, teacher_dir


COMPILED = " · compiled"


def _compiled(scorer, entry):
    """The compiled form of a distilled TF-IDF student or of a cascade's fast part, or None."""
    from bert2sk.errors import InputError
    from bert2sk.serve import compile_cascade, compile_scorer

    try:
        if entry.family == "cascade":
            quick = compile_cascade(scorer)
            return quick if quick is not scorer else None
        if entry.role == "distilled" and entry.features == "tfidf" and entry.family == "linear":
            return compile_scorer(scorer)
    except InputError:
        return None
    return None


def _max_length(result) -> int:
    for entry in result.models.values():
        student = entry.student
        if hasattr(student, "max_length"):
            return int(student.max_length)
    return 256


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--study", type=Path, required=True, help="a saved study folder")
    ap.add_argument("--teacher", default=None, help="the study's teacher folder ('demo': the demo's; 'stand-in': "
                                                   "the same compute for a study of stored scores, see above)")
    ap.add_argument("--runs", type=int, default=200, help="single-text calls per model after a warm-up, each on "
                                                          "another text of a seeded sample")
    ap.add_argument("--out", type=Path, default=None, help="output file (default reports/benchmarks/frontier.txt)")
    args = ap.parse_args()
    stand_in = args.teacher == "stand-in"
    teacher_dir = args.teacher if stand_in else resolve_teacher(args.teacher)
    out = Output(__file__)
    work = Path(tempfile.mkdtemp(prefix="b2sk-frontier-"))
    try:
        result, rows, teacher_dir = _models(args.study, teacher_dir, work)
        _time(out, args, result, rows, teacher_dir, stand_in)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out.save(args.out)


def _time(out: Output, args, result, rows, teacher_dir: str | None, stand_in: bool) -> None:
    from bert2sk.bench import batch_latency, latency, timing_sample

    # one text per call: a larger --runs also times a cascade on a more representative share of deferred texts
    texts = timing_sample(result.test_texts, max(200, args.runs))
    who = ("STAND-IN (packaged all-MiniLM-L6-v2 + random head: the teacher's compute; quality figures are the "
           "real teacher's)" if stand_in else teacher_label(teacher_dir, _Fp(result)) if teacher_dir else "not timed")
    out.say(f"# study {display_path(args.study)}: {result.title}; {len(result.test_texts):,} test texts; "
            f"teacher {who}",
            f"# threads {os.environ.get('OMP_NUM_THREADS', 'default')}; {args.runs} single-text calls per model",
            f"{'model':<62} {'MB':>8} {'ms/text':>9} {'± std':>7} {'p50':>7} {'p95':>7} {'ms/1000':>9} {'acc':>6}"
            f" {'fid':>6} {'x lat':>6} {'x size':>6}")
    timed = []
    for name, size, fn in rows:
        lat = latency(fn, texts, n_runs=args.runs, warmup=5)
        timed.append((name, size, lat["mean_ms"], lat["std_ms"], batch_latency(fn, texts, n_docs=400),
                      lat["p50_ms"], lat["p95_ms"]))
    ref = next((t for t in timed if t[0] == "teacher"), None)
    for name, size, mean, std, batch, p50, p95 in timed:
        base = name.removesuffix(COMPILED)
        row = result.table.loc[base] if base in result.table.index else {}
        acc, fid = float(row.get("accuracy", float("nan"))), float(row.get("fidelity", float("nan")))
        x_lat = f"{mean / ref[2]:.2f}" if ref else "–"
        x_size = f"{size / ref[1]:.2f}" if ref and ref[1] else "–"
        out.say(f"{name:<62} {size / 1e6:8.1f} {mean:9.2f} {std:7.2f} {p50:7.2f} {p95:7.2f} {batch:9.0f} {acc:6.3f}"
                f" {fid:6.3f} {x_lat:>6} {x_size:>6}")
    for name, *_ in timed:
        cascade = result.models[name].scorer if name in result.models else None  # compiled rows: same deferrals
        if hasattr(cascade, "deferred"):  # its mean depends on how many of the timed texts it deferred
            out.say(f"  {name}: deferred {int(cascade.deferred(texts).sum())} of the {len(texts)} timed texts, "
                    f"{float(result.table.loc[name, 'deferred']):.1%} of the test texts")
    if ref:
        _goals(out, result, timed, ref)
        _fast_and_faithful(out, result, timed, ref)


def _fast_and_faithful(out: Output, result, timed, ref) -> None:
    """Issue 13's question: the most faithful model at <= 0.1x the teacher's single-text latency."""
    def base(t) -> str:
        return t[0].removesuffix(COMPILED)

    fast = [t for t in timed if t[0] != "teacher" and t[2] <= 0.1 * ref[2] and base(t) in result.table.index]
    if not fast or result.task == "multilabel":
        return
    best = max(fast, key=lambda t: (float(result.table.loc[base(t), "fidelity"]), -t[2]))
    name, mean = best[0], best[2]
    fid, acc = float(result.table.loc[base(best), "fidelity"]), float(result.table.loc[base(best), "accuracy"])
    line = f"  most faithful at <= 0.1x the teacher's latency: {name} ({mean / ref[2]:.3f}x), fidelity {fid:.3f}, " \
           f"accuracy {acc:.3f}"
    if result.task == "binary":  # issue 13's IMDB goal
        line += (f" (issue 13's IMDB goal, fidelity >= 0.93 at accuracy >= 0.90: "
                 f"{'met' if fid >= 0.93 and acc >= 0.90 else 'missed'})")
    out.say("", "fast and faithful:", line)


class _Fp:
    """A stand-in carrying the study's recorded teacher fingerprint, for :func:`teacher_label`."""

    def __init__(self, result) -> None:
        self.fingerprint = result.teacher_fingerprint


def _goals(out: Output, result, timed, ref) -> None:
    """Issue 12's goals for the fp32 transformer student: per task (binary: IMDB's; multiclass: CLINC150's)."""
    table = result.table
    t_acc = float(table.loc["teacher", "accuracy"])
    fp32 = [t for t in timed if "transformer" in t[0] and "onnx" not in t[0]]
    if not fp32:
        return
    name, size, mean = fp32[0][:3]
    if result.task == "multilabel":  # issue 12's multilabel goal: micro-F1 within 2 points of the teacher's
        f1, t_f1 = float(table.loc[name, "f1_micro"]), float(table.loc["teacher", "f1_micro"])
        out.say("", f"goals for {name}:",
                f"  micro-F1 {f1:.3f} vs the teacher's {t_f1:.3f}: {100 * (f1 - t_f1):+.1f} points (goal >= -2): "
                f"{'met' if f1 >= t_f1 - 0.02 else 'missed'}; set fidelity "
                f"{float(table.loc[name, 'fidelity_sets']):.3f}",
                f"  latency {mean / ref[2]:.2f}x the teacher's; size {size / ref[1]:.2f}x")
        return
    acc, fid = float(table.loc[name, "accuracy"]), float(table.loc[name, "fidelity"])
    if result.task == "binary":  # issue 12's binary goal (IMDB regime A): fidelity and accuracy within 1 point
        out.say("", f"issue 12's goals for a binary study (set for IMDB regime A), {name}:",
                f"  accuracy {acc:.3f} vs the teacher's {t_acc:.3f}: {100 * (acc - t_acc):+.1f} points (goal >= -1): "
                f"{'met' if acc >= t_acc - 0.01 else 'missed'}",
                f"  fidelity {fid:.3f} (goal >= 0.95): {'met' if fid >= 0.95 else 'missed'}",
                f"  latency {mean / ref[2]:.2f}x the teacher's; size {size / ref[1]:.2f}x")
        return
    out.say("", f"goals for {name}:",
            f"  accuracy {acc:.3f} = {acc / t_acc:.1%} of the teacher's (goal >= 99%): "
            f"{'met' if acc >= 0.99 * t_acc else 'missed'}",
            f"  fidelity {fid:.3f} (goal >= 0.95): {'met' if fid >= 0.95 else 'missed'}",
            f"  latency {mean / ref[2]:.2f}x the teacher's (goal <= 0.55x): "
            f"{'met' if mean <= 0.55 * ref[2] else 'missed'}",
            f"  size {size / ref[1]:.2f}x (goal <= 0.6x): {'met' if size <= 0.6 * ref[1] else 'missed'}")
    variants = [t for t in timed if t[0].startswith(name + " · ")]
    if variants:
        best = min(variants, key=lambda t: t[2])
        v_acc = float(table.loc[best[0], "accuracy"])
        out.say(f"  fastest compressed variant {best[0].removeprefix(name + ' · ')}: {best[2] / ref[2]:.2f}x the "
                f"teacher's latency (goal <= 0.30x): {'met' if best[2] <= 0.3 * ref[2] else 'missed'}; accuracy "
                f"{v_acc:.3f}, {100 * (acc - v_acc):+.1f} points below fp32 (goal <= 1): "
                f"{'met' if acc - v_acc <= 0.01 else 'missed'}")


if __name__ == "__main__":
    main()
