"""Corpora: the stdlib default is deterministic and capped; user paths fail clearly."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from circuitlab.data import STDLIB, cache_dir, load_corpus, stdlib_files
from circuitlab.data.corpora import stdlib_root
from circuitlab.errors import DataError


def write(folder: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def test_stdlib_files_are_sorted_python_sources_without_tests_or_site_packages() -> None:
    files = stdlib_files()
    assert len(files) > 100
    rel = [f.relative_to(stdlib_root()).as_posix() for f in files]
    assert rel == sorted(rel)
    assert all(f.suffix == ".py" for f in files)
    for bad in ("/test/", "/tests/", "/site-packages/", "/idle_test/"):
        assert not any(bad in f.as_posix() for f in files), bad


def test_stdlib_corpus_is_deterministic_and_respects_the_byte_cap() -> None:
    a = load_corpus(STDLIB, max_bytes=50_000)
    b = load_corpus(STDLIB, max_bytes=50_000)
    assert a.hash == b.hash and len(a.documents) >= 2
    size = sum(len(d.text.encode("utf-8")) for d in a.documents)
    assert 25_000 < size <= 50_000
    names = [d.name for d in a.documents]
    assert names == sorted(names)


def test_folder_corpus_reads_utf8_files_in_sorted_order_and_counts_skipped(tmp_path, caplog) -> None:
    write(
        tmp_path,
        {
            "b.txt": "héllo\n".encode(),
            "a/x.py": b"print(1)\n",
            "c.bin": b"\xff\xfe\x00\x01",
            "d.txt": b"caf\xe9 latin-1\n",
            ".hidden/z.txt": b"secret",
        },
    )
    with caplog.at_level(logging.WARNING, logger="circuitlab.data.corpora"):
        corpus = load_corpus(tmp_path)
    assert [d.name for d in corpus.documents] == ["a/x.py", "b.txt"]
    assert corpus.documents[1].text == "héllo\n"
    assert corpus.skipped == 2
    assert "skipped 2 file(s)" in caplog.text


def test_glob_and_single_file_corpora(tmp_path) -> None:
    write(tmp_path, {"one.txt": b"one\n", "two.txt": b"two\n", "three.md": b"three\n"})
    assert [d.text for d in load_corpus(str(tmp_path / "*.txt")).documents] == ["one\n", "two\n"]
    assert [d.text for d in load_corpus(tmp_path / "three.md").documents] == ["three\n"]


def test_corpus_hash_changes_with_content(tmp_path) -> None:
    write(tmp_path, {"a.txt": b"abc\n"})
    before = load_corpus(tmp_path).hash
    write(tmp_path, {"a.txt": b"abd\n"})
    assert load_corpus(tmp_path).hash != before


@pytest.mark.parametrize(
    ("files", "spec", "message"),
    [
        ({}, "missing/folder", "does not exist"),
        ({}, "*.nothing", "matches no files"),
        ({"empty.txt": b""}, ".", "holds no text"),
        ({"a.bin": b"\x00\x01\x02", "b.bin": b"\x89PNG\r\n\x1a\n\x00"}, ".", "binary or not UTF-8"),
        ({"l1.txt": b"\xe9t\xe9\n"}, ".", "binary or not UTF-8"),
    ],
    ids=["nonexistent-path", "glob-matches-nothing", "empty-corpus", "binary-only", "not-utf8"],
)
def test_unusable_corpus_raises_data_error_naming_the_path(tmp_path, files, spec, message) -> None:
    write(tmp_path, files)
    target = str(tmp_path / spec)
    with pytest.raises(DataError, match=message) as err:
        load_corpus(target)
    assert str(tmp_path) in str(err.value) or spec in str(err.value)


def test_nonpositive_byte_cap_is_refused() -> None:
    with pytest.raises(DataError, match="max_bytes"):
        load_corpus(STDLIB, max_bytes=0)


def test_cache_dir_prefers_argument_then_env_var_then_home(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CIRCUITLAB_CACHE", str(tmp_path / "env"))
    assert cache_dir(tmp_path / "arg") == tmp_path / "arg"
    assert cache_dir() == tmp_path / "env"
    monkeypatch.delenv("CIRCUITLAB_CACHE")
    assert cache_dir() == Path.home() / ".cache" / "circuitlab"
