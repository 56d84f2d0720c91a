"""A padded batch: SDPA with a boolean mask equals the explicit softmax, and padding changes nothing
the tokens compute (positions, keys, the loss) except at the pads themselves."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from tiny_models import tiny_model, tokens

from circuitlab.errors import ShapeError
from circuitlab.hooks import ReadsOnly
from circuitlab.transformer import padding as padding_module

LENGTHS = (10, 6, 3)  # three sequences, two of them padded


def padded(side: str, pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """tokens [3, 10] and their mask, the shorter rows padded on ``side`` with ``pad``."""
    toks, mask = tokens(batch=3, pos=10), torch.zeros(3, 10, dtype=torch.long)
    for row, n in enumerate(LENGTHS):
        keep = slice(0, n) if side == "right" else slice(10 - n, 10)
        mask[row, keep] = 1
    return toks.masked_fill(mask == 0, pad), mask


def explicit(model):
    """Every attention on the reference path (a hook that reads the pattern)."""
    return model.hooks(fwd_hooks=[(lambda n: n.endswith("hook_pattern"), ReadsOnly(lambda a, h: None))])


MODELS = [
    dict(positional="learned", attn_only=False, d_mlp=8),
    dict(positional="shortformer"),
    dict(positional="sinusoidal"),
    dict(positional="none", normalization="none"),
]


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("spec", MODELS, ids=lambda s: s["positional"])
def test_sdpa_with_a_padding_mask_equals_the_reference_path_outputs_and_gradients(spec, side) -> None:
    model = tiny_model(**spec)
    toks, mask = padded(side)
    results = []
    for reference in (False, True):
        model.zero_grad(set_to_none=True)
        if reference:
            with explicit(model):
                loss = model(toks, return_type="loss", attention_mask=mask)
        else:
            loss = model(toks, return_type="loss", attention_mask=mask)
        loss.backward()
        results.append((loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}))
    (fast, fast_grads), (ref, ref_grads) = results
    torch.testing.assert_close(fast, ref, atol=1e-6, rtol=1e-5)
    for name in ref_grads:
        torch.testing.assert_close(fast_grads[name], ref_grads[name], atol=1e-6, rtol=1e-4, msg=name)
        assert torch.isfinite(fast_grads[name]).all()


def test_a_padded_batch_takes_the_fused_kernel_unless_a_hook_reads_the_pattern(monkeypatch) -> None:
    model, (toks, mask) = tiny_model(), padded("left")
    calls = []
    sdpa = F.scaled_dot_product_attention
    monkeypatch.setattr(
        padding_module.F, "scaled_dot_product_attention", lambda *a, **k: calls.append(k) or sdpa(*a, **k)
    )
    model(toks, attention_mask=mask)
    assert len(calls) == model.cfg.n_layers and all(k["attn_mask"].dtype == torch.bool for k in calls)
    with explicit(model):
        model(toks, attention_mask=mask)
    assert len(calls) == model.cfg.n_layers


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("spec", MODELS, ids=lambda s: s["positional"])
def test_each_padded_sequence_computes_what_it_computes_alone(spec, side) -> None:
    model = tiny_model(**spec).eval()
    toks, mask = padded(side, pad=7)
    logits = model(toks, attention_mask=mask)
    for row in range(len(LENGTHS)):
        where = mask[row].bool()
        alone = model(toks[row, where][None])[0]
        torch.testing.assert_close(logits[row, where], alone, atol=1e-5, rtol=1e-5)


def test_the_masked_loss_is_the_mean_over_predictions_between_tokens() -> None:
    model = tiny_model().eval()
    toks, mask = padded("left", pad=5)
    per_token = model(toks, return_type="loss", loss_per_token=True, attention_mask=mask)
    assert per_token.shape == (3, 9)
    total, count = 0.0, 0
    for row, n in enumerate(LENGTHS):
        alone = model(toks[row, mask[row].bool()][None], return_type="loss", loss_per_token=True)[0]
        torch.testing.assert_close(per_token[row, 10 - n :], alone, atol=1e-5, rtol=1e-5)
        assert (per_token[row, : 10 - n] == 0).all()
        total, count = total + alone.sum(), count + n - 1
    mean = model(toks, return_type="loss", attention_mask=mask)
    torch.testing.assert_close(mean, total / count, atol=1e-5, rtol=1e-5)
    logits, both = model(toks, return_type="both", attention_mask=mask)
    torch.testing.assert_close(both, mean, atol=1e-6, rtol=1e-5)


def test_a_query_with_no_token_to_read_has_a_zero_pattern_and_a_zero_z() -> None:
    model, (toks, mask) = tiny_model(), padded("left")
    _, cache = model.run_with_cache(
        toks, attention_mask=mask, names_filter=lambda n: n.endswith(("pattern", "z"))
    )
    lead = 10 - LENGTHS[2]  # the leading pads of the last row see only pads
    assert (cache["pattern", 0][2, :, :lead] == 0).all() and (cache["z", 0][2, :lead] == 0).all()
    torch.testing.assert_close(cache["pattern", 1][2, :, lead:].sum(-1), torch.ones(2, LENGTHS[2]))
    assert (cache["pattern", 1][2, :, lead:, :lead] == 0).all()  # tokens never read a pad


def test_pads_get_a_zero_position_embedding_and_tokens_count_from_zero() -> None:
    model, (toks, mask) = tiny_model(positional="learned"), padded("left")
    _, cache = model.run_with_cache(toks, attention_mask=mask, names_filter="hook_pos_embed")
    pos = cache["hook_pos_embed"]
    assert pos.shape == (3, 10, model.cfg.d_model)
    lead = 10 - LENGTHS[1]
    assert (pos[1, :lead] == 0).all()
    torch.testing.assert_close(pos[1, lead:], model.W_pos[: LENGTHS[1]].detach())


@pytest.mark.parametrize(
    "mask, match",
    [(torch.ones(3, 9, dtype=torch.long), "shape"), (torch.ones(3, 10), "0/1 ints or bools")],
    ids=["wrong-shape", "float"],
)
def test_a_bad_attention_mask_is_refused(mask, match) -> None:
    with pytest.raises(ShapeError, match=match):
        tiny_model()(tokens(), attention_mask=mask)
