"""Losses the training loop can minimise: hard labels (a teacher) or a teacher's logits (a student).

Each takes ``(logits, targets, labels)`` first, the shape of a loss the loop
calls (see :func:`fit_classifier`), and returns the mean over the batch's
rows as a scalar tensor. Labels use bert2sk's convention: class codes, or
0/1 rows for multilabel, with ``-1`` (a whole row of ``-1``) for an
unlabelled text.
"""

from __future__ import annotations

from ..errors import InputError

__all__ = ["TASKS", "classification_loss", "distillation_loss", "labelled_rows"]

TASKS = ("binary", "multiclass", "multilabel")


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise InputError(f"task must be one of {TASKS}, got {task!r}")


def labelled_rows(labels, task: str):
    """Boolean tensor: which rows carry a hard label (a class code >= 0, or a multilabel row without -1)."""
    if task == "multilabel":
        return (labels >= 0).all(dim=1)
    return labels >= 0


def classification_loss(logits, targets, labels, task: str):
    """Cross-entropy on hard labels (binary cross-entropy per label for multilabel), over labelled rows.

    Parameters
    ----------
    logits : torch.Tensor, shape (n, k)
    targets : ignored
        Present so the function has the shape of a loop loss.
    labels : torch.Tensor, shape (n,) or (n, k)
        Class codes, or 0/1 rows for multilabel; ``-1`` rows are left out of the mean.
    task : {"binary", "multiclass", "multilabel"}

    Returns
    -------
    torch.Tensor
        Scalar: mean over labelled rows (0, with a gradient, when no row is labelled).
    """
    from torch.nn import functional

    _check_task(task)
    z = logits.float()
    mask = labelled_rows(labels, task)
    if not bool(mask.all()):
        if not bool(mask.any()):
            return z.sum() * 0.0
        z, labels = z[mask], labels[mask]
    if task == "multilabel":
        return functional.binary_cross_entropy_with_logits(z, labels.float())
    return functional.cross_entropy(z, labels)


def distillation_loss(student_logits, teacher_logits, labels, task: str, alpha: float = 0.5,
                      temperature: float = 2.0):
    """Knowledge-distillation loss of a student against a teacher's logits and the hard labels there are.

    For binary and multiclass tasks (Hinton et al. 2015), per row ``i``::

        alpha * CE(z_s[i], y[i]) * [y[i] labelled]
        + (1 - alpha) * T**2 * KL(softmax(z_t[i] / T) || softmax(z_s[i] / T))

    and the loss is the mean over *all* rows: an unlabelled row contributes
    only its KL term, so unlabelled texts teach through the teacher alone and
    a batch's hard-label weight grows with its share of labelled rows. The
    ``T**2`` factor keeps the soft term's gradients on the scale of the hard
    term's as ``T`` changes.

    For multilabel each label is its own yes/no question, so per row::

        alpha * mean_j BCE(z_s[i, j], y[i, j]) * [y[i] labelled]
        + (1 - alpha) * mean_j BCE(sigmoid(z_s[i, j]), sigmoid(z_t[i, j]))

    again averaged over all rows. ``temperature`` is not used here: the
    teacher's sigmoid already is a soft target for each yes/no question
    (softening it further would pull every label towards 0.5, which is a
    multilabel teacher's decision point, not its ignorance). The soft BCE
    differs from a per-label KL only by the teacher's entropy, a constant,
    so its gradients are the KL's.

    Parameters
    ----------
    student_logits : torch.Tensor, shape (n, k)
    teacher_logits : torch.Tensor, shape (n, k)
        Raw teacher logits (not probabilities).
    labels : torch.Tensor of shape (n,) or (n, k), or None
        Hard labels, ``-1`` (a row of ``-1`` for multilabel) where a text has none; ``None``: all unlabelled.
    task : {"binary", "multiclass", "multilabel"}
    alpha : float
        Weight of the hard-label term, in [0, 1]; ``0`` is pure distillation.
    temperature : float
        Softmax temperature ``T`` (> 0) of the soft term (binary and multiclass only).

    Returns
    -------
    torch.Tensor
        Scalar, the mean over rows.

    Examples
    --------
    >>> import torch
    >>> z_s, z_t = torch.tensor([[0.0, 1.0]]), torch.tensor([[0.0, 1.0]])
    >>> float(distillation_loss(z_s, z_t, torch.tensor([-1]), "binary"))  # same logits, no label: KL is 0
    0.0
    """
    import torch
    from torch.nn import functional

    _check_task(task)
    if not 0 <= alpha <= 1 or not temperature > 0:
        raise InputError(f"alpha must be in [0, 1] and temperature > 0, got alpha={alpha}, temperature={temperature}")
    if teacher_logits is None or tuple(teacher_logits.shape) != tuple(student_logits.shape):
        got = None if teacher_logits is None else tuple(teacher_logits.shape)
        raise InputError(f"distillation needs teacher logits of the student's shape {tuple(student_logits.shape)}, "
                         f"got {got}; pass targets=teacher_logits to the loop")
    z_s, z_t = student_logits.float(), teacher_logits.float()
    n = z_s.shape[0]
    if labels is None:
        labels = torch.full((n, z_s.shape[1]) if task == "multilabel" else (n,), -1, dtype=torch.long)
    mask = labelled_rows(labels, task).float()
    safe = labels.clamp_min(0)
    if task == "multilabel":
        hard = functional.binary_cross_entropy_with_logits(z_s, safe.float(), reduction="none").mean(dim=1)
        soft = functional.binary_cross_entropy_with_logits(z_s, torch.sigmoid(z_t), reduction="none").mean(dim=1)
    else:
        hard = functional.cross_entropy(z_s, safe, reduction="none")
        log_p_s = functional.log_softmax(z_s / temperature, dim=1)
        log_p_t = functional.log_softmax(z_t / temperature, dim=1)
        soft = temperature ** 2 * (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim=1)
    return (alpha * hard * mask + (1 - alpha) * soft).mean()
