"""How fast does each token model tag one tweet? The BTC teacher and its students side by side, in one run.

Each model tags one test tweet per call (words in, valid IOB2 tags out: the
transformers include tokenisation and decoding, the scikit-learn student its
feature extraction and decoding); every tweet goes through every model
before the next tweet (interleaved, so all see the same machine load), after
a warm-up. Prints mean ± std ms per tweet and the ratios to the teacher.

Goals (issue 15): transformer student latency <= 0.55x the teacher's;
scikit-learn student >= 20x faster than the teacher.

    python benchmarks/tokens.py [--work DIR] [--tweets 200] [--threads 1] [--quick] [--out FILE]

Needs the models ``examples/btc_study.py`` wrote to ``--work`` (default
``~/.cache/bert2sk/btc``): ``teacher/``, ``token-student/``, ``sklearn-distilled/``.
Saves ``reports/benchmarks/tokens.txt`` and ``reports/btc/latency.json``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from _record import ROOT, SHARED_DATA, Output, add_output_args, machine_line

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    from bert2sk.demo import cache_dir

    ap.add_argument("--work", type=Path, default=cache_dir() / "btc")
    ap.add_argument("--tweets", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for both transformers")
    ap.add_argument("--dtype", default="auto")
    add_output_args(ap)
    args = ap.parse_args(argv)
    if args.quick:
        args.tweets = min(args.tweets, 20)

    import torch

    from bert2sk.tokens.data import load_btc
    from bert2sk.tokens.student import LinearTokenStudent
    from bert2sk.tokens.study import measure_latency
    from bert2sk.tokens.teacher import TokenTeacher
    from bert2sk.tokens.transformer import TokenTransformerStudent

    torch.set_num_threads(args.threads)
    out = Output(__file__, argv)
    test = load_btc(SHARED_DATA / "btc", "test")
    tweets = test.tokens[:args.tweets]
    tdir = args.work / "teacher-final" if (args.work / "teacher-final").exists() else args.work / "teacher"
    teacher = TokenTeacher.from_pretrained(tdir, max_length=64, dtype=args.dtype,
                                           threads=args.threads)
    models = {"teacher": teacher.predict_tags}
    sizes = {"teacher": teacher.size_bytes}
    for folder in sorted(args.work.glob("token-student-*l")):
        ts = TokenTransformerStudent.load(folder, max_length=64, dtype=args.dtype, threads=args.threads)
        key = f"transformer-{folder.name.rsplit('-', 1)[1]}"
        models[key] = ts.predict
        sizes[key] = ts.size_bytes_
    if (args.work / "sklearn-distilled").exists():
        sk = LinearTokenStudent.load(args.work / "sklearn-distilled")
        models["sklearn"] = sk.predict
        sizes["sklearn"] = sk.size_bytes_

    def one(fn):
        return lambda words: fn([words])

    load = os.getloadavg()
    res = measure_latency({k: one(f) for k, f in models.items()}, tweets, warmup=5)
    load_after = os.getloadavg()
    out.say(f"{len(tweets)} BTC test tweets, one per call, interleaved; torch threads {args.threads}, "
            f"dtype {teacher.dtype}; load average {load[0]:.1f} before, {load_after[0]:.1f} after")
    t = res["teacher"]["mean_ms"]
    for name, r in res.items():
        ratio = r["mean_ms"] / t
        speed = f"{t / r['mean_ms']:.1f}x faster" if name != "teacher" else ""
        out.say(f"{name:12s} {r['mean_ms']:8.3f} ± {r['std_ms']:7.3f} ms/tweet (median {r['median_ms']:.3f})   "
                f"{ratio:6.3f}x the teacher   {speed}   {sizes[name] / 1e6:.1f} MB")
    med = {k: r["median_ms"] / res["teacher"]["median_ms"] for k, r in res.items()}
    out.say("median ratios to the teacher (less sensitive to a loaded machine's stalls): "
            + ", ".join(f"{k} {v:.3f}x" for k, v in med.items()))
    for key in (k for k in res if k.startswith("transformer")):
        r = res[key]["mean_ms"] / t
        out.say(f"goal {key} latency <= 0.55x: {r:.3f}x -> {'met' if r <= 0.55 else 'missed'}")
    if "sklearn" in res:
        r = t / res["sklearn"]["mean_ms"]
        out.say(f"goal scikit-learn student >= 20x faster: {r:.1f}x -> {'met' if r >= 20 else 'missed'}")
    out.finish(args.out, args.quick)
    if not args.quick:
        note = (f"{len(tweets)} test tweets, one per call, models interleaved, after 5 warm-up calls; torch threads "
                f"{args.threads}, {teacher.dtype}; load average {load[0]:.1f}-{load_after[0]:.1f} on 2 shared cores "
                f"({machine_line()[2:]}); the scikit-learn student's per-word feature cache starts empty (each "
                "process), so a word is featurised in full the first time it is seen; python benchmarks/tokens.py")
        (ROOT / "reports" / "btc" / "latency.json").write_text(
            json.dumps({"models": res, "note": note}, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
