"""Two layers form induction heads by K-composition (Elhage et al. 2021; Olsson et al. 2022).

A 2-layer attention-only transformer trained on the embedded corpus (the Python standard
library source) is taken apart:

1. previous-token heads in layer 0 and induction heads in layer 1, found by their scores on
   repeated random tokens BOS + R + R (``circuits.head_scores``);
2. the K-composition score ||W_OV^(0,p) W_QK^(1,i)T||_F / (||W_OV|| ||W_QK||) of each
   (previous-token, induction) pair, against the score of random matrices of the same shapes
   and against the pair's Q- and V-composition: the induction head's key reads what the
   previous-token head wrote;
3. zero-ablating the induction heads removes in-context learning: on BOS + R + R the loss on
   the second copy of R rises back to the level of the first copy;
4. the phase change (Olsson et al. 2022, Figure 1 / argument 1): the training loss, the
   in-context-learning score and the heads' induction (prefix-matching), previous-token and
   copying scores against tokens seen, the window from ``circuits.find_phase_change`` shaded, and
   the per-token loss after the window minus before it; results.json records the window and the
   tokens and seconds at which the induction score first reached 0.7.

Verdict: max induction score >= 0.7 for a layer-1 head; K-composition of the top pair above the
random baseline and above its Q- and V-composition; ablation removes >= 80% of the in-context
gain (first-half loss minus second-half loss).

The induction score is Olsson et al.'s prefix-matching score: the attention of the second copy's
queries on the token after their earlier occurrence (``denominator="second_copy"``). Over every row
with an earlier copy (``detect_head``'s rows, with first-copy tokens repeated in R by chance, common
in a small vocabulary, where a head matching a longer prefix rightly looks elsewhere) it is
``max_induction_score_any_repeat``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from circuitlab.circuits import (
    PhaseChange,
    ablate_heads,
    composition_baseline,
    composition_scores,
    head_scores,
)
from circuitlab.circuits.heads import icl_positions
from circuitlab.experiments.base import ClaimResult, Judgement, RunContext, corpus_label
from circuitlab.experiments.induction.figures import (
    DIFFERENCE_CAPTION,
    PHASE_CAPTION,
    plot_composition,
    plot_loss_difference,
    plot_patterns,
    plot_phase_change,
)
from circuitlab.experiments.induction.phase import loss_difference, phase_measured, phase_window
from circuitlab.experiments.induction.recipe import INDUCTION_THRESHOLD, InductionRecipe, context_recipe
from circuitlab.experiments.induction.train import (
    NAME,
    TrainedInduction,
    bos_id,
    scoring_tokens,
    train_induction,
)
from circuitlab.experiments.induction.viewer import write_attention_viewer

HEAD_THRESHOLD = 0.3  # a head "is" a previous-token / induction head above this score
ABLATION_THRESHOLD = 0.8  # share of the in-context gain the ablation must remove


@dataclass
class InductionResult(ClaimResult):
    """ClaimResult plus the found heads, the score history and the recipe."""

    previous_token_heads: list[list[int]] = field(default_factory=list)  # [layer, head]
    induction_heads: list[list[int]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    recipe: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InductionMeasurement:
    """Everything measured on the trained model: found heads, composition, the ablation's losses."""

    trained: TrainedInduction
    tokens: torch.Tensor  # [16, 2 half + 1] held-out BOS + R + R
    induction_scores: torch.Tensor  # [n_layers, n_heads] prefix-matching, second copy (Olsson et al.)
    any_repeat_scores: torch.Tensor  # the same over every row with an earlier copy of its token
    previous_scores: torch.Tensor
    previous: list[int]  # layer-0 previous-token heads, best first
    induction: list[int]  # layer-1 induction heads, best first
    composition: dict[str, Any]  # scores (Q/K/V [h0, h1]), baseline, rows
    losses: dict[str, float]  # clean / ablated loss on the first and the second copy of R
    phase: PhaseChange | None  # the phase-change window of the tracked history (None: too few points)

    def top_pair(self, mode: str) -> float:
        """The mode's composition score of the best (previous-token, induction) pair."""
        return float(self.composition["scores"][mode][self.previous[0], self.induction[0]])

    @property
    def gain_removed(self) -> float:
        """Share of the in-context gain (first-copy loss - second-copy loss) the ablation removes."""
        loss = self.losses
        gain = loss["first"] - loss["second"]
        return (loss["ablated_second"] - loss["second"]) / gain if gain > 0 else 0.0


