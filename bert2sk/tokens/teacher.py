"""The token teacher: a BERT-family token classifier, fine-tuned here, that scores every word with logits.

Fine-tuning puts each word's tag on its first word piece (the rest ``-100``)
and runs bert2sk's loop (:mod:`bert2sk.tokens.loop`), keeping the epoch with
the best entity F1 on the held-out corpus. Scoring returns one ``(n_words,
k)`` array per sentence; :func:`score_words` caches them per word in the
same crash-safe SQLite cache as text logits (:class:`bert2sk.teacher.LogitCache`),
keyed by the teacher's fingerprint and the sentence, so an interrupted run
resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError, ModelFileError
from ..runtime import progress_bar, resolve_dtype
from ..teacher.arguments import TrainingArguments
from ..teacher.model import n_parameters, size_bytes, weights_hash
from .data import TokenCorpus
from .decode import decode_iob2
from .encoding import Chunk, encode_words

__all__ = ["TokenTeacher", "TokenTrainResult", "train_token_teacher", "score_words", "word_hashes",
           "predict_chunk_logits"]

MARKER = "bert2sk_token_training.json"


def predict_chunk_logits(model, chunks: Sequence[Chunk], n_sentences_words: Sequence[int], pad_id: int,
                         batch_size: int = 32, bf16: bool = False, progress: bool = False,
                         desc: str = "scoring words") -> list[np.ndarray]:
    """Per-sentence ``(n_words, k)`` logits of a token classifier from its chunks (longest chunks first)."""
    import torch

    from ..teacher.examples import collate

    k = model.config.num_labels
    out = [np.zeros((n, k), dtype=np.float32) for n in n_sentences_words]
    ids = [c.ids for c in chunks]
    order = np.argsort([len(x) for x in ids], kind="stable")[::-1]
    was_training = model.training
    model.eval()
    bar = progress_bar(len(chunks), desc, progress, leave=False)
    with bar, torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            input_ids, mask = collate(ids, idx, pad_id)
            z = model(input_ids=input_ids, attention_mask=mask).logits.float().numpy()
            for row, i in enumerate(idx):
                c = chunks[i]
                out[c.sentence][c.start:c.stop] = z[row, c.first]
            bar.update(len(idx))
    if was_training:
        model.train()
    return out


class TokenTeacher:
    """A token classifier that scores words: logits per word, tags decoded to valid IOB2.

    Build one with :meth:`from_pretrained` (a folder written by :func:`train_token_teacher`).

    Parameters
    ----------
    model : transformers ``...ForTokenClassification``
    tokenizer : its (fast or slow) tokenizer
    max_length : int
        Pieces per chunk, special tokens included (longer sentences are cut between words).
    batch_size : int
    dtype : {"auto", "fp32", "bf16"}
    threads : int or None
        Torch intra-op threads while scoring.
    progress : bool
    """

    def __init__(self, model, tokenizer, *, max_length: int = 64, batch_size: int = 32, dtype: str = "auto",
                 threads: int | None = None, progress: bool = False, source: str = "") -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.batch_size = int(batch_size)
        self.dtype = resolve_dtype(dtype)
        self.threads = threads
        self.progress = progress
        self.source = source
        self._weights_hash: str | None = None

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, **kwargs) -> TokenTeacher:
        """Load a token teacher folder (config.json with ``id2label`` tags, weights, tokenizer)."""
        from transformers import AutoModelForTokenClassification

        from ..teacher.model import load_tokenizer_and_model

        tokenizer, model = load_tokenizer_and_model(path, AutoModelForTokenClassification)
        names = [model.config.id2label[i] for i in range(model.config.num_labels)]
        if not names or names[0] != "O":
            raise ModelFileError(f"{path} is not a token tagger: its labels {names[:4]} do not start with 'O'")
        return cls(model, tokenizer, source=Path(str(path)).name, **kwargs)

    @property
    def tag_names(self) -> tuple[str, ...]:
        cfg = self.model.config
        return tuple(str(cfg.id2label[i]) for i in range(cfg.num_labels))

    @property
    def n_parameters(self) -> int:
        return n_parameters(self.model)

    @property
    def size_bytes(self) -> int:
        return size_bytes(self.model)

    @property
    def fingerprint(self) -> str:
        """Hash of the weights, the tags and every setting that changes the word logits."""
        if self._weights_hash is None:
            self._weights_hash = weights_hash(self.model, b"token-teacher", repr(self.tag_names))
        return hashlib.sha256(f"{self._weights_hash}|{self.max_length}|{self.dtype}".encode()).hexdigest()[:32]

    def predict_word_logits(self, sentences: Sequence[Sequence[str]], desc: str = "teacher scoring words"
                            ) -> list[np.ndarray]:
        """One ``(n_words, n_tags)`` float32 array per sentence."""
        import torch

        sentences = _check_sentences(sentences)
        chunks = encode_words(self.tokenizer, sentences, self.max_length)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        old = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            return predict_chunk_logits(self.model, chunks, [len(s) for s in sentences], pad, self.batch_size,
                                        self.dtype == "bf16", self.progress, desc)
        finally:
            if self.threads:
                torch.set_num_threads(old)

    def predict_tags(self, sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        """Valid IOB2 tags per sentence (:func:`~bert2sk.tokens.decode.decode_iob2` of the logits)."""
        return [decode_iob2(z, self.tag_names) for z in self.predict_word_logits(sentences)]

    def __repr__(self) -> str:
        return f"TokenTeacher(source={self.source!r}, tags={len(self.tag_names)}, max_length={self.max_length})"


def _check_sentences(sentences) -> list[list[str]]:
    if isinstance(sentences, (str, bytes)) or not hasattr(sentences, "__len__"):
        raise InputError("give a list of sentences, each a list of words (str)")
    out = []
    for i, s in enumerate(sentences):
        if isinstance(s, (str, bytes)):
            raise InputError(f"sentence {i} is a string; give each sentence as a list of words")
        out.append([str(w) for w in s])
    return out


def word_hashes(sentences: Sequence[Sequence[str]]) -> list[list[bytes]]:
    """Cache keys: sha256 of the whole sentence and the word's position (a word's logits depend on its context)."""
    out = []
    for s in sentences:
        base = json.dumps(list(s), ensure_ascii=False)
        out.append([hashlib.sha256(f"{base}\x00{i}".encode()).digest() for i in range(len(s))])
    return out


def score_words(teacher: TokenTeacher, sentences: Sequence[Sequence[str]], cache_path: str | os.PathLike | None = None,
                chunk_size: int = 256) -> list[np.ndarray]:
    """Per-word teacher logits for ``sentences``, through an on-disk cache (crash-safe, resumable).

    Sentences are scored ``chunk_size`` at a time and each chunk's words committed in one
    transaction; a rerun (or a run after a crash) scores only what is not cached yet.

    Examples
    --------
    >>> score_words(teacher, [["Leon", "in", "Sheffield"]], "cache.sqlite")[0].shape  # doctest: +SKIP
    (3, 7)
    """
    from ..teacher.cache import LogitCache

    sentences = _check_sentences(sentences)
    if cache_path is None:
        return teacher.predict_word_logits(sentences)
    fp = teacher.fingerprint
    k = len(teacher.tag_names)
    out: list[np.ndarray | None] = [None] * len(sentences)
    hashes = word_hashes(sentences)
    with LogitCache(cache_path) as cache:
        for start in range(0, len(sentences), chunk_size):
            part = range(start, min(start + chunk_size, len(sentences)))
            flat = [h for i in part for h in hashes[i]]
            z, _, missing = cache.get_many(fp, flat) if flat else (None, None, np.zeros(0, dtype=bool))
            todo, pos = [], 0
            for i in part:
                n = len(sentences[i])
                if n and missing[pos:pos + n].any():
                    todo.append(i)
                else:
                    out[i] = z[pos:pos + n].copy() if n else np.zeros((0, k), dtype=np.float32)
                pos += n
            if todo:
                scored = teacher.predict_word_logits([sentences[i] for i in todo])
                cache.put_many(fp, [h for i in todo for h in hashes[i]],
                               np.concatenate(scored) if scored else np.zeros((0, k), np.float32))
                for i, zi in zip(todo, scored, strict=True):
                    out[i] = zi
    return out  # type: ignore[return-value]


@dataclasses.dataclass
class TokenTrainResult:
    """What :func:`train_token_teacher` did. ``seconds`` is the fine-tuning wall time."""

    output_dir: str
    history: list[dict]
    best_epoch: int
    best_entity_f1: float
    seconds: float
    steps: int
    n_train: int
    n_eval: int
    tag_names: tuple[str, ...]

    def teacher(self, **kwargs) -> TokenTeacher:
        return TokenTeacher.from_pretrained(self.output_dir, **kwargs)


def _corpus_fingerprint(corpus: TokenCorpus) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([corpus.tokens, corpus.tags, list(corpus.tag_names)], ensure_ascii=False).encode())
    return h.hexdigest()


def entity_f1_scorer(tokenizer, corpus: TokenCorpus, max_length: int, batch_size: int, bf16: bool,
                     reference: Sequence[Sequence[str]] | None = None):
    """``model -> {"eval_entity_f1", "eval_score"}`` against ``reference`` tags (default: the corpus's gold tags)."""
    from .metrics import token_scores

    chunks = encode_words(tokenizer, corpus.tokens, max_length)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    names = corpus.tag_names
    gold = reference if reference is not None else corpus.tags

    def score(model) -> dict:
        z = predict_chunk_logits(model, chunks, [len(s) for s in corpus.tokens], pad, batch_size, bf16)
        s = token_scores(gold, [decode_iob2(x, names) for x in z])
        return {"eval_entity_f1": s["entity_f1"], "eval_token_accuracy": s["token_accuracy"],
                "eval_score": s["entity_f1"]}

    return score


def train_token_teacher(train: TokenCorpus, args: TrainingArguments, eval_corpus: TokenCorpus | None = None,
                        resume: bool = False) -> TokenTrainResult:
    """Fine-tune an encoder (``args.base_model``; ``None``: the packaged MiniLM) to tag the words of ``train``.

    The best epoch by entity F1 on ``eval_corpus`` is kept (the last without one). The finished
    teacher is written to ``args.output_dir`` with ``bert2sk_token_training.json``; ``resume=True``
    continues an interrupted run (same corpus and settings) or returns a finished one as it is.

    Examples
    --------
    >>> res = train_token_teacher(load_btc(folder, "train"), TrainingArguments("teacher", max_length=64),
    ...                           eval_corpus=load_btc(folder, "dev"))  # doctest: +SKIP
    >>> res.teacher().predict_tags([["Leon", "in", "Sheffield"]])  # doctest: +SKIP
    """
    from transformers import AutoModelForTokenClassification

    from ..teacher.checkpoints import CHECKPOINT, publish_model, remove_checkpoints
    from ..teacher.loop import seed_everything
    from ..teacher.model import load_tokenizer_and_model, packaged_encoder_path
    from .loop import fit_token_classifier

    args.validate()
    if train.tags is None or not len(train):
        raise InputError(f"{train.name} has no tagged sentences; a token teacher learns from gold tags")
    if eval_corpus is not None and tuple(eval_corpus.tag_names) != tuple(train.tag_names):
        raise InputError(f"eval_corpus tags {list(eval_corpus.tag_names)} differ from train's "
                         f"{list(train.tag_names)}; load it with tag_names=train.tag_names")
    out = Path(args.output_dir).expanduser()
    data_fp = _corpus_fingerprint(train)
    marker = out / MARKER
    if resume and marker.is_file():
        done = json.loads(marker.read_text())
        if done.get("corpus_fingerprint") == data_fp:
            return TokenTrainResult(**{**done["result"], "tag_names": tuple(done["result"]["tag_names"]),
                                       "output_dir": str(out)})
        raise InputError(f"{out} holds a token teacher trained on other sentences; use another output_dir "
                         "or resume=False")
    marker.unlink(missing_ok=True)
    from_ckpt = resume and (out / CHECKPOINT).is_dir()
    seed_everything(args.seed)
    names = list(train.tag_names)
    src = str(out / CHECKPOINT) if from_ckpt else (str(args.base_model) if args.base_model else packaged_encoder_path())
    tokenizer, model = load_tokenizer_and_model(
        src, AutoModelForTokenClassification, num_labels=len(names), id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)}, ignore_mismatched_sizes=True)
    chunks = encode_words(tokenizer, train.tokens, args.max_length)
    bf16 = resolve_dtype(args.dtype) == "bf16"
    score_fn = None if eval_corpus is None else entity_f1_scorer(tokenizer, eval_corpus, args.max_length,
                                                                args.batch_size * 2, bf16)
    t0 = time.perf_counter()
    fit = fit_token_classifier(model, tokenizer, chunks, args, word_labels=train.tag_ids(), score_fn=score_fn,
                               run_info={"tag_names": names, "corpus_fingerprint": data_fp}, resume=resume,
                               desc="fine-tuning token teacher")
    result = TokenTrainResult(
        output_dir=str(out), history=fit.history, best_epoch=fit.best_epoch,
        best_entity_f1=float(fit.best_score) if eval_corpus is not None else float("nan"),
        seconds=float(fit.seconds or time.perf_counter() - t0), steps=fit.steps, n_train=len(train),
        n_eval=0 if eval_corpus is None else len(eval_corpus), tag_names=tuple(names))
    record = {"result": {**dataclasses.asdict(result), "output_dir": out.name}, "args": dataclasses.asdict(args),
              "base_model": str(args.base_model or "all-MiniLM-L6-v2 (packaged)"), "corpus_name": train.name,
              "corpus_fingerprint": data_fp, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    out.mkdir(parents=True, exist_ok=True)
    publish_model(out, model, tokenizer, MARKER, record)
    remove_checkpoints(out, keep_last=args.keep_checkpoints)
    return result


def train_teacher_cli(data: str, out, base: str | None, eval_data: str | None, epochs: int, max_length: int,
                      batch_size: int, lr: float, dtype: str, seed: int, resume: bool, quiet: bool, console) -> None:
    """``bert2sk teacher train DATA --task tokens``: fine-tune a token teacher on a CoNLL or jsonl file."""
    from .data import load_tokens

    train = load_tokens(data)
    ev = load_tokens(eval_data, tag_names=train.tag_names) if eval_data else None
    for c in (train, ev):
        for line in (c.repairs if c is not None else [])[:5]:
            console.print(f"repaired: {line}")
    args = TrainingArguments(output_dir=str(out), base_model=base, epochs=epochs, max_length=max_length,
                             batch_size=batch_size, learning_rate=lr, dtype=dtype, seed=seed, progress=not quiet)
    console.print(f"fine-tuning a token tagger on {len(train):,} sentences ({train.n_words:,} words, "
                  f"tags {', '.join(train.tag_names)})")
    res = train_token_teacher(train, args, eval_corpus=ev, resume=resume)
    for row in res.history:
        console.print("  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
    console.print(f"token teacher saved to {out} (best epoch {res.best_epoch}, {res.seconds / 60:.1f} min)")
