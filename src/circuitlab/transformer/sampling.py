"""Sampling from a trained transformer: ``cl.generate(model, ...)`` and ``model.generate(...)``.

Each new token is drawn from softmax(logits_last / temperature), restricted to the ``top_k`` most
likely tokens and to the smallest set whose probability reaches ``top_p`` (nucleus sampling),
or is the argmax (``temperature=0`` or ``do_sample=False``). The prompt may be token ids or,
when the model has a tokenizer, text: several strings are left-padded and their pads masked, as
in TransformerLens's ``generate``. Every step reruns the model on the last ``n_ctx`` tokens (no
key/value cache: ``use_past_kv_cache`` is accepted and changes nothing but speed).
"""

from __future__ import annotations

from typing import Any, Literal

import torch

from circuitlab.errors import ConfigError
from circuitlab.typing import Float, Int, Tensor

ReturnType = Literal["input", "str", "tokens"]


def check_options(max_new_tokens: int, temperature: float, top_k: int | None, top_p: float | None) -> None:
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ConfigError(f"max_new_tokens={max_new_tokens!r}: must be an integer >= 0")
    if temperature < 0:
        raise ConfigError(f"temperature={temperature}: must be >= 0 (0 means greedy)")
    if top_k is not None and top_k < 1:
        raise ConfigError(f"top_k={top_k}: must be >= 1 or None")
    if top_p is not None and not 0 < top_p <= 1:
        raise ConfigError(f"top_p={top_p}: must be in (0, 1] or None")


def pick(
    logits: Float[Tensor, "batch d_vocab"],
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    generator: torch.Generator | None,
) -> Int[Tensor, "batch 1"]:
    """One token per row: the argmax when ``temperature == 0``, else a draw (see the module docstring)."""
    if temperature == 0:
        return logits.argmax(-1, keepdim=True)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1:
        ordered, order = logits.sort(dim=-1, descending=True)
        probs = ordered.softmax(-1)
        drop_sorted = probs.cumsum(-1) - probs >= top_p  # the more likely tokens already reach top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)


def prompt_tokens(model: Any, prompt: Any, prepend_bos: bool | None, padding_side: str | None):
    """(ids [batch, pos], attention mask or None, whether the prompt was text)."""
    if isinstance(prompt, str) or (
        isinstance(prompt, list | tuple) and prompt and isinstance(prompt[0], str)
    ):
        side = "left" if not isinstance(prompt, str) and len(prompt) > 1 else padding_side
        ids = model.to_tokens(list(prompt) if not isinstance(prompt, str) else prompt, prepend_bos, side)
        return ids, model.attention_mask_for(ids, prepend_bos, side), True
    return model.check_tokens(prompt), None, False


def eos_id(model: Any, stop_at_eos: bool, eos_token_id: int | None) -> int | None:
    """The token that ends a sequence: ``eos_token_id``, else the tokenizer's ``<|endoftext|>``."""
    if not stop_at_eos:
        return None
    return eos_token_id if eos_token_id is not None else getattr(model, "bos_token_id", None)


@torch.no_grad()
def generate(
    model: Any,
    tokens: Int[Tensor, "batch pos"] | str | list[str],
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int | None = None,
    *,
    top_p: float | None = None,
    do_sample: bool = True,
    stop_at_eos: bool = False,
    eos_token_id: int | None = None,
    prepend_bos: bool | None = None,
    padding_side: str | None = None,
    return_type: ReturnType = "input",
) -> Int[Tensor, "batch new_pos"] | str | list[str]:
    """Append up to ``max_new_tokens`` tokens to a prompt; ``seed`` makes the draw reproducible
    without touching the global RNG. Returns prompt and continuation: ids [batch, pos + new] for
    ids, text for text (``return_type`` "str" or "tokens" to choose; text leaves out
    ``<|endoftext|>``, one string for one prompt). With ``stop_at_eos`` a finished row gets the
    EOS from then on and generation stops when every row has finished."""
    check_options(max_new_tokens, temperature, top_k, top_p)
    if return_type not in ("input", "str", "tokens"):
        raise ConfigError(f"return_type={return_type!r}: choose input, str or tokens")
    ids, mask, text = prompt_tokens(model, tokens, prepend_bos, padding_side)
    eos = eos_id(model, stop_at_eos, eos_token_id)
    gen = torch.Generator(device=ids.device).manual_seed(seed) if seed is not None else None
    done = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
    was_training = model.training
    model.eval()
    try:
        for _ in range(max_new_tokens):
            window = None if mask is None else mask[:, -model.cfg.n_ctx :]
            logits = model(ids[:, -model.cfg.n_ctx :], attention_mask=window)[:, -1].float()
            nxt = pick(logits, temperature if do_sample else 0, top_k, top_p, gen)
            if eos is not None:
                nxt[done] = eos
                done |= nxt[:, 0] == eos
            ids = torch.cat([ids, nxt], dim=1)
            mask = None if mask is None else torch.cat([mask, torch.ones_like(nxt)], dim=1)
            if eos is not None and bool(done.all()):
                break
    finally:
        model.train(was_training)
    if return_type == "tokens" or (return_type == "input" and not text):
        return ids
    special = getattr(model, "bos_token_id", None)
    texts = [model.to_string([i for i in row if i != special]) for row in ids.tolist()]
    return texts[0] if len(texts) == 1 else texts


class Sampling:
    """``model.generate``: TransformerLens's arguments and defaults (``stop_at_eos=True``)."""

    def generate(
        self,
        input: Any = "",
        max_new_tokens: int = 10,
        stop_at_eos: bool = True,
        eos_token_id: int | None = None,
        do_sample: bool = True,
        top_k: int | None = None,
        top_p: float | None = None,
        temperature: float = 1.0,
        freq_penalty: float = 0.0,
        use_past_kv_cache: bool = True,
        prepend_bos: bool | None = None,
        padding_side: str | None = None,
        return_type: ReturnType = "input",
        verbose: bool = True,
        seed: int | None = None,
    ) -> Int[Tensor, "batch new_pos"] | str | list[str]:
        """See :func:`generate` (``verbose`` draws no progress bar; a model with no EOS token runs
        to ``max_new_tokens``)."""
        if freq_penalty:
            raise ConfigError("freq_penalty is not supported; sample with temperature, top_k or top_p")
        return generate(
            self, input, max_new_tokens, temperature, top_k, seed, top_p=top_p, do_sample=do_sample,
            stop_at_eos=stop_at_eos, eos_token_id=eos_token_id, prepend_bos=prepend_bos,
            padding_side=padding_side, return_type=return_type,
        )  # fmt: skip


__all__ = ["Sampling", "generate"]
