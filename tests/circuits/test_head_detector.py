"""detect_head scores what the module doc says, from any input form, and refuses what cannot work."""

from __future__ import annotations

import pytest
import torch
from tiny_models import induction_model, tiny

from circuitlab.circuits import detect_head, detection_pattern, head_scores, repeated_random_tokens
from circuitlab.errors import ConfigError, ShapeError

POS = 6


def prev_token_attention(pos: int = POS) -> torch.Tensor:
    """A perfect previous-token head's pattern: row 0 can only attend to itself."""
    return torch.eye(pos).roll(-1, dims=1).tril() + torch.eye(pos) * (torch.arange(pos) == 0)


def cache_with(pattern: torch.Tensor, n_layers: int = 2, n_heads: int = 3) -> dict[str, torch.Tensor]:
    """A cache whose every head has ``pattern`` (no batch dim, as TransformerLens's detector makes)."""
    return {f"blocks.{layer}.attn.hook_pattern": pattern.expand(n_heads, -1, -1) for layer in range(n_layers)}


def test_scores_of_a_perfect_previous_token_head_are_the_module_doc_formulas():
    model, tokens = tiny(), torch.arange(POS)
    cache = cache_with(prev_token_attention())
    mul = detect_head(model, tokens, "previous_token_head", cache=cache)
    torch.testing.assert_close(mul, torch.full((2, 3), (POS - 1) / POS))  # row 0's attention is off target
    no_bos = detect_head(model, tokens, "previous_token_head", cache=cache, exclude_bos=True)
    torch.testing.assert_close(no_bos, torch.ones(2, 3))
    absolute = detect_head(model, tokens, "previous_token_head", cache=cache, error_measure="abs")
    torch.testing.assert_close(absolute, torch.full((2, 3), 1 - round(1 / POS, 3)))  # sum|A - D| = 1
    opposite = detect_head(model, tokens, torch.eye(POS), cache=cache, error_measure="abs")
    torch.testing.assert_close(opposite, torch.full((2, 3), 1 - round((2 * POS - 2) / POS, 3)))


def test_named_patterns_on_a_batch_equal_head_scores_over_all_rows():
    model = induction_model()
    tokens = repeated_random_tokens(model.cfg.d_vocab, half_len=5, batch=3, seed=2)
    for name, kind in [("previous_token_head", "previous_token"), ("induction_head", "induction")]:
        ours = detect_head(model, tokens, name, exclude_bos=True)
        torch.testing.assert_close(
            ours, head_scores(model, kind, tokens, denominator="all", exclude_bos=True)
        )
        torch.testing.assert_close(detect_head(model, tokens, kind, exclude_bos=True), ours)  # alias


def test_sequences_of_different_lengths_average_their_single_scores():
    model = tiny(seed=3)
    seqs = [torch.tensor([0, 5, 6, 7, 5, 6, 7]), [0, 4, 9, 4, 9], torch.tensor([0, 8, 2, 8])]
    singles = [detect_head(model, s, "duplicate_token_head") for s in seqs]
    torch.testing.assert_close(detect_head(model, seqs, "duplicate_token_head"), torch.stack(singles).mean(0))
    same_length = torch.stack([seqs[0], seqs[0].flip(0)])
    torch.testing.assert_close(
        detect_head(model, same_length, torch.eye(7).tril(-1)),
        torch.stack([detect_head(model, row, torch.eye(7).tril(-1)) for row in same_length]).mean(0),
    )


def test_heads_selects_which_heads_are_scored_and_the_rest_are_minus_one():
    model, tokens = tiny(seed=1), repeated_random_tokens(23, half_len=4, batch=1, seed=0)[0]
    full = detect_head(model, tokens, "induction_head")
    for heads in ([(0, 1), (1, 2)], {0: [1], 1: [2]}):
        picked = detect_head(model, tokens, "induction_head", heads=heads)
        mask = torch.zeros(2, 3, dtype=torch.bool)
        mask[0, 1] = mask[1, 2] = True
        torch.testing.assert_close(picked, torch.where(mask, full, -1.0))