def two_layer_induction(ctx: RunContext, recipe: InductionRecipe | None = None) -> InductionResult:
    """Train (or reload) the 2-layer model, find its induction circuit and check the claim.

    ``recipe`` defaults to the measured recipe of ``ctx.profile`` (tests pass a tiny one).
    """
    recipe = recipe or context_recipe(ctx)
    trained = train_induction(ctx, recipe)
    ctx.report(0.88, "two_layer_induction: scoring heads, composition and ablation")
    m = measure(trained)
    result = render(ctx, m, judge(m))
    ctx.report(1.0, f"two_layer_induction: {result.verdict}")
    return result


def find_heads(scores: torch.Tensor, layer: int) -> list[int]:
    """Heads of ``layer`` scoring >= HEAD_THRESHOLD, best first (always at least the best one)."""
    row = scores[layer]
    order = row.argsort(descending=True).tolist()
    return [h for h in order if row[h] >= HEAD_THRESHOLD] or order[:1]


def half_losses(loss: torch.Tensor, half: int) -> tuple[float, float]:
    """Mean loss on the first copy of R and on the second (its first token left out).

    ``loss[:, t - 1]`` is the loss of token t of BOS + R + R: tokens 1..half are the first copy,
    half + 2 .. 2 half the predictable part of the second.
    """
    return float(loss[:, :half].mean()), float(loss[:, half + 1 :].mean())


def composition_table(model, prev: list[int], ind: list[int]) -> dict[str, Any]:
    """Q/K/V composition of every (layer-0 previous-token head, layer-1 induction head) pair."""
    comp = {m: composition_scores(model, m)[0, :, 1, :].double() for m in ("Q", "K", "V")}
    base = {m: composition_baseline(model, m) for m in ("Q", "K", "V")}
    rows = [["previous-token head", "induction head", "K", "Q", "V", "K baseline"]]
    for p in prev:
        for i in ind:
            rows.append(
                [f"0.{p}", f"1.{i}", *(round(float(comp[m][p, i]), 4) for m in "KQV"), round(base["K"], 4)]
            )
    return {"scores": comp, "baseline": base, "rows": rows}


def measure(trained: TrainedInduction) -> InductionMeasurement:
    """Find the heads, their composition, and what zero-ablating the induction heads costs."""
    model = trained.model
    # a held-out draw, not the tracker's
    tokens = scoring_tokens(trained.recipe, bos_id(trained.data), seed=4321)
    ind_scores, prev_scores = (
        head_scores(model, "induction", tokens, denominator="second_copy"),
        head_scores(model, "previous_token", tokens),
    )
    any_repeat = head_scores(model, "induction", tokens)
    prev, ind = find_heads(prev_scores, 0), find_heads(ind_scores, 1)
    comp = composition_table(model, prev, ind)
    ablation = ablate_heads(model, tokens, [(1, i) for i in ind], kind="zero")
    half = (tokens.shape[1] - 1) // 2
    clean, ablated = half_losses(ablation.clean_loss, half), half_losses(ablation.ablated_loss, half)
    losses = {
        "first": clean[0],
        "second": clean[1],
        "ablated_first": ablated[0],
        "ablated_second": ablated[1],
    }
    phase = phase_window(trained.history)
    return InductionMeasurement(
        trained, tokens, ind_scores, any_repeat, prev_scores, prev, ind, comp, losses, phase
    )


def judge(m: InductionMeasurement) -> Judgement:
    k = m.top_pair("K")
    return Judgement(
        {
            "induction score": round(float(m.induction_scores[1].max()), 4) >= INDUCTION_THRESHOLD,
            "K-composition": k > m.composition["baseline"]["K"]
            and k > m.top_pair("Q")
            and k > m.top_pair("V"),
            "ablation": m.gain_removed >= ABLATION_THRESHOLD,
        },
        f"max layer-1 induction (prefix-matching) score on the second copy of BOS + R + R >= "
        f"{INDUCTION_THRESHOLD}; K-composition of the top "
        "(previous-token, induction) pair above the random baseline and above its Q- and "
        f"V-composition; zero-ablating the induction heads removes >= {ABLATION_THRESHOLD:.0%} "
        "of the in-context gain (second-half loss back near first-half level)",
    )


