"""Fixtures the hook conformance tests share (the model pairs themselves are in compat_models)."""

from __future__ import annotations

import logging

import pytest
from compat_models import make_pair


@pytest.fixture(scope="module")
def module_pair():
    """(ours, theirs) built once per test module."""
    return make_pair()


@pytest.fixture
def hooked_pair(module_pair, caplog):
    """``module_pair``, with every hook, context and gradient removed after each test."""
    caplog.set_level(logging.ERROR)  # TL logs warnings (run_with_hooks with backward hooks, cache_all)
    yield module_pair
    for model in module_pair:
        model.reset_hooks(including_permanent=True)
        model.zero_grad(set_to_none=True)
