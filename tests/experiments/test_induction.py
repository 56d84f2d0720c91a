"""The two-layer induction claim: its pieces on a tiny model, and (slow) the quick recipe passing."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from claim_helpers import check_result, run_claim
from induction_helpers import tiny_recipe, write_corpus

from circuitlab.data.tokenizer import CharTokenizer
from circuitlab.errors import ConfigError
from circuitlab.experiments.base import RunContext
from circuitlab.experiments.induction.claim import InductionResult, find_heads, half_losses
from circuitlab.experiments.induction.recipe import induction_recipe
from circuitlab.transformer import TransformerConfig


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("induction")
    folder = root / "corpus"
    folder.mkdir()
    write_corpus(folder)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CIRCUITLAB_CACHE", str(root / "cache"))
        yield folder


@pytest.fixture(scope="module")
def tiny_run(tiny_corpus: Path) -> tuple[InductionResult, Path, list[float]]:
    """One tiny training run shared by the schema tests (8 steps of a 2-layer d_model 32 model)."""
    out = tiny_corpus.parent / "run"
    seen: list[float] = []
    ctx = RunContext(out_dir=out, progress=lambda f, m: seen.append(f))
    result = run_claim("two_layer_induction", ctx, recipe=tiny_recipe(tiny_corpus))
    return result, out, seen


def test_tiny_run_returns_a_typed_result_with_history_figures_and_viewer(tiny_run) -> None:
    result, out, seen = tiny_run
    check_result(result, RunContext(out_dir=out), "two_layer_induction")
    assert (
        isinstance(result, InductionResult) and "composition of attention Heads across layers" in result.seed
    )
    for key in (
        "max_induction_score",
        "k_composition_top_pair",
        "k_composition_baseline",
        "in_context_gain_removed_by_ablation",
        "tokens_seen",
    ):
        assert key in result.measured
    assert [h[0] for h in result.induction_heads] == [1] * len(result.induction_heads)
    assert [h[0] for h in result.previous_token_heads] == [0] * len(result.previous_token_heads)
    assert [p["step"] for p in result.history] == [4, 8]
    assert result.measured["tokens_seen"] == 8 * 4 * 32
    for fig in result.figures.values():
        assert (out / fig).stat().st_size > 1000
    json.dumps(result.to_json())
    assert seen[-1] == 1.0 and seen == sorted(seen)


def test_results_record_the_phase_change_and_the_history_keeps_per_token_losses_out_of_them(tiny_run) -> None:
    result, out, _ = tiny_run
    m = result.measured
    assert m["induction_threshold"] == 0.7 and m["phase_change_found"] is False  # 2 points: too few
    assert m["phase_change_start_tokens"] is None and m["phase_change_end_tokens"] is None
    reached = [p["tokens"] for p in result.history if p["induction"] >= 0.7]
    assert m["tokens_to_induction"] == (reached[0] if reached else None)
    assert all("token_losses" not in p and -1 <= p["copying"] <= 1 for p in result.history)
    (saved,) = (out / "checkpoints").glob("two_layer_induction*/induction_history.json")
    rows = json.loads(saved.read_text())["history"]
    assert [len(r["token_losses"]) for r in rows] == [31, 31]  # n_ctx - 1 tokens predicted
    captions = " ".join(result.figures)
    assert "Figure 1" in captions and "token 31 minus token 3" in captions
    assert "Per-token loss difference" in captions and len(result.figures) == 4


def test_attention_viewer_json_holds_rounded_causal_patterns_and_marks(tiny_run) -> None:
    result, out, _ = tiny_run
    viewer = json.loads((out / "attention_viewer.json").read_text())
    n = len(viewer["tokens"])
    assert viewer["layers"] == 2 and viewer["heads"] == 2 and n == 32
    assert all(isinstance(t, str) for t in viewer["tokens"])
    patterns = torch.tensor(viewer["patterns"])
    assert patterns.shape == (2, 2, n, n)
    assert torch.allclose(patterns.sum(-1), torch.ones(2, 2, n), atol=5e-3)
    assert float(patterns.triu(1).abs().max()) == 0.0
    assert all(
        round(x, 3) == x for layer in viewer["patterns"] for head in layer for row in head for x in row
    )
    marks = {f"{l}.{h}" for l, h in result.induction_heads} | {
        f"{l}.{h}" for l, h in result.previous_token_heads
    }
    assert set(viewer["marks"]) == marks
    assert set(viewer["marks"].values()) <= {"induction", "previous_token"}


def test_second_run_reloads_the_checkpoint_and_history_instead_of_training(
    tiny_run, tiny_corpus: Path
) -> None:
    first, out, _ = tiny_run
    second = run_claim("two_layer_induction", RunContext(out_dir=out), recipe=tiny_recipe(tiny_corpus))
    assert not first.measured["reloaded"] and second.measured["reloaded"]
    assert second.history == first.history
    assert second.measured["max_induction_score"] == first.measured["max_induction_score"]


def test_a_history_scored_with_the_older_measure_is_not_reloaded(
    tiny_run, tiny_corpus: Path, tmp_path: Path
) -> None:
    import shutil

    first, out, _ = tiny_run
    copy = shutil.copytree(out, tmp_path / "run")
    (path,) = copy.glob("checkpoints/two_layer_induction*/induction_history.json")
    saved = json.loads(path.read_text())
    assert saved["induction_measure"] == "second_copy"
    del saved["induction_measure"]  # a history saved before the tracker scored the second copy
    path.write_text(json.dumps(saved))
    again = run_claim("two_layer_induction", RunContext(out_dir=copy), recipe=tiny_recipe(tiny_corpus))
    assert not again.measured["reloaded"] and again.history[-1]["step"] == first.history[-1]["step"]
    assert json.loads(path.read_text())["induction_measure"] == "second_copy"
    older = path.parent.with_name(path.parent.name + ".previous") / "induction_history.json"
    assert "induction_measure" not in json.loads(older.read_text())  # set aside, not overwritten


def test_find_heads_keeps_heads_above_threshold_best_first_and_at_least_one() -> None:
    scores = torch.tensor([[0.1, 0.05, 0.2], [0.4, 0.9, 0.1]])
    assert find_heads(scores, 1) == [1, 0]
    assert find_heads(scores, 0) == [2]


def test_half_losses_split_first_and_predictable_second_copy() -> None:
    loss = torch.cat([torch.full((2, 5), 3.0), torch.full((2, 1), 9.0), torch.full((2, 4), 1.0)], dim=1)
    assert half_losses(loss, 5) == (3.0, 1.0)


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_the_default_recipe_is_shortformer_two_layer_attention_only_on_unmodified_text(profile: str) -> None:
    r = induction_recipe(profile)
    assert r == induction_recipe(profile, plain=True)  # the older spelling
    assert r.model.n_layers == 2 and r.model.attn_only and r.model.positional == "shortformer"
    assert r.corpus == "stdlib" and r.repeat_fraction == 0  # no synthetic passages, no repeats added
    assert (
        r.tokenizer == "printable" and r.vocab_size == r.model.d_vocab == CharTokenizer.printable().vocab_size
    )
    assert r.select_fraction == 0.1 and r.model.pos_init == "sinusoidal"
    assert (r.model.n_heads, r.model.d_head) == (6, 32)  # the setting docs/induction-recipe.md measured
    assert r.train.steps * r.tokens_per_step <= (15_000_000 if profile == "quick" else 30_000_000)
    assert r.model.n_ctx >= 101  # room for BOS + 50 + 50 scoring tokens
    assert "pure corpus" in r.describe() and "random-token" not in r.describe()


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_the_curriculum_recipe_names_its_curriculum(profile: str) -> None:
    r = induction_recipe(profile, curriculum=True)
    assert r == induction_recipe(profile, plain=False)  # the older spelling
    assert r.model.n_layers == 2 and r.model.attn_only and r.model.positional == "shortformer"
    assert r.tokenizer == "bpe" and r.passage == "random" and r.select_fraction == 0
    assert r.repeat_fraction == 0.5 and r.train.steps == (3500 if profile == "quick" else 12000)
    assert "random-token passage repeated later in 50% of windows" in r.describe()


def test_plain_and_curriculum_together_are_refused() -> None:
    with pytest.raises(ConfigError, match="contradict"):
        induction_recipe("quick", plain=True, curriculum=True)


@pytest.mark.slow
def test_quick_recipe_forms_induction_heads_and_passes_the_claim(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # the one long training run of the suite takes both cores
    try:
        result = run_claim("two_layer_induction", RunContext(out_dir=tmp_path, profile="quick"))
    finally:
        torch.set_num_threads(threads)  # the worker's later tests keep their one thread
    assert result.measured["max_induction_score"] >= 0.7, result.measured
    assert result.verdict == "pass", result.measured


def test_sinusoidal_pos_init_starts_w_pos_at_the_scaled_table_and_leaves_other_weights_alone() -> None:
    from circuitlab.transformer import Transformer
    from circuitlab.transformer.embed import sinusoidal_table

    base = TransformerConfig(n_layers=2, d_model=16, n_heads=2, d_head=8, d_vocab=50, n_ctx=20, seed=3)
    plain, sin = Transformer(base), Transformer(base.replace(pos_init="sinusoidal", pos_init_range=0.5))
    assert torch.allclose(sin.W_pos, 0.5 * sinusoidal_table(20, 16))
    assert torch.equal(plain.W_E, sin.W_E) and torch.equal(plain.W_Q, sin.W_Q)
    wide = Transformer(base.replace(pos_init_range=1.0))
    assert 0.8 < float(wide.W_pos.detach().std()) < 1.2 and float(plain.W_pos.detach().std()) < 0.03


@pytest.mark.parametrize(
    "bad", [dict(pos_init="rotary"), dict(pos_init_range=0.0)], ids=["pos_init", "range"]
)
def test_pos_init_settings_are_validated(bad: dict) -> None:
    from circuitlab.errors import ConfigError

    with pytest.raises(ConfigError):
        TransformerConfig(**bad)


def test_shortformer_pos_in_norm_feeds_query_and_key_ln_of_resid_plus_pos_and_value_ln_of_resid() -> None:
    import torch.nn.functional as F

    from circuitlab.transformer import Transformer

    cfg = TransformerConfig(
        n_layers=1,
        d_model=16,
        n_heads=2,
        d_head=8,
        d_vocab=30,
        n_ctx=10,
        seed=1,
        pos_init_range=0.5,
        shortformer_pos_in_norm=True,
    )
    model = Transformer(cfg)
    tokens = torch.randint(0, 30, (2, 10), generator=torch.Generator().manual_seed(0))
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n.endswith(("hook_q", "hook_v")))
    attn, ln = model.blocks[0].attn, model.blocks[0].ln1
    with torch.no_grad():
        x = model.W_E[tokens]
        x_qk = F.layer_norm(x + model.W_pos, (16,), ln.w, ln.b, 1e-5)
        q = torch.einsum("bpd,hde->bphe", x_qk, attn.W_Q) + attn.b_Q
        v = torch.einsum("bpd,hde->bphe", F.layer_norm(x, (16,), ln.w, ln.b, 1e-5), attn.W_V) + attn.b_V
    assert torch.allclose(cache["blocks.0.attn.hook_q"], q, atol=1e-5)
    assert torch.allclose(cache["blocks.0.attn.hook_v"], v, atol=1e-5)
    plain = Transformer(cfg.replace(shortformer_pos_in_norm=False))
    assert not torch.allclose(plain(tokens), model(tokens), atol=1e-4)


def printable_recipe(corpus: Path):
    """The tiny recipe on printable characters, windows from the half richest in repeated 8-grams."""
    tiny = tiny_recipe(corpus)
    return dataclasses.replace(
        tiny, vocab_size=98, model=tiny.model.replace(d_vocab=98), repeat_fraction=0.0,
        tokenizer="printable", select_fraction=0.5,
    )  # fmt: skip


def test_printable_recipe_trains_on_repetition_rich_slices_and_scores_after_a_newline(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    from circuitlab.data.selection import RepetitionRichWindows
    from circuitlab.experiments.base import corpus_data
    from circuitlab.experiments.induction.train import bos_id, scoring_tokens, training_batches

    recipe = printable_recipe(tiny_corpus)
    data = corpus_data(recipe.corpus, recipe.vocab_size, max_bytes=None, tokenizer="printable")
    batches = training_batches(recipe, data)
    assert isinstance(batches, RepetitionRichWindows)
    train = torch.as_tensor(data.tokens.train.astype("int64"))
    for row in batches(3).inputs:  # every window is an unmodified slice of the corpus
        assert any(torch.equal(train[s : s + len(row)], row) for s in batches.starts.tolist())
    bos = bos_id(data)
    assert data.tokenizer.decode([bos]) == "\n" and bool((scoring_tokens(recipe, bos)[:, 0] == bos).all())
    result = run_claim("two_layer_induction", RunContext(out_dir=tmp_path), recipe=recipe)
    assert "printable characters (98)" in result.ran and "unmodified slices" in result.notes
    assert result.measured["tokens_seen"] == 8 * 4 * 32
    assert json.loads((tmp_path / "attention_viewer.json").read_text())["tokens"][0] == "\n"  # the same BOS


def test_a_history_saved_before_tokenizer_and_selection_were_recorded_still_matches_only_bpe() -> None:
    from circuitlab.experiments.induction.train import _same_recipe

    bpe, plain = induction_recipe("quick", curriculum=True), induction_recipe("quick")
    older = {k: v for k, v in bpe.to_dict().items() if k not in ("tokenizer", "select_fraction")}
    assert _same_recipe(older, bpe) and not _same_recipe(older, plain)
    assert not _same_recipe({**older, "vocab_size": 2048}, bpe) and not _same_recipe(None, bpe)


def test_the_run_context_picks_the_recipe_the_claims_share() -> None:
    from circuitlab.experiments.induction.recipe import context_recipe

    ctx = RunContext(out_dir=Path("unused"), profile="full", seed=2, corpus="/data/prose")
    assert context_recipe(ctx) == induction_recipe("full", 2, corpus="/data/prose")
    plain = context_recipe(RunContext(out_dir=Path("unused"), seed=2))
    assert plain == induction_recipe("quick", 2, plain=True) and plain.tokenizer == "printable"
    taught = context_recipe(RunContext(out_dir=Path("unused"), seed=2, curriculum=True))
    assert taught == induction_recipe("quick", 2, curriculum=True) and taught.repeat_fraction == 0.5
