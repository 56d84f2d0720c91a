"""Shared by the tutorial tests: where the tutorials are, the test kernel's environment, and a fixture
that renders one tutorial to HTML (executed under the fast switch) for tests that open the page."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = ROOT / "docs" / "tutorials"
#: Seconds one notebook may run under the fast switch (kernel start included) before its test fails.
BUDGET = float(os.environ.get("CIRCUITLAB_TUTORIAL_TIMEOUT", "300"))


def notebook_env() -> dict[str, str]:
    """The kernel's environment in the tests: fast switch on, no GUI backend, one thread."""
    from circuitlab.tutorials import kernel_env

    return kernel_env(fast=True, extra={"MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"})


@pytest.fixture
def render_tutorial(tmp_path: Path) -> Callable[[str], Path]:
    """``render_tutorial("06_reverse_engineering.py")`` executes that tutorial under the fast switch
    (figures inline, as ``make tutorials`` renders them) and returns the path of its HTML page."""
    pytest.importorskip("nbclient")
    from circuitlab.tutorials import kernel_env, render

    def rendered(name: str) -> Path:
        env = kernel_env(fast=True, extra={"OMP_NUM_THREADS": "1"})
        page, _ = render(TUTORIALS / name, tmp_path, env, BUDGET)
        return page

    return rendered
