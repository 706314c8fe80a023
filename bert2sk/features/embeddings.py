"""Mean-pooled sentence embeddings from a local transformer encoder (the teacher's own, or the packaged one)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._validation import check_texts
from ..runtime import resolve_dtype

__all__ = ["SentenceEmbeddings"]


class SentenceEmbeddings(TransformerMixin, BaseEstimator):
    """Mean-pooled sentence embeddings from a local transformer encoder.

    Parameters
    ----------
    model : str or None, default=None
        A local model directory (or a hub id when online). ``None`` is the
        packaged all-MiniLM-L6-v2. A fine-tuned teacher directory works too:
        its encoder gives the same vectors as ``Teacher.predict_logits(...,
        return_embeddings=True)`` when ``normalize=False`` and the lengths match.
    max_length : int, default=256
    truncation : {"head+tail", "head", "tail"}, default="head+tail"
    batch_size : int, default=32
    normalize : bool, default=True
        L2-normalise each vector (as sentence-transformers does for MiniLM).
    dtype : {"auto", "fp32", "bf16"}, default="fp32"
    progress : bool, default=False

    Attributes
    ----------
    n_features_out_ : int
        The embedding width.

    Examples
    --------
    >>> emb = SentenceEmbeddings(max_length=32).fit(["a first text"])  # doctest: +SKIP
    >>> emb.transform(["a good film", "a bad film"]).shape  # doctest: +SKIP
    (2, 384)
    """

    def __init__(self, model: str | None = None, *, max_length: int = 256, truncation: str = "head+tail",
                 batch_size: int = 32, normalize: bool = True, dtype: str = "fp32", progress: bool = False) -> None:
        self.model = model
        self.max_length = max_length
        self.truncation = truncation
        self.batch_size = batch_size
        self.normalize = normalize
        self.dtype = dtype
        self.progress = progress

    def _load(self):
        cached = getattr(self, "_loaded", None)
        if cached is not None and cached[0] == self.model:
            return cached[1], cached[2]
        from transformers import AutoModel

        from ..teacher.model import load_tokenizer_and_model, packaged_encoder_path

        src = self.model or packaged_encoder_path()
        tokenizer, encoder = load_tokenizer_and_model(src, model_cls=AutoModel)
        encoder.eval()
        self._loaded = (self.model, tokenizer, encoder)
        return tokenizer, encoder

    def __getstate__(self) -> dict:
        # the encoder is re-loaded from `model`, never serialised with the student
        state = self.__dict__.copy()
        state.pop("_loaded", None)
        return state

    def fit(self, X: Sequence[str], y=None) -> SentenceEmbeddings:
        """Load the encoder and record the embedding width."""
        check_texts(X, allow_empty_strings=True)
        _, encoder = self._load()
        self.n_features_out_ = int(encoder.config.hidden_size)
        return self

    def transform(self, X: Sequence[str]) -> np.ndarray:
        """Embeddings ``(n, d)`` as float32."""
        check_is_fitted(self, "n_features_out_")
        import torch

        from ..runtime import progress_bar
        from ..teacher.model import encode_texts, iter_batches, mean_pool

        texts = check_texts(X, allow_empty_strings=True)
        tokenizer, encoder = self._load()
        ids = encode_texts(tokenizer, texts, self.max_length, self.truncation)
        out = np.zeros((len(texts), self.n_features_out_), dtype=np.float32)
        bf16 = resolve_dtype(self.dtype) == "bf16"
        with (torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16),
              progress_bar(len(texts), "embedding", self.progress, leave=False) as bar):
            for idx, input_ids, mask in iter_batches(ids, self.batch_size, tokenizer.pad_token_id):
                hidden = encoder(input_ids=input_ids, attention_mask=mask).last_hidden_state
                out[idx] = mean_pool(hidden, mask)
                bar.update(len(idx))
        if self.normalize:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "n_features_out_")
        return np.array([f"emb{i}" for i in range(self.n_features_out_)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.requires_fit = True
        return tags
