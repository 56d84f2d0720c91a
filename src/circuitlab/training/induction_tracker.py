"""A training callback that scores attention heads as a transformer trains (the phase change).

Every ``every`` optimizer steps it records, on the model being trained (Olsson et al. 2022):

    induction        max over the last layer's heads of head_scores(model, "induction", repeated,
                     denominator=measure): with the default "second_copy", Olsson et al.'s
                     prefix-matching score (attention from the second copy of R to the token after
                     the query's earlier occurrence); "rows_with_target" also counts first-copy rows
                     whose token occurred by chance earlier in R
    previous_token   max over the first layer's heads of head_scores(model, "previous_token", repeated)
    copying          copying_scores(model)[-1, h] of that top induction head h: sum(lambda) / sum(|lambda|)
                     over the eigenvalues of its full OV circuit W_E W_V W_O W_U (+1: it copies)
    icl              in_context_learning_score(model, text): loss(late token) - loss(early token)
    token_losses     per_token_loss(model, text) averaged over the windows: [pos - 1] floats, entry
                     t - 1 the loss of token t (rounded to 3 decimals to keep histories small)

``repeated`` is ``[batch, pos]`` BOS + R + R token ids (``circuits.repeated_random_tokens``);
``text`` is ``[batch, pos]`` windows of real text. Plotted against tokens seen, the induction
score's jump is the phase change. Use it with :func:`circuitlab.training.train` as one of its
``callbacks`` (it needs ``state.step``, ``state.model``, ``state.tokens_seen``, ``state.loss``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch

from circuitlab.circuits import copying_scores, head_scores, per_token_loss
from circuitlab.circuits.heads import icl_positions
from circuitlab.typing import Int, Tensor


@dataclass
class ScorePoint:
    """Head scores after ``step`` optimizer steps (``tokens`` seen, ``seconds`` of wall time)."""

    step: int
    tokens: int
    seconds: float
    loss: float
    induction: float  # max over the last layer's heads
    induction_head: int
    previous_token: float  # max over the first layer's heads
    icl: float  # in-context-learning score on real text (negative: later tokens predicted better)
    copying: float | None = None  # copying score of the top induction head (None: an older history)
    token_losses: list[float] | None = None  # mean loss of tokens 1 .. pos - 1 of the text windows


@dataclass
class InductionTracker:
    """Training callback: every ``every`` steps, score the heads (``on_step(state)``).

    ``measure`` is the induction score's ``denominator`` (above). ``first_past`` is the first
    point whose induction score reaches ``threshold``; ``seconds``
    count from the tracker's creation (training start). ``record`` scores the model now (in eval
    mode, restoring its training flag), for a last point after training.
    """

    repeated: Int[Tensor, "batch pos"]
    text: Int[Tensor, "batch pos"]
    every: int
    threshold: float = 0.7
    measure: Literal["second_copy", "rows_with_target"] = "second_copy"
    history: list[ScorePoint] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    @property
    def first_past(self) -> ScorePoint | None:
        return next((p for p in self.history if p.induction >= self.threshold), None)

    def on_step(self, state: Any) -> None:
        if state.step % self.every == 0:
            self.record(state.model, state.step, state.tokens_seen, state.loss)

    @torch.no_grad()
    def record(self, model: torch.nn.Module, step: int, tokens: int, loss: float) -> ScorePoint:
        was_training = model.training
        model.eval()
        induction = head_scores(model, "induction", self.repeated, denominator=self.measure)[-1]
        previous = head_scores(model, "previous_token", self.repeated)[0]
        head = int(induction.argmax())
        copying = float(copying_scores(model)[-1, head])
        token_loss = per_token_loss(model, self.text).mean(0)  # [pos - 1]: token_loss[t - 1] is token t's
        early, late = icl_positions(self.text.shape[1])  # in_context_learning_score's two tokens
        icl = float(token_loss[late - 1] - token_loss[early - 1])
        model.train(was_training)
        point = ScorePoint(
            step,
            tokens,
            round(time.perf_counter() - self.started, 2),
            round(loss, 4),
            round(float(induction.max()), 4),
            head,
            round(float(previous.max()), 4),
            round(icl, 4),
            round(copying, 4),
            [round(x, 3) for x in token_loss.tolist()],
        )
        self.history.append(point)
        return point

    def to_rows(self) -> list[dict[str, Any]]:
        return [asdict(p) for p in self.history]


__all__ = ["InductionTracker", "ScorePoint"]