def test_a_cache_gives_the_scores_of_running_the_model_and_only_needs_the_asked_layers():
    model, tokens = tiny(seed=2), repeated_random_tokens(23, half_len=4, batch=1, seed=1)
    _, cache = model.run_with_cache(tokens)
    run = detect_head(model, tokens, "previous_token_head", error_measure="abs")
    torch.testing.assert_close(
        detect_head(model, tokens, "previous_token_head", cache=cache, error_measure="abs"), run
    )
    _, layer1 = model.run_with_cache(tokens, names_filter=lambda name: name == "blocks.1.attn.hook_pattern")
    picked = detect_head(
        model, tokens, "previous_token_head", heads={1: [0, 2]}, cache=layer1, error_measure="abs"
    )
    torch.testing.assert_close(picked[1, [0, 2]], run[1, [0, 2]])
    assert (picked[0] == -1).all() and picked[1, 1] == -1


class FakeTokenizer:
    """The tokenizer protocol's encode and BPE's eot_id (the BOS prepended to every string)."""

    eot_id = 0

    def encode(self, text: str) -> list[int]:
        return [1 + ord(c) % 20 for c in text]


def test_strings_are_tokenized_with_the_models_tokenizer_and_a_bos():
    model = tiny(seed=4)
    model.tokenizer = FakeTokenizer()
    texts = ["abcabc", "xyzx"]
    ids = [[0, *FakeTokenizer().encode(t)] for t in texts]
    torch.testing.assert_close(
        detect_head(model, texts[0], "induction_head"), detect_head(model, ids[0], "induction_head")
    )
    torch.testing.assert_close(
        detect_head(model, texts, "induction_head"), detect_head(model, ids, "induction_head")
    )


def test_a_non_binary_pattern_under_mul_warns():
    with pytest.warns(UserWarning, match="other than 0 and 1"):
        detect_head(tiny(), torch.arange(4), 0.5 * torch.ones(4, 4).tril())


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(detection_pattern="copy_head"), ConfigError),
        (dict(error_measure="max"), ConfigError),
        (dict(detection_pattern=torch.ones(POS, POS)), ShapeError),
        (dict(detection_pattern=torch.ones(POS, POS - 1).tril()), ShapeError),
        (dict(detection_pattern=torch.eye(POS + 1)), ShapeError),
        (dict(seq=torch.tensor([3])), ShapeError),
        (dict(seq="some text"), ConfigError),
        (dict(seq=[torch.arange(POS), torch.arange(4)], cache={}), ConfigError),
        (dict(cache={}), ConfigError),
        (dict(heads=[(2, 0)]), ConfigError),
        (dict(heads={0: [3]}), ConfigError),
        (dict(seq=torch.arange(POS) + 20), ShapeError),
    ],
    ids=[
        "unknown-head-name",
        "unknown-error-measure",
        "not-lower-triangular",
        "not-square",
        "pattern-length-differs",
        "one-token",
        "string-without-tokenizer",
        "cache-with-several-sequences",
        "cache-without-patterns",
        "layer-out-of-range",
        "head-out-of-range",
        "token-out-of-vocab",
    ],
)
def test_unusable_arguments_raise_a_value_error_naming_the_fix(kwargs, error):
    args = dict(seq=torch.arange(POS), detection_pattern="previous_token_head") | kwargs
    with pytest.raises(error) as info:
        detect_head(tiny(), **args)
    assert isinstance(info.value, ValueError) and len(str(info.value)) > 30


def test_detection_pattern_names_agree_with_head_scores_patterns():
    tokens = repeated_random_tokens(23, half_len=4, batch=2, seed=0)
    model = tiny()
    cache = {f"blocks.{layer}.attn.hook_pattern": torch.ones(3, 9, 9).tril() / 9 for layer in range(2)}
    for kind in ("previous_token", "duplicate", "induction"):
        target = detection_pattern(tokens[:1], kind)[0]
        expected = (target.tril() / 9).sum() / (torch.ones(9, 9).tril() / 9).sum()
        torch.testing.assert_close(
            detect_head(model, tokens[0], kind, cache=cache), torch.full((2, 3), float(expected))
        )
