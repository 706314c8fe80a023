"""Token-tagged corpora (named entities): CoNLL-style files and jsonl, read with clear errors.

A token task is a list of sentences (tweets), each a list of words with one
IOB2 tag per word (``O``, ``B-PER``, ``I-PER``...). Files come in three shapes:

- two columns, ``TOKEN<TAB>TAG`` (the Broad Twitter Corpus);
- four columns, ``TOKEN POS CHUNK TAG`` (CoNLL-2003; ``-DOCSTART-`` lines are skipped);
- jsonl, one sentence per line: ``{"tokens": [...], "tags": [...]}``.

A line holding a TAB is split on the TAB only (BTC has tokens with an inner
space, and empty tokens written ``"\\tO"``); other lines split on whitespace.
The token is the first column, the tag the last. A blank line ends a sentence.

Bad input is a one-line :class:`~bert2sk.errors.InputError` naming the file
and line: a token without a tag (or tags and tokens of different lengths in
jsonl), a tag that is not IOB2, a tag outside ``tag_names`` (e.g. in test
data, a type the training data never had), a file that is not UTF-8. Two
things are *repaired* unless ``strict=True``, and every repair is recorded in
:attr:`TokenCorpus.repairs` (``file:line: what``):

- an ``I-X`` tag that does not continue an entity of type ``X`` is read as
  ``B-X`` (the usual lenient reading of IOB2, which seqeval also applies);
- a line of only spaces or tabs inside a sentence (no token, no tag) is
  skipped (``btc.test`` has one, left by a token that held a line break).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["TokenCorpus", "load_conll", "load_token_jsonl", "load_tokens", "load_btc", "repair_iob2",
           "tag_names_for", "BTC_SPLITS"]

BTC_SPLITS = ("train", "dev", "test")
_TAG = re.compile(r"^(O|[BI]-[^\s]+)$")


def tag_names_for(types: Sequence[str]) -> tuple[str, ...]:
    """The tag set of some entity types: ``O`` then ``B-``/``I-`` per type, types sorted.

    Examples
    --------
    >>> tag_names_for(["PER", "LOC"])
    ('O', 'B-LOC', 'I-LOC', 'B-PER', 'I-PER')
    """
    out = ["O"]
    for t in sorted(set(types)):
        out += [f"B-{t}", f"I-{t}"]
    return tuple(out)


def repair_iob2(tags: Sequence[str]) -> tuple[list[str], list[int]]:
    """Read an ``I-X`` that does not continue an ``X`` entity as ``B-X``; return the tags and the positions changed.

    Examples
    --------
    >>> repair_iob2(["O", "I-PER", "I-PER", "B-LOC", "I-ORG"])
    (['O', 'B-PER', 'I-PER', 'B-LOC', 'B-ORG'], [1, 4])
    """
    out, changed = list(tags), []
    prev = "O"
    for i, tag in enumerate(out):
        if tag.startswith("I-") and (prev == "O" or prev[2:] != tag[2:]):
            out[i] = "B-" + tag[2:]
            changed.append(i)
        prev = out[i]
    return out, changed


@dataclass
class TokenCorpus:
    """Sentences of words with one IOB2 tag per word.

    Parameters
    ----------
    tokens : list of list of str
    tags : list of list of str, or None
        ``None`` for unlabelled sentences.
    tag_names : tuple of str
        Every tag, ``O`` first; a tag's index is its class code.
    name : str
    repairs : list of str
        What the loader changed, one ``file:line: what`` per repair.

    Examples
    --------
    >>> c = TokenCorpus([["Leon", "lives", "in", "Sheffield"]], [["B-PER", "O", "O", "B-LOC"]])
    >>> c.tag_names, c.entity_types, c.n_words
    (('O', 'B-LOC', 'I-LOC', 'B-PER', 'I-PER'), ('LOC', 'PER'), 4)
    >>> c.tag_ids()[0].tolist()
    [3, 0, 0, 1]
    """

    tokens: list[list[str]]
    tags: list[list[str]] | None = None
    tag_names: tuple[str, ...] = ()
    name: str = "tokens"
    repairs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tokens = [list(map(str, s)) for s in self.tokens]
        if self.tags is not None:
            self.tags = [list(map(str, t)) for t in self.tags]
            if len(self.tags) != len(self.tokens):
                raise InputError(f"{self.name}: {len(self.tokens)} sentences but {len(self.tags)} tag sequences")
            for i, (w, t) in enumerate(zip(self.tokens, self.tags, strict=True)):
                if len(w) != len(t):
                    raise InputError(f"{self.name}: sentence {i} has {len(w)} tokens but {len(t)} tags; "
                                     "give one tag per token")
                bad = [x for x in t if not _TAG.match(x)]
                if bad:
                    raise InputError(f"{self.name}: sentence {i} has tag {bad[0]!r}, which is not IOB2 "
                                     "(O, B-TYPE, I-TYPE)")
        if not self.tag_names:
            seen = {t[2:] for s in (self.tags or []) for t in s if t != "O"}
            self.tag_names = tag_names_for(seen)
        self.tag_names = tuple(self.tag_names)
        if not self.tag_names or self.tag_names[0] != "O":
            raise InputError(f"tag_names must start with 'O', got {self.tag_names[:3]}")
        if self.tags is not None:
            known = set(self.tag_names)
            for i, t in enumerate(self.tags):
                unknown = [x for x in t if x not in known]
                if unknown:
                    raise InputError(f"{self.name}: sentence {i} has tag {unknown[0]!r}, not one of "
                                     f"{list(self.tag_names)}; relabel it or add it to tag_names")

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def entity_types(self) -> tuple[str, ...]:
        """Entity types, sorted (``PER``, ``LOC``...)."""
        return tuple(sorted({t[2:] for t in self.tag_names if t != "O"}))

    @property
    def n_words(self) -> int:
        return int(sum(len(s) for s in self.tokens))

    def tag_ids(self) -> list[np.ndarray]:
        """Class codes per sentence (indices into :attr:`tag_names`)."""
        if self.tags is None:
            raise InputError(f"{self.name} has no tags; it is an unlabelled corpus")
        index = {t: i for i, t in enumerate(self.tag_names)}
        return [np.array([index[t] for t in s], dtype=np.int64) for s in self.tags]

    def subset(self, index: Sequence[int] | np.ndarray, name: str | None = None) -> TokenCorpus:
        """The sentences at ``index`` (same tag set)."""
        idx = [int(i) for i in index]
        tags = None if self.tags is None else [self.tags[i] for i in idx]
        return TokenCorpus([self.tokens[i] for i in idx], tags, self.tag_names, name or self.name)

    def texts(self) -> list[str]:
        """Each sentence's words joined by spaces (for display and for whole-text tools)."""
        return [" ".join(s) for s in self.tokens]


