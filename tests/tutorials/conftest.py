"""Shared by the tutorial tests: where the tutorials are, the test kernel's environment, one execution
of each tutorial per test session, and a fixture that renders an executed tutorial to an HTML page.

A tutorial that two tests use is executed once per test run, whichever xdist workers run them: the
first caller executes it under a file lock (``build_once``) and saves the notebook (or its error),
later callers read it back. Those tests also carry ``@pytest.mark.xdist_group(name)`` (``--dist
loadgroup`` in pyproject.toml), which puts them on one worker where that works; pytest 9.2 with
pytest-xdist 3.8 ignores the group (pytest-dev/pytest-xdist#1386), and the lock keeps it to one run.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = ROOT / "docs" / "tutorials"
#: Seconds one notebook may run under the fast switch (kernel start included) before its test fails.
BUDGET = float(os.environ.get("CIRCUITLAB_TUTORIAL_TIMEOUT", "300"))
#: xdist group of the tests that share tutorial 06's execution (its notebook test and the viewer test).
TUTORIAL06 = "tutorial06"


def notebook_env() -> dict[str, str]:
    """The kernel's environment in the tests: fast switch on, no GUI backend, one thread."""
    from circuitlab.tutorials import kernel_env

    return kernel_env(fast=True, extra={"MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"})


@pytest.fixture(scope="session")
def executed_tutorial(build_once: Callable[[str, Callable[[Path], None]], Path]) -> Callable[[str], Any]:
    """``executed_tutorial("06_reverse_engineering.py")`` is that tutorial's notebook executed in a
    fresh kernel under :func:`notebook_env`, once per test run across xdist workers: a later call
    returns the same notebook (do not modify it), or raises the same
    :class:`~circuitlab.tutorials.TutorialError` again."""
    pytest.importorskip("nbclient")
    import nbformat

    from circuitlab.tutorials import TutorialError, execute, load

    def make(name: str) -> Callable[[Path], None]:
        def run(folder: Path) -> None:
            source = TUTORIALS / name
            try:
                nb = execute(load(source), source.parent, notebook_env(), BUDGET, name)
            except TutorialError as err:
                (folder / "error.txt").write_text(str(err), encoding="utf-8")
                return
            nbformat.write(nb, folder / "executed.ipynb")

        return run

    def executed(name: str) -> Any:
        folder = build_once(f"tutorial-{Path(name).stem}", make(name))
        if (folder / "error.txt").is_file():
            raise TutorialError((folder / "error.txt").read_text(encoding="utf-8"))
        return nbformat.read(folder / "executed.ipynb", as_version=4)

    return executed


@pytest.fixture
def render_tutorial(tmp_path: Path, executed_tutorial: Callable[[str], Any]) -> Callable[[str], Path]:
    """``render_tutorial("06_reverse_engineering.py")`` writes the page that ``make tutorials`` writes
    for that tutorial's session execution (:func:`executed_tutorial`) and returns its path. The
    execution's Agg backend leaves the figures out of the page."""
    from circuitlab.tutorials import page_info, to_html

    def rendered(name: str) -> Path:
        nb = executed_tutorial(name)
        page = page_info(nb, f"{Path(name).stem}.html")
        path = tmp_path / page.file
        path.write_text(to_html(nb, page.title), encoding="utf-8")
        return path

    return rendered
