"""What every reproduced claim returns: a typed result with numbers and a verdict."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Verdict = Literal["pass", "fail"]
Progress = Callable[[float, str], None]  # (fraction done in [0, 1], what is happening)


@dataclass
class ClaimResult:
    """One claim of the seed (or of the papers), checked.

    ``measured`` holds plain numbers (JSON-serialisable); ``threshold`` says in words what
    passes; ``figures`` maps a caption to a PNG path relative to the run folder; ``tables``
    maps a caption to rows (the first row is the header); ``ran`` says what was run.
    """

    id: str
    seed: str
    measured: dict[str, Any]
    threshold: str
    verdict: Verdict
    seconds: float = 0.0
    ran: str = ""
    figures: dict[str, str] = field(default_factory=dict)
    tables: dict[str, list[list[Any]]] = field(default_factory=dict)
    notes: str = ""

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def verdict(ok: bool) -> Verdict:
    return "pass" if bool(ok) else "fail"


@dataclass(frozen=True)
class RunContext:
    """Where an experiment writes (figures, checkpoints), on what device, at what size.

    ``profile`` is ``"quick"`` (minutes on a laptop CPU) or ``"full"`` (longer, bigger).
    ``progress(fraction, message)`` reports how far the experiment is; ``fresh`` ignores
    cached checkpoints.
    """

    out_dir: Path
    profile: Literal["quick", "full"] = "quick"
    device: str = "cpu"
    seed: int = 0
    fresh: bool = False
    progress: Progress | None = None

    def report(self, fraction: float, message: str = "") -> None:
        if self.progress is not None:
            self.progress(min(max(fraction, 0.0), 1.0), message)

    def path(self, *parts: str) -> Path:
        """A path under the run folder, its parent created."""
        p = Path(self.out_dir, *parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def rel(self, path: Path) -> str:
        return str(Path(path).relative_to(self.out_dir))


@contextmanager
def timed() -> Iterator[Callable[[], float]]:
    """``with timed() as elapsed: ...; elapsed()`` gives seconds since the block began."""
    start = time.perf_counter()
    yield lambda: time.perf_counter() - start
