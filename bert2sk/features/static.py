"""Static token features: the teacher's encoder distilled once into one vector per vocabulary token.

A text's features are the mean of its tokens' vectors (L2-normalised by
default), so featurising costs a tokenizer call and a sparse product, and
the decision of a linear head on them splits exactly into one contribution
per token. The table is distilled with model2vec (each token through the
encoder, PCA, Zipf/SIF weighting) and travels inside the fitted transformer
as float16 with the tokenizer's JSON: a saved student never needs the
teacher, torch or model2vec to score a text, only ``tokenizers``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._io import atomic_write_bytes
from .._validation import check_same_length, check_texts
from ..errors import InputError

__all__ = ["StaticFeatures", "INSTALL_HINT"]

logger = logging.getLogger(__name__)

INSTALL_HINT = "static features need model2vec and skeletoken: pip install 'bert2sk[static]'"

_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
# files whose bytes decide the distilled table (weights, config, vocabulary)
_MODEL_FILES = ("config.json", "model.safetensors", "pytorch_model.bin", "tokenizer.json", "vocab.txt")


def _blank_breaks(text: str) -> str:
    # HTML line breaks become spaces of the same length, so token offsets still point into the original text
    return _BR.sub(lambda m: " " * len(m.group()), text)


class StaticFeatures(TransformerMixin, BaseEstimator):
    """Mean of static token vectors distilled from a transformer encoder (the teacher's own, by default).

    ``fit`` runs every vocabulary token through the encoder once (model2vec's
    distillation: PCA to ``pca_dims``, Zipf/SIF down-weighting of frequent
    tokens) and keeps the table as float16; ``transform`` needs only the
    table and the tokenizer. With ``tune_epochs > 0`` the table is then
    fine-tuned on the teacher's logits (``fit(X, teacher_logits=...)``):
    a mean-of-vectors model with a linear head, trained by squared error on
    the centred logits, of which only the table is kept.

    Parameters
    ----------
    model : str or None, default=None
        A local model directory (a fine-tuned teacher) or a hub id when
        online; ``None`` is the packaged all-MiniLM-L6-v2 encoder. Read by
        ``fit`` only, so a fitted copy (saved or pickled) keeps only the
        folder name here and no ``cache_dir``: refitting that copy needs the
        model's path again.
    pca_dims : int or None, default=256
        Width of the table (at most the encoder's hidden size); ``None``
        keeps the encoder's width without PCA.
    sif_coefficient : float or None, default=1e-4
        Strength of the Zipf/SIF weighting; ``None`` weighs tokens equally.
    normalize : bool, default=True
        L2-normalise each text's mean vector. The per-token split of a
        linear decision stays exact: the text's norm is one number.
    tune_epochs : int, default=0
        Epochs of fine-tuning the table on the teacher's logits (0: none).
    tune_learning_rate : float, default=1e-2
        Adam's step relative to the table's RMS (2-3 epochs at 1e-2 were best on CLINC150 validation).
    tune_batch_size : int, default=64
    cache_dir : str or None, default=None
        Keep distilled tables here, keyed by the model's files and the
        settings, so a second ``fit`` on the same model is instant.
    random_state : int, default=0
        Seeds the fine-tuning.
    progress : bool, default=False

    Attributes
    ----------
    vectors_ : ndarray of shape (n_tokens, n_features_out_), float16
        One vector per token id of the tokenizer.
    tokenizer_json_ : str
        The tokenizer, as ``tokenizers.Tokenizer.to_str()``.
    unk_id_ : int
        Id of the unknown token (dropped from texts, as model2vec does), -1 if none.
    n_features_out_ : int
    source_ : str
        The model's folder name (never a path).
    tuned_ : bool
        Whether the table was fine-tuned on teacher logits.

    Examples
    --------
    >>> feats = StaticFeatures(pca_dims=64).fit(["a first text"])  # doctest: +SKIP
    >>> feats.transform(["a good film", "a bad film"]).shape  # doctest: +SKIP
    (2, 64)
    >>> round(feats.table_megabytes, 1)  # doctest: +SKIP
    3.8
    """

    def __init__(self, model: str | None = None, *, pca_dims: int | None = 256, sif_coefficient: float | None = 1e-4,
                 normalize: bool = True, tune_epochs: int = 0, tune_learning_rate: float = 1e-2,
                 tune_batch_size: int = 64, cache_dir: str | None = None, random_state: int = 0,
                 progress: bool = False) -> None:
        self.model = model
        self.pca_dims = pca_dims
        self.sif_coefficient = sif_coefficient
        self.normalize = normalize
        self.tune_epochs = tune_epochs
        self.tune_learning_rate = tune_learning_rate
        self.tune_batch_size = tune_batch_size
        self.cache_dir = cache_dir
        self.random_state = random_state
        self.progress = progress

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, X: Sequence[str], y: Any = None, teacher_logits: np.ndarray | None = None,
            task: str | None = None) -> StaticFeatures:
        """Distil the token table from ``model`` (and fine-tune it on ``teacher_logits`` when asked).

        ``X`` is only read by the fine-tuning; the plain table depends on the model alone. ``task``
        ``"multilabel"`` tunes on the logits as they are; otherwise each row is centred first (a
        softmax ignores a shift).
        """
        texts = check_texts(X, allow_empty_strings=True)
        if self.tune_epochs and teacher_logits is None:
            raise InputError("tune_epochs > 0 fine-tunes the table on the teacher's logits: pass "
                             "fit(texts, teacher_logits=...) or set tune_epochs=0")
        vectors, tokenizer_json, source = _table_for(self)
        self._set_table(vectors, tokenizer_json)
        self.source_ = source
        self.tuned_ = False
        if self.tune_epochs:
            z = np.asarray(teacher_logits, dtype=np.float64)
            check_same_length(len(texts), z, "teacher_logits")
            from .static_tuning import tune_table

            tuned = tune_table(self.vectors_.astype(np.float32), self.token_weights(texts), z,
                               normalize=self.normalize, centre=task != "multilabel", epochs=int(self.tune_epochs),
                               learning_rate=float(self.tune_learning_rate), batch_size=int(self.tune_batch_size),
                               seed=int(self.random_state), progress=self.progress)
            self._set_table(tuned.astype(np.float16), tokenizer_json)
            self.tuned_ = True
        return self

    def _set_table(self, vectors: np.ndarray, tokenizer_json: str) -> None:
        self.vectors_ = np.ascontiguousarray(vectors, dtype=np.float16)
        self.tokenizer_json_ = tokenizer_json
        self.n_features_out_ = int(self.vectors_.shape[1])
        self.unk_id_ = _unk_id(self._tokenizer())
        self.__dict__.pop("_table64", None)

    # -- what a fitted table offers ------------------------------------------------------------
    def _check_fitted(self) -> None:
        # check_is_fitted's answer without its tag lookup, which costs ~100 µs: as much as featurising a query
        if "vectors_" not in self.__dict__:
            check_is_fitted(self, "vectors_")

    def _tokenizer(self):
        cached = self.__dict__.get("_tok")
        if cached is not None and cached[0] is self.tokenizer_json_:
            return cached[1]
        from tokenizers import Tokenizer

        tok = Tokenizer.from_str(self.tokenizer_json_)
        tok.no_truncation()  # a static student reads the whole text: its cost grows by a gather per token
        tok.no_padding()
        self._tok = (self.tokenizer_json_, tok)
        return tok

    def table(self) -> np.ndarray:
        """The token table as float64 ``(n_tokens, n_features_out_)`` (exact from the stored float16)."""
        self._check_fitted()
        return self._table()

    def _table(self) -> np.ndarray:
        cached = self.__dict__.get("_table64")
        if cached is None or cached.shape != self.vectors_.shape:
            cached = self.vectors_.astype(np.float64)
            self._table64 = cached
        return cached

    def token_names(self) -> list[str]:
        """The token of each table row (row ``i`` is token id ``i``)."""
        check_is_fitted(self, "vectors_")
        tok = self._tokenizer()
        return [tok.id_to_token(i) or "" for i in range(self.vectors_.shape[0])]

    @property
    def table_megabytes(self) -> float:
        """Size of the stored table (float16) in MB."""
        check_is_fitted(self, "vectors_")
        return self.vectors_.nbytes / 1e6

    def token_ids(self, X: Sequence[str]) -> list[list[int]]:
        """Token ids of each text (the unknown token dropped), as the features see them."""
        self._check_fitted()
        return self._ids(X)

    def _ids(self, X: Sequence[str]) -> list[list[int]]:
        texts = check_texts(X, allow_empty_strings=True)
        encodings = self._tokenizer().encode_batch_fast([_blank_breaks(t) for t in texts], add_special_tokens=False)
        return [[i for i in e.ids if i != self.unk_id_] for e in encodings]

    def tokenize(self, text: str) -> tuple[list[str], list[int], list[tuple[int, int]]]:
        """Tokens of one text, their ids and their ``(start, end)`` character spans in ``text``.

        The unknown token is dropped, as in :meth:`transform`.
        """
        check_is_fitted(self, "vectors_")
        if not isinstance(text, str):
            raise InputError(f"tokenize takes one text as a str, got {type(text).__name__}")
        enc = self._tokenizer().encode(_blank_breaks(text), add_special_tokens=False)
        keep = [k for k, i in enumerate(enc.ids) if i != self.unk_id_]
        return [enc.tokens[k] for k in keep], [enc.ids[k] for k in keep], [tuple(enc.offsets[k]) for k in keep]

    def token_weights(self, X: Sequence[str]) -> sp.csr_matrix:
        """``(n_texts, n_tokens)`` weights of each token row in each text's mean (``1/length`` per occurrence).

        ``token_weights(X) @ table()`` is the features before normalisation.
        """
        ids = self.token_ids(X)
        lengths = np.array([len(r) for r in ids], dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        indices = np.fromiter((i for r in ids for i in r), dtype=np.int64, count=int(indptr[-1]))
        data = np.repeat(1.0 / np.maximum(lengths, 1), lengths)
        out = sp.csr_matrix((data, indices, indptr), shape=(len(ids), self.vectors_.shape[0]))
        out.sum_duplicates()
        return out

    # -- transforming ----------------------------------------------------------------------
    def transform(self, X: Sequence[str]) -> np.ndarray:
        """Features ``(n, n_features_out_)`` as float64 (an empty text gives zeros).

        Float64 keeps a linear head's per-token split exact to about 1e-12.
        """
        self._check_fitted()
        table = self._table()
        ids = self._ids(X)
        out = np.zeros((len(ids), self.n_features_out_))
        # one gather per text: for a single short text this is ~5x cheaper than building a sparse matrix,
        # and memory stays one text's vectors however long the batch
        for i, row in enumerate(ids):
            if row:
                out[i] = table[row].mean(axis=0)
        if self.normalize:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "vectors_")
        return np.array([f"static{i}" for i in range(self.n_features_out_)], dtype=object)

    def __getstate__(self) -> dict:
        # the live tokenizer and the float64 table are rebuilt from the stored JSON and float16 table
        state = self.__dict__.copy()
        state.pop("_tok", None)
        state.pop("_table64", None)
        if "vectors_" in state:
            # A fitted table needs neither the model nor the table cache, and a saved student is read on other
            # machines: name the model by its folder (as source_ does), never by this machine's path. Only a
            # refit of the copy reads them again, and then needs the model's path passed anew.
            state["model"] = _portable_name(state.get("model"))
            state["cache_dir"] = None
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.requires_fit = True
        return tags


def _portable_name(model: str | None) -> str | None:
    """A local model path as its folder name; a hub id (or ``None``) as it is.

    Examples
    --------
    >>> _portable_name("/data/teachers/imdb-teacher-10000-256/"), _portable_name("org/model-id")
    ('imdb-teacher-10000-256', 'org/model-id')
    >>> _portable_name("C:\\\\teachers\\\\imdb")
    'imdb'
    """
    if model is None:
        return None
    text = str(model)
    local = Path(text).expanduser()
    if local.is_absolute() or local.exists() or text.startswith((".", "~")) or "\\" in text or text[1:2] == ":":
        return text.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return text


def _unk_id(tokenizer: Any) -> int:
    token = getattr(tokenizer.model, "unk_token", None)
    found = tokenizer.token_to_id(token) if token else None
    return -1 if found is None else int(found)


# --------------------------------------------------------------------------- the table: distilled or cached


def _table_for(est: StaticFeatures) -> tuple[np.ndarray, str, str]:
    """``(vectors, tokenizer_json, source name)``, from the cache when the same model was distilled before."""
    from ..teacher.model import packaged_encoder_path

    src = str(est.model) if est.model is not None else packaged_encoder_path()
    name = Path(src).name if est.model is not None else "all-MiniLM-L6-v2 (packaged)"
    key = _cache_key(src, est.pca_dims, est.sif_coefficient)
    path = Path(est.cache_dir).expanduser() / f"static-{key}.npz" if est.cache_dir and key else None
    if path is not None and path.exists():
        logger.info("static table from the cache (%s)", path.name)
        vectors, tok = _read_table(path)
        return vectors, tok, name
    vectors, tok = distil_table(src, est.pca_dims, est.sif_coefficient, est.progress)
    if path is not None:
        _write_table(path, vectors, tok)
    return vectors, tok, name


def _cache_key(src: str, pca_dims: int | None, sif: float | None) -> str | None:
    """Hash of the model's own files and the settings; ``None`` for a hub id (nothing local to hash)."""
    folder = Path(src).expanduser()
    if not folder.is_dir():
        return None
    import model2vec

    h = hashlib.sha256(f"{pca_dims}|{sif}|model2vec {model2vec.__version__}".encode())
    for name in _MODEL_FILES:
        f = folder / name
        if f.is_file():
            h.update(name.encode())
            with f.open("rb") as fh:
                for block in iter(lambda fh=fh: fh.read(1 << 22), b""):
                    h.update(block)
    return h.hexdigest()[:24]


def _read_table(path: Path) -> tuple[np.ndarray, str]:
    with np.load(path, allow_pickle=False) as data:
        return data["vectors"], bytes(data["tokenizer"]).decode("utf-8")


def _write_table(path: Path, vectors: np.ndarray, tokenizer_json: str) -> None:
    buf = io.BytesIO()
    np.savez(buf, vectors=vectors, tokenizer=np.frombuffer(tokenizer_json.encode("utf-8"), dtype=np.uint8))
    atomic_write_bytes(path, buf.getvalue())


def distil_table(model: str, pca_dims: int | None = 256, sif_coefficient: float | None = 1e-4,
                 progress: bool = False) -> tuple[np.ndarray, str]:
    """Distil a static table from a local model folder (or hub id): ``(float16 vectors, tokenizer JSON)``.

    Runs model2vec's ``distill_from_model`` on the model's encoder (a
    sequence-classification head is left aside); the model is not changed.
    """
    try:
        from model2vec.distill import distill_from_model
    except ImportError as exc:
        raise InputError(f"{INSTALL_HINT} ({exc})") from None
    from transformers import AutoModel

    from ..teacher.model import load_tokenizer_and_model

    tokenizer, encoder = load_tokenizer_and_model(model, model_cls=AutoModel)
    hidden = int(encoder.config.hidden_size)
    dims = None if pca_dims is None else min(int(pca_dims), hidden)
    with _progress_as_ours(progress):
        static = distill_from_model(encoder, tokenizer, pca_dims=dims, sif_coefficient=sif_coefficient,
                                    quantize_to="float16")
    vectors = np.asarray(static.embedding, dtype=np.float16)
    logger.info("static table: %d tokens x %d dims, %.1f MB (float16)", *vectors.shape, vectors.nbytes / 1e6)
    return vectors, static.tokenizer.to_str()


@contextlib.contextmanager
def _progress_as_ours(enabled: bool) -> Iterator[None]:
    """model2vec draws its own tqdm bar with no switch: swap in ours (a flag, rare redraws into log files)."""
    from model2vec.distill import inference

    from ..teacher.model import progress_bar

    def bar(*args: Any, total: int | None = None, **kwargs: Any):
        return progress_bar(total, "static table", enabled, leave=False, unit="token")

    original = inference.tqdm
    inference.tqdm = bar
    try:
        yield
    finally:
        inference.tqdm = original
