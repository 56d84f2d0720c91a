"""Head detectors find hand-built heads, agree with TransformerLens, and refuse unusable tokens."""

from __future__ import annotations

import pytest
import torch
from tiny_models import tiny

from circuitlab.circuits import (
    detection_pattern,
    head_scores,
    in_context_learning_score,
    per_token_loss,
    repeated_random_tokens,
)
from circuitlab.circuits.heads import attention_patterns, icl_positions
from circuitlab.errors import ConfigError, DataError, ShapeError


def test_repeated_random_tokens_are_bos_then_a_block_repeated_and_never_bos_inside():
    tokens = repeated_random_tokens(d_vocab=5, half_len=40, batch=4, seed=3, bos=2)
    assert tokens.shape == (4, 81)
    assert (tokens[:, 0] == 2).all() and (tokens[:, 1:] != 2).all()
    assert torch.equal(tokens[:, 1:41], tokens[:, 41:])
    assert torch.equal(tokens, repeated_random_tokens(5, 40, 4, seed=3, bos=2))
    assert repeated_random_tokens(5, 3, 2, bos=None).shape == (2, 6)


@pytest.mark.interop
@pytest.mark.parametrize("kind", ["previous_token", "duplicate", "induction"])
def test_detection_patterns_equal_transformer_lens_patterns(kind):
    pytest.importorskip("transformer_lens")
    from transformer_lens import head_detector

    tokens = repeated_random_tokens(d_vocab=6, half_len=7, batch=2, seed=1)
    tl_fn = getattr(
        head_detector,
        f"get_{kind}_head_detection_pattern"
        if kind != "duplicate"
        else "get_duplicate_token_head_detection_pattern",
    )
    for b in range(2):
        torch.testing.assert_close(detection_pattern(tokens, kind)[b], tl_fn(tokens[b : b + 1]))


@torch.no_grad()
def test_hand_built_induction_model_scores_about_one_where_built_and_low_elsewhere(induction_circuit):
    model = induction_circuit
    prev = head_scores(model, "previous_token")
    induction = head_scores(model, "induction")
    assert prev.shape == (2, 2)
    assert prev[0, 0] > 0.99 and induction[1, 0] > 0.95, (prev, induction)
    assert prev[0, 1] < 0.3 and induction[1, 1] < 0.3 and induction[0, 0] < 0.3, (prev, induction)


@torch.no_grad()
def test_early_stopped_patterns_equal_the_cached_patterns_and_leave_no_hook_behind():
    model = tiny(attn_only=False, d_mlp=8)
    tokens = repeated_random_tokens(model.cfg.d_vocab, half_len=5, batch=2)
    _, cache = model.run_with_cache(tokens)
    patterns = attention_patterns(model, tokens)
    for layer in range(2):
        torch.testing.assert_close(patterns[:, layer], cache["pattern", layer])
    assert not any(p.active for p in model.hook_dict.values())


@torch.no_grad()
def test_induction_score_with_all_rows_counted_is_bounded_by_the_repeated_fraction(induction_circuit):
    model = induction_circuit
    gen = torch.Generator().manual_seed(0)
    half = torch.stack([torch.randperm(11, generator=gen) + 1 for _ in range(8)])  # no repeat inside a half
    tokens = torch.cat([torch.zeros(8, 1, dtype=torch.long), half, half], 1)  # 23 rows, 11 with a target
    score = head_scores(model, "induction", tokens, denominator="all")[1, 0]
    full = head_scores(model, "induction", tokens)[1, 0]
    assert 0.4 < score <= 11 / 23 + 1e-6  # TransformerLens's normalisation: every query row counts
    torch.testing.assert_close(score, full * 11 / 23)


