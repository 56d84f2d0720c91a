"""Marked delayed recall, the task of the memory claim, and the RNN / LSTM nets trained on it.

Each sequence shows a random number (0 to ``max_prefix``) of distractor steps, then the symbol to
remember, flagged by a marker channel, then ``lag`` more distractors, then a cue. Every step shows
one of ``n_symbols`` symbols (one-hot); sequences are left-padded with all-zero steps so that the
marked symbol sits at step ``max_prefix`` of every sequence. At the cue the net must output the
marked symbol (chance: 1 / n_symbols). The net has to *write* its memory when the marker comes and
keep the distractors out of it afterwards: the job of the LSTM's input and forget gates, and one an
RNN, whose every input passes into its whole state, must do without gates. (Without the random
prefix the symbol would always be the first step, and an RNN could latch it from its initial state;
tutorial 02 gives the measurement.)

One model per architecture is trained with Adam for the same number of steps on batches whose
lag cycles through ``lags`` (each batch one lag), then tested on fresh sequences at every lag.
The RNN gets the hidden width that gives it the parameter count closest to the LSTM's (readout
included). The LSTM's forget-gate bias starts at 1 (Gers et al. 2000; Jozefowicz et al. 2015),
a standard part of the architecture that adds no parameters.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from circuitlab.config import check_int, check_ints
from circuitlab.experiments.base import RunContext, timed
from circuitlab.hooks import HookedModule
from circuitlab.nets import LSTM, RNN
from circuitlab.training.fit import fit
from circuitlab.typing import Float, Int, Tensor


@dataclass(frozen=True)
class RecallTask:
    """Marked delayed recall; inputs are one-hot symbols, a cue channel and a marker channel
    (``d_in = n_symbols + 2``)."""

    n_symbols: int = 8
    lags: tuple[int, ...] = (5, 10, 20, 50, 100)
    max_prefix: int = 10

    def __post_init__(self) -> None:
        check_int(self, "n_symbols", low=2)
        check_ints(self, "lags", low=1)
        check_int(self, "max_prefix", low=0)

    @property
    def d_in(self) -> int:
        return self.n_symbols + 2

    @property
    def cue(self) -> int:
        """The input channel of the cue."""
        return self.n_symbols

    @property
    def marker(self) -> int:
        """The input channel that flags the symbol to remember."""
        return self.n_symbols + 1

    @property
    def chance(self) -> float:
        return 1 / self.n_symbols

    def batch(
        self, n: int, lag: int, generator: torch.Generator, device: str = "cpu"
    ) -> tuple[Float[Tensor, "n pos d_in"], Int[Tensor, " n"]]:
        """``x: [n, max_prefix + lag + 2, d_in]`` and the marked symbol ``y: [n]``, which sits at step
        ``max_prefix`` of every sequence."""
        K, P = self.n_symbols, self.max_prefix
        n_pos = P + lag + 2
        tokens = torch.randint(0, K, (n, n_pos), generator=generator)
        tokens[:, -1] = self.cue
        start = P - torch.randint(0, P + 1, (n,), generator=generator)  # the first shown step
        x = F.one_hot(tokens, self.d_in).float()
        x[torch.arange(n_pos)[None, :] < start[:, None]] = 0.0  # left padding
        x[:, P, self.marker] = 1.0
        return x.to(device), tokens[:, P].to(device)


class RecallNet(HookedModule):
    """A recurrent core (``RNN`` or ``LSTM``) and a linear readout of its last hidden state."""

    def __init__(self, arch: str, d_in: int, d_hidden: int, n_out: int) -> None:
        super().__init__()
        self.core = {"rnn": RNN, "lstm": LSTM}[arch](d_in, d_hidden)
        self.readout = nn.Linear(d_hidden, n_out)
        if arch == "lstm":  # forget-gate bias 1 (gate order i, f, g, o)
            with torch.no_grad():
                self.core.layers[0].b_ih[d_hidden : 2 * d_hidden].fill_(1.0)
                self.core.layers[0].b_hh[d_hidden : 2 * d_hidden].zero_()

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.core(x)
        return self.readout(out[:, -1])


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def matched_rnn_hidden(task: RecallTask, lstm_hidden: int) -> int:
    """The RNN width whose parameter count is closest to the LSTM's (readouts included)."""
    target = n_params(RecallNet("lstm", task.d_in, lstm_hidden, task.n_symbols))
    count = lambda h: h * task.d_in + h * h + 2 * h + h * task.n_symbols + task.n_symbols  # noqa: E731
    return min(range(1, 8 * lstm_hidden), key=lambda h: abs(count(h) - target))


@dataclass
class RecallRun:
    """One trained net: its accuracy at each lag on fresh test sequences."""

    arch: str
    d_hidden: int
    n_params: int
    steps: int
    chance: float
    accuracy: dict[int, float] = field(default_factory=dict)
    final_loss: float = 0.0
    seconds: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)


def profile_defaults(ctx: RunContext) -> tuple[int, int]:
    """(steps, LSTM hidden width) of the profile."""
    return (800, 32) if ctx.profile == "quick" else (2000, 64)


def train_recall(
    ctx: RunContext,
    arch: str,
    steps: int | None = None,
    task: RecallTask | None = None,
    lstm_hidden: int | None = None,
    lr: float = 1e-2,
    batch: int = 32,
    n_test: int = 512,
    span: tuple[float, float] = (0.0, 1.0),
) -> RecallRun:
    """Train ``arch`` ("rnn" or "lstm") with Adam (grad norm clipped to 1) on the recall task and
    test it on ``n_test`` fresh sequences at every lag. ``span``: the share of the claim's
    progress this run covers."""
    task = task or RecallTask()
    d_steps, d_hidden = profile_defaults(ctx)
    steps, lstm_hidden = steps or d_steps, lstm_hidden or d_hidden
    hidden = lstm_hidden if arch == "lstm" else matched_rnn_hidden(task, lstm_hidden)
    with timed() as elapsed:
        torch.manual_seed(ctx.seed)
        net = RecallNet(arch, task.d_in, hidden, task.n_symbols).to(ctx.device)
        gen = torch.Generator().manual_seed(ctx.seed)
        batches = (task.batch(batch, task.lags[s % len(task.lags)], gen, ctx.device) for s in range(steps))

        def on_step(step: int, loss: float) -> None:
            if step % 20 == 1:
                frac = span[0] + (span[1] - span[0]) * step / steps
                ctx.report(frac, f"{arch}: step {step}/{steps} loss {loss:.3f}")

        loss_fn = lambda b: F.cross_entropy(net(b[0]), b[1])  # noqa: E731
        losses = fit(net, loss_fn, batches, steps, lr, clip_norm=1.0, on_step=on_step)
        accuracy = recall_accuracy(ctx, net, task, n_test)
    return RecallRun(arch, hidden, n_params(net), steps, task.chance, accuracy, losses[-1], elapsed())


@torch.no_grad()
def recall_accuracy(ctx: RunContext, net: RecallNet, task: RecallTask, n_test: int = 512) -> dict[int, float]:
    """Recall accuracy at each lag on ``n_test`` fresh sequences (generator seeded ctx.seed + 10000)."""
    gen = torch.Generator().manual_seed(ctx.seed + 10_000)
    accuracy = {}
    for lag in task.lags:
        x, y = task.batch(n_test, lag, gen, ctx.device)
        accuracy[lag] = (net(x).argmax(-1) == y).float().mean().item()
    return accuracy
