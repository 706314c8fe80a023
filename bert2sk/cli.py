"""The ``bert2sk`` command line: a thin layer over the Python API.

Every command exits non-zero with one clear line on bad input; ``--help``
on any command explains it.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .errors import Bert2skError, InputError

app = typer.Typer(
    help="Distil a fine-tuned BERT classifier into small, fast, explainable scikit-learn students.\n\n"
    "Start with `bert2sk demo`: it runs everything offline on a small shipped corpus and writes an HTML report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
teacher_app = typer.Typer(help="Fine-tune a teacher.", no_args_is_help=True)
app.add_typer(teacher_app, name="teacher")
# a log file or CI gets the full table rather than rich's 80-column guess
console = Console(width=None if sys.stdout.isatty() else 150)
err = Console(stderr=True)

DataArg = Annotated[str, typer.Argument(
    help="Data: a .jsonl[.gz]/.csv/.tsv/.parquet file, an aclImdb folder, a CLINC150 .json, a GoEmotions "
    "folder, 'demo' (the shipped reviews), or a hub data set id (needs a network).")]
TextCol = Annotated[str, typer.Option("--text-column", help="Column holding the text.")]
LabelCol = Annotated[str, typer.Option("--label-column", help="Column holding the label.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
Unlabelled = Annotated[list[Path] | None, typer.Option(
    "--unlabelled", help="More texts without labels (.txt one per line, .jsonl/.csv/.parquet with --text-column); "
    "the teacher scores them (cached) for the distilled students only. Repeat for several files.")]


class _ConsoleHandler(logging.Handler):
    """bert2sk's progress messages, printed like the rest of the command's output."""

    def emit(self, record: logging.LogRecord) -> None:
        console.print(escape(self.format(record)))


def _show_progress_messages(quiet: bool = False) -> None:
    log = logging.getLogger("bert2sk")
    if not any(isinstance(h, _ConsoleHandler) for h in log.handlers):
        log.addHandler(_ConsoleHandler())
    log.setLevel(logging.WARNING if quiet else logging.INFO)


def _load(spec: str, split: str, text_column: str = "text", label_column: str = "label", task: str | None = None,
          like=None):
    """Turn a data argument into a Corpus; ``like`` (a Corpus) fixes the label names and task of a table file.

    Without ``like``, a small test or dev file that lacks a rare label would get other label names
    than the training file.
    """
    from . import data

    p = Path(spec).expanduser()
    if spec == "demo":
        return data.load_demo_corpus()
    if p.is_dir():
        if (p / "labels.txt").exists():
            return data.load_goemotions(p, split)
        if (p / split).is_dir() or (p / "pos").is_dir():
            return data.load_aclimdb(p, split)
        raise InputError(f"{p} is a folder bert2sk cannot read; pass a data file, an aclImdb or GoEmotions folder")
    if p.suffix == ".json" and p.exists():
        return data.load_clinc150(p, split)
    if p.exists() or os.sep in spec or p.suffix:
        if like is not None:
            return data.load_table(p, text_column, label_column, label_names=like.label_names, task=like.task)
        return data.load_table(p, text_column, label_column, task=task)
    return data.load_hub(spec, split, text_column, label_column)


SUMMARY = {"accuracy": "acc", "f1_macro": "F1", "roc_auc": "AUC", "fidelity": "fidelity", "ece": "ECE",
           "size_mb": "MB", "latency_ms": "ms/doc"}


def _table(df, title: str, columns: dict[str, str]) -> Table:
    t = Table(title=title, header_style="bold", show_lines=False)
    t.add_column("model", style="cyan", no_wrap=True)
    for header in columns.values():
        t.add_column(header, justify="right")
    previous_section = None
    for name, row in df.iterrows():
        section = (row.get("role") == "teacher", row.get("features"))
        if previous_section is not None and section != previous_section:
            t.add_section()
        previous_section = section
        cells = []
        for c in columns:
            v = row[c]
            if v != v:
                cells.append("—")
            elif c in ("size_mb", "latency_ms"):
                cells.append(f"{v:.2f}" if v < 100 else f"{v:.0f}")
            else:
                cells.append(f"{v:.3f}")
        t.add_row(escape(str(name)), *cells)
    return t


def _print_summary(result) -> None:
    df = result.table
    console.print(_table(df, f"{result.title} — {len(result.test_texts)} test texts", SUMMARY))
    teacher = df.loc["teacher"]
    best = df[df["role"] == "distilled"].sort_values("accuracy", ascending=False).head(1)
    if len(best):
        name, row = next(best.iterrows())
        console.print(
            f"best distilled student: [bold]{escape(name)}[/] — accuracy {row['accuracy']:.3f} "
            f"(teacher {teacher['accuracy']:.3f}), fidelity {row['fidelity']:.3f}, "
            f"{teacher['latency_ms'] / max(row['latency_ms'], 1e-9):.0f}x faster per document, "
            f"{teacher['size_mb'] / max(row['size_mb'], 1e-9):.0f}x smaller"
        )


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the report and the saved students.")] = Path("bert2sk-demo"),
    labels: Annotated[int, typer.Option(help="Labels the students' user has (the rest are teacher-scored).")] = 200,
    docs: Annotated[int, typer.Option(help="Documents explained in the report.")] = 20,
    retrain: Annotated[bool, typer.Option(help="Fine-tune the demo teacher again instead of reusing it.")] = False,
    quiet: Quiet = False,
) -> None:
    """Run the whole pipeline offline on the shipped movie reviews and write an HTML report.

    The first run fine-tunes the teacher (a few minutes on a laptop CPU) and
    caches it; later runs reuse it and the cached teacher scores.
    """
    from .demo import DemoSettings, run_demo

    t0 = time.perf_counter()
    _show_progress_messages(quiet)
    run = run_demo(out, DemoSettings(n_labels=labels, n_docs=docs), progress=not quiet, retrain=retrain)
    _print_summary(run.result)
    console.print("where the time went (CPU seconds count both cores):")
    for line in run.times.lines():
        console.print(f"  {escape(line)}", highlight=False)
    where = escape(str(out))
    console.print(f"study and students saved in {where} (re-render: bert2sk report --study {where})")
    console.print(f"report: [bold green]{escape(str(run.report.resolve()))}[/]  ({time.perf_counter() - t0:.0f}s)")


@teacher_app.command("train")
def teacher_train(
    data: DataArg,
    out: Annotated[Path, typer.Option(help="Folder for the fine-tuned teacher (a Hugging Face model directory).")],
    base: Annotated[str | None, typer.Option(help="Encoder to start from; default the packaged MiniLM-L6.")] = None,
    eval_data: Annotated[str | None, typer.Option("--eval", help="Held-out data (default: 10% of DATA).")] = None,
    text_column: TextCol = "text",
    label_column: LabelCol = "label",
    limit: Annotated[int | None, typer.Option(help="Use a seeded sample of this many labelled texts.")] = None,
    epochs: int = 3,
    max_length: Annotated[int, typer.Option(help="Tokens per text (head+tail truncation).")] = 256,
    batch_size: int = 16,
    lr: float = 5e-5,
    dtype: Annotated[str, typer.Option(help="auto, fp32 or bf16 (autocast).")] = "auto",
    seed: int = 0,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run from its last checkpoint.")] = False,
    quiet: Quiet = False,
    task: Annotated[str, typer.Option(help="texts, or tokens (CoNLL/jsonl word tags, e.g. named entities).")] = "texts",
) -> None:
    """Fine-tune a teacher (binary, multiclass or multilabel; or a token tagger with --task tokens)."""
    from .teacher.trainer import TrainingArguments, train_teacher

    if task == "tokens":
        from .tokens.teacher import train_teacher_cli

        return train_teacher_cli(data, out, base, eval_data, epochs, max_length, batch_size, lr, dtype, seed, resume,
                                 quiet, console)

    corpus = _load(data, "train", text_column, label_column).labelled()
    if limit and limit < len(corpus):
        corpus = corpus.keep_labels(limit, seed).labelled()
    eval_corpus = _load(eval_data, "test", text_column, label_column, like=corpus) if eval_data else None
    args = TrainingArguments(output_dir=str(out), base_model=base, epochs=epochs, max_length=max_length,
                             batch_size=batch_size, learning_rate=lr, dtype=dtype, seed=seed, progress=not quiet)
    console.print(f"fine-tuning on {len(corpus):,} labelled texts ({corpus.task}, {len(corpus.label_names)} labels)")
    res = train_teacher(corpus, args, eval_corpus=eval_corpus, resume=resume)
    t = Table(title="teacher training", header_style="bold")
    for c in ("epoch", "train_loss", "eval_accuracy", "eval_f1", "seconds"):
        t.add_column(c, justify="right")
    for row in res.history:
        t.add_row(*[f"{row.get(c, float('nan')):.4g}" if isinstance(row.get(c), float) else str(row.get(c, ""))
                    for c in ("epoch", "train_loss", "eval_accuracy", "eval_f1", "seconds")])
    console.print(t)
    console.print(f"teacher saved to [bold green]{escape(str(out))}[/] (best epoch {res.best_epoch}, "
                  f"{res.seconds / 60:.1f} min)")


@app.command()
def label(
    data: Annotated[Path, typer.Argument(help="A .jsonl[.gz] or .csv file of texts (--engine ray: also .parquet, "
                                              "or a folder of such shards).")],
    teacher: Annotated[str, typer.Option(help="Teacher model directory (or hub id).")],
    out: Annotated[Path, typer.Option(help="Where to write the logits (.npy); --engine ray: a folder of parquet "
                                           "shards.")],
    text_column: TextCol = "text",
    cache: Annotated[Path | None, typer.Option(help="Logit cache (default: OUT.cache.sqlite).")] = None,
    embeddings: Annotated[bool, typer.Option(help="Also write pooled embeddings.")] = False,
    max_length: int = 256,
    batch_size: Annotated[int | None, typer.Option(
        help="Texts per forward pass (default 32); --engine ray: texts per actor call and shard (default 512).")]
    = None,
    dtype: str = "auto",
    quiet: Quiet = False,
    engine: Annotated[str, typer.Option(help="local (one process, SQLite cache) or ray (Ray Data actor pool, "
                                             "parquet shards; needs the ray extra).")] = "local",
    address: Annotated[str | None, typer.Option(help="--engine ray: join this Ray cluster ('auto', "
                                                     "'ray://head:10001'); default: start a local Ray.")] = None,
    actors: Annotated[int | None, typer.Option(help="--engine ray: teacher actors (default: CPUs / threads).")]
    = None,
    threads_per_actor: Annotated[int, typer.Option(help="--engine ray: torch threads per actor.")] = 1,
    id_column: Annotated[str | None, typer.Option(help="--engine ray: column of unique ids (default: file:row).")]
    = None,
) -> None:
    """Score a file with the teacher: resumable (rerun after an interruption), cached by content."""
    if engine not in ("local", "ray"):
        raise InputError(f"--engine must be local or ray, got {engine!r}")
    if engine == "ray":
        from .teacher.ray_labelling import label_with_ray

        _show_progress_messages(quiet)
        info = label_with_ray(teacher, data, out, text_column=text_column, id_column=id_column, address=address,
                              actors=actors, threads_per_actor=threads_per_actor, batch_size=batch_size or 512,
                              max_length=max_length, dtype=dtype, embeddings=embeddings, progress=not quiet)
        console.print(f"{info['scored']:,} rows scored into {info['shards']:,} shards "
                      f"({info['already']:,} already there) → [bold green]{escape(str(info['out']))}[/]")
        return
    from .teacher import Teacher
    from .teacher.labelling import label_file

    if not data.exists():
        raise InputError(f"data file not found: {data}")
    batch_size = batch_size or 32
    t = Teacher.from_pretrained(teacher, max_length=max_length, batch_size=batch_size, dtype=dtype,
                                progress=not quiet)
    info = label_file(t, data, out, text_column=text_column, cache_path=cache, return_embeddings=embeddings,
                      progress=not quiet)
    console.print(f"logits {tuple(info['shape'])} → [bold green]{escape(str(info['out_path']))}[/] "
                  f"({info.get('scored', 0):,} scored, {info.get('cached', 0):,} from the cache)")


def _with_unlabelled(tr, files: list[Path] | None, text_column: str):
    """The training corpus with the texts of ``--unlabelled`` files appended (label -1), and a line saying so."""
    from .data import Corpus, load_unlabelled

    extra = [load_unlabelled(f, tr.label_names, tr.task, text_column) for f in files or ()]
    if not extra:
        return tr, ""
    n = sum(len(c) for c in extra)
    # files by name only: the scenario is shown in reports read on other machines
    return Corpus.concat([tr, *extra]), f" ({n:,} of them from {', '.join(f.name for f in files)})"


def _study(train, test, teacher, labels, text_column, label_column, families, features, kinds, temperature, alpha,
           max_length, quiet, cache, explain_class=None, dev=None, options=None, unlabelled=None):
    _show_progress_messages(quiet)
    from .study import run_study
    from .teacher import Teacher

    tr = _load(train, "train", text_column, label_column)
    te = _load(test, "test", text_column, label_column, like=tr).labelled()
    if explain_class is not None and explain_class not in tr.label_names:
        # checked before the study runs, so a typo costs nothing
        raise InputError(f"--explain-class {explain_class!r} is not a class of {train}; the classes are "
                         f"{list(tr.label_names)[:20]}")
    dv = None
    if dev is not None:  # CLINC150's JSON names its validation split "val"
        dv = _load(dev, "val" if Path(dev).suffix == ".json" else "dev", text_column, label_column,
                   like=tr).labelled()
    if labels is not None:
        tr = tr.keep_labels(labels)
    tr, added = _with_unlabelled(tr, unlabelled, text_column)
    t = Teacher.from_pretrained(teacher, max_length=max_length, progress=not quiet)
    scenario = (f"{tr.n_labelled:,} labelled and {len(tr) - tr.n_labelled:,} unlabelled training texts{added}; "
                f"baselines use the labels, distilled students the teacher's scores on all {len(tr):,}.")
    from .demo import cache_dir

    return run_study(t, tr, te, dev=dv, families=_csv(families), features=_csv(features), kinds=_csv(kinds),
                     temperature=temperature, alpha=alpha, cache_path=cache or cache_dir() / "logits.sqlite",
                     scenario=scenario, progress=not quiet, options=options)


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _transformer_options(layers: str | None, epochs: int, onnx: bool, vocabulary: str = "teacher",
                         encoder: str | None = None) -> dict:
    """``--student-layers 3`` keeps 3 evenly spaced layers, ``--student-layers 0,2,4`` names them."""
    if vocabulary not in ("teacher", "transfer"):
        raise InputError(f"--student-vocabulary is 'teacher' or 'transfer', got {vocabulary!r}")
    out: dict = {"epochs": epochs, "onnx": onnx, "teacher_onnx": onnx, "vocabulary": vocabulary, "encoder": encoder}
    if layers:
        try:
            picked = [int(v) for v in _csv(layers)]
        except ValueError:
            raise InputError(f"--student-layers takes a number or a comma-separated list of layers, got {layers!r}")\
                from None
        out["layers"] = picked[0] if len(picked) == 1 else picked
    return {"transformer": out}


@app.command()
def distill(
    train: DataArg,
    teacher: Annotated[str, typer.Option(help="Teacher model directory (or hub id).")],
    test: Annotated[str, typer.Option(help="Labelled held-out data, same format as TRAIN.")],
    out: Annotated[Path, typer.Option(help="Folder for students, results and report.")] = Path("bert2sk-out"),
    labels: Annotated[int | None, typer.Option(help="Keep only this many train labels (label-scarce).")] = None,
    dev: Annotated[str | None, typer.Option(
        help="Labelled validation data; multilabel decision thresholds are tuned on it (never on --test).")] = None,
    text_column: TextCol = "text",
    label_column: LabelCol = "label",
    families: Annotated[str, typer.Option(help="Comma-separated: linear,tree,svm.")] = "linear,tree,svm",
    features: Annotated[str, typer.Option(
        help="Comma-separated student kinds: tfidf,embeddings,transformer.")] = "tfidf,embeddings",
    kinds: Annotated[str, typer.Option(help="Comma-separated: regression,soft.")] = "regression,soft",
    temperature: float = 1.0,
    alpha: Annotated[float, typer.Option(help="Weight of hard labels against the teacher, 0..1.")] = 0.0,
    max_length: int = 256,
    student_layers: Annotated[str | None, typer.Option(
        help="Transformer student: how many teacher layers to keep (3) or which (0,2,4); default every other.")]
    = None,
    student_epochs: Annotated[int, typer.Option(help="Transformer student: training epochs.")] = 2,
    student_vocabulary: Annotated[str, typer.Option(
        help="Transformer student: 'teacher' keeps every word piece, 'transfer' only those the training texts use "
             "(a much smaller model on one domain's texts).")] = "teacher",
    student_encoder: Annotated[str | None, typer.Option(
        help="Transformer student: start from this pretrained encoder folder ('packaged': all-MiniLM-L6-v2) "
             "instead of cutting the teacher; its layers, a new head, trained on the teacher's scores.")] = None,
    onnx: Annotated[bool, typer.Option(
        help="Transformer students: also measure the student and the teacher through ONNX Runtime (fp32, int8).")]
    = True,
    cache: Annotated[Path | None, typer.Option(help="Logit cache file.")] = None,
    report: Annotated[bool, typer.Option(help="Also write report.html.")] = True,
    docs: int = 20,
    unlabelled: Unlabelled = None,
    quiet: Quiet = False,
) -> None:
    """Train baselines and distilled students, measure them all, save the study (and the report).

    OUT receives the whole study: results.csv, RESULTS.md, every student (students/*.skops with a JSON card
    holding its metrics and thresholds), the test predictions and the teacher's test logits, so that
    `bert2sk report --study OUT` re-renders it without the teacher.
    """
    from .study import save_study

    result = _study(train, test, teacher, labels, text_column, label_column, families, features, kinds, temperature,
                    alpha, max_length, quiet, cache, dev=dev,
                    options=_transformer_options(student_layers, student_epochs, onnx, student_vocabulary,
                                                 student_encoder),
                    unlabelled=unlabelled)
    save_study(result, out)
    _print_summary(result)
    console.print(f"study saved in {escape(str(out))}")
    if report:
        from .report import write_report

        path = write_report(result, out / "report.html", n_docs=docs)
        console.print(f"report: [bold green]{escape(str(path))}[/]")


@app.command("distill-stream")
def distill_stream(
    data: Annotated[Path, typer.Argument(help="The texts LABELS was scored from: the file or folder given to "
                                              "`bert2sk label --engine ray`.")],
    labels: Annotated[Path, typer.Option(help="The folder of parquet shards `bert2sk label DATA --engine ray "
                                              "--out LABELS` wrote.")],
    out: Annotated[Path, typer.Option(help="Where to save the student (.skops, its card .card.json beside it).")],
    test: Annotated[str | None, typer.Option(
        help="Labelled held-out data (a file, or a folder bert2sk reads): accuracy, and fidelity with --teacher.")]
    = None,
    teacher: Annotated[str | None, typer.Option(
        help="The teacher LABELS was scored with: its logits on --test (cached) give the student's fidelity.")] = None,
    text_column: Annotated[str, typer.Option(
        "--text-column", help="--test: column holding the text (DATA's is the one it was labelled with).")] = "text",
    label_column: LabelCol = "label",
    epochs: Annotated[int, typer.Option(help="Passes of SGD over the data.")] = 5,
    vocabulary_sample: Annotated[int, typer.Option(
        help="Texts (a uniform sample of DATA) the TF-IDF vocabulary is fitted on: memory does not grow past it.")]
    = 20_000,
    batch_size: Annotated[int, typer.Option(help="Texts per SGD step.")] = 2048,
    segments: Annotated[int, typer.Option(
        help="Places in each file read at once, so a file sorted by class still gives mixed batches.")] = 16,
    cache: Annotated[Path | None, typer.Option(help="Logit cache file for the teacher's --test logits.")] = None,
    quiet: Quiet = False,
) -> None:
    """Fit the TF-IDF linear student on teacher logits from `bert2sk label --engine ray`, in bounded memory.

    The texts stream from DATA and the logits from LABELS: memory holds the
    vocabulary sample, one shuffle buffer and the logits (4 bytes a class a
    text), not the TF-IDF matrix. The student (SGD on the teacher's logit
    margin, or centred logits) is saved like a study's students, so `bert2sk
    explain`, `bench`, `serve` and `export` take it. With --test (and
    --teacher) its accuracy (and fidelity) are printed and stored in its card.
    """
    from types import SimpleNamespace

    from .persistence import save_student
    from .students.streaming import StreamingDistilledClassifier, fit_from_shards, labels_manifest

    _show_progress_messages(quiet)
    if teacher is not None and test is None:
        raise InputError("--teacher is used for the fidelity on --test; pass --test too, or leave --teacher out")
    manifest = labels_manifest(labels, data)
    task, label_names = manifest.get("task"), tuple(manifest.get("label_names") or ())
    if task not in ("binary", "multiclass") or not label_names:
        raise InputError(f"the streaming student learns binary and multiclass teachers; {labels} was scored by a "
                         f"{task or 'unknown'} one")
    te = z_test = None
    if test is not None:  # read (and scored) before the long fit, so a bad file fails at once
        te = _load(test, "test", text_column, label_column, like=SimpleNamespace(label_names=label_names, task=task))
        te = te.labelled()
        if tuple(te.label_names) != label_names or te.task != task:
            raise InputError(f"{test} has the labels {list(te.label_names)[:6]} ({te.task}) but the teacher "
                             f"{list(label_names)[:6]} ({task}); pass a test set of the teacher's task")
    if teacher is not None:
        from .demo import cache_dir
        from .teacher import Teacher
        from .teacher.labelling import label_texts

        t = Teacher.from_pretrained(teacher, max_length=manifest["max_length"], truncation=manifest["truncation"],
                                    dtype=manifest["dtype"], progress=not quiet)
        if t.fingerprint != manifest["fingerprint"]:
            raise InputError(f"{teacher} is not the teacher {labels} was scored with (its weights or settings "
                             "differ); pass that teacher, or leave --teacher out")
        z_test = label_texts(t, te.texts, cache or cache_dir() / "logits.sqlite", progress=not quiet)
        del t
    student = StreamingDistilledClassifier(n_epochs=epochs, vocabulary_sample=vocabulary_sample,
                                           batch_size=batch_size)
    if not quiet:
        console.print(f"fitting the streaming student: texts from {escape(str(data))}, teacher logits from "
                      f"{escape(str(labels))} ({epochs} passes)")
    t0 = time.perf_counter()
    student = fit_from_shards(labels, data, student, segments=segments)
    fit_s = time.perf_counter() - t0
    pipe = student.to_pipeline()
    card = {"name": "distilled · linear · tfidf · logit regression · streamed", "role": "distilled",
            "family": "linear", "kind": "logit regression", "features": "tfidf", "task": task,
            "label_names": list(label_names), "teacher": manifest.get("teacher"),
            "teacher_fingerprint": manifest["fingerprint"],
            # bare names: the card travels with the student to other machines
            "training": {"texts": int(student.n_seen_), "labels": labels.name, "epochs": epochs,
                         "vocabulary_sample": vocabulary_sample, "vocabulary": int(student.n_features_in_),
                         "fit_seconds": round(fit_s, 1)}}
    line = f"fitted on {student.n_seen_:,} texts ({len(student.get_feature_names_out()):,} terms) in {fit_s:.0f} s"
    if te is not None:
        from .metrics import score

        figures = score(pipe.predict_proba(te.texts), te.labels, task, teacher_logits=z_test)
        keep = ("accuracy", "f1_macro", "fidelity") if z_test is not None else ("accuracy", "f1_macro")
        card["metrics"] = {k: float(figures[k]) for k in keep}
        card["test"] = {"name": Path(test).name, "texts": len(te)}
        line += "; on " + f"{len(te):,} test texts: " + ", ".join(f"{k} {card['metrics'][k]:.3f}" for k in keep)
    path = save_student(out, pipe, card)
    console.print(line)
    console.print(f"student saved to [bold green]{escape(str(path))}[/]")


@app.command("report")
def report_cmd(
    train: Annotated[str | None, typer.Argument(
        help="Old form: training data to run a study on first. Prefer `bert2sk distill` then --study.")] = None,
    study: Annotated[Path | None, typer.Option(help="A saved study folder (written by distill or demo).")] = None,
    teacher: Annotated[str | None, typer.Option(
        help="The study's teacher (folder or hub id): adds LIME on the teacher; the old form needs it.")] = None,
    test: Annotated[str | None, typer.Option(help="Old form: labelled held-out data.")] = None,
    out: Annotated[Path | None, typer.Option(
        help="The HTML file to write (default: STUDY/report.html, or bert2sk-report.html).")] = None,
    labels: Annotated[int | None, typer.Option(help="Old form: keep only this many train labels.")] = None,
    dev: Annotated[str | None, typer.Option(
        help="Old form: labelled validation data for multilabel thresholds (never --test).")] = None,
    text_column: TextCol = "text",
    label_column: LabelCol = "label",
    families: str = "linear,tree,svm",
    features: str = "tfidf,embeddings",
    kinds: str = "regression,soft",
    temperature: float = 1.0,
    alpha: float = 0.0,
    docs: Annotated[int, typer.Option(help="Documents explained.")] = 20,
    teacher_docs: Annotated[int, typer.Option(help="Of those, explained with LIME on the teacher too.")] = 3,
    explain_class: Annotated[str | None, typer.Option(
        help="Also explain this class (by name) in every document, next to the predicted one.")] = None,
    max_length: int = 256,
    unlabelled: Unlabelled = None,
    quiet: Quiet = False,
) -> None:
    """Write the self-contained HTML report of a saved study (or, old form, of a study run first)."""
    from .report import write_report

    _show_progress_messages(quiet)
    if study is not None:
        if unlabelled:
            raise InputError("--unlabelled adds texts to a study run first (TRAIN --teacher --test); the students "
                             "of a saved study are trained already: rerun `bert2sk distill` with it")
        from .study import load_study

        result = load_study(study, teacher=teacher)
        path = out or study / "report.html"
        if explain_class is not None and explain_class not in result.label_names:
            raise InputError(f"--explain-class {explain_class!r} is not a class of this study; the classes are "
                             f"{list(result.label_names)[:20]}")
    elif train is None or teacher is None or test is None:
        raise InputError("pass --study DIR (a folder written by `bert2sk distill` or `bert2sk demo`), or TRAIN with "
                         "--teacher and --test")
    else:
        result = _study(train, test, teacher, labels, text_column, label_column, families, features, kinds,
                        temperature, alpha, max_length, quiet, None, explain_class, dev, unlabelled=unlabelled)
        path = out or Path("bert2sk-report.html")
    written = write_report(result, path, n_docs=docs, teacher_docs=teacher_docs if result.teacher_scorer else 0,
                           explain_class=explain_class)
    console.print(f"report: [bold green]{escape(str(written))}[/]")


@app.command()
def cascade(
    study: Annotated[Path, typer.Option(help="A saved study folder (written by distill, demo or a study script).")],
    fast: Annotated[str, typer.Option(help="The student that answers first (a model name from the study's table).")],
    fallback: Annotated[str, typer.Option(help="The student that answers where the fast one is unsure.")],
    margin: Annotated[float | None, typer.Option(
        help="Defer texts whose top-two probability margin under the fast student is below this.")] = None,
    defer_rate: Annotated[float, typer.Option(
        help="Or: defer this share of the --calibration texts (texts the fast student was not fitted on).")] = 0.1,
    calibration: Annotated[Path | None, typer.Option(
        help="Validation texts (.txt one per line; .jsonl/.csv/.parquet with --text-column) for the margin.")] = None,
    text_column: TextCol = "text",
    name: Annotated[str | None, typer.Option(help="The cascade's name in the table.")] = None,
    quiet: Quiet = False,
) -> None:
    """Add a cascade of two of a study's students to it, as one more measured row (no training)."""
    from .study import add_cascade, load_study

    _show_progress_messages(quiet)
    result = load_study(study)
    texts = None
    if margin is None:
        if calibration is None:
            raise InputError("pass --margin, or --calibration with texts the fast student was not fitted on and "
                             "--defer-rate")
        from .data import load_unlabelled

        texts = load_unlabelled(Path(calibration), result.label_names, result.task, text_column).texts
    entry = add_cascade(result, fast, fallback, defer_rate=defer_rate, margin=margin, calibration_texts=texts,
                        name=name)
    result.save(study)
    row = result.table.loc[entry.name]
    console.print(f"[bold]{escape(entry.name)}[/]: deferred {entry.deferred:.1%} of the test texts; accuracy "
                  f"{row['accuracy']:.3f}, fidelity {row['fidelity']:.3f}, {row['latency_ms']:.2f} ms per text; "
                  f"saved in {escape(str(study))} (re-render: bert2sk report --study {escape(str(study))})")


EncoderOpt = Annotated[Path | None, typer.Option(
    help="The encoder folder of a student on sentence embeddings, when it is not where the student's card says.")]


@app.command()
def explain(
    text: Annotated[str, typer.Argument(help="The text to score and explain.")],
    model: Annotated[Path, typer.Option(help="A saved student (.skops).")],
    top: Annotated[int, typer.Option(help="How many reasons to show.")] = 10,
    method: Annotated[str, typer.Option(help="auto (exact where possible), lime or shap.")] = "auto",
    label: Annotated[str | None, typer.Option(help="Explain this class (by name) instead of the predicted one.")]
    = None,
    encoder: EncoderOpt = None,
) -> None:
    """Score one text with a saved student and show the words behind the score.

    TF-IDF linear and tree students are scored by the compiled scorer: the
    reasons are TF-IDF terms with their exact weights.
    """
    import numpy as np

    from .explain import explain_text
    from .persistence import load_student

    scorer, card = load_student(model, encoder=encoder)
    names = card.get("label_names") or [str(c) for c in scorer.classes_]
    compiled = _compiled(scorer, card) if method in ("auto", "linear-exact", "tree-shap") else None
    footer = ""
    if compiled is not None:
        s = compiled.score(text, k=top, label=label)
        proba, how, toward, rows = s.probabilities, f"compiled {compiled.kind}, exact", s.explained, s.reasons
    else:
        attr = explain_text(scorer, text, method=method, class_names=names, label=label)
        proba, how = scorer.predict_proba([text])[0], attr.method
        toward, rows = attr.class_names[attr.explained_class], attr.top(top)
        if attr.method == "static-exact":  # the student's own tokens, whose contributions add up to its decision
            rows = sorted(zip(attr.terms, attr.term_weights, strict=True), key=lambda tw: -abs(tw[1]))[:top]
            footer = (f"intercept {attr.base_value:+.4f} + {len(attr.terms)} token contributions "
                      f"{sum(attr.term_weights):+.4f} = {attr.output:+.4f} ({attr.settings.get('output', '')})")
    source = f"({escape(card.get('name', model.name))}, {escape(how)})"
    if card.get("task") == "multilabel":
        # the saved thresholds were tuned on validation data; 0.5 only for students saved without them
        th = np.asarray(card.get("thresholds") or [0.5] * len(proba))
        on = [f"{escape(str(names[j]))} {proba[j]:.3f}" for j in np.flatnonzero(proba >= th)]
        console.print(f"labels: [bold]{', '.join(on) if on else '(none)'}[/]  {source}")
    else:
        pred = int(proba.argmax())
        console.print(f"[bold]{escape(str(names[pred]))}[/] with probability {proba[pred]:.3f}  {source}")
    t = Table(header_style="bold")
    t.add_column("term")
    t.add_column(f"weight toward {escape(str(toward))}", justify="right")
    for token, weight in rows:
        t.add_row(escape(token), f"[{'green' if weight > 0 else 'red'}]{weight:+.4f}[/]")
    console.print(t)
    if footer:
        console.print(escape(footer))


def _compiled(model, card: dict):
    """The compiled scorer of a TF-IDF linear/tree student, ``None`` for any other (or one it cannot match)."""
    from .errors import InputError
    from .serve import compile_scorer

    try:
        return compile_scorer(model, card)
    except InputError:
        return None


@app.command()
def export(
    model: Annotated[Path, typer.Argument(help="A saved student (.skops file or transformer student folder).")],
    onnx: Annotated[Path, typer.Option("--onnx", help="Where to write: a .onnx file (TF-IDF students) or a folder "
                                                      "(transformer students).")],
    int8: Annotated[bool, typer.Option(help="Transformer students: int8 weights (ONNX Runtime dynamic).")] = False,
) -> None:
    """Export a saved student to ONNX, to score texts without Python's scikit-learn (ONNX Runtime).

    TF-IDF linear and tree students become one .onnx file (input "text":
    strings; outputs "probabilities", "label"); transformer students a folder
    with the graph and the tokenizer. Features the graph cannot reproduce are
    refused with the reason.
    """
    from .persistence import load_student

    student, card = load_student(model)
    if hasattr(student, "to_onnx"):
        written = student.to_onnx(onnx, int8=int8, card={k: card[k] for k in ("task", "label_names") if k in card})
    elif hasattr(student, "session"):
        raise InputError(f"{model} is an ONNX student already; copy its folder")
    else:
        from .serve.onnx_export import export_tfidf_onnx

        written = export_tfidf_onnx(student, onnx, card)
    console.print(f"ONNX: [bold green]{escape(str(written))}[/]")


@app.command()
def serve(
    model: Annotated[Path, typer.Argument(help="A saved student (.skops file or student folder).")],
    host: Annotated[str, typer.Option(help="Address to listen on; 127.0.0.1 keeps it to this machine.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    encoder: EncoderOpt = None,
    max_texts: Annotated[int, typer.Option(help="Texts per request (more: 413).")] = 256,
    max_chars: Annotated[int, typer.Option(help="Characters per text (more: 413).")] = 20_000,
    max_body_bytes: Annotated[int, typer.Option(help="Bytes per request body (more: 413).")] = 2_000_000,
) -> None:
    """Serve a saved student over HTTP: POST /v1/predict, GET /healthz, GET /v1/model, docs at /docs.

    POST /v1/predict takes {"texts": [...], "explain": k} and answers, per
    text, the labels, the probabilities and the k strongest reasons (TF-IDF
    students). Bad input gets a JSON error (413 past a limit, 422 otherwise).
    """
    from .errors import require
    from .persistence import load_student
    from .serve import ServeLimits, create_app

    uvicorn = require("uvicorn", "serve")
    student, card = load_student(model, encoder=encoder)
    name = str(card.get("name") or model.name.removesuffix(".skops"))
    limits = ServeLimits(max_texts=max_texts, max_chars=max_chars, max_body_bytes=max_body_bytes)
    api = create_app(student, card, limits, name=name)
    console.print(f"serving [bold]{escape(name)}[/] on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
    uvicorn.run(api, host=host, port=port, log_level="warning", access_log=False)


@app.command()
def bench(
    model: Annotated[list[Path], typer.Option(
        help="Saved students (.skops files or student folders); repeat the option for several.")],
    data: Annotated[str, typer.Option(help="Texts to time on (default: the shipped reviews).")] = "demo",
    teacher: Annotated[str | None, typer.Option(help="Also time this teacher.")] = None,
    runs: Annotated[int, typer.Option(help="Single-document calls per model, after a warm-up.")] = 100,
    text_column: TextCol = "text",
) -> None:
    """Model size and latency (mean ± std per document, and per 1,000 batched)."""
    from .bench import batch_latency, latency
    from .persistence import load_student

    texts = _load(data, "test", text_column).texts[:200]
    t = Table(title=f"latency over {runs} single-document calls", header_style="bold")
    for c in ("model", "size MB", "ms / doc", "± std", "ms / 1000 batched"):
        t.add_column(c, justify="right" if c != "model" else "left")
    rows = []
    if teacher:
        from .teacher import Teacher

        tm = Teacher.from_pretrained(teacher, progress=False)
        rows.append((teacher, tm.size_bytes, tm.predict_logits))
    for m in model:
        scorer, _ = load_student(m)
        # a transformer student is a folder: its size is every file in it
        size = sum(f.stat().st_size for f in m.rglob("*") if f.is_file()) if m.is_dir() else m.stat().st_size
        rows.append((m.name, size, scorer.predict_proba))
    for name, size, fn in rows:
        lat = latency(fn, texts, n_runs=runs)
        t.add_row(escape(str(name)), f"{size / 1e6:.2f}", f"{lat['mean_ms']:.2f}", f"{lat['std_ms']:.2f}",
                  f"{batch_latency(fn, texts):.0f}")
    console.print(t)


def main() -> None:
    """Entry point: run the app, turning bert2sk errors into one clear line."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        app()
    except Bert2skError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}")
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/] — rerun the same command to resume where it stopped")
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
