"""Scoring during and after training: logits in input order, the held-out loss and scores."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..runtime import resolve_dtype
from .arguments import TrainingArguments
from .examples import collate, pad_token_id, token_ids
from .losses import classification_loss

__all__ = ["eval_scores", "evaluate", "predict_logits"]


def evaluate(model, ids, labels, batch_size: int, pad_id: int, bf16: bool, task: str):
    """Logits of every text (in input order) and, given labels, the mean hard-label loss."""
    import torch

    model.eval()
    out = np.zeros((len(ids), model.config.num_labels), dtype=np.float32)
    total, n = 0.0, 0
    order = np.argsort([len(x) for x in ids], kind="stable")
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for start in range(0, len(order), batch_size * 2):
            idx = order[start:start + batch_size * 2]
            input_ids, mask = collate(ids, idx, pad_id)
            z = model(input_ids=input_ids, attention_mask=mask).logits.float()
            if labels is not None:
                total += float(classification_loss(z, None, torch.as_tensor(labels[idx]), task)) * len(idx)
                n += len(idx)
            out[idx] = z.numpy()
    return out, (total / max(n, 1) if labels is not None else None)


def predict_logits(model, tokenizer, texts: Sequence, args: TrainingArguments) -> np.ndarray:
    """Logits of ``texts`` (strings or token ids) under the loop's tokenisation, batching and precision.

    Parameters
    ----------
    model : transformers sequence-classification model
    tokenizer : its tokenizer
    texts : sequence of str, or of lists of token ids
    args : TrainingArguments
        ``max_length``, ``truncation``, ``batch_size`` and ``dtype`` are used.

    Returns
    -------
    ndarray of shape (n_texts, num_labels), float32
    """
    ids = token_ids(tokenizer, texts, args, "texts")
    bf16 = resolve_dtype(args.dtype) == "bf16"
    return evaluate(model, ids, None, args.batch_size, pad_token_id(tokenizer), bf16, "binary")[0]


def eval_scores(logits: np.ndarray, labels: np.ndarray, task: str, thresholds=None) -> dict:
    """``eval_accuracy`` and ``eval_f1`` (binary: positive class; multiclass: macro; multilabel: micro).

    Multilabel decisions are ``sigmoid(logit) >= threshold`` (0.5 unless ``thresholds`` is given)
    and accuracy is exact-set accuracy.
    """
    from sklearn.metrics import accuracy_score, f1_score

    if task == "multilabel":
        th = np.asarray(thresholds if thresholds is not None else [0.5] * labels.shape[1])
        pred = (1 / (1 + np.exp(-logits)) >= th).astype(int)
        return {"eval_accuracy": float(accuracy_score(labels, pred)),
                "eval_f1": float(f1_score(labels, pred, average="micro", zero_division=0))}
    pred = logits.argmax(1)
    avg = "binary" if task == "binary" else "macro"
    return {"eval_accuracy": float(accuracy_score(labels, pred)),
            "eval_f1": float(f1_score(labels, pred, average=avg, zero_division=0))}
