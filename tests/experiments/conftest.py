"""The session's one quick run of the claims that train in seconds, shared by the tests that read it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from claim_helpers import QuickRun, run_quick


@pytest.fixture(scope="session")
def quick_run(build_once: Callable[[str, Callable[[Path], None]], Path]) -> QuickRun:
    """``circuitlab reproduce --profile quick --only QUICK_REDUCED``, run once per test run even when
    xdist splits its readers (test_reproduce_quick, test_classic, test_superposition): read, never write."""
    return QuickRun.read(build_once("quick-reduced-run", run_quick))
