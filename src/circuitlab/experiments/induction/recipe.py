"""The recipe that grows induction heads in a 2-layer attention-only transformer on a CPU.

Olsson et al. (2022) saw induction heads form in a sudden "phase change" after a few billion
tokens; this recipe makes it happen in a few million. The choices (their measurements, dated, are
in docs/induction-recipe.md):

* shortformer positions with the query and key reading LN1(resid + W_pos)
  (``shortformer_pos_in_norm=True``); with TransformerLens's LN1(resid) + W_pos and a small W_pos,
  previous-token heads hardly form;
* a high, constant learning rate (1e-2, AdamW, 100 warmup steps), BPE vocabulary 1024, context
  128, batch 32, d_model 128, 4 heads of 32;
* quick profile only: half of the training windows hold a passage of random token ids repeated
  later in the window (``repeat_fraction=0.5``, ``passage="random"``:
  ``RepeatedPassageBatches``), a curriculum; the full profile trains on the pure corpus for
  12000 steps instead of 3500.

An :class:`~circuitlab.training.induction_tracker.InductionTracker` scores the heads every
``eval_every`` steps, so the result records the induction score against tokens seen. The claim
passes when the max layer-1 induction score reaches ``INDUCTION_THRESHOLD``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from circuitlab.errors import ConfigError
from circuitlab.training import TrainConfig
from circuitlab.transformer import TransformerConfig

INDUCTION_THRESHOLD = 0.7


@dataclass(frozen=True)
class InductionRecipe:
    """Everything that decides how fast induction heads form: model, optimizer, data."""

    profile: str
    vocab_size: int
    model: TransformerConfig
    train: TrainConfig
    repeat_fraction: float  # share of training windows holding a repeated passage (0 = pure corpus)
    eval_every: int
    passage: str = "corpus"  # what is repeated: a "corpus" passage of the window, or "random" ids
    max_bytes: int | None = None  # corpus cap (None: the whole corpus)
    corpus: str = "stdlib"  # the embedded corpus, or a text file / folder / glob

    @property
    def tokens_per_step(self) -> int:
        return self.train.batch_size * self.model.n_ctx

    def describe(self) -> str:
        m, t = self.model, self.train
        what = (
            "random-token passage repeated" if self.passage == "random" else "passage of the window repeated"
        )
        data = (
            "pure corpus"
            if self.repeat_fraction == 0
            else f"corpus with a {what} later in {self.repeat_fraction:.0%} of windows"
        )
        return (
            f"{m.n_layers}-layer attention-only, d_model {m.d_model}, {m.n_heads} heads x {m.d_head}, "
            f"{m.positional} positions ({'LN(resid + W_pos)' if m.shortformer_pos_in_norm else 'LN(resid) + W_pos'}"
            f" for Q/K, W_pos init {m.pos_init} std {m.pos_init_range or m.init_range}), {m.normalization}, "
            f"BPE {self.vocab_size}, n_ctx {m.n_ctx}, batch {t.batch_size}, AdamW lr {t.lr:g} "
            f"(warmup {t.warmup}, then {'constant' if t.min_lr == t.lr else f'cosine to {t.min_lr:g}'}), wd {t.weight_decay:g}, {t.steps} steps "
            f"= {t.steps * self.tokens_per_step / 1e6:.1f}M tokens, {data}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "vocab_size": self.vocab_size,
            "model": self.model.to_dict(),
            "train": self.train.to_dict(),
            "repeat_fraction": self.repeat_fraction,
            "eval_every": self.eval_every,
            "max_bytes": self.max_bytes,
            "corpus": self.corpus,
            "passage": self.passage,
        }


def induction_recipe(
    profile: str = "quick",
    seed: int = 0,
    steps: int | None = None,
    device: str = "cpu",
    corpus: str = "stdlib",
) -> InductionRecipe:
    """The measured recipe for ``profile`` ("quick": minutes, curriculum; "full": pure corpus).

    ``steps`` overrides the number of optimizer steps (tests and smoke benchmarks shrink it);
    ``corpus`` is the text it trains on: ``"stdlib"`` or a text file, folder or glob.
    """
    if profile not in ("quick", "full"):
        raise ConfigError(f"induction profile {profile!r}: choose quick or full")
    vocab = 1024
    model = TransformerConfig(
        n_layers=2,
        d_model=128,
        n_heads=4,
        d_head=32,
        d_vocab=vocab,
        n_ctx=128,
        attn_only=True,
        positional="shortformer",
        normalization="layernorm",
        shortformer_pos_in_norm=True,
        seed=seed,
    )
    n_steps = steps if steps is not None else (3500 if profile == "quick" else 12000)
    train = TrainConfig(
        steps=n_steps,
        lr=1e-2,
        min_lr=1e-2,
        warmup=min(100, n_steps),
        batch_size=32,
        weight_decay=0.01,
        grad_clip=1.0,
        eval_every=0,
        eval_batches=4,
        checkpoint_every=0,
        seed=seed,
        device=device,
        progress=False,
    )
    return InductionRecipe(
        profile,
        vocab,
        model,
        train,
        repeat_fraction=0.5 if profile == "quick" else 0.0,
        eval_every=max(1, min(50, n_steps // 4)),
        passage="random",
        corpus=corpus,
    )


__all__ = ["INDUCTION_THRESHOLD", "InductionRecipe", "induction_recipe"]
