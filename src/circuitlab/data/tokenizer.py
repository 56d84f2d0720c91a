"""Tokenizers: byte-level BPE (Hugging Face ``tokenizers``) and character level.

Both follow the small ``Tokenizer`` protocol: ``encode(str) -> list[int]``,
``decode(list[int]) -> str``, ``vocab_size``, ``save(path)``, ``load(path)``. A tokenizer file is
JSON and its schema is checked before use: a wrong or corrupt file is a DataError naming it.
``train_tokenizer`` caches trained tokenizers by corpus hash (see ``corpora.cache_dir``).
"""

from __future__ import annotations

import hashlib
import json
import string
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import tokenizers
from tokenizers import decoders, models, pre_tokenizers, trainers

from circuitlab.data.corpora import Corpus, cache_dir
from circuitlab.errors import DataError
from circuitlab.files import atomic_write

EOT = "<|endoftext|>"
UNK = "<unk>"
MAX_TOKENIZER_BYTES = 64 * 2**20


@runtime_checkable
class Tokenizer(Protocol):
    kind: str

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...

    def to_str(self) -> str: ...

    def save(self, path: str | Path) -> None: ...


def tokenizer_hash(tok: Tokenizer) -> str:
    """sha256 of the tokenizer's JSON: part of every tokenized-corpus cache key."""
    return hashlib.sha256(tok.to_str().encode("utf-8")).hexdigest()


class CharTokenizer:
    """One id per character seen in training; id 0 is ``<unk>`` for characters never seen."""

    kind = "char"

    def __init__(self, chars: list[str]) -> None:
        if len(set(chars)) != len(chars) or any(len(c) != 1 for c in chars):
            raise DataError("CharTokenizer: chars must be distinct single characters")
        self.chars = list(chars)
        self._ids = {c: i + 1 for i, c in enumerate(self.chars)}

    @classmethod
    def train(cls, corpus: Corpus) -> CharTokenizer:
        return cls(sorted(set(corpus.text)))

    @classmethod
    def printable(cls) -> CharTokenizer:
        """The 97 characters of ``string.printable`` less ``\\r``, ``\\x0b``, ``\\x0c`` (98 ids with
        ``<unk>``): the same vocabulary for every corpus, so any text trains the same model shape."""
        return cls([c for c in string.printable if c not in "\r\x0b\x0c"])

    @property
    def vocab_size(self) -> int:
        return len(self.chars) + 1

    eot_id = None

    def encode(self, text: str) -> list[int]:
        return [self._ids.get(c, 0) for c in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i - 1] if 0 < i <= len(self.chars) else UNK for i in ids)

    def to_str(self) -> str:
        return json.dumps({"circuitlab_tokenizer": "char", "version": 1, "chars": self.chars})

    def save(self, path: str | Path) -> None:
        atomic_write(Path(path), self.to_str().encode("utf-8"))

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str) -> CharTokenizer:
        chars = data.get("chars")
        if (
            data.get("version") != 1
            or not isinstance(chars, list)
            or not all(isinstance(c, str) and len(c) == 1 for c in chars)
        ):
            raise DataError(f"{where}: not a version-1 character tokenizer (needs a 'chars' list)")
        return cls(chars)

    @classmethod
    def load(cls, path: str | Path) -> CharTokenizer:
        tok = load_tokenizer(path)
        if not isinstance(tok, cls):
            raise DataError(f"{path}: holds a {tok.kind} tokenizer, not a character tokenizer")
        return tok


