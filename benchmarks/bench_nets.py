"""Ratio benchmarks for the classic nets (ratio = our time / reference time; lower is better).

Rows (contenders interleaved in each repetition, medians):
  lstm_fwd_bwd   ``cl.nets.LSTM`` vs ``torch.nn.LSTM``, forward + backward (no hook: torch's kernel
                 on our Parameters), batch 32, seq 100, d_in 64, d_hidden 128    goal <= 1.1
  rnn_fwd_bwd    ``cl.nets.RNN`` vs ``torch.nn.RNN``, same shapes                goal <= 1.1
  mlp_run_with_cache  ``MLP([64, 256, 256, 10]).run_with_cache(x)`` vs its plain forward,
                 batch 512                                                       goal <= 1.5
  lstm_run_with_cache  ``LSTM(64, 128).run_with_cache(x)`` (every gate, so the step-by-step
                 loop) vs its plain forward (torch's kernel), the shapes above   goal <= 3
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from timing import interleaved_medians

from circuitlab.nets import LSTM, MLP, RNN

BATCH, SEQ, D_IN, D_HIDDEN = 32, 100, 64, 128


def _row(name: str, ours: float, ref: float, goal: float) -> dict:
    ratio = ours / ref
    return {
        "name": name,
        "ours_s": ours,
        "ref_s": ref,
        "ratio": ratio,
        "goal": f"<= {goal}",
        "met": ratio <= goal,
    }


def _recurrent(name: str, ref_cls, our_cls, device: str, reps: int) -> dict:
    torch.manual_seed(0)
    ref = ref_cls(D_IN, D_HIDDEN, batch_first=True).to(device)
    ours = our_cls.from_torch(ref)
    x = torch.randn(BATCH, SEQ, D_IN, device=device, requires_grad=True)

    def step(model) -> Callable[[], None]:
        def go() -> None:
            out, _ = model(x)
            out.sum().backward()

        return go

    t = interleaved_medians({"ours": step(ours), "ref": step(ref)}, reps, device)
    ours_s, ref_s = t["ours"], t["ref"]
    return _row(name, ours_s, ref_s, 1.1)


def _cache_vs_forward(name: str, model, x: torch.Tensor, reps: int, device: str, goal: float) -> dict:
    """``model.run_with_cache(x)`` (every hook point) vs ``model(x)``, both without grad."""

    @torch.no_grad()
    def cached() -> None:
        model.run_with_cache(x)

    @torch.no_grad()
    def plain() -> None:
        model(x)

    t = interleaved_medians({"cached": cached, "plain": plain}, reps, device)
    ours_s, ref_s = t["cached"], t["plain"]
    return _row(name, ours_s, ref_s, goal)


def _mlp_cache(device: str, reps: int) -> dict:
    torch.manual_seed(0)
    model = MLP([64, 256, 256, 10], activation="relu", activate_output=False).to(device)
    return _cache_vs_forward(
        "mlp_run_with_cache", model, torch.randn(512, 64, device=device), reps * 5, device, 1.5
    )


def _lstm_cache(device: str, reps: int) -> dict:
    """Caching the gates takes the LSTM's step-by-step loop; the plain forward torch's kernel."""
    torch.manual_seed(0)
    model = LSTM(D_IN, D_HIDDEN).to(device)
    return _cache_vs_forward(
        "lstm_run_with_cache", model, torch.randn(BATCH, SEQ, D_IN, device=device), reps, device, 3.0
    )


def run(device: str = "cpu", quick: bool = False) -> list[dict]:
    """The rows above; ``quick`` takes few repetitions (a smoke run, noisier)."""
    reps = 3 if quick else 15
    return [
        _recurrent("lstm_fwd_bwd", torch.nn.LSTM, LSTM, device, reps),
        _recurrent("rnn_fwd_bwd", torch.nn.RNN, RNN, device, reps),
        _mlp_cache(device, reps),
        _lstm_cache(device, reps),
    ]


if __name__ == "__main__":
    for row in run(quick=False):
        print(row)
