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
4. the induction score and the in-context-learning score against tokens seen (the phase change).

Verdict: max induction score >= 0.7 for a layer-1 head; K-composition of the top pair above the
random baseline and above its Q- and V-composition; ablation removes >= 80% of the in-context
gain (first-half loss minus second-half loss).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from circuitlab.circuits import ablate_heads, composition_baseline, composition_scores, head_scores
from circuitlab.experiments.base import ClaimResult, RunContext, timed, verdict
from circuitlab.experiments.induction_figures import (
    plot_composition,
    plot_patterns,
    plot_phase_change,
    write_attention_viewer,
)
from circuitlab.experiments.induction_recipe import INDUCTION_THRESHOLD, InductionRecipe, induction_recipe
from circuitlab.experiments.induction_train import TrainedInduction, scoring_tokens, train_induction

SEED = (
    "Two layer Transformers: At this stage, the composition of attention Heads across layers leads to "
    "formation of induction heads which are equivalent to a simple in-context learning algorithms. The "
    "formation of these induction heads lead to a turning point for emergence."
)
HEAD_THRESHOLD = 0.3  # a head "is" a previous-token / induction head above this score
ABLATION_THRESHOLD = 0.8  # share of the in-context gain the ablation must remove


@dataclass
class InductionResult(ClaimResult):
    """ClaimResult plus the found heads, the score history and the recipe."""

    previous_token_heads: list[list[int]] = field(default_factory=list)  # [layer, head]
    induction_heads: list[list[int]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    recipe: dict[str, Any] = field(default_factory=dict)


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


def two_layer_induction(ctx: RunContext) -> InductionResult:
    """Train (or reload) the 2-layer model, find its induction circuit and check the claim."""
    return run_induction(ctx, induction_recipe(ctx.profile, seed=ctx.seed, device=ctx.device))


def run_induction(ctx: RunContext, recipe: InductionRecipe) -> InductionResult:
    """``two_layer_induction`` with an explicit recipe (tests use a tiny one)."""
    with timed() as elapsed:
        trained = train_induction(ctx, recipe)
        ctx.report(0.88, "two_layer_induction: scoring heads, composition and ablation")
        result = analyse(ctx, trained)
    result.seconds = elapsed()
    ctx.report(1.0, f"two_layer_induction: {result.verdict}")
    return result


def analyse(ctx: RunContext, trained: TrainedInduction) -> InductionResult:
    """Every measurement and figure of the claim, on a trained model."""
    model, recipe = trained.model, trained.recipe
    bos = getattr(trained.data.tokenizer, "eot_id", None)
    tokens = scoring_tokens(recipe, bos, seed=4321)  # held-out draw, not the tracker's
    ind_scores, prev_scores = (
        head_scores(model, "induction", tokens),
        head_scores(model, "previous_token", tokens),
    )
    prev, ind = find_heads(prev_scores, 0), find_heads(ind_scores, 1)
    comp = composition_table(model, prev, ind)
    k, q, v = (float(comp["scores"][m][prev[0], ind[0]]) for m in ("K", "Q", "V"))
    ablation = ablate_heads(model, tokens, [(1, i) for i in ind], kind="zero")
    half = (tokens.shape[1] - 1) // 2
    clean_first, clean_second = half_losses(ablation.clean_loss, half)
    abl_first, abl_second = half_losses(ablation.ablated_loss, half)
    gain = clean_first - clean_second
    removed = (abl_second - clean_second) / gain if gain > 0 else 0.0
    first = next((p for p in trained.history if p.induction >= INDUCTION_THRESHOLD), None)
    measured = {
        "max_induction_score": round(float(ind_scores[1].max()), 4),
        "induction_heads": [f"1.{i}" for i in ind],
        "previous_token_heads": [f"0.{p}" for p in prev],
        "max_previous_token_score": round(float(prev_scores[0].max()), 4),
        "k_composition_top_pair": round(k, 4),
        "q_composition_top_pair": round(q, 4),
        "v_composition_top_pair": round(v, 4),
        "k_composition_baseline": round(comp["baseline"]["K"], 4),
        "loss_first_half": round(clean_first, 3),
        "loss_second_half": round(clean_second, 3),
        "ablated_loss_first_half": round(abl_first, 3),
        "ablated_loss_second_half": round(abl_second, 3),
        "in_context_gain_removed_by_ablation": round(removed, 3),
        "icl_score_final": trained.history[-1].icl if trained.history else None,
        "tokens_seen": trained.tokens_seen,
        "train_seconds": round(trained.train_seconds, 1),
        "tokens_per_s": round(trained.tokens_per_s),
        "tokens_to_induction": first.tokens if first else None,
        "seconds_to_induction": first.seconds if first else None,
        "reloaded": trained.reloaded,
    }
    ok_ind = measured["max_induction_score"] >= INDUCTION_THRESHOLD
    ok_comp = k > comp["baseline"]["K"] and k > q and k > v
    ok_abl = removed >= ABLATION_THRESHOLD
    figures = {
        "Attention patterns of the found heads on BOS + R + R": ctx.rel(
            plot_patterns(ctx, model, tokens[:1], [(0, p) for p in prev] + [(1, i) for i in ind])
        ),
        "Composition scores, layer-0 heads -> layer-1 heads": ctx.rel(
            plot_composition(ctx, comp["scores"], comp["baseline"])
        ),
        "The phase change: induction and in-context-learning scores against tokens seen": ctx.rel(
            plot_phase_change(ctx, trained.history)
        ),
    }
    write_attention_viewer(
        ctx,
        model,
        trained.data,
        {(0, p): "previous_token" for p in prev} | {(1, i): "induction" for i in ind},
    )
    return InductionResult(
        id="two_layer_induction",
        seed=SEED,
        measured=measured,
        threshold=(
            f"max layer-1 induction score >= {INDUCTION_THRESHOLD}; K-composition of the top "
            "(previous-token, induction) pair above the random baseline and above its Q- and "
            f"V-composition; zero-ablating the induction heads removes >= {ABLATION_THRESHOLD:.0%} "
            "of the in-context gain (second-half loss back near first-half level)"
        ),
        verdict=verdict(ok_ind and ok_comp and ok_abl),
        ran=_ran(trained, recipe),
        figures=figures,
        tables={
            "Composition of (previous-token, induction) pairs": comp["rows"],
            "Scores against tokens seen": _history_rows(trained),
        },
        notes=_notes(recipe, ok_ind, ok_comp, ok_abl),
        previous_token_heads=[[0, p] for p in prev],
        induction_heads=[[1, i] for i in ind],
        history=[vars(p) | {} for p in trained.history],
        recipe=recipe.to_dict(),
    )


def _history_rows(trained: TrainedInduction) -> list[list[Any]]:
    rows: list[list[Any]] = [["step", "tokens", "seconds", "loss", "induction", "prev-token", "ICL score"]]
    rows += [
        [p.step, p.tokens, p.seconds, p.loss, p.induction, p.previous_token, p.icl] for p in trained.history
    ]
    return rows


def _ran(trained: TrainedInduction, recipe) -> str:
    how = (
        "reloaded from checkpoints/two_layer_induction"
        if trained.reloaded
        else (
            f"trained {trained.tokens_seen / 1e6:.1f}M tokens in {trained.train_seconds:.0f} s "
            f"({trained.tokens_per_s:,.0f} tokens/s, {torch.get_num_threads()} threads)"
        )
    )
    return f"{recipe.describe()}; {how}; heads scored on 16 x (BOS + R + R), R of min(50, (n_ctx - 1) // 2) random tokens"


def _notes(recipe, ok_ind: bool, ok_comp: bool, ok_abl: bool) -> str:
    parts = []
    if recipe.repeat_fraction > 0:
        what = "random token ids" if recipe.passage == "random" else "the window's own text"
        parts.append(
            f"quick profile: {recipe.repeat_fraction:.0%} of training windows hold a passage of "
            f"{what} repeated later in the window (a curriculum, RepeatedPassageBatches); the "
            "full profile trains on the pure corpus"
        )
    for ok, what in ((ok_ind, "induction score"), (ok_comp, "K-composition"), (ok_abl, "ablation")):
        if not ok:
            parts.append(f"{what} check failed")
    return "; ".join(parts)


__all__ = ["InductionResult", "find_heads", "half_losses", "run_induction", "two_layer_induction"]
