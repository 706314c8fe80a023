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
    result = run_study(teacher, scarce, test, features=("tfidf", "transformer"), families=("linear",),
                       options={"transformer": {"layers": args.layers, "epochs": args.epochs}},
                       cache_path=cache_dir() / "logits.sqlite", title="Transformer students on the demo corpus",
                       scenario=scenario, seed=settings.seed, progress=False)
    seconds = time.perf_counter() - t0
    result.save(args.out)
    REPORT.mkdir(parents=True, exist_ok=True)
    result.table.to_csv(REPORT / "results.csv")
    write_report(result, REPORT / "report.html", n_docs=10, teacher_docs=2)
    command = "python examples/transformer_demo.py" + (f" --layers {args.layers}" if args.layers else "")
    (REPORT / "RESULTS.md").write_text(
        f"# {result.title}\n\n{scenario}\n\nProduced by `{command}` in {seconds / 60:.0f} min on 2 CPU cores "
        f"(teacher {Path(str(result.teacher_source)).name}, fingerprint {result.teacher_fingerprint[:12]}).\n\n"
        f"{result.to_markdown()}\nTimings (s): {json.dumps({k: round(v) for k, v in result.timings.items()})}\n")
    print(result.to_markdown())


if __name__ == "__main__":
    main()
