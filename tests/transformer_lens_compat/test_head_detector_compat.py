"""cl.circuits.detect_head against TransformerLens 3.9's detect_head on the model's TL twin.

Both sides tokenize with the same tokenizer (a character-level ``tokenizers`` model, BOS =
``<|endoftext|>``): circuitlab through ``model.tokenizer``, TransformerLens through a Hugging Face
fast tokenizer and its own ``to_tokens``. Scores from two forward passes agree to float32
rounding; scores from one shared cache agree exactly.
"""

from __future__ import annotations

import pytest
import tokenizers
import torch
from tiny_models import randomise_non_weights
from tokenizers import models, pre_tokenizers

from circuitlab.circuits import detect_head
from circuitlab.data.tokenizer import EOT, BPETokenizer
from circuitlab.errors import CircuitlabError
from circuitlab.transformer import Transformer, TransformerConfig

tl = pytest.importorskip(
    "transformer_lens", reason="transformer-lens is not installed (pip install circuitlab[interop])"
)
from transformer_lens import head_detector  # noqa: E402
from transformers import PreTrainedTokenizerFast  # noqa: E402

from circuitlab.interop import to_transformer_lens  # noqa: E402

pytestmark = [pytest.mark.interop, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

CHARS = "abcdefghijklmnopqrstuv"  # 22 characters + the BOS: d_vocab 23
PROMPTS = ["abcdefabcdef", "hello hello", "qrsqrsq", "uvuvuvuvuvuv"]  # " " is unknown: the BOS id
NAMES = ["previous_token_head", "duplicate_token_head", "induction_head"]


def char_tokenizer() -> tokenizers.Tokenizer:
    vocab = {EOT: 0, **{c: i + 1 for i, c in enumerate(CHARS)}}
    tok = tokenizers.Tokenizer(models.WordLevel(vocab, unk_token=EOT))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    return tok


@pytest.fixture(scope="module")
def twins() -> tuple[Transformer, tl.HookedTransformer]:
    """A 2-layer, 3-head model with random biases too, and its TransformerLens twin; both tokenize."""
    cfg = TransformerConfig(
        n_layers=2, d_model=16, n_heads=3, d_head=8, d_vocab=23, n_ctx=16, attn_only=False, d_mlp=24,
        positional="learned", init_range=1.0, seed=3,
    )  # fmt: skip
    model = randomise_non_weights(Transformer(cfg), seed=4).eval()
    hooked = to_transformer_lens(model)
    hf = PreTrainedTokenizerFast(
        tokenizer_object=char_tokenizer(), bos_token=EOT, eos_token=EOT, add_bos_token=True
    )
    hf.init_kwargs["name_or_path"] = "circuitlab-char-test"  # TL re-reads it by name otherwise
    hooked.set_tokenizer(hf)
    hooked.cfg.default_prepend_bos = True  # TL's default for its pretrained models
    model.tokenizer = BPETokenizer(char_tokenizer())  # circuitlab's wrapper of a tokenizers model
    return model, hooked


def test_both_sides_tokenize_a_prompt_to_the_same_ids(twins) -> None:
    model, hooked = twins
    ours = [0, *model.tokenizer.encode(PROMPTS[1])]
    assert hooked.to_tokens(PROMPTS[1])[0].tolist() == ours and 0 in ours[1:]


@pytest.mark.parametrize("measure", ["mul", "abs"])
@pytest.mark.parametrize("exclude", [(False, False), (True, False), (False, True), (True, True)],
                         ids=["all", "exclude-bos", "exclude-current", "exclude-both"])  # fmt: skip
@pytest.mark.parametrize("name", NAMES)
def test_named_pattern_on_one_prompt_equals_transformer_lens(twins, name, exclude, measure) -> None:
    model, hooked = twins
    kwargs = dict(exclude_bos=exclude[0], exclude_current_token=exclude[1], error_measure=measure)
    theirs = head_detector.detect_head(hooked, PROMPTS[0], name, **kwargs)
    ours = detect_head(model, PROMPTS[0], name, **kwargs)
    assert ours.shape == theirs.shape == (2, 3) and ours.dtype == theirs.dtype
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)


