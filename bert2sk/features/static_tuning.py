"""Fine-tuning a static token table on the teacher's logits (a few lines of torch).

The model is the static student itself: each text is the (normalised)
mean of its token vectors, a linear head maps it to the teacher's centred
logits, and the squared error trains table and head together. The head
starts from the ridge solution on the untuned table, so the first steps
move the vectors towards what the teacher separates rather than towards a
random head. Only the table is kept: the students fit their own heads on it.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

__all__ = ["tune_table"]

logger = logging.getLogger(__name__)


def _ridge_head(x: np.ndarray, z: np.ndarray, alpha: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """``(W, b)`` minimising ``|x W + b - z|^2 + alpha |W|^2``."""
    mx, mz = x.mean(axis=0), z.mean(axis=0)
    xc = x - mx
    w = np.linalg.solve(xc.T @ xc + alpha * len(x) * np.eye(x.shape[1]), xc.T @ (z - mz))
    return w, mz - mx @ w


def _rms(a: np.ndarray) -> float:
    return max(float(np.sqrt(np.mean(np.square(a, dtype=np.float64)))), 1e-8)


def _bag_inputs(weights: sp.csr_matrix, rows: np.ndarray):
    """``(ids, offsets, per-token weights)`` of some texts, as ``EmbeddingBag(mode="sum")`` takes them."""
    import torch

    part = weights[rows]
    return (torch.from_numpy(part.indices.astype(np.int64)), torch.from_numpy(part.indptr[:-1].astype(np.int64)),
            torch.from_numpy(part.data.astype(np.float32)))


def tune_table(table: np.ndarray, weights: sp.csr_matrix, logits: np.ndarray, *, normalize: bool = True,
               centre: bool = True, epochs: int = 3, learning_rate: float = 1e-2, batch_size: int = 64, seed: int = 0,
               progress: bool = False) -> np.ndarray:
    """The table after ``epochs`` of fitting mean-of-vectors + linear head to the (centred) ``logits``.

    Parameters
    ----------
    table : ndarray of shape (n_tokens, d)
    weights : sparse matrix of shape (n_texts, n_tokens)
        Each text's token weights in its mean (``StaticFeatures.token_weights``).
    logits : ndarray of shape (n_texts, k)
        The teacher's logits for those texts.
    normalize : bool
        L2-normalise each mean, as the features do.
    centre : bool
        Centre each row of ``logits`` (binary and multiclass; not multilabel, whose
        per-label sigmoids see every shift).
    learning_rate : float
        Adam's step, relative to the RMS of the table (and of the head).

    Returns
    -------
    ndarray of shape (n_tokens, d), float32
    """
    import torch

    z = np.asarray(logits, dtype=np.float64)
    if centre:  # softmax ignores a shift; binary [0, m] becomes [-m/2, m/2]
        z = z - z.mean(axis=1, keepdims=True)
    bag, head, opts = _start(table, weights, z, normalize, learning_rate)
    target = torch.from_numpy(z.astype(np.float32))
    gen = torch.Generator().manual_seed(int(seed))
    # the steps are small (a batch of bags and a head): one thread is as fast alone and 10-20x faster on a
    # busy machine, where a second thread's spin-waits dominate (measured: 5 s against 95 s)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _train(bag, head, opts, weights, target, normalize, epochs, batch_size, gen, progress)
    finally:
        torch.set_num_threads(threads)
    return bag.weight.detach().numpy()


def _train(bag, head, opts, weights: sp.csr_matrix, target, normalize: bool, epochs: int, batch_size: int, gen,
           progress: bool) -> None:
    import torch

    from ..teacher.model import progress_bar

    n = weights.shape[0]
    with progress_bar(epochs * -(-n // batch_size), "tuning static table", progress, leave=False, unit="step") as bar:
        for epoch in range(epochs):
            total = 0.0
            order = torch.randperm(n, generator=gen).numpy()
            for start in range(0, n, batch_size):
                idx = order[start:start + batch_size]
                ids, offsets, per_token = _bag_inputs(weights, idx)
                x = bag(ids, offsets, per_sample_weights=per_token)
                if normalize:
                    x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
                loss = torch.nn.functional.mse_loss(head(x), target[idx])
                for opt in opts:
                    opt.zero_grad()
                loss.backward()
                for opt in opts:
                    opt.step()
                total += float(loss.detach()) * len(idx)
                bar.update(1)
            logger.info("static table tuning: epoch %d/%d, mean squared error %.4f", epoch + 1, epochs, total / n)


def _start(table: np.ndarray, weights: sp.csr_matrix, z: np.ndarray, normalize: bool, learning_rate: float):
    """The table as an embedding bag, a head at the ridge solution, and their optimisers."""
    import torch

    x0 = np.asarray(weights @ table.astype(np.float64))
    if normalize:
        x0 /= np.maximum(np.linalg.norm(x0, axis=1, keepdims=True), 1e-12)
    w0, b0 = _ridge_head(x0, z)
    bag = torch.nn.EmbeddingBag.from_pretrained(torch.from_numpy(np.array(table, dtype=np.float32)), freeze=False,
                                                mode="sum", sparse=True)
    head = torch.nn.Linear(table.shape[1], z.shape[1])
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(w0.T.astype(np.float32)))
        head.bias.copy_(torch.from_numpy(b0.astype(np.float32)))
    # Adam moves every entry by about lr per step whatever its size, and distilled tables differ in scale by
    # orders of magnitude (Zipf weights on a 100-token vocabulary: RMS 0.01; MiniLM's: 0.4): steps relative to
    # each part's RMS keep one setting sensible for both. Sparse gradients: a step touches only the batch's rows.
    opts = [torch.optim.SparseAdam(list(bag.parameters()), lr=learning_rate * _rms(table)),
            torch.optim.Adam(list(head.parameters()), lr=learning_rate * _rms(w0))]
    return bag, head, opts