def _read_utf8_lines(path: Path) -> list[str]:
    """The file's lines, or a one-line error naming the first line that is not UTF-8."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file; check the path") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a folder; give a CoNLL or jsonl file") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise InputError(f"{path}:{line}: not UTF-8 (byte 0x{raw[exc.start]:02x}); re-save the file as UTF-8, "
                         "e.g. iconv -f latin1 -t utf-8") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.split("\n")


def _check_tag(tag: str, where: str, known: set[str] | None) -> None:
    if not _TAG.match(tag):
        raise InputError(f"{where}: tag {tag!r} is not IOB2 (O, B-TYPE, I-TYPE); fix the tag or the columns")
    if known is not None and tag not in known:
        raise InputError(f"{where}: unknown tag {tag!r} (known: {', '.join(sorted(known))}); the training data "
                         "has no such type: relabel it or train with it")


def _finish(path: Path, tokens: list[list[str]], tags: list[list[str]], starts: list[int],
            tag_names: Sequence[str] | None, strict: bool, repairs: list[str], name: str | None,
            line_per_word: bool = True) -> TokenCorpus:
    for s, (t, start) in enumerate(zip(tags, starts, strict=True)):
        fixed, changed = repair_iob2(t)
        for i in changed:
            line = start + i if line_per_word else start
            if strict:
                raise InputError(f"{path}:{line}: tag {t[i]!r} does not continue an entity of its type "
                                 f"(I- without B-); write B-{t[i][2:]} or load with strict=False")
            repairs.append(f"{path.name}:{line}: {t[i]} without B- read as B-{t[i][2:]}")
        tags[s] = fixed
    if not tokens:
        raise InputError(f"{path}: no sentences found; expected TOKEN<TAB>TAG lines with a blank line between "
                         "sentences, or jsonl with tokens/tags")
    return TokenCorpus(tokens, tags, tuple(tag_names) if tag_names else (), name or path.stem, repairs)


def load_conll(path: str | os.PathLike, *, tag_names: Sequence[str] | None = None, strict: bool = False,
               name: str | None = None) -> TokenCorpus:
    """Read a CoNLL-style file: two columns (``TOKEN<TAB>TAG``) or four (CoNLL-2003).

    Parameters
    ----------
    path : path
    tag_names : sequence of str, optional
        The tag set a model knows (e.g. the training corpus's); a tag outside it is an error.
    strict : bool
        Refuse (rather than repair) an ``I-`` tag without ``B-`` and a whitespace-only line inside
        a sentence (see the module notes).
    name : str, optional
        The corpus name (default: the file's stem).

    Returns
    -------
    TokenCorpus

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "tiny.conll"
    >>> _ = p.write_text("Leon\\tB-PER\\nin\\tO\\nSheffield\\tI-LOC\\n\\nhi\\tO\\n", encoding="utf-8")
    >>> c = load_conll(p)
    >>> c.tags, c.repairs
    ([['B-PER', 'O', 'B-LOC'], ['O']], ['tiny.conll:3: I-LOC without B- read as B-LOC'])
    """
    path = Path(path)
    known = set(tag_names) if tag_names else None
    tokens: list[list[str]] = []
    tags: list[list[str]] = []
    starts: list[int] = []
    repairs: list[str] = []
    cur_w: list[str] = []
    cur_t: list[str] = []
    start = 0
    for lineno, line in enumerate(_read_utf8_lines(path), 1):
        line = line.rstrip("\r")
        if line == "":
            if cur_w:
                tokens.append(cur_w)
                tags.append(cur_t)
                starts.append(start)
                cur_w, cur_t = [], []
            continue
        where = f"{path}:{lineno}"
        if not line.strip():
            if strict or not cur_w:
                raise InputError(f"{where}: a line of only spaces or tabs (no token, no tag); delete it, or "
                                 "load with strict=False to skip it")
            repairs.append(f"{path.name}:{lineno}: whitespace-only line inside a sentence skipped")
            continue
        cols = line.split("\t") if "\t" in line else line.split()
        if cols[0] == "-DOCSTART-":
            continue
        if len(cols) < 2 or cols[-1].strip() == "":
            raise InputError(f"{where}: token {cols[0][:40]!r} has no tag; expected TOKEN<TAB>TAG "
                             "(or TOKEN POS CHUNK TAG) with one tag per token")
        tag = cols[-1].strip()
        _check_tag(tag, where, known)
        if not cur_w:
            start = lineno
        cur_w.append(cols[0])
        cur_t.append(tag)
    if cur_w:
        tokens.append(cur_w)
        tags.append(cur_t)
        starts.append(start)
    return _finish(path, tokens, tags, starts, tag_names, strict, repairs, name)


def load_token_jsonl(path: str | os.PathLike, *, tag_names: Sequence[str] | None = None, strict: bool = False,
                     name: str | None = None) -> TokenCorpus:
    """Read jsonl with one sentence per line: ``{"tokens": [...], "tags": [...]}``.

    Tags may be strings, or class codes when ``tag_names`` is given. Errors and repairs as in
    :func:`load_conll` (a repaired tag is reported with its sentence's line).
    """
    path = Path(path)
    known = set(tag_names) if tag_names else None
    tokens, tags, repairs, starts = [], [], [], []
    for lineno, line in enumerate(_read_utf8_lines(path), 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: not valid JSON ({exc.msg}); one object per line") from None
        if not isinstance(row, dict) or not isinstance(row.get("tokens"), list) or not isinstance(row.get("tags"),
                                                                                                   list):
            raise InputError(f"{where}: expected an object with lists 'tokens' and 'tags'")
        w, t = row["tokens"], row["tags"]
        if len(w) != len(t):
            raise InputError(f"{where}: {len(w)} tokens but {len(t)} tags; give one tag per token")
        if not w:
            continue
        if all(isinstance(x, int) for x in t):
            if not tag_names or min(t) < 0 or max(t) >= len(tag_names):
                raise InputError(f"{where}: integer tags need tag_names= covering them (got {min(t)}..{max(t)})")
            t = [tag_names[x] for x in t]
        t = [str(x) for x in t]
        for x in t:
            _check_tag(x, where, known)
        tokens.append([str(x) for x in w])
        tags.append(t)
        starts.append(lineno)
    return _finish(path, tokens, tags, starts, tag_names, strict, repairs, name, line_per_word=False)


def load_tokens(path: str | os.PathLike, **kwargs) -> TokenCorpus:
    """:func:`load_token_jsonl` for ``.jsonl``/``.json`` files, :func:`load_conll` otherwise."""
    p = Path(path)
    if p.suffix.lower() in (".jsonl", ".json"):
        return load_token_jsonl(p, **kwargs)
    return load_conll(p, **kwargs)


def load_btc(folder: str | os.PathLike, split: str = "train", **kwargs) -> TokenCorpus:
    """A split of the Broad Twitter Corpus (``btc.train``, ``btc.dev``, ``btc.test`` in ``folder``)."""
    if split not in BTC_SPLITS:
        raise InputError(f"split must be one of {BTC_SPLITS}, got {split!r}")
    return load_conll(Path(folder) / f"btc.{split}", name=f"btc.{split}", **kwargs)
