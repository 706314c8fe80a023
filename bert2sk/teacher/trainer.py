"""Fine-tune a BERT-family encoder into a teacher: load, run the loop, tune, publish.

The loop itself (:func:`fit_classifier`, in :mod:`.loop`) is shared with the
distilled transformer student; this module holds what makes the run a
*teacher*: a labelled corpus and its held-out split, a base encoder with a
fresh head, per-label thresholds for multilabel, and the published folder.

The result is an ordinary Hugging Face model directory (safetensors, config
with ``id2label``, tokenizer) that ``transformers`` loads on its own and
:meth:`Teacher.from_pretrained` loads as a teacher, with a
``bert2sk_training.json`` record written last. A multilabel teacher also
carries per-label decision thresholds tuned on the held-out split in its
config as ``bert2sk_thresholds``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError, ModelFileError
from ..targets import sigmoid, tune_thresholds
from .arguments import TrainingArguments
from .callbacks import Callback
from .checkpoints import CHECKPOINT, publish_model, read_checkpoint_state, remove_checkpoints, sweep_stale_checkpoints
from .evaluation import eval_scores, predict_logits
from .loop import FitResult, fit_classifier, seed_everything
from .model import Teacher, load_tokenizer_and_model

__all__ = ["ENCODER_MODEL_TYPES", "TrainResult", "TrainingArguments", "corpus_fingerprint", "train_teacher"]

MARKER = "bert2sk_training.json"

# Text encoders with a sequence-classification head. Decoders (GPT-2, Llama…)
# also have one in transformers, but are not what a bert2sk teacher is.
ENCODER_MODEL_TYPES = frozenset({
    "bert", "roberta", "distilbert", "albert", "electra", "deberta", "deberta-v2", "xlm-roberta",
    "xlm-roberta-xl", "camembert", "mpnet", "ernie", "modernbert", "xlm", "longformer", "big_bird",
    "convbert", "funnel", "mobilebert", "squeezebert", "nystromformer", "megatron-bert", "rembert",
    "roformer", "layoutlm", "canine", "data2vec-text", "ibert", "luke", "markuplm", "nezha", "xmod",
    "flaubert", "esm", "mra", "yoso", "jina_bert", "neobert", "eurobert",
})


@dataclass
class TrainResult:
    """What a fine-tuning run produced.

    Attributes
    ----------
    output_dir : str
        The finished teacher directory (load it with :meth:`teacher`).
    history : list of dict
        One row per epoch: ``epoch``, ``train_loss``, ``eval_loss``, ``eval_accuracy``, ``eval_f1``
        (macro-F1 for multiclass, F1 of the positive class for binary, micro-F1 for multilabel),
        ``seconds``, ``steps``.
    best_epoch : int
        The epoch whose weights were kept (1-based).
    metric : str
        The held-out score that chose it.
    seconds : float
        Wall time of the whole run (all sessions of a resumed run).
    thresholds : list of float or None
        Per-label decision thresholds of a multilabel teacher.
    """

    output_dir: str
    history: list[dict]
    best_epoch: int
    metric: str
    seconds: float
    n_train: int
    n_eval: int
    steps: int
    stopped_early: bool = False
    thresholds: list[float] | None = None
    label_names: tuple[str, ...] = field(default_factory=tuple)
    task: str = "binary"

    def teacher(self, **kwargs) -> Teacher:
        """Load the trained teacher (keyword arguments go to :meth:`Teacher.from_pretrained`)."""
        return Teacher.from_pretrained(self.output_dir, **kwargs)


def corpus_fingerprint(corpus) -> str:
    """sha256 of a corpus's texts, labels, label names and task (recorded with the teacher)."""
    h = hashlib.sha256()
    h.update(corpus.task.encode())
    h.update(json.dumps(list(corpus.label_names)).encode())
    for t in corpus.texts:
        h.update(hashlib.sha256(t.encode("utf-8")).digest())
    if corpus.labels is not None:
        h.update(np.ascontiguousarray(corpus.labels, dtype=np.int64).tobytes())
    return h.hexdigest()


