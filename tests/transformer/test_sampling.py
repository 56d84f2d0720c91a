"""generate(): greedy is deterministic, a seed fixes a sample, top_k=1 is greedy."""

from __future__ import annotations

import pytest
import torch
from tiny_models import tiny_model, tokens

from circuitlab.errors import ConfigError
from circuitlab.transformer.sampling import generate


@pytest.fixture(scope="module")
def model():
    return tiny_model(n_ctx=8)


def test_greedy_is_deterministic_and_takes_the_argmax(model) -> None:
    prompt = tokens(batch=2, pos=3)
    out = generate(model, prompt, max_new_tokens=4, temperature=0)
    assert out.shape == (2, 7) and torch.equal(out[:, :3], prompt)
    assert torch.equal(out, generate(model, prompt, max_new_tokens=4, temperature=0))
    for i in range(3, 7):
        assert torch.equal(out[:, i], model(out[:, :i])[:, -1].argmax(-1))


def test_same_seed_same_sample_and_the_global_rng_is_untouched(model) -> None:
    prompt = tokens(batch=2, pos=3)
    state = torch.random.get_rng_state()
    a = generate(model, prompt, max_new_tokens=6, temperature=1.0, seed=7)
    b = generate(model, prompt, max_new_tokens=6, temperature=1.0, seed=7)
    assert torch.equal(a, b)
    assert torch.equal(torch.random.get_rng_state(), state)
    samples = {tuple(generate(model, prompt, 6, 1.0, seed=s).flatten().tolist()) for s in range(5)}
    assert len(samples) > 1


def test_top_k_one_is_greedy(model) -> None:
    prompt = tokens(batch=2, pos=3)
    greedy = generate(model, prompt, max_new_tokens=5, temperature=0)
    assert torch.equal(generate(model, prompt, 5, temperature=1.5, top_k=1, seed=3), greedy)


def test_context_is_cropped_to_n_ctx(model) -> None:
    out = generate(model, tokens(batch=1, pos=8), max_new_tokens=5, temperature=0)
    assert out.shape == (1, 13)


def test_model_mode_is_restored(model) -> None:
    model.train()
    generate(model, tokens(batch=1, pos=2), 1, temperature=0)
    assert model.training


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(max_new_tokens=-1), "max_new_tokens=-1"),
        (dict(max_new_tokens=1, temperature=-0.5), "temperature=-0.5"),
        (dict(max_new_tokens=1, top_k=0), "top_k=0"),
    ],
    ids=["negative-length", "negative-temperature", "top-k-zero"],
)
def test_bad_sampling_arguments_are_named(model, kwargs, match) -> None:
    with pytest.raises(ConfigError, match=match):
        generate(model, tokens(batch=1, pos=2), **kwargs)
