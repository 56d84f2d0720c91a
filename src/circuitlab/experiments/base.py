"""What every claim shares: its run context, its typed result, its verdict, and the shared helpers.

A claim function reads as three named steps::

    def claim(ctx: RunContext) -> ClaimResult:
        with timed() as elapsed:
            m = measure(ctx)                 # train / build, and take the numbers
        return render(ctx, m, judge(m), elapsed())   # judge -> Judgement; render -> ClaimResult

``judge`` returns a :class:`Judgement`: named pass/fail checks and the rule in words. The claim's
id, title and seed quote belong to the registry (:mod:`circuitlab.experiments.registry`), which
writes them into the result when it runs the claim.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from circuitlab.data import TokenizedCorpus, Tokenizer

Verdict = Literal["pass", "fail"]
Progress = Callable[[float, str], None]  # (fraction done in [0, 1], what is happening)


def verdict(ok: bool) -> Verdict:
    return "pass" if bool(ok) else "fail"


@dataclass(frozen=True)
class Judgement:
    """The verdict on a measurement: named checks that must all hold, and the rule in words."""

    checks: dict[str, bool]
    threshold: str

    @property
    def passed(self) -> bool:
        return all(self.checks.values())

    @property
    def verdict(self) -> Verdict:
        return verdict(self.passed)

    @property
    def failed(self) -> list[str]:
        return [name for name, ok in self.checks.items() if not ok]


@dataclass
class ClaimResult:
    """One claim of the seed (or of the papers), checked.

    ``measured`` holds plain numbers (JSON-serialisable); ``threshold`` says in words what
    passes; ``ran`` says what was run; ``figures`` maps a caption to a PNG path relative to the
    run folder; ``tables`` maps a caption to rows (the first row is the header). ``id`` and
    ``seed`` are filled in by the registry's :meth:`~circuitlab.experiments.registry.Claim.run`.
    """

    measured: dict[str, Any]
    threshold: str
    verdict: Verdict
    ran: str = ""
    figures: dict[str, str] = field(default_factory=dict)
    tables: dict[str, list[list[Any]]] = field(default_factory=dict)
    notes: str = ""
    seconds: float = 0.0
    id: str = ""
    seed: str = ""

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunContext:
    """Where an experiment writes (figures, checkpoints), on what device, at what size.

    ``profile`` is ``"quick"`` (minutes on a laptop CPU) or ``"full"`` (longer, bigger).
    ``progress(fraction, message)`` reports how far the experiment is; ``fresh`` ignores
    cached checkpoints. ``corpus`` is the text the language-model claims train on: ``"stdlib"``
    (the embedded corpus) or a text file, folder or glob (:func:`circuitlab.data.load_corpus`).
    ``curriculum`` trains the induction model (and the SAEs on it) with the BPE recipe whose
    training windows hold repeated random-token passages, ``induction_recipe(curriculum=True)``,
    instead of the default plain-text recipe.
    """

    out_dir: Path
    profile: Literal["quick", "full"] = "quick"
    device: str = "cpu"
    seed: int = 0
    fresh: bool = False
    progress: Progress | None = None
    corpus: str = "stdlib"
    curriculum: bool = False

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


def save_figure(ctx: RunContext, fig: Any, folder: str, name: str) -> str:
    """Write ``fig`` as ``<folder>/<name>.png`` under the run folder, close it, return the relative path."""
    from circuitlab.report.figures import pyplot

    path = ctx.path(folder, f"{name}.png")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    pyplot().close(fig)
    return ctx.rel(path)


@dataclass(frozen=True)
class CorpusData:
    """The tokenizer and the tokenized train/validation split of the corpus (``hash``: the loaded
    text's sha256, :attr:`circuitlab.data.Corpus.hash`)."""

    tokenizer: Tokenizer
    tokens: TokenizedCorpus
    source: str
    n_bytes: int
    hash: str = ""

    def checkpoint_name(self, name: str) -> str:
        """The checkpoint folder of model ``name`` trained on this corpus: ``name`` for the embedded
        corpus, ``name-<first 12 hex digits of the text's hash>`` for any other, so a model trained
        on one corpus is never reloaded for another."""
        return name if self.source == "stdlib" else f"{name}-{self.hash[:12]}"


def corpus_label(source: str) -> str:
    """How a report names a corpus: the embedded one in words, any other by its path or glob."""
    return "the Python standard library" if source == "stdlib" else repr(source)


def corpus_data(
    source: str = "stdlib", vocab_size: int = 1024, max_bytes: int | None = 4_000_000, tokenizer: str = "bpe"
) -> CorpusData:
    """Load, tokenize and split the corpus (all three cached by content hash).

    Every transformer claim trains on this data: by default the Python standard library source
    of the interpreter that runs circuitlab. ``tokenizer`` is ``"bpe"`` (trained on the corpus,
    ``vocab_size`` ids) or ``"printable"`` (one id per printable ASCII character, 98 ids).
    """
    from circuitlab.data import load_corpus, tokenize_corpus, train_tokenizer

    corpus = load_corpus(source, max_bytes=max_bytes)
    tok = train_tokenizer(corpus, tokenizer, vocab_size)
    n_bytes = sum(len(d.text.encode()) for d in corpus.documents)
    return CorpusData(tok, tokenize_corpus(corpus, tok), source, n_bytes, corpus.hash)