def measured(m: InductionMeasurement) -> dict[str, Any]:
    trained, loss = m.trained, m.losses
    return {
        "max_induction_score": round(float(m.induction_scores[1].max()), 4),
        "max_induction_score_any_repeat": round(float(m.any_repeat_scores[1].max()), 4),
        "induction_heads": [f"1.{i}" for i in m.induction],
        "previous_token_heads": [f"0.{p}" for p in m.previous],
        "max_previous_token_score": round(float(m.previous_scores[0].max()), 4),
        **{f"{mode.lower()}_composition_top_pair": round(m.top_pair(mode), 4) for mode in "KQV"},
        "k_composition_baseline": round(m.composition["baseline"]["K"], 4),
        "loss_first_half": round(loss["first"], 3),
        "loss_second_half": round(loss["second"], 3),
        "ablated_loss_first_half": round(loss["ablated_first"], 3),
        "ablated_loss_second_half": round(loss["ablated_second"], 3),
        "in_context_gain_removed_by_ablation": round(m.gain_removed, 3),
        "icl_score_final": trained.history[-1].icl if trained.history else None,
        "tokens_seen": trained.tokens_seen,
        "train_seconds": round(trained.train_seconds, 1),
        "tokens_per_s": round(trained.tokens_per_s),
        **phase_measured(trained.history, m.phase),
        "reloaded": trained.reloaded,
    }


def render(ctx: RunContext, m: InductionMeasurement, judgement: Judgement) -> InductionResult:
    trained, prev, ind = m.trained, m.previous, m.induction
    heads = [(0, p) for p in prev] + [(1, i) for i in ind]
    figures = {
        "Attention patterns of the found heads on BOS + R + R": plot_patterns(
            ctx, trained.model, m.tokens[:1], heads
        ),
        "Composition scores, layer-0 heads -> layer-1 heads": plot_composition(
            ctx, m.composition["scores"], m.composition["baseline"]
        ),
        PHASE_CAPTION.format(*icl_positions(trained.recipe.model.n_ctx)): plot_phase_change(
            ctx, trained.history, m.phase
        ),
        DIFFERENCE_CAPTION: plot_loss_difference(ctx, loss_difference(trained.history, m.phase)),
    }
    marks = {(0, p): "previous_token" for p in prev} | {(1, i): "induction" for i in ind}
    write_attention_viewer(ctx, trained.model, trained.data, marks)
    return InductionResult(
        measured=measured(m),
        threshold=judgement.threshold,
        verdict=judgement.verdict,
        ran=_ran(trained),
        figures=figures,
        tables={
            "Composition of (previous-token, induction) pairs": m.composition["rows"],
            "Scores against tokens seen": _history_rows(trained),
        },
        notes=_notes(trained.recipe, judgement),
        previous_token_heads=[[0, p] for p in prev],
        induction_heads=[[1, i] for i in ind],
        history=[{k: v for k, v in vars(p).items() if k != "token_losses"} for p in trained.history],
        recipe=trained.recipe.to_dict(),
    )


def _history_rows(trained: TrainedInduction) -> list[list[Any]]:
    rows: list[list[Any]] = [
        ["step", "tokens", "seconds", "loss", "induction", "prev-token", "copying", "ICL score"]
    ]
    rows += [
        [p.step, p.tokens, p.seconds, p.loss, p.induction, p.previous_token, p.copying, p.icl]
        for p in trained.history
    ]
    return rows


def _ran(trained: TrainedInduction) -> str:
    how = (
        f"reloaded from checkpoints/{trained.data.checkpoint_name(NAME)}"
        if trained.reloaded
        else (
            f"trained {trained.tokens_seen / 1e6:.1f}M tokens in {trained.train_seconds:.0f} s "
            f"({trained.tokens_per_s:,.0f} tokens/s, {torch.get_num_threads()} threads)"
        )
    )
    return (
        f"{trained.recipe.describe()}; corpus {corpus_label(trained.data.source)} "
        f"({trained.data.n_bytes / 1e6:.2f} MB); {how}; heads scored on 16 x (BOS + R + R), "
        "R of min(50, (n_ctx - 1) // 2) random tokens"
    )


def _notes(recipe: InductionRecipe, judgement: Judgement) -> str:
    parts = []
    if recipe.repeat_fraction > 0:
        what = "random token ids" if recipe.passage == "random" else "the window's own text"
        parts.append(
            f"curriculum: {recipe.repeat_fraction:.0%} of training windows hold a passage of "
            f"{what} repeated later in the window (a curriculum, RepeatedPassageBatches, asked for "
            "with --curriculum); the default recipe trains on unmodified text"
        )
    if recipe.select_fraction:
        parts.append(
            f"plain text: the training windows are unmodified slices of the corpus, drawn from the "
            f"{recipe.select_fraction:.0%} richest in repeated rare 8-grams (RepetitionRichWindows)"
        )
    parts += [f"{what} check failed" for what in judgement.failed]
    return "; ".join(parts)


__all__ = ["InductionResult", "find_heads", "half_losses", "two_layer_induction"]
