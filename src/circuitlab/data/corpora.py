"""Corpora: the text a language model learns from.

The default corpus needs no download: the Python standard library source of the interpreter
that runs circuitlab (``sysconfig.get_paths()["stdlib"]``, ``*.py`` files, test folders and
site-packages left out), read in sorted path order so every machine with the same Python
sees the same text. A user can name any text file, folder or glob instead. Files that are
not valid UTF-8 (or hold NUL bytes) are skipped and counted in the log, never a crash.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from circuitlab.errors import DataError

log = logging.getLogger(__name__)

STDLIB = "stdlib"
_SKIP_DIRS = frozenset({"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"})


@dataclass(frozen=True)
class Document:
    """One file of a corpus: its name (relative to the corpus root) and its text."""

    name: str
    text: str


@dataclass(frozen=True)
class Corpus:
    """An ordered list of documents and where they came from.

    ``skipped`` counts the files left out because they were not UTF-8 text.
    """

    source: str
    documents: tuple[Document, ...]
    skipped: int = 0

    @property
    def n_chars(self) -> int:
        return sum(len(d.text) for d in self.documents)

    @property
    def text(self) -> str:
        return "".join(d.text for d in self.documents)

    @property
    def hash(self) -> str:
        """sha256 over every document's name and text: the key of every cache built from it."""
        h = hashlib.sha256()
        for doc in self.documents:
            for part in (doc.name, doc.text):
                data = part.encode("utf-8")
                h.update(len(data).to_bytes(8, "little"))
                h.update(data)
        return h.hexdigest()


def cache_dir(path: str | Path | None = None) -> Path:
    """Where tokenizers and tokenized corpora are cached: ``path``, else ``$CIRCUITLAB_CACHE``,
    else ``~/.cache/circuitlab``."""
    chosen = path or os.environ.get("CIRCUITLAB_CACHE") or Path.home() / ".cache" / "circuitlab"
    return Path(chosen).expanduser()


def stdlib_root() -> Path:
    """The folder of the running interpreter's standard library source."""
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_files(root: Path | None = None) -> list[Path]:
    """Every ``*.py`` file of the standard library, sorted, without tests and site-packages."""
    root = root or stdlib_root()
    files = [
        p
        for p in root.rglob("*.py")
        if not _SKIP_DIRS.intersection(p.relative_to(root).parts[:-1]) and p.is_file()
    ]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def _user_files(spec: str) -> tuple[Path, list[Path]]:
    """Resolve a file, folder (recursive) or glob to (root, sorted files)."""
    if any(ch in spec for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
        if not files:
            raise DataError(f"corpus glob {spec!r} matches no files; check the pattern or quote it")
        return Path(spec.split("*")[0].split("?")[0].split("[")[0] or ".").parent, files
    path = Path(spec).expanduser()
    if not path.exists():
        raise DataError(
            f"corpus path {str(path)!r} does not exist; name a text file, a folder or a glob, "
            f"or use --corpus {STDLIB}"
        )
    if path.is_file():
        return path.parent, [path]
    files = sorted(
        (
            p
            for p in path.rglob("*")
            if p.is_file() and not any(s.startswith(".") for s in p.relative_to(path).parts)
        ),
        key=lambda p: p.relative_to(path).as_posix(),
    )
    return path, files


def _decode(data: bytes) -> str | None:
    """The file's text, or None when it is not UTF-8 text (undecodable or holding NUL bytes)."""
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def load_corpus(source: str | Path = STDLIB, max_bytes: int | None = None) -> Corpus:
    """Read a corpus: ``"stdlib"`` (default) or a text file, folder or glob.

    Whole files are taken in sorted order while they fit in ``max_bytes`` (UTF-8 bytes); the
    file that would overflow the cap is cut at a line boundary to fill it, and reading stops.
    Raises DataError for a missing path, or a corpus with no UTF-8 text in it.
    """
    if max_bytes is not None and (isinstance(max_bytes, bool) or max_bytes < 1):
        raise DataError(f"corpus max_bytes={max_bytes!r}: must be a positive number of bytes or None")
    spec = str(source)
    if spec == STDLIB:
        root, files = stdlib_root(), stdlib_files()
    else:
        root, files = _user_files(spec)
    documents, skipped, budget = [], 0, max_bytes
    for path in files:
        text = _decode(path.read_bytes())
        if text is None:
            skipped += 1
            continue
        if not text:
            continue
        if budget is not None:
            size = len(text.encode("utf-8"))
            if size > budget:
                text = _cut(text, budget)
                if text:
                    documents.append(Document(_name(path, root), text))
                break
            budget -= size
        documents.append(Document(_name(path, root), text))
    if not documents:  # the error counts the skipped files: no separate warning
        why = f"all {skipped} file(s) are binary or not UTF-8" if skipped else "it holds no text"
        raise DataError(f"corpus {spec!r} is empty: {why}; name UTF-8 text files or use --corpus {STDLIB}")
    if skipped:
        log.warning("corpus %s: skipped %d file(s) that are not UTF-8 text", spec, skipped)
    return Corpus(source=spec, documents=tuple(documents), skipped=skipped)


def _name(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _cut(text: str, budget: int) -> str:
    """The longest prefix of ``text`` ending at a line break whose UTF-8 size is <= budget."""
    head = text.encode("utf-8")[:budget].decode("utf-8", errors="ignore")
    cut = head.rfind("\n")
    return head[: cut + 1] if cut >= 0 else head