class BPETokenizer:
    """Byte-level BPE: every string encodes (no unknown tokens) and decodes back exactly."""

    kind = "bpe"

    def __init__(self, tok: tokenizers.Tokenizer) -> None:
        self.tok = tok

    @classmethod
    def train(cls, corpus: Corpus, vocab_size: int = 4096) -> BPETokenizer:
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or not 258 <= vocab_size < 2**32:
            raise DataError(f"BPE vocab_size={vocab_size!r}: must be an integer >= 258 (256 bytes + 2)")
        tok = tokenizers.Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=[EOT],
            show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        )
        tok.train_from_iterator((d.text for d in corpus.documents), trainer=trainer)
        return cls(tok)

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size()

    @property
    def eot_id(self) -> int | None:
        """Id of ``<|endoftext|>``, placed between documents of a tokenized corpus."""
        return self.tok.token_to_id(EOT)

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text).ids

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(list(ids), skip_special_tokens=False)

    def to_str(self) -> str:
        return self.tok.to_str()

    def save(self, path: str | Path) -> None:
        atomic_write(Path(path), self.to_str().encode("utf-8"))

    @classmethod
    def from_json(cls, data: dict[str, Any], text: str, where: str) -> BPETokenizer:
        model = data.get("model")
        vocab = model.get("vocab") if isinstance(model, dict) else None
        if (
            not isinstance(model, dict)
            or model.get("type") != "BPE"
            or not isinstance(vocab, dict)
            or not vocab
            or not isinstance(model.get("merges"), list)
        ):
            raise DataError(f"{where}: not a BPE tokenizer file (needs model.type 'BPE', vocab, merges)")
        ids = sorted(vocab.values())
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids) or ids != list(
            range(len(ids))
        ):
            raise DataError(f"{where}: BPE vocab ids must be the integers 0..{len(vocab) - 1}, each once")
        try:
            return cls(tokenizers.Tokenizer.from_str(text))
        except Exception as err:  # the library's own parse errors, reworded with the file name
            raise DataError(f"{where}: corrupt tokenizer file ({str(err).splitlines()[0]})") from None

    @classmethod
    def load(cls, path: str | Path) -> BPETokenizer:
        tok = load_tokenizer(path)
        if not isinstance(tok, cls):
            raise DataError(f"{path}: holds a {tok.kind} tokenizer, not a BPE tokenizer")
        return tok


def tokenizer_from_str(text: str, where: str = "tokenizer") -> Tokenizer:
    """Validate a tokenizer's JSON text against the schema of its kind, then build it."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(
            f"{where}: not valid JSON ({err.msg} at line {err.lineno}); re-save the tokenizer or retrain it"
        ) from None
    if not isinstance(data, dict):
        raise DataError(f"{where}: a tokenizer file must hold a JSON object")
    if data.get("circuitlab_tokenizer") == "char":
        return CharTokenizer.from_json(data, where)
    return BPETokenizer.from_json(data, text, where)


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load a BPE or character tokenizer file, checking its schema first."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"tokenizer file {str(path)!r} does not exist; pass the tokenizer.json "
            "saved next to the checkpoint"
        )
    if path.stat().st_size > MAX_TOKENIZER_BYTES:
        raise DataError(f"{path}: {path.stat().st_size} bytes is too large for a tokenizer file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 JSON tokenizer file; re-save or retrain it") from None
    return tokenizer_from_str(text, str(path))


def train_tokenizer(
    corpus: Corpus, kind: str = "bpe", vocab_size: int = 4096, cache: str | Path | None = None
) -> Tokenizer:
    """Train a ``"bpe"`` or ``"char"`` tokenizer on ``corpus``, cached by corpus hash;
    ``"printable"`` is the fixed :meth:`CharTokenizer.printable` (nothing to train)."""
    if kind == "printable":
        return CharTokenizer.printable()
    if kind not in ("bpe", "char"):
        raise DataError(f"tokenizer kind {kind!r}: choose bpe, char or printable")
    key = hashlib.sha256(f"{corpus.hash}|{kind}|{vocab_size}|{tokenizers.__version__}".encode()).hexdigest()[
        :24
    ]
    path = cache_dir(cache) / "tokenizers" / f"{kind}-{key}.json"
    if path.is_file():
        try:
            return load_tokenizer(path)
        except DataError:
            pass  # a damaged cache entry is rebuilt below
    tok: Tokenizer = BPETokenizer.train(corpus, vocab_size) if kind == "bpe" else CharTokenizer.train(corpus)
    tok.save(path)
    return tok
