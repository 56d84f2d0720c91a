"""Sampling from a trained transformer, kept off the model class."""

from __future__ import annotations

import torch

from circuitlab.errors import ConfigError
from circuitlab.typing import Int, Tensor


@torch.no_grad()
def generate(
    model,
    tokens: Int[Tensor, "batch pos"],
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int | None = None,
) -> Int[Tensor, "batch new_pos"]:
    """Append ``max_new_tokens`` tokens, each drawn from softmax(logits_last / temperature).

    ``temperature=0`` takes the argmax; ``top_k`` keeps the k most likely tokens; the context
    is cropped to the last ``n_ctx`` tokens. ``seed`` makes the draw reproducible without
    touching the global RNG. Returns prompt and continuation, [batch, pos + max_new_tokens].
    """
    if max_new_tokens < 0:
        raise ConfigError(f"max_new_tokens={max_new_tokens}: must be >= 0")
    if temperature < 0:
        raise ConfigError(f"temperature={temperature}: must be >= 0 (0 means greedy)")
    if top_k is not None and top_k < 1:
        raise ConfigError(f"top_k={top_k}: must be >= 1 or None")
    tokens = model.check_tokens(tokens)
    device = tokens.device
    gen = torch.Generator(device=device).manual_seed(seed) if seed is not None else None
    was_training = model.training
    model.eval()
    try:
        for _ in range(max_new_tokens):
            logits = model(tokens[:, -model.cfg.n_ctx :])[:, -1].float()
            if temperature == 0:
                nxt = logits.argmax(-1, keepdim=True)
            else:
                logits = logits / temperature
                if top_k is not None and top_k < logits.shape[-1]:
                    kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                nxt = torch.multinomial(torch.softmax(logits, -1), 1, generator=gen)
            tokens = torch.cat([tokens, nxt], dim=1)
    finally:
        model.train(was_training)
    return tokens