def _version() -> str:
    """The installed bert2sk version, read from package metadata (not from the package root)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bert2sk")
    except PackageNotFoundError:
        return "unknown"


def _is_encoder(model_type: str) -> bool:
    return model_type in ENCODER_MODEL_TYPES or model_type.endswith("bert")


def _check_encoder(src: str) -> None:
    """Refuse a base checkpoint that is not a text encoder, before loading its weights."""
    local = Path(src).expanduser()
    if not local.exists():
        return  # a hub id, or a bad path: load_tokenizer_and_model explains either
    if not local.is_dir() or not (local / "config.json").is_file():
        raise ModelFileError(
            f"{src} is not a Hugging Face model directory (no config.json); give base_model as a BERT-family "
            "encoder folder written by save_pretrained(), a hub id, or None for the packaged MiniLM"
        )
    try:
        cfg = json.loads((local / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelFileError(
            f"{local / 'config.json'} is not valid JSON ({exc}); restore or replace the file") from None
    model_type = str(cfg.get("model_type", ""))
    if cfg.get("is_encoder_decoder") or cfg.get("is_decoder") or not _is_encoder(model_type):
        raise ModelFileError(
            f"{src} holds a {model_type or 'unknown'!r} model, which is not a BERT-family sequence encoder; "
            "fine-tune an encoder such as BERT, RoBERTa, DistilBERT, DeBERTa, MPNet or MiniLM (base_model=None)"
        )


def _split_eval(corpus, fraction: float, seed: int):
    """Stratified train/eval split of a labelled corpus, with a clear error when it is too small."""
    n = len(corpus)
    if fraction == 0:
        return corpus, None
    if corpus.task == "multilabel":
        n_eval = max(1, int(round(n * fraction)))
        if n < 4 or n - n_eval < 2:
            raise InputError(f"only {n} labelled texts: too few to hold out an eval split; "
                             "add labelled texts, pass eval_corpus=..., or set eval_fraction=0")
        rng = np.random.default_rng(seed)
        order = rng.permutation(n)
        return corpus.subset(np.sort(order[n_eval:])), corpus.subset(np.sort(order[:n_eval]))
    counts = np.bincount(corpus.labels, minlength=len(corpus.label_names))
    k = int((counts > 0).sum())
    rare = [corpus.label_names[i] for i in np.flatnonzero((counts > 0) & (counts < 2))]
    if rare:
        raise InputError(
            f"class(es) {rare[:5]} have a single labelled text: at least 2 per class are needed to hold out a "
            "stratified eval split; add labelled texts, pass eval_corpus=..., or set eval_fraction=0"
        )
    n_eval = max(k, int(round(n * fraction)))
    if n - n_eval < k:
        raise InputError(f"only {n} labelled texts for {k} classes: too few to split off an eval set of {n_eval}; "
                         "add labelled texts, pass eval_corpus=..., or set eval_fraction=0")
    from sklearn.model_selection import train_test_split

    tr, te = train_test_split(np.arange(n), test_size=n_eval, random_state=seed, stratify=corpus.labels)
    return corpus.subset(np.sort(tr)), corpus.subset(np.sort(te))


def _label_config(model, corpus) -> None:
    names = list(corpus.label_names)
    model.config.id2label = dict(enumerate(names))
    model.config.label2id = {n: i for i, n in enumerate(names)}
    model.config.num_labels = len(names)
    model.config.problem_type = ("multi_label_classification" if corpus.task == "multilabel"
                                 else "single_label_classification")


def _teacher_data(train, args: TrainingArguments, eval_corpus):
    """The labelled texts, and the train and held-out splits the loop sees (checked)."""
    if train.n_labelled == 0:
        raise InputError(f"{train.name} has no labelled texts; a teacher needs labelled texts to learn from")
    labelled = train.labelled()
    if eval_corpus is not None:
        if tuple(eval_corpus.label_names) != tuple(train.label_names) or eval_corpus.task != train.task:
            raise InputError("eval_corpus must have the same task and label names as train "
                             f"({train.task}, {list(train.label_names)[:5]}...)")
        if eval_corpus.n_labelled == 0:
            raise InputError("eval_corpus has no labelled texts; label some or leave eval_corpus out")
        tr, ev = labelled, eval_corpus.labelled()
    else:
        tr, ev = _split_eval(labelled, args.eval_fraction, args.seed)
    if train.task != "multilabel" and len(np.unique(tr.labels)) < 2:
        raise InputError("the training texts carry a single class; a classifier needs at least two")
    return labelled, tr, ev


def _finished_run(out: Path, train, data_fp: str) -> TrainResult | None:
    """The result of a teacher already finished in ``out`` from this corpus, or None if there is none."""
    if not ((out / MARKER).is_file() and (out / "config.json").is_file()):
        return None
    done = json.loads((out / MARKER).read_text())
    if done.get("label_names") != list(train.label_names):
        raise InputError(f"{out} holds a teacher for labels {done.get('label_names')}, not "
                         f"{list(train.label_names)}; use another output_dir or resume=False")
    if done.get("corpus_fingerprint") != data_fp:
        raise InputError(f"{out} holds a finished teacher trained on other texts or labels; "
                         "use another output_dir, or resume=False to train again here")
    return TrainResult(**done["result"])


def _resumable(out: Path, train, data_fp: str) -> bool:
    """True when ``out`` holds an interrupted run of this corpus; a clear error when it is another's."""
    state = read_checkpoint_state(out)
    if state is None:
        return False
    ckpt = out / CHECKPOINT
    if state["label_names"] != list(train.label_names) or state["task"] != train.task:
        raise InputError(
            f"cannot resume {ckpt}: it was trained on labels {state['label_names'][:6]} ({state['task']}), "
            f"this corpus has {list(train.label_names)[:6]} ({train.task}); use the same corpus or resume=False"
        )
    if state["corpus_fingerprint"] != data_fp:
        raise InputError(f"cannot resume {ckpt}: the training texts or labels differ from the interrupted run's; "
                         "pass the same corpus, or resume=False to start again")
    return True


