"""Tiny random Hugging Face models of each supported family, saved as transformers saves them.

Every parameter (LayerNorm/RMSNorm gains and biases too) is redrawn so no term of the equations
hides behind a 1 or a 0. The cases cover odd head counts, partial rotary, grouped-query
attention with 2 and 3 query heads per key/value head, tied and untied embeddings, Qwen2's
q/k/v bias, Llama's attention/MLP biases and GPT-NeoX's sequential residual.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

transformers = pytest.importorskip("transformers")

VOCAB, N_POS = 61, 24
LLAMA = dict(hidden_size=24, num_attention_heads=4, num_key_value_heads=2, intermediate_size=20, head_dim=6)
CASES: dict[str, tuple[str, dict]] = {
    "gpt2-3heads-tied": ("GPT2", dict(n_layer=2, n_embd=24, n_head=3)),
    "gpt2-untied-relu": (
        "GPT2",
        dict(n_layer=1, n_embd=16, n_head=2, tie_word_embeddings=False, activation_function="relu"),
    ),
    "pythia-quarter-rotary": (
        "GPTNeoX",
        dict(
            num_hidden_layers=2,
            hidden_size=24,
            num_attention_heads=3,
            intermediate_size=40,
            rotary_pct=0.25,
            rotary_emb_base=10000,
        ),
    ),
    "neox-sequential-half-rotary": (
        "GPTNeoX",
        dict(
            num_hidden_layers=2,
            hidden_size=32,
            num_attention_heads=4,
            intermediate_size=24,
            rotary_pct=0.5,
            rotary_emb_base=500,
            use_parallel_residual=False,
            tie_word_embeddings=True,
        ),
    ),
    "llama-gqa2": ("Llama", dict(num_hidden_layers=2, rope_theta=300.0, **LLAMA)),
    "llama-mha-biases": (
        "Llama",
        dict(
            num_hidden_layers=1, **(LLAMA | dict(num_key_value_heads=4)), attention_bias=True, mlp_bias=True
        ),
    ),
    "smollm-3heads-gqa3-tied": (
        "Llama",
        dict(
            num_hidden_layers=2,
            hidden_size=24,
            num_attention_heads=3,
            num_key_value_heads=1,
            intermediate_size=32,
            tie_word_embeddings=True,
        ),
    ),
    "mistral-gqa2": ("Mistral", dict(num_hidden_layers=2, **LLAMA, sliding_window=4096)),
    "qwen2-qkv-bias-tied": (
        "Qwen2",
        dict(num_hidden_layers=2, **(LLAMA | dict(head_dim=None)), tie_word_embeddings=True),
    ),
}
TL_CASES = ("gpt2-3heads-tied", "pythia-quarter-rotary", "llama-gqa2", "mistral-gqa2", "qwen2-qkv-bias-tied")


def hf_config(case: str):
    family, fields = CASES[case]
    cls = getattr(transformers, f"{family}Config")
    common = dict(vocab_size=VOCAB, bos_token_id=0, eos_token_id=1)
    if family == "GPT2":
        common |= dict(n_positions=N_POS, n_ctx=N_POS)  # n_ctx: TransformerLens 3.9 still reads it
    else:
        common |= dict(max_position_embeddings=N_POS)
    return cls(**(common | {k: v for k, v in fields.items() if v is not None}))


def randomized(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            gain = 1.0 if "norm" in name or "ln" in name else 0.0
            p.copy_(gain + 0.2 * torch.randn(p.shape, generator=gen))
    return model.eval()


def build(case: str, folder: Path, **save_options) -> torch.nn.Module:
    """The case's randomly initialised transformers model, saved (safetensors) to ``folder``."""
    family = CASES[case][0]
    cls = getattr(transformers, f"{family}LMHeadModel" if family == "GPT2" else f"{family}ForCausalLM")
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = randomized(cls(hf_config(case)))
        model.save_pretrained(folder, **save_options)
    return model


def tokens(batch: int = 2, pos: int = 11, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, VOCAB, (batch, pos), generator=torch.Generator().manual_seed(seed))


def write_tokenizer(folder: Path) -> None:
    """A word-level tokenizer.json over VOCAB - 1 words plus <s> (id 0), as a model folder holds."""
    import tokenizers
    from tokenizers import models, pre_tokenizers

    vocab = {"<s>": 0} | {f"w{i}": i for i in range(1, VOCAB)}
    tok = tokenizers.Tokenizer(models.WordLevel(vocab, unk_token="<s>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(folder / "tokenizer.json"))
