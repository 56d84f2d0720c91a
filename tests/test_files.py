"""``circuitlab.files.set_aside``: a folder that must not be overwritten moves to ``<folder>.previous``."""

from __future__ import annotations

from pathlib import Path

from circuitlab.files import set_aside


def test_a_folder_with_files_moves_to_previous_replacing_an_older_one(tmp_path: Path) -> None:
    folder, previous = tmp_path / "model", tmp_path / "model.previous"
    previous.mkdir()
    (previous / "old.json").write_text("older")
    folder.mkdir()
    (folder / "checkpoint.json").write_text("newer")
    set_aside(folder)
    assert not folder.exists()
    assert [p.name for p in previous.iterdir()] == ["checkpoint.json"]
    assert (previous / "checkpoint.json").read_text() == "newer"


def test_an_empty_or_missing_folder_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    set_aside(tmp_path / "empty")
    set_aside(tmp_path / "missing")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]