def _teacher_model(args: TrainingArguments, train, src: str | None):
    """Tokenizer and classifier from ``src`` (a checkpoint being resumed) or the base encoder, labelled."""
    if src is None:
        from .model import packaged_encoder_path

        src = str(args.base_model) if args.base_model is not None else packaged_encoder_path()
    _check_encoder(src)
    names = list(train.label_names)
    tokenizer, model = load_tokenizer_and_model(
        src, num_labels=len(names), id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)},
        problem_type="multi_label_classification" if train.task == "multilabel" else "single_label_classification",
        ignore_mismatched_sizes=True,
    )
    if not _is_encoder(str(getattr(model.config, "model_type", ""))):
        raise ModelFileError(f"{src} is a {model.config.model_type!r} model, not a BERT-family sequence encoder; "
                             "fine-tune an encoder (base_model=None uses the packaged MiniLM)")
    _label_config(model, train)
    return tokenizer, model


def _multilabel_thresholds(model, tokenizer, ev, args: TrainingArguments, fit: FitResult) -> list[float]:
    """Per-label thresholds tuned on the held-out split (0.5 without one); notes the tuned F1 in the history."""
    thresholds = [0.5] * model.config.num_labels
    if ev is not None:
        z = predict_logits(model, tokenizer, ev.texts, args)
        thresholds = tune_thresholds(sigmoid(z), ev.labels).tolist()
        tuned = eval_scores(z, ev.labels, "multilabel", thresholds)["eval_f1"]
        fit.history[fit.best_epoch - 1]["eval_f1_tuned"] = tuned
    model.config.bert2sk_thresholds = thresholds
    return thresholds