@pytest.mark.parametrize("measure", ["mul", "abs"])
@pytest.mark.parametrize("name", NAMES)
def test_prompts_of_different_lengths_equal_transformer_lens(twins, name, measure) -> None:
    model, hooked = twins
    theirs = head_detector.detect_head(hooked, PROMPTS, name, error_measure=measure, exclude_bos=True)
    ours = detect_head(model, PROMPTS, name, error_measure=measure, exclude_bos=True)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    ids = [torch.tensor([0, *model.tokenizer.encode(p)]) for p in PROMPTS]  # token ids, BOS added
    torch.testing.assert_close(detect_head(model, ids, name, error_measure=measure, exclude_bos=True), ours)


@pytest.mark.parametrize(
    "heads", [[(0, 2), (1, 0), (1, 1)], {1: [2], 0: [0, 1]}], ids=["pairs", "layer-dict"]
)
def test_a_subset_of_heads_equals_transformer_lens_with_minus_one_elsewhere(twins, heads) -> None:
    model, hooked = twins
    theirs = head_detector.detect_head(hooked, PROMPTS[:2], "induction_head", heads=heads)
    ours = detect_head(model, PROMPTS[:2], "induction_head", heads=heads)
    assert int((theirs == -1).sum()) == 3
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)


@pytest.mark.parametrize("measure", ["mul", "abs"])
def test_scores_from_one_cache_equal_transformer_lens_exactly(twins, measure) -> None:
    model, hooked = twins
    _, tl_cache = hooked.run_with_cache(hooked.to_tokens(PROMPTS[2]), remove_batch_dim=True)
    _, our_cache = model.run_with_cache(torch.tensor([0, *model.tokenizer.encode(PROMPTS[2])]))
    for name in NAMES:
        kwargs = dict(cache=tl_cache, error_measure=measure, exclude_current_token=True)
        theirs = head_detector.detect_head(hooked, PROMPTS[2], name, **kwargs)
        torch.testing.assert_close(detect_head(model, PROMPTS[2], name, **kwargs), theirs, atol=1e-7, rtol=0)
        ours = detect_head(
            model, PROMPTS[2], name, cache=our_cache, error_measure=measure, exclude_current_token=True
        )
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "pattern, measure",
    [
        (torch.ones(13, 13).tril(), "mul"),
        (torch.eye(13), "abs"),
        (torch.ones(13, 13).tril() / torch.arange(1, 14)[:, None], "abs"),  # uniform attention
    ],
    ids=["lower-triangle-mul", "diagonal-abs", "uniform-abs"],
)
def test_a_custom_detection_pattern_equals_transformer_lens(twins, pattern, measure) -> None:
    model, hooked = twins
    prompt = PROMPTS[0]  # 12 characters + BOS = 13 tokens
    theirs = head_detector.detect_head(hooked, prompt, pattern, error_measure=measure)
    torch.testing.assert_close(
        detect_head(model, prompt, pattern, error_measure=measure), theirs, atol=1e-5, rtol=0
    )


REFUSED = {
    "unknown-error-measure": dict(error_measure="max"),
    "unknown-head-name": dict(detection_pattern="copy_head"),
    "pattern-not-lower-triangular": dict(detection_pattern=torch.ones(13, 13)),
    "pattern-of-another-length": dict(detection_pattern=torch.eye(9)),
    "cache-with-several-prompts": dict(seq=PROMPTS, cache={}),
}


@pytest.mark.parametrize("change", REFUSED.values(), ids=REFUSED.keys())
def test_what_transformer_lens_refuses_circuitlab_refuses_with_a_value_error(twins, change) -> None:
    model, hooked = twins
    args = dict(seq=PROMPTS[0], detection_pattern="induction_head") | change
    with pytest.raises((AssertionError, ValueError)):
        head_detector.detect_head(hooked, **args)
    with pytest.raises(CircuitlabError) as info:
        detect_head(model, **args)
    assert isinstance(info.value, ValueError)
