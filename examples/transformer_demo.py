"""Transformer students on the demo corpus: the whole frontier in one study.

The demo's scenario (a fine-tuned teacher, 200 labels, 1,600 training
reviews, 400 held out) with a transformer student next to the TF-IDF
students: the teacher cut to 3 of its 6 layers and distilled (alpha 0.5,
T 2.0, 2 epochs), the same student through ONNX Runtime in fp32 and int8,
and the teacher itself through ONNX Runtime.

    python examples/transformer_demo.py [--teacher DIR] [--out DIR]

``--teacher`` defaults to the demo's cached teacher (run ``make demo``
once). The saved study (with every student bundle, ~300 MB) goes to
``--out`` (default ``bert2sk-transformer-demo/``); the tables go to
``reports/demo_transformer/``. Re-time the frontier side by side on a quiet
machine with ``python benchmarks/frontier.py --study OUT --teacher DIR``.

The study also holds a cascade (``--cascade-rate``, 0 to leave it out): the
soft-target TF-IDF student answers and defers the reviews it is least sure
of to the int8 transformer student. Its threshold is the fast student's
top-two margin that defers that share of a validation fifth of the training
reviews, for the same student fitted on the other four fifths (no test
review is read to set it).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

REPORT = Path(__file__).resolve().parents[1] / "reports" / "demo_transformer"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", default=None, help="teacher folder (default: the demo's cached teacher)")
    ap.add_argument("--out", type=Path, default=Path("bert2sk-transformer-demo"), help="saved study folder")
    ap.add_argument("--layers", type=int, default=None, help="teacher layers the student keeps (default half)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--cascade-rate", type=float, default=0.15,
                    help="share of validation reviews the cascade defers (0: no cascade)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    from bert2sk.demo import DemoSettings, cache_dir, demo_teacher, split_demo_corpus
    from bert2sk.report import write_report
    from bert2sk.study import run_study
    from bert2sk.teacher import Teacher

    settings = DemoSettings()
    if args.teacher is None:
        teacher, _ = demo_teacher(settings, progress=False)
    else:
        teacher = Teacher.from_pretrained(args.teacher, max_length=settings.teacher_max_length, progress=False)
    train, test = split_demo_corpus(settings)
    scarce = train.keep_labels(settings.n_labels, seed=settings.seed)
    scenario = (f"The demo's label-scarce scenario ({settings.n_labels} labels, the teacher's scores on all "
                f"{len(train):,} training reviews, {len(test)} held out) with a transformer student: the teacher "
                "cut to half its layers, each copied from the teacher, distilled with alpha 0.5 and T 2.0; the "
                "student and the teacher also run through ONNX Runtime (fp32 and dynamic int8).")
    t0 = time.perf_counter()
    options = {"transformer": {"layers": args.layers, "epochs": args.epochs}}
    if args.cascade_rate:
        margin = validation_margin(teacher, train, scarce, settings.seed, args.cascade_rate)
        fallback = f"distilled · transformer · text · kd {args.layers or 3}/6 layers · onnx int8"
        options["cascades"] = [{"fast": FAST, "fallback": fallback, "margin": margin}]
        scenario += (f" The cascade defers to the int8 student the reviews whose top-two margin under the TF-IDF "
                     f"student is below {margin:.3f}: the margin that deferred {args.cascade_rate:.0%} of a "
                     "validation fifth of the training reviews.")
    result = run_study(teacher, scarce, test, features=("tfidf", "transformer"), families=("linear",),
                       options=options,
                       cache_path=cache_dir() / "logits.sqlite", title="Transformer students on the demo corpus",
                       scenario=scenario, seed=settings.seed, progress=False)
    seconds = time.perf_counter() - t0
    result.save(args.out)
    REPORT.mkdir(parents=True, exist_ok=True)
    result.table.to_csv(REPORT / "results.csv")
    write_report(result, REPORT / "report.html", n_docs=10, teacher_docs=2)
    command = "python examples/transformer_demo.py" + (f" --layers {args.layers}" if args.layers else "") + (
        f" --cascade-rate {args.cascade_rate:g}" if args.cascade_rate != 0.15 else "")
    (REPORT / "RESULTS.md").write_text(
        f"# {result.title}\n\n{scenario}\n\nProduced by `{command}` in {seconds / 60:.0f} min on 2 CPU cores "
        f"(teacher {Path(str(result.teacher_source)).name}, fingerprint {result.teacher_fingerprint[:12]}).\n\n"
        f"{result.to_markdown()}\nTimings (s): {json.dumps({k: round(v) for k, v in result.timings.items()})}\n")
    print(result.to_markdown())


FAST = "distilled · linear · tfidf · soft targets"


def validation_margin(teacher, train, scarce, seed: int, rate: float) -> float:
    """The margin deferring ``rate`` of a seeded fifth of the training reviews, for FAST fitted on the rest."""
    import numpy as np

    from bert2sk.demo import cache_dir
    from bert2sk.students.cascade import margin_for_rate, top_two_margin
    from bert2sk.study import run_study

    order = np.random.default_rng(seed).permutation(len(scarce))
    val_idx, fit_idx = np.sort(order[: len(scarce) // 5]), np.sort(order[len(scarce) // 5:])
    # the validation reviews keep their labels only to fill the study's accuracy column; the margin reads none
    res = run_study(teacher, scarce.subset(fit_idx), train.subset(val_idx), features=("tfidf",),
                    families=("linear",), kinds=("soft",), cache_path=cache_dir() / "logits.sqlite", latency_runs=2,
                    progress=False, seed=seed)
    return margin_for_rate(top_two_margin(res.models[FAST].proba), rate)


if __name__ == "__main__":
    main()