@torch.no_grad()
@pytest.mark.interop
@pytest.mark.parametrize("kind", ["previous_token", "duplicate", "induction"])
@pytest.mark.parametrize("exclude", [False, True], ids=["plain", "exclude-bos-and-current"])
def test_head_scores_with_all_rows_match_transformer_lens_detect_head(kind, exclude):
    pytest.importorskip("transformer_lens")
    from transformer_lens.head_detector import detect_head

    from circuitlab.interop import to_transformer_lens

    model = tiny(n_ctx=16, d_vocab=7)
    hooked = to_transformer_lens(model)
    tokens = repeated_random_tokens(7, half_len=7, batch=2, seed=4)
    name = {
        "previous_token": "previous_token_head",
        "duplicate": "duplicate_token_head",
        "induction": "induction_head",
    }[kind]
    hooked.to_tokens = lambda seq, **kw: seq  # feed token ids straight through
    theirs = torch.stack(
        [
            detect_head(hooked, tokens[b : b + 1], name, exclude_bos=exclude, exclude_current_token=exclude)
            for b in range(2)
        ]
    ).mean(0)
    ours = head_scores(
        model, kind, tokens, denominator="all", exclude_bos=exclude, exclude_current_token=exclude
    )
    torch.testing.assert_close(ours, theirs.float(), rtol=1e-4, atol=1e-5)


@torch.no_grad()
def test_in_context_learning_score_is_late_minus_early_token_loss(induction_circuit):
    model = induction_circuit
    tokens = repeated_random_tokens(model.cfg.d_vocab, half_len=11, batch=16)
    loss = per_token_loss(model, tokens)
    early, late = icl_positions(tokens.shape[1])
    assert (early, late) == (2, 22)
    assert in_context_learning_score(model, tokens) == pytest.approx(
        (loss[:, late - 1].mean() - loss[:, early - 1].mean()).item()
    )
    assert in_context_learning_score(model, tokens) < -1.0  # the induction head predicts the repeat


def test_icl_positions_are_olsson_tokens_500_and_50_for_long_contexts():
    assert icl_positions(1024) == (50, 500)
    assert icl_positions(501) == (50, 500)
    assert icl_positions(128) == (13, 127)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda m: head_scores(m, "induction", torch.tensor([[0, 1]])), ShapeError, "pos >= 3"),
        (lambda m: head_scores(m, "previous_token", torch.tensor([[0]])), ShapeError, "pos >= 2"),
        (lambda m: head_scores(m, "induction", torch.arange(10)[None]), DataError, "no repeated tokens"),
        (lambda m: head_scores(m, "copying"), ConfigError, "head kind 'copying'"),
        (lambda m: head_scores(m, "induction", denominator="some"), ConfigError, "denominator 'some'"),
        (lambda m: head_scores(tiny(n_layers=0), "induction"), ConfigError, "n_layers=0"),
        (lambda m: in_context_learning_score(m, torch.tensor([[1, 2]])), ShapeError, "pos >= 3"),
        (lambda m: repeated_random_tokens(5, 3, bos=9), ConfigError, "bos=9"),
    ],
    ids=[
        "induction-too-short",
        "previous-too-short",
        "no-repeats",
        "unknown-kind",
        "bad-denominator",
        "no-layers",
        "icl-too-short",
        "bos-out-of-vocab",
    ],
)
def test_unusable_inputs_raise_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(tiny())


@torch.no_grad()
def test_second_copy_score_counts_only_second_copy_rows_with_a_target():
    model = tiny()
    tokens = repeated_random_tokens(6, half_len=5, batch=3, seed=2, bos=0)  # 5 ids: chance repeats in R
    pattern = attention_patterns(model, tokens)  # [b, L, H, q, k]
    target = detection_pattern(tokens, "induction")
    expected = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for b in range(3):
        rows = [q for q in range(6, 11) if target[b, q].any()]  # the second copy: positions 6..10
        on = sum(pattern[b, :, :, q] @ target[b, q] for q in rows)
        expected += on / len(rows) / 3
    torch.testing.assert_close(head_scores(model, "induction", tokens, denominator="second_copy"), expected)
    assert (target[:, 1:6].amax(-1) > 0).any()  # the first copy has chance targets the score leaves out
    both = head_scores(model, "induction", tokens)
    assert not torch.allclose(both, expected)
