"""A 2-layer attention-only transformer with a hand-built induction circuit (Olsson et al. 2022).

Residual stream: [tok (V) | prev (V) | out (V) | pos (n_ctx)], one-hot codes throughout.
Head 0.0 is a previous-token head (shortformer positions: q_i . k_j is large when j = i - 1) that
copies token t_{i-1} into ``prev``; head 1.0 is an induction head (K-composition: its query reads
the current token, its key reads ``prev``) that copies the token after the earlier occurrence into
``out``, which W_U reads. Heads 0.1 and 1.1 are zero. The character tokenizer makes prompts text.
"""

from __future__ import annotations

import torch

import circuitlab as cl
from circuitlab.data.tokenizer import CharTokenizer

CHARS = list("abcdefghijklmnopqrstuvwxyz .,;!")  # 31 characters + <unk> = 32 tokens
V, N, SHARP = 32, 48, 30.0


def induction_model() -> cl.Transformer:
    d_head = N
    cfg = cl.TransformerConfig(n_layers=2, d_model=3 * V + N, n_heads=2, d_head=d_head, d_vocab=V, n_ctx=N,
                               attn_only=True, positional="shortformer", normalization="none")  # fmt: skip
    model = cl.Transformer(cfg, tokenizer=CharTokenizer(CHARS))
    tok, prev, out = (torch.arange(V) + k * V for k in range(3))
    pos = torch.arange(N) + 3 * V
    scale = SHARP * d_head**0.5
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.W_E[torch.arange(V), tok] = 1.0
        model.pos_embed.W_pos[torch.arange(N), pos] = 1.0
        a0, a1 = model.blocks[0].attn, model.blocks[1].attn
        a0.W_Q[0, pos[1:], torch.arange(N - 1)] = scale  # query at i looks for the key code i - 1
        a0.W_K[0, pos, torch.arange(N)] = 1.0
        a0.W_V[0, tok, torch.arange(V)] = 1.0
        a0.W_O[0, torch.arange(V), prev] = 1.0  # writes t_{i-1} into prev
        a1.W_Q[0, tok, torch.arange(V)] = scale  # query: the current token
        a1.W_K[0, prev, torch.arange(V)] = 1.0  # key: the token before each position
        a1.W_V[0, tok, torch.arange(V)] = 1.0
        a1.W_O[0, torch.arange(V), out] = 1.0  # writes the attended token into out
        model.unembed.W_U[out, torch.arange(V)] = 10.0
    return model.eval()
