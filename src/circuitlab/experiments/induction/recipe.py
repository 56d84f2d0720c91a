"""The recipes that grow induction heads in a 2-layer attention-only transformer on a CPU.

Olsson et al. (2022) saw induction heads form in a sudden "phase change" after a few billion
tokens; these recipes make it happen in a few million. Their measurements, dated, are in
docs/induction-recipe.md.

The default, plain-text recipe, no token added to the corpus:

* printable-ASCII characters as tokens (98 ids), context 256, batch 16, d_model 128, 6 heads
  of 32, shortformer positions with the query and key reading LN1(resid + W_pos)
  (``shortformer_pos_in_norm=True``), W_pos initialised to 0.3 x the sinusoidal table;
* AdamW at a constant 5e-3 after 100 warmup steps, no weight decay;
* training windows drawn from the 10% of the corpus's windows richest in repeated rare 8-grams
  (``select_fraction=0.1``: :class:`~circuitlab.data.RepetitionRichWindows`);
* 15M tokens (quick) or 30M (full).

The curriculum recipe (``curriculum=True``), faster and sharper but taught on the very
distribution the heads are scored on:

* the same positions (with TransformerLens's LN1(resid) + W_pos and a small W_pos, previous-token
  heads hardly form), AdamW at a constant 1e-2 (100 warmup steps), wd 0.01, BPE vocabulary 1024,
  context 128, batch 32, d_model 128, 4 heads of 32;
* half of the training windows hold a passage of random token ids repeated later in the window
  (``repeat_fraction=0.5``, ``passage="random"``: ``RepeatedPassageBatches``); 3500 steps
  (14.3M tokens, quick) or 12000 (full, not measured with the curriculum).

An :class:`~circuitlab.training.induction_tracker.InductionTracker` scores the heads every
``eval_every`` steps, so the result records the induction score against tokens seen. The claim
passes when the max layer-1 induction score reaches ``INDUCTION_THRESHOLD``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from circuitlab.data.tokenizer import CharTokenizer
from circuitlab.errors import ConfigError
from circuitlab.experiments.base import RunContext
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
    tokenizer: str = "bpe"  # "bpe" (vocab_size ids, trained on the corpus) or "printable" characters
    select_fraction: float = 0.0  # train on the top fraction of windows by repeated 8-grams (0: all)

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
        if self.select_fraction:
            data += f", windows from the {self.select_fraction:.0%} richest in repeated 8-grams"
        vocab = (
            f"printable characters ({self.vocab_size})"
            if self.tokenizer == "printable"
            else f"BPE {self.vocab_size}"
        )
        return (
            f"{m.n_layers}-layer attention-only, d_model {m.d_model}, {m.n_heads} heads x {m.d_head}, "
            f"{m.positional} positions ({'LN(resid + W_pos)' if m.shortformer_pos_in_norm else 'LN(resid) + W_pos'}"
            f" for Q/K, W_pos init {_pos_init(m)}), {m.normalization}, "
            f"{vocab}, n_ctx {m.n_ctx}, batch {t.batch_size}, AdamW lr {t.lr:g} "
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
            "tokenizer": self.tokenizer,
            "select_fraction": self.select_fraction,
        }


def _pos_init(m: TransformerConfig) -> str:
    scale = m.pos_init_range or m.init_range
    return f"{scale:g} x sinusoidal" if m.pos_init == "sinusoidal" else f"{m.pos_init} std {scale:g}"


def induction_recipe(
    profile: str = "quick",
    seed: int = 0,
    steps: int | None = None,
    device: str = "cpu",
    corpus: str = "stdlib",
    curriculum: bool = False,
    plain: bool | None = None,
) -> InductionRecipe:
    """The measured recipe for ``profile``.

    The default is the plain-text recipe: printable characters, repetition-rich windows of
    unmodified text, 15M tokens ("quick") or 30M ("full"). ``curriculum=True`` is the BPE recipe
    that mixes a repeated random-token passage into half of the training windows (3500 steps
    quick, 12000 full). ``plain`` is the older spelling (``plain=False``: the curriculum).
    ``steps`` overrides the number of optimizer steps (tests and smoke benchmarks shrink it);
    ``corpus`` is the text it trains on: ``"stdlib"`` or a text file, folder or glob. The runs
    behind both are in docs/induction-recipe.md.
    """
    if profile not in ("quick", "full"):
        raise ConfigError(f"induction profile {profile!r}: choose quick or full")
    if plain and curriculum:
        raise ConfigError("induction_recipe: plain=True and curriculum=True contradict each other; pass one")
    return (
        _curriculum_recipe(profile, seed, steps, device, corpus)
        if curriculum or plain is False
        else _plain_recipe(profile, seed, steps, device, corpus)
    )


def _plain_recipe(profile: str, seed: int, steps: int | None, device: str, corpus: str) -> InductionRecipe:
    """Printable characters, n_ctx 256, batch 16, 6 heads of 32, 0.3 x sinusoidal W_pos, lr 5e-3,
    wd 0, windows from the 10% richest in repeated 8-grams; 15M tokens (quick) or 30M (full)."""
    vocab = CharTokenizer.printable().vocab_size
    model = TransformerConfig(
        n_layers=2, d_model=128, n_heads=6, d_head=32, d_vocab=vocab, n_ctx=256,
        attn_only=True, positional="shortformer", normalization="layernorm", shortformer_pos_in_norm=True,
        pos_init="sinusoidal", pos_init_range=0.3, seed=seed,
    )  # fmt: skip
    tokens = 15_000_000 if profile == "quick" else 30_000_000
    n_steps = steps if steps is not None else tokens // (16 * model.n_ctx)
    train = _train_config(n_steps, lr=5e-3, batch=16, weight_decay=0.0, seed=seed, device=device)
    return InductionRecipe(
        profile, vocab, model, train, repeat_fraction=0.0, eval_every=max(1, min(50, n_steps // 4)),
        corpus=corpus, tokenizer="printable", select_fraction=0.1,
    )  # fmt: skip


def _curriculum_recipe(
    profile: str, seed: int, steps: int | None, device: str, corpus: str
) -> InductionRecipe:
    """BPE 1024, n_ctx 128, batch 32, 4 heads of 32, lr 1e-2, wd 0.01; half of the windows hold a
    passage of random ids repeated later; 3500 steps (quick) or 12000 (full)."""
    model = TransformerConfig(
        n_layers=2, d_model=128, n_heads=4, d_head=32, d_vocab=1024, n_ctx=128, attn_only=True,
        positional="shortformer", normalization="layernorm", shortformer_pos_in_norm=True, seed=seed,
    )  # fmt: skip
    n_steps = steps if steps is not None else (3500 if profile == "quick" else 12000)
    train = _train_config(n_steps, lr=1e-2, batch=32, weight_decay=0.01, seed=seed, device=device)
    return InductionRecipe(
        profile, 1024, model, train, repeat_fraction=0.5,
        eval_every=max(1, min(50, n_steps // 4)), passage="random", corpus=corpus,
    )  # fmt: skip


def _train_config(
    steps: int, lr: float, batch: int, weight_decay: float, seed: int, device: str
) -> TrainConfig:
    """AdamW (betas 0.9, 0.95) at a constant ``lr`` after min(100, steps) warmup steps, clip 1.0."""
    return TrainConfig(
        steps=steps, lr=lr, min_lr=lr, warmup=min(100, steps), batch_size=batch, weight_decay=weight_decay,
        grad_clip=1.0, eval_every=0, eval_batches=4, checkpoint_every=0, seed=seed, device=device, progress=False,
    )  # fmt: skip


def context_recipe(ctx: RunContext) -> InductionRecipe:
    """The recipe a reproduce run asks for: its profile, seed, device, corpus and ``curriculum``."""
    return induction_recipe(
        ctx.profile, ctx.seed, device=ctx.device, corpus=ctx.corpus, curriculum=ctx.curriculum
    )


__all__ = ["INDUCTION_THRESHOLD", "InductionRecipe", "context_recipe", "induction_recipe"]
