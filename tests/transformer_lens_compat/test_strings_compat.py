"""Text in and out against TransformerLens 3.9: the string helpers, string input, generate.

The circuitlab model has a byte-level BPE tokenizer trained by circuitlab; its TransformerLens twin
(``cl.interop.to_transformer_lens``) gets the same tokenizer as a Hugging Face fast tokenizer whose
BOS, EOS and pad are ``<|endoftext|>``. Every scenario runs on both and must give equal results.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from compat_models import assert_same

from circuitlab.data import Corpus, Document
from circuitlab.data.tokenizer import BPETokenizer
from circuitlab.transformer import Transformer, TransformerConfig

pytest.importorskip(
    "transformer_lens", reason="transformer-lens is not installed (pip install circuitlab[interop])"
)
from circuitlab.interop import to_transformer_lens  # noqa: E402

pytestmark = [pytest.mark.interop, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

TEXT = "When John and Mary went to the shops, John gave the bag to Mary. " * 8 + "The cat sat on the mat. "
PROMPTS = ["When John and Mary went", " Mary", "the cat sat on the mat, the cat"]
N_CTX = 16


@pytest.fixture(scope="module")
def pair():
    tok = BPETokenizer.train(Corpus("test", (Document("a", TEXT),)), vocab_size=300)
    cfg = TransformerConfig(
        n_layers=2, d_model=16, n_heads=2, d_head=8, d_vocab=tok.vocab_size, n_ctx=N_CTX,
        attn_only=False, d_mlp=16, positional="learned", init_range=0.5, seed=2,
    )  # fmt: skip
    ours = Transformer(cfg, tokenizer=tok).eval()
    return ours, to_transformer_lens(ours).eval()


@pytest.fixture(autouse=True)
def _defaults(pair, caplog):
    caplog.set_level(logging.ERROR)
    yield
    ours, theirs = pair
    ours.default_prepend_bos = theirs.cfg.default_prepend_bos = True
    ours.padding_side = theirs.tokenizer.padding_side = "right"


def both(pair, scenario):
    ours, theirs = (scenario(model) for model in pair)
    assert_same(ours, theirs, atol=1e-5, rtol=1e-4)
    return ours


def test_the_twin_has_the_same_tokenizer_and_defaults(pair) -> None:
    ours, theirs = pair
    assert (
        theirs.tokenizer.bos_token_id
        == theirs.tokenizer.pad_token_id
        == ours.bos_token_id
        == ours.pad_token_id
    )
    assert theirs.cfg.default_prepend_bos and theirs.tokenizer.padding_side == ours.padding_side == "right"


@pytest.mark.parametrize("side", [None, "left", "right"])
@pytest.mark.parametrize("bos", [None, True, False])
@pytest.mark.parametrize("text", [PROMPTS[0], PROMPTS, [""]], ids=["one", "several", "empty"])
def test_to_tokens(pair, text, bos, side) -> None:
    both(pair, lambda m: m.to_tokens(text, prepend_bos=bos, padding_side=side))


@pytest.mark.parametrize("truncate", [True, False])
def test_to_tokens_cuts_at_n_ctx_unless_told_not_to(pair, truncate) -> None:
    ids = both(pair, lambda m: m.to_tokens(TEXT[:200], truncate=truncate))
    assert (ids.shape[1] == N_CTX) == truncate


def test_model_defaults_for_bos_and_padding_side(pair) -> None:
    ours, theirs = pair
    ours.default_prepend_bos = theirs.cfg.default_prepend_bos = False
    ours.padding_side = theirs.tokenizer.padding_side = "left"
    both(pair, lambda m: m.to_tokens(PROMPTS))
    both(pair, lambda m: m(PROMPTS))  # left padding: the pads are masked on both sides
    both(pair, lambda m: m(PROMPTS, return_type="loss", loss_per_token=True))


def test_to_string(pair) -> None:
    ids = pair[0].to_tokens(PROMPTS)
    both(pair, lambda m: m.to_string(ids))
    both(pair, lambda m: m.to_string(ids[0]))
    both(pair, lambda m: m.to_string(ids[2].tolist()))


@pytest.mark.parametrize("bos", [None, False])
def test_to_str_tokens(pair, bos) -> None:
    ids = pair[0].to_tokens(PROMPTS[0])
    both(pair, lambda m: m.to_str_tokens(PROMPTS[0], prepend_bos=bos))
    both(pair, lambda m: m.to_str_tokens(PROMPTS, prepend_bos=bos))
    both(pair, lambda m: [m.to_str_tokens(ids), m.to_str_tokens(ids[0]), m.to_str_tokens(np.asarray(ids[0]))])


def test_single_tokens(pair) -> None:
    mary = both(pair, lambda m: m.to_single_token(" Mary"))
    both(pair, lambda m: m.to_single_str_token(mary))
    both(pair, lambda m: m.tokens_to_residual_directions(" Mary"))
    ids = pair[0].to_tokens(PROMPTS[:2], prepend_bos=False)
    both(pair, lambda m: m.tokens_to_residual_directions(ids))


@pytest.mark.parametrize("bos", [None, False])
@pytest.mark.parametrize("mode", ["first", "last"])
def test_get_token_position(pair, mode, bos) -> None:
    text = "When John and Mary went to the shops, John gave the bag to Mary"
    both(pair, lambda m: m.get_token_position(" John", text, mode=mode, prepend_bos=bos))
    ids = pair[0].to_tokens(text)
    both(pair, lambda m: m.get_token_position(pair[0].to_single_token(" Mary"), ids, mode=mode))


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("return_type", ["logits", "loss", "both"])
def test_string_input_to_forward(pair, return_type, side) -> None:
    both(pair, lambda m: m(PROMPTS[0], return_type=return_type))
    both(pair, lambda m: m(PROMPTS, return_type=return_type, padding_side=side))
    both(
        pair,
        lambda m: m(PROMPTS, return_type="loss", loss_per_token=True, padding_side=side, prepend_bos=False),
    )


def test_string_input_to_run_with_cache(pair) -> None:
    def scenario(model):
        logits, cache = model.run_with_cache(PROMPTS, padding_side="left")
        return logits, {name: cache[name] for name in sorted(cache.keys())}

    both(pair, scenario)


@pytest.mark.parametrize(
    "prompt",
    [PROMPTS[0], PROMPTS, "", "tokens"],
    ids=["one", "several-left-padded", "empty", "tokens"],
)
def test_greedy_generate(pair, prompt) -> None:
    if prompt == "tokens":
        prompt = pair[0].to_tokens(PROMPTS[2])
    longest = pair[0].to_tokens(prompt).shape[1] if not isinstance(prompt, torch.Tensor) else prompt.shape[1]
    new = min(6, N_CTX - longest)  # TransformerLens fails past n_ctx; circuitlab keeps the last n_ctx
    both(pair, lambda m: m.generate(prompt, max_new_tokens=new, do_sample=False, verbose=False))
    both(
        pair,
        lambda m: m.generate(prompt, max_new_tokens=3, do_sample=False, return_type="tokens", verbose=False),
    )


def test_generate_stops_at_endoftext(pair) -> None:
    ours, theirs = pair
    eot = ours.bos_token_id
    saved = ours.unembed.b_U[eot].item()
    for model in pair:
        with torch.no_grad():
            model.unembed.b_U[eot] = 50.0  # the model ends the text at once
    try:
        out = both(pair, lambda m: m.generate(PROMPTS, max_new_tokens=5, do_sample=False, verbose=False))
        assert out[1] == PROMPTS[1]
        tokens = both(
            pair, lambda m: m.generate(PROMPTS[0], 5, do_sample=False, return_type="tokens", verbose=False)
        )
        assert tokens.shape[1] == ours.to_tokens(PROMPTS[0]).shape[1] + 1
    finally:
        for model in pair:
            with torch.no_grad():
                model.unembed.b_U[eot] = saved
