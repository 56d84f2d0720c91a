"""Shared fixtures: determinism, thread count under xdist, tiny models, and artefacts built once per run.

Importing this conftest puts tests/ on sys.path, so every folder imports ``tiny_models`` the same way.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from filelock import FileLock
from tiny_models import induction_model, tiny, tiny_model

if os.environ.get("PYTEST_XDIST_WORKER"):
    # One thread per worker, and per process a worker starts (a CLI run, a training script): the
    # workers already fill the cores, and a second OpenMP thread in a child only spins against them.
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def has_cuda() -> bool:
    return torch.cuda.is_available()


requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--device", default="cpu", help="device for device-parametrized tests")


@pytest.fixture
def device(request: pytest.FixtureRequest) -> str:
    dev = request.config.getoption("--device")
    if dev.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    return dev


@pytest.fixture
def tiny_transformer() -> torch.nn.Module:
    """A fresh ``tiny_model()`` per test (tests may train or edit it)."""
    return tiny_model()


@pytest.fixture
def circuit_model() -> torch.nn.Module:
    """A fresh ``tiny(seed=0)`` per test, the circuits preset in eval mode."""
    return tiny(seed=0)


@pytest.fixture(scope="session")
def induction_circuit() -> torch.nn.Module:
    """The hand-built induction circuit, built once: read it, never edit it (copy.deepcopy first)."""
    return induction_model()


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder shared by every xdist worker of this run (the parent of each worker's basetemp)."""
    base = tmp_path_factory.getbasetemp()
    path = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "shared"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def build_once(shared_dir: Path) -> Callable[[str, Callable[[Path], None]], Path]:
    """``build_once(key, make)``: the folder ``make(folder)`` fills, made once per run across workers.

    The first caller holds a file lock, builds into ``key.partial`` and renames it to ``key`` when
    ``make`` returns; later callers (any worker) wait on the lock and get the finished folder. A
    ``make`` that raises leaves nothing behind, so the next caller tries again.
    """

    def build(key: str, make: Callable[[Path], None]) -> Path:
        folder, partial = shared_dir / key, shared_dir / f"{key}.partial"
        with FileLock(str(shared_dir / f"{key}.lock")):
            if not folder.is_dir():
                shutil.rmtree(partial, ignore_errors=True)
                partial.mkdir()
                try:
                    make(partial)
                except BaseException:
                    shutil.rmtree(partial, ignore_errors=True)
                    raise
                os.replace(partial, folder)
        return folder

    return build
