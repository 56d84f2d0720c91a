"""Every tutorial in docs/tutorials runs top to bottom in a fresh kernel under the fast switch, and has
the shape the conventions ask for: a header cell, exercises, and hidden solution cells that run.

A failing cell fails its notebook's test with the cell's source and the error in the message.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from conftest import TUTORIAL06, TUTORIALS

pytest.importorskip("jupytext")
pytest.importorskip("nbclient")

from circuitlab.tutorials import FAST_ENV, TutorialError, load, sources  # noqa: E402

NOTEBOOKS = sources(TUTORIALS)
ids = [p.stem for p in NOTEBOOKS]
#: 06's execution is shared with test_viewer_in_html.py, so its case runs on that test's xdist worker.
#: Each case executes a whole tutorial in a fresh kernel: slow, so ``make test`` runs them and
#: ``make test-fast`` does not; the header and structure checks below stay fast.
RUNS = [
    pytest.param(p, marks=pytest.mark.xdist_group(TUTORIAL06)) if p.name.startswith("06_") else p
    for p in NOTEBOOKS
]


def printed(nb: Any) -> str:
    """Everything the executed notebook printed or displayed as text."""
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            texts.append(out.get("text", "") or out.get("data", {}).get("text/plain", ""))
    return "\n".join(texts)


def solution_cells(nb: Any) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if "solution" in c.metadata.get("tags", [])]


@pytest.mark.slow
@pytest.mark.parametrize("source", RUNS, ids=ids)
def test_runs_top_to_bottom_under_the_fast_switch(source: Path, executed_tutorial) -> None:
    try:
        nb = executed_tutorial(source.name)
    except TutorialError as err:
        pytest.fail(str(err), pytrace=False)
    if FAST_ENV in source.read_text():
        assert f"{FAST_ENV}=1" in printed(nb), (
            f"{source.name} reads {FAST_ENV} but printed no line saying what it shrank; "
            f'print("{FAST_ENV}=1: N steps instead of M; numbers differ from the full run")'
        )


@pytest.mark.parametrize("source", NOTEBOOKS, ids=ids)
def test_has_header_exercises_and_hidden_solutions(source: Path) -> None:
    nb = load(source)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.lstrip().startswith("# "), (
        f"{source.name}: the first cell must be markdown opening with the '# ' title"
    )
    assert "seed" in first.source.lower(), f"{source.name}: the header must name the seed section it follows"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", (
        f"{source.name}: jupytext header missing"
    )
    solutions = solution_cells(nb)
    assert len(solutions) >= 2, f"{source.name}: needs >= 2 cells tagged solution, found {len(solutions)}"
    for i in solutions:
        cell = nb.cells[i]
        assert cell.cell_type == "code" and cell.metadata.get("jupyter", {}).get("source_hidden") is True, (
            f'{source.name} cell {i}: a solution is a code cell with jupyter={{"source_hidden": true}}'
        )
        assert re.search(r"^\s*assert\b", cell.source, re.M), (
            f"{source.name} cell {i}: the solution must assert"
        )
    heading = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and "## Exercises" in c.source]
    assert heading, f"{source.name}: no '## Exercises' markdown cell"
    assert any(i > heading[0] for i in solutions), f"{source.name}: no solution cell after '## Exercises'"


def test_the_readme_links_every_tutorial() -> None:
    readme = (TUTORIALS.parents[1] / "README.md").read_text()
    linked = set(re.findall(r"\]\((docs/tutorials/0\d_\w+\.py)\)", readme))
    assert {f"docs/tutorials/{p.name}" for p in NOTEBOOKS} <= linked
    assert "make tutorials" in readme
