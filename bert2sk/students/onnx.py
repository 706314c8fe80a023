"""Transformer classifiers through ONNX Runtime: export (fp32, dynamic int8) and a text scorer.

Export uses torch's current exporter (``torch.onnx.export(..., dynamo=True)``,
which needs ``onnxscript``); int8 is ONNX Runtime's dynamic quantisation of
the exported graph (weights int8, activations quantised on the fly). That is
the maintained route for CPU int8 with torch 2.13: torch's own eager
``quantize_dynamic`` lives in the deprecated ``torch.ao.quantization``
namespace, and a quantised ONNX file runs wherever ONNX Runtime does, with
no torch at all.

A saved ONNX student is a folder: ``model.onnx``, the tokenizer's files and
``bert2sk_student.json`` (what it predicts and how it reads text).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_dir, atomic_write_bytes
from .._validation import check_texts
from ..errors import InputError, ModelFileError, require
from ..targets import decisions, logits_to_proba
from .bundle import CARD_FILE, read_card

__all__ = ["export_onnx", "OnnxStudent", "ONNX_FORMAT", "CARD_FILE"]

ONNX_FORMAT = "bert2sk-onnx-student/1"
_MODEL_FILE = "model.onnx"


@contextlib.contextmanager
def _quiet_exporters() -> Iterator[None]:
    """Keep exporter chatter (torch.onnx progress, deprecations inside torch, ORT's hints) from the user."""
    names = ("torch.onnx", "torch._dynamo", "torch.export", "torch.fx", "onnxscript", "root", "")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lv in zip(loggers, levels, strict=True):
            lg.setLevel(lv)


def _input_names(tokenizer: Any) -> list[str]:
    wanted = list(getattr(tokenizer, "model_input_names", ["input_ids", "attention_mask"]))
    return [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in wanted]


def _export_fp32(model: Any, tokenizer: Any, path: Path) -> None:
    import torch

    require("onnxscript", "onnx")
    names = _input_names(tokenizer)
    example = tokenizer(["an example text", "a second, longer example text"], padding=True, return_tensors="pt")
    kwargs = {n: example[n] for n in names}
    dims = {n: {0: torch.export.Dim("batch", min=1), 1: torch.export.Dim("sequence", min=1)} for n in names}
    was_training = model.training
    model.eval()
    try:
        with _quiet_exporters():
            program = torch.onnx.export(model, (), kwargs=kwargs, dynamo=True, input_names=names,
                                        output_names=["logits"], dynamic_shapes=dims, verbose=False)
            program.save(str(path))
    except Exception as exc:  # the exporter raises many types for graphs it cannot trace
        raise ModelFileError(f"could not export this model to ONNX ({type(exc).__name__}: {str(exc)[:200]}); "
                             "use the PyTorch student instead") from None
    finally:
        model.train(was_training)


def export_onnx(model: Any, tokenizer: Any, directory: str | os.PathLike, *, int8: bool = False,
                card: dict[str, Any] | None = None) -> Path:
    """Export a sequence-classification model to an ONNX student folder.

    Parameters
    ----------
    model : transformers.PreTrainedModel
    tokenizer : transformers tokenizer
    directory : path
        The folder to write (replaced only once the new one is whole).
    int8 : bool
        Quantise the weights to int8 with ONNX Runtime's dynamic quantisation.
    card : dict or None
        Must hold ``task`` and ``label_names``; ``max_length`` and
        ``truncation`` say how texts are read (defaults 256, head+tail).

    Returns
    -------
    Path of the folder.
    """
    card = dict(card or {})
    for key in ("task", "label_names"):
        if key not in card:
            raise InputError(f"the ONNX student's card needs {key!r}")
    require("onnxruntime", "onnx")

    def write(tmp: Path) -> None:
        fp32 = tmp / (_MODEL_FILE if not int8 else "model.fp32.onnx")
        _export_fp32(model, tokenizer, fp32)
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            with _quiet_exporters():
                quantize_dynamic(str(fp32), str(tmp / _MODEL_FILE), weight_type=QuantType.QInt8)
            fp32.unlink()
        tokenizer.save_pretrained(str(tmp))
        meta = {"format": ONNX_FORMAT, "max_length": 256, "truncation": "head+tail", **card,
                "precision": "int8 (dynamic)" if int8 else "fp32", "inputs": _input_names(tokenizer)}
        atomic_write_bytes(tmp / CARD_FILE, json.dumps(meta, indent=2).encode())

    return atomic_dir(directory, write)


class OnnxStudent:
    """A transformer classifier run by ONNX Runtime: raw texts in, probabilities out.

    Load one with :meth:`load` from a folder written by :func:`export_onnx`
    (or ``bert2sk export``). It needs ``onnxruntime`` and ``transformers``'
    tokenizer only, not torch.

    Parameters
    ----------
    session : onnxruntime.InferenceSession
    tokenizer : transformers tokenizer
    card : dict
        ``task``, ``label_names``, ``max_length``, ``truncation``, ``inputs``.
    batch_size : int
        Texts per ``run`` call, longest first.
    path : path or None
        The folder it was loaded from.
    """

    def __init__(self, session: Any, tokenizer: Any, card: dict[str, Any], batch_size: int = 32,
                 path: str | os.PathLike | None = None) -> None:
        self.path = None if path is None else Path(path)
        self.session = session
        self.tokenizer = tokenizer
        self.card = card
        self.batch_size = batch_size
        self.task = card["task"]
        self.classes_ = np.arange(len(card["label_names"]))
        self.label_names = tuple(card["label_names"])

    @classmethod
    def load(cls, directory: str | os.PathLike, threads: int | None = None, batch_size: int = 32) -> OnnxStudent:
        """Open an ONNX student folder; a missing or foreign folder is a one-line error."""
        ort = require("onnxruntime", "onnx")
        from transformers import AutoTokenizer

        root = Path(directory)
        card = read_card(root, ONNX_FORMAT)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        try:
            session = ort.InferenceSession(str(root / _MODEL_FILE), opts, providers=["CPUExecutionProvider"])
            tokenizer = AutoTokenizer.from_pretrained(str(root))
        except Exception as exc:  # ORT and tokenizers raise their own types for damaged files
            raise ModelFileError(f"{root} could not be opened ({type(exc).__name__}); export the student again") \
                from None
        return cls(session, tokenizer, card, batch_size=batch_size, path=root)

    @property
    def size_bytes_(self) -> int:
        """Bytes of the ONNX graph and weights on disk (0 when not loaded from a folder)."""
        return 0 if self.path is None else (self.path / _MODEL_FILE).stat().st_size

    def save_bundle(self, directory: str | os.PathLike, card: dict[str, Any] | None = None) -> Path:
        """Copy the ONNX student folder to ``directory``, its card updated with ``card``."""
        if self.path is None:
            raise InputError("this ONNX student was not loaded from a folder; export it with export_onnx")
        meta = {**self.card, **(card or {}), "format": ONNX_FORMAT}

        def write(tmp: Path) -> None:
            for f in self.path.iterdir():
                if f.is_file() and f.name != CARD_FILE:
                    shutil.copy2(f, tmp / f.name)
            atomic_write_bytes(tmp / CARD_FILE, json.dumps(meta, indent=2).encode())

        return atomic_dir(directory, write)

    @classmethod
    def load_bundle(cls, directory: str | os.PathLike) -> tuple[OnnxStudent, dict[str, Any]]:
        """``(student, card)`` from an ONNX student folder."""
        student = cls.load(directory)
        return student, dict(student.card)

    def predict_logits(self, texts: Sequence[str]) -> np.ndarray:
        """Logits ``(n, k)``, batched longest-first like the PyTorch teacher."""
        from ..teacher.model import encode_texts

        texts = check_texts(texts)
        ids = encode_texts(self.tokenizer, texts, int(self.card.get("max_length", 256)),
                           self.card.get("truncation", "head+tail"))
        pad = self.tokenizer.pad_token_id or 0
        out = np.zeros((len(texts), len(self.label_names)), dtype=np.float32)
        order = np.argsort([len(x) for x in ids], kind="stable")[::-1]
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            width = max(len(ids[i]) for i in idx)
            input_ids = np.full((len(idx), width), pad, dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                input_ids[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1
            feeds = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
            out[idx] = self.session.run(["logits"], {n: feeds[n] for n in self.card["inputs"]})[0]
        return out

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class (or per-label) probabilities."""
        return logits_to_proba(self.predict_logits(texts).astype(np.float64), self.task)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Class indices (binary, multiclass) or a 0/1 matrix at 0.5 (multilabel)."""
        return decisions(self.predict_proba(texts), self.task)
