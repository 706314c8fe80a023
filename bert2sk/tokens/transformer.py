"""A transformer token student: the teacher cut to fewer layers, trained per word with the seed loss.

The student is built by :func:`bert2sk.students.transformer.cut_layers` (the
sequence student's code: kept layers copied from the teacher) and trained
through bert2sk's loop on word-tagged chunks with
``alpha * CE + (1 - alpha) * T^2 * KL`` applied to every word's first piece
(:func:`bert2sk.tokens.loop.token_distillation_loss`, which calls
:func:`bert2sk.teacher.distillation_loss`). The epoch kept is the one whose
tags agree best with the teacher's on a held-out share of the transfer set
(entity F1 against the teacher's tags).
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..errors import InputError
from .decode import decode_iob2
from .features import check_sentences

__all__ = ["TokenTransformerStudent"]


class TokenTransformerStudent(BaseEstimator):
    """A token classifier with fewer layers, distilled per word from a token teacher.

    Parameters
    ----------
    teacher : str or path
        The token teacher's folder (written by :func:`~bert2sk.tokens.teacher.train_token_teacher`).
    layers : int, sequence of int or None
        Teacher layers kept (:func:`~bert2sk.students.transformer.pick_layers`; ``None``: every other one).
    alpha, temperature : float
        The seed loss's hard-label weight and softmax temperature (seed: 0.5, 2.0).
    epochs, learning_rate, batch_size, max_length, dtype, seed, threads, progress : training settings
    eval_fraction : float
        Share of the sentences held out to pick the epoch by agreement with the teacher (0: last epoch).
    freeze_embeddings : bool
        Keep the teacher's word embeddings as they are (half of a MiniLM's weights: faster steps).

    Attributes
    ----------
    model_, tokenizer_ : the fitted student and its tokenizer
    layers_ : list of int
    tag_names_ : tuple of str
    history_ : list of dict
    size_bytes_ : int

    Notes
    -----
    ``X`` is a list of sentences (lists of words), so ``parametrize_with_checks`` does not apply;
    the tests check ``get_params``, ``clone`` and the not-fitted error by hand.

    Examples
    --------
    >>> TokenTransformerStudent(layers=3).get_params()["layers"]
    3
    """

    def __init__(self, teacher: str | os.PathLike | None = None, layers: int | Sequence[int] | None = None,
                 alpha: float = 0.5, temperature: float = 2.0, epochs: int = 2, learning_rate: float = 1e-4,
                 batch_size: int = 16, max_length: int = 64, dtype: str = "auto", eval_fraction: float = 0.1,
                 seed: int = 0, threads: int | None = None, progress: bool = False,
                 freeze_embeddings: bool = False) -> None:
        self.teacher = teacher
        self.layers = layers
        self.alpha = alpha
        self.temperature = temperature
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_length = max_length
        self.dtype = dtype
        self.eval_fraction = eval_fraction
        self.seed = seed
        self.threads = threads
        self.progress = progress
        self.freeze_embeddings = freeze_embeddings

    def fit(self, X: Sequence[Sequence[str]], y: Sequence[Sequence[str] | None] | None = None,
            teacher_logits: Sequence[np.ndarray] | None = None) -> TokenTransformerStudent:
        """Cut the student from the teacher and train it on ``X`` against the teacher's word logits.

        ``y`` (gold tags, ``None`` per sentence where unknown) weighs ``alpha`` against the teacher.
        """
        from transformers import AutoModelForTokenClassification

        from ..runtime import resolve_dtype
        from ..students.transformer import cut_layers
        from ..teacher.arguments import TrainingArguments
        from ..teacher.loop import seed_everything
        from ..teacher.model import load_tokenizer_and_model
        from .encoding import encode_words
        from .loop import fit_token_classifier, token_distillation_loss
        from .metrics import token_scores
        from .teacher import predict_chunk_logits

        sentences = check_sentences(X)
        if self.teacher is None:
            raise InputError("TokenTransformerStudent needs teacher=<the token teacher's folder> to start from")
        if teacher_logits is None or len(teacher_logits) != len(sentences):
            raise InputError("a transformer token student learns from the teacher: pass teacher_logits, one "
                             "(n_words, n_tags) array per sentence")
        seed_everything(self.seed)
        tokenizer, teacher_model = load_tokenizer_and_model(self.teacher, AutoModelForTokenClassification)
        names = tuple(str(teacher_model.config.id2label[i]) for i in range(teacher_model.config.num_labels))
        z = [np.asarray(a, dtype=np.float32) for a in teacher_logits]
        for i, (s, a) in enumerate(zip(sentences, z, strict=True)):
            if a.shape != (len(s), len(names)):
                raise InputError(f"teacher_logits[{i}] has shape {a.shape}; sentence {i} needs ({len(s)}, "
                                 f"{len(names)})")
        index = {t: i for i, t in enumerate(names)}
        gold = [np.full(len(s), -1, dtype=np.int64) if y is None or y[i] is None
                else np.array([index[t] for t in y[i]], dtype=np.int64) for i, s in enumerate(sentences)]
        model, self.layers_ = cut_layers(teacher_model, self.layers)
        del teacher_model
        n_eval = int(round(self.eval_fraction * len(sentences))) if len(sentences) >= 20 else 0
        order = np.random.default_rng(self.seed).permutation(len(sentences))
        tr, ev = np.sort(order[n_eval:]), np.sort(order[:n_eval])
        bf16 = resolve_dtype(self.dtype) == "bf16"
        score_fn = None
        if len(ev):
            ev_sents = [sentences[i] for i in ev]
            ev_ref = [decode_iob2(z[i], names) for i in ev]
            ev_chunks = encode_words(tokenizer, ev_sents, self.max_length)
            pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

            def score_fn(m) -> dict:
                zz = predict_chunk_logits(m, ev_chunks, [len(s) for s in ev_sents], pad, self.batch_size * 2, bf16)
                f1 = token_scores(ev_ref, [decode_iob2(a, names) for a in zz])["entity_f1"]
                return {"eval_entity_f1_vs_teacher": f1, "eval_score": f1}

        train_sents = [sentences[i] for i in tr]
        chunks = encode_words(tokenizer, train_sents, self.max_length)
        work = Path(tempfile.mkdtemp(prefix="bert2sk-token-student-"))
        try:
            args = TrainingArguments(output_dir=str(work), epochs=self.epochs, learning_rate=self.learning_rate,
                                     batch_size=self.batch_size, max_length=self.max_length, dtype=self.dtype,
                                     seed=self.seed, threads=self.threads, progress=self.progress,
                                     early_stopping_patience=None, save_every_steps=0,
                                     freeze_embeddings=self.freeze_embeddings)
            loss = functools.partial(token_distillation_loss, alpha=self.alpha, temperature=self.temperature)
            fit = fit_token_classifier(model, tokenizer, chunks, args, word_labels=[gold[i] for i in tr],
                                       word_logits=[z[i] for i in tr], loss=loss, score_fn=score_fn,
                                       desc="distilling token student")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        self.history_ = list(fit.history)
        self._set_fitted(model.eval(), tokenizer, names)
        return self

    def _set_fitted(self, model: Any, tokenizer: Any, names: tuple[str, ...]) -> None:
        from ..teacher.model import size_bytes
        from .teacher import TokenTeacher

        self.model_ = model
        self.tokenizer_ = tokenizer
        self.tag_names_ = names
        self.size_bytes_ = size_bytes(model)
        self.scorer_ = TokenTeacher(model, tokenizer, max_length=self.max_length, batch_size=self.batch_size * 2,
                                    dtype=self.dtype, threads=self.threads, source="token student")

    def predict_word_logits(self, X: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """``(n_words, n_tags)`` per sentence."""
        check_is_fitted(self, "model_")
        return self.scorer_.predict_word_logits(check_sentences(X))

    def predict(self, X: Sequence[Sequence[str]]) -> list[list[str]]:
        """Valid IOB2 tags per sentence."""
        return [decode_iob2(z, self.tag_names_) for z in self.predict_word_logits(X)]

    def save(self, directory: str | os.PathLike) -> Path:
        """A Hugging Face token-classification folder (safetensors) that :meth:`load` and TokenTeacher read."""
        from .._io import atomic_dir
        from ..teacher.checkpoints import save_hf

        check_is_fitted(self, "model_")
        return atomic_dir(directory, lambda tmp: save_hf(self.model_, self.tokenizer_, tmp))

    @classmethod
    def load(cls, directory: str | os.PathLike, **params) -> TokenTransformerStudent:
        """A fitted student from a folder written by :meth:`save`."""
        from transformers import AutoModelForTokenClassification

        from ..teacher.model import load_tokenizer_and_model

        tokenizer, model = load_tokenizer_and_model(directory, AutoModelForTokenClassification)
        student = cls(**params)
        student.layers_ = []
        student.history_ = []
        names = tuple(str(model.config.id2label[i]) for i in range(model.config.num_labels))
        student._set_fitted(model.eval(), tokenizer, names)
        return student
