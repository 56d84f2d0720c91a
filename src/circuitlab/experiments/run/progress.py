"""Progress of a reproduce run: which claim is running and how far along it is.

On a terminal each claim gets a tqdm bar fed by ``RunContext.progress(fraction, message)``;
elsewhere (CI logs, pipes) plain lines, at most one per ``every`` seconds per claim.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Protocol, TextIO


class ProgressSink(Protocol):
    def start(self, index: int, total: int, claim: Any) -> None: ...
    def update(self, fraction: float, message: str) -> None: ...
    def finish(self, record: dict[str, Any]) -> None: ...


class SilentProgress:
    """Records nothing; for tests and library use."""

    def start(self, index: int, total: int, claim: Any) -> None:
        pass

    def update(self, fraction: float, message: str) -> None:
        pass

    def finish(self, record: dict[str, Any]) -> None:
        pass


class ConsoleProgress:
    """``[3/17] lstm_memory  42%  training the LSTM at lag 50`` on stderr."""

    def __init__(self, stream: TextIO | None = None, every: float = 5.0, bars: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.every = every
        self.bars = self.stream.isatty() if bars is None else bars
        self._bar: Any = None
        self._label = ""
        self._last = 0.0

    def start(self, index: int, total: int, claim: Any) -> None:
        self._label = f"[{index + 1}/{total}] {claim.id}"
        self._last = time.monotonic()
        if self.bars:
            from tqdm.auto import tqdm

            fmt = "{desc} {percentage:3.0f}%|{bar:24}| {elapsed}<{remaining} {postfix}"
            self._bar = tqdm(total=100, desc=self._label, file=self.stream, bar_format=fmt, leave=False)
        else:
            print(f"{self._label}: running", file=self.stream, flush=True)

    def update(self, fraction: float, message: str) -> None:
        if self._bar is not None:
            self._bar.n = round(100 * fraction, 1)
            self._bar.set_postfix_str(message[:60], refresh=True)
            return
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            print(f"{self._label} {100 * fraction:3.0f}%  {message}", file=self.stream, flush=True)

    def finish(self, record: dict[str, Any]) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        how = "reused" if record.get("reused") else f"{record.get('seconds', 0):.1f} s"
        line = f"{self._label}: {record['verdict'].upper()} ({how})"
        if record.get("error"):
            line += f"  {record['error']}"
        print(line, file=self.stream, flush=True)
