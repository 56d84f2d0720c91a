"""A tiny induction recipe and a tiny code corpus for the two-layer induction claim's tests."""

from __future__ import annotations

from pathlib import Path

from circuitlab.experiments.induction.recipe import InductionRecipe
from circuitlab.training import TrainConfig
from circuitlab.transformer import TransformerConfig

CODE = '''def add(a, b):
    """Return a + b."""
    return a + b


class Counter:
    def __init__(self, start=0):
        self.value = start

    def increment(self, step=1):
        self.value += step
        return self.value
'''


def tiny_recipe(corpus: Path) -> InductionRecipe:
    model = TransformerConfig(
        n_layers=2,
        d_model=32,
        n_heads=2,
        d_head=16,
        d_vocab=300,
        n_ctx=32,
        attn_only=True,
        positional="shortformer",
        pos_init_range=1.0,
        seed=0,
    )
    train = TrainConfig(
        steps=8,
        lr=1e-2,
        min_lr=1e-3,
        warmup=2,
        batch_size=4,
        eval_every=0,
        checkpoint_every=0,
        progress=False,
    )
    return InductionRecipe("quick", 300, model, train, repeat_fraction=0.5, eval_every=4, corpus=str(corpus))


def write_corpus(folder: Path, name: str = "Counter") -> Path:
    """Six small Python files (``name`` varies the text, hence the corpus's hash) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(6):
        (folder / f"mod{i}.py").write_text(CODE.replace("Counter", f"{name}{i}") * 3)
    return folder