def _marker(result: TrainResult, args: TrainingArguments, train, data_fp: str) -> dict:
    """The ``bert2sk_training.json`` record: the result, the settings and what was trained on."""
    return {
        "bert2sk_version": _version(), "result": dataclasses.asdict(result), "args": dataclasses.asdict(args),
        "base_model": str(args.base_model or "all-MiniLM-L6-v2 (packaged)"), "label_names": list(train.label_names),
        "task": train.task, "corpus_name": train.name, "corpus_fingerprint": data_fp, "seconds": result.seconds,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def train_teacher(train, args: TrainingArguments, eval_corpus=None, resume: bool = False, *,
                  callbacks: Sequence[Callback] = ()) -> TrainResult:
    """Fine-tune an encoder on the labelled texts of ``train`` and save the teacher.

    Parameters
    ----------
    train : Corpus
        Only its labelled texts train (``Corpus.labelled()``); label codes
        and names become the model's ``id2label``.
    args : TrainingArguments
    eval_corpus : Corpus, optional
        Held-out texts scored after each epoch; by default a stratified
        ``args.eval_fraction`` of ``train`` is held out.
    resume : bool
        Continue an interrupted run from ``output_dir/checkpoint-last``
        (same data and label names required). A finished run is returned as is.
    callbacks : sequence of Callback, optional
        Passed to the loop (:func:`fit_classifier`): hooks at step and epoch ends and checkpoints.

    Returns
    -------
    TrainResult

    Raises
    ------
    InputError
        Bad arguments, too few labelled texts to split, labels that differ from the checkpoint being resumed.
    ModelFileError
        A base model that is not a sequence encoder, or a full disk (no partial teacher is left behind).

    Examples
    --------
    >>> from bert2sk import load_demo_corpus  # doctest: +SKIP
    >>> res = train_teacher(load_demo_corpus(), TrainingArguments("teacher", epochs=2))  # doctest: +SKIP
    >>> res.teacher().predict_proba(["a fine film"])  # doctest: +SKIP
    """
    args.validate()
    out = Path(args.output_dir).expanduser()
    labelled, tr, ev = _teacher_data(train, args, eval_corpus)
    data_fp = corpus_fingerprint(labelled)
    sweep_stale_checkpoints(out)  # a run killed mid-write leaves staging folders behind
    done = _finished_run(out, train, data_fp) if resume else None
    if done is not None:
        return done
    from_checkpoint = resume and _resumable(out, train, data_fp)
    if not resume:
        (out / MARKER).unlink(missing_ok=True)

    seed_everything(args.seed)
    tokenizer, model = _teacher_model(args, train, str(out / CHECKPOINT) if from_checkpoint else None)
    run_info = {"label_names": list(train.label_names), "task": train.task, "corpus_fingerprint": data_fp}
    fit = fit_classifier(
        model, tokenizer, tr.texts, args, labels=tr.labels, task=train.task,
        eval_texts=None if ev is None else ev.texts, eval_labels=None if ev is None else ev.labels,
        callbacks=callbacks, run_info=run_info, resume=resume, desc="fine-tuning teacher",
    )
    tail_start = time.perf_counter()
    multilabel = train.task == "multilabel"
    thresholds = _multilabel_thresholds(model, tokenizer, ev, args, fit) if multilabel else None
    result = TrainResult(
        output_dir=str(out), history=fit.history, best_epoch=fit.best_epoch,
        metric="eval_f1 (micro)" if multilabel else ("eval_accuracy" if ev is not None else "last epoch"),
        seconds=fit.seconds + time.perf_counter() - tail_start, n_train=len(tr), n_eval=0 if ev is None else len(ev),
        steps=fit.steps, stopped_early=fit.stopped_early, thresholds=thresholds,
        label_names=tuple(train.label_names), task=train.task,
    )
    publish_model(out, model, tokenizer, MARKER, _marker(result, args, train, data_fp))
    remove_checkpoints(out, keep_last=args.keep_checkpoints)
    return result
