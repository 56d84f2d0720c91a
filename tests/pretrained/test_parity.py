"""from_pretrained gives transformers' logits (and TransformerLens's), with circuitlab's hook names,
for every supported family; circuitlab's analyses run on each."""

from __future__ import annotations

import warnings

import pytest
import torch

import circuitlab as cl
from circuitlab import circuits
from circuitlab.transformer.gqa import GroupedQueryAttention
from tests.pretrained.hf_models import CASES, TL_CASES, build, tokens

pytestmark = pytest.mark.filterwarnings("ignore")
TOL = dict(atol=1e-4, rtol=0)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """case -> (folder, transformers model), built once per module."""
    made = {}

    def get(case: str):
        if case not in made:
            folder = tmp_path_factory.mktemp(
                case.replace("llama", "lm")
            )  # TL reads "llama" in a path as a hub name
            made[case] = (folder, build(case, folder))
        return made[case]

    return get


@pytest.mark.parametrize("case", list(CASES))
def test_logits_equal_transformers_in_float32(case: str, saved) -> None:
    folder, hf = saved(case)
    model = cl.Transformer.from_pretrained(folder)
    toks = tokens()
    with torch.no_grad():
        torch.testing.assert_close(model(toks), hf(toks).logits, **TOL)
    assert not model.training


def test_the_configs_carry_each_family_s_choices(saved) -> None:
    pythia = cl.from_pretrained(saved("pythia-quarter-rotary")[0]).cfg
    assert (pythia.positional, pythia.rotary_dim, pythia.parallel_attn_mlp) == ("rotary", 2, True)
    smol = cl.from_pretrained(saved("smollm-3heads-gqa3-tied")[0])
    assert (smol.cfg.n_key_value_heads, smol.cfg.tie_embeddings, smol.cfg.mlp) == (1, True, "gated")
    assert isinstance(smol.blocks[0].attn, GroupedQueryAttention) and smol.W_K.shape == (2, 3, 24, 8)
    gpt2 = cl.from_pretrained(saved("gpt2-3heads-tied")[0])
    assert "unembed.W_U" not in gpt2.state_dict() and gpt2.cfg.activation == "gelu_new"


@pytest.mark.interop
@pytest.mark.parametrize("case", TL_CASES)
def test_logits_equal_transformer_lens(case: str, saved) -> None:
    tl = pytest.importorskip("transformer_lens")
    from transformer_lens import loading_from_pretrained as lp

    folder, hf = saved(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = lp.get_pretrained_model_config(str(folder), hf_cfg=hf.config.to_dict(), device="cpu")
        cfg.tokenizer_name = None
        hooked = tl.HookedTransformer(cfg, tokenizer=None)
        hooked.load_and_process_state_dict(
            lp.get_pretrained_state_dict(str(folder), cfg, hf_model=hf),
            fold_ln=False,
            center_writing_weights=False,
            center_unembed=False,
            fold_value_biases=False,
        )
    toks = tokens()
    with torch.no_grad():
        torch.testing.assert_close(cl.from_pretrained(folder)(toks), hooked(toks), **TOL)


def design_names(model) -> set[str]:
    names = {"hook_embed", "ln_final.hook_normalized", "ln_final.hook_scale"}
    if model.cfg.has_pos_embed:
        names.add("hook_pos_embed")
    for l in range(model.cfg.n_layers):
        b = f"blocks.{l}."
        names |= {b + n for n in ("hook_resid_pre", "hook_attn_out", "hook_mlp_out", "hook_resid_post")}
        names |= {
            f"{b}attn.hook_{n}" for n in ("q", "k", "v", "z", "attn_scores", "pattern", "rot_q", "rot_k")
        }
        names |= {
            f"{b}mlp.hook_pre",
            f"{b}mlp.hook_post",
            f"{b}ln1.hook_normalized",
            f"{b}ln2.hook_normalized",
        }
        if not model.cfg.parallel_attn_mlp:
            names.add(b + "hook_resid_mid")
    if not model.cfg.positional == "rotary":
        names = {n for n in names if "rot_" not in n}
    return names


@pytest.mark.parametrize("case", ["gpt2-3heads-tied", "pythia-quarter-rotary", "llama-gqa2"])
def test_run_with_cache_has_circuitlab_hook_names_and_forward_s_logits(case: str, saved) -> None:
    model = cl.from_pretrained(saved(case)[0])
    toks = tokens()
    logits, cache = model.run_with_cache(toks)
    assert design_names(model) <= set(cache.keys())
    torch.testing.assert_close(logits, model(toks))
    assert cache["blocks.1.attn.hook_pattern"].shape == (2, model.cfg.n_heads, 11, 11)


@pytest.mark.parametrize("case", ["gpt2-3heads-tied", "pythia-quarter-rotary", "smollm-3heads-gqa3-tied"])
def test_composition_head_scores_ablation_and_patching_run(case: str, saved) -> None:
    model = cl.from_pretrained(saved(case)[0])
    L, H = model.cfg.n_layers, model.cfg.n_heads
    for mode in "QKV":
        scores = circuits.composition_scores(model, mode)
        assert scores.shape == (L, H, L, H) and torch.isfinite(scores).all()
    rep = circuits.repeated_random_tokens(model.cfg.d_vocab, 6, batch=2, seed=0)
    for kind in ("previous_token", "duplicate", "induction"):
        assert circuits.head_scores(model, kind, tokens=rep).shape == (L, H)
    ablated = circuits.ablate_heads(model, rep, [(1, 0)])
    assert ablated.ablated_loss.shape == ablated.clean_loss.shape
    assert not torch.allclose(ablated.ablated_loss, ablated.clean_loss)
    clean = tokens(1, 8, seed=2)
    corrupt = clean.clone()
    corrupt[0, 3] = (clean[0, 3] + 1) % model.cfg.d_vocab  # one token differs
    metric = lambda logits: logits[0, -1, 0]  # noqa: E731
    assert circuits.patch_heads(model, clean, corrupt, metric).scores.shape == (L, H)
    resid = circuits.patch_resid(model, clean, corrupt, metric)
    torch.testing.assert_close(resid.scores[0, 3], torch.tensor(resid.clean_metric), atol=1e-4, rtol=0)


@pytest.mark.parametrize("case", ["gpt2-3heads-tied", "pythia-quarter-rotary", "llama-gqa2"])
def test_direct_logit_attribution_sums_to_the_logit_on_every_norm(case: str, saved) -> None:
    model = cl.from_pretrained(saved(case)[0])
    toks = tokens()
    logits, cache = model.run_with_cache(toks)
    answer = logits.argmax(-1)
    attrs = circuits.logit_attrs(cache, answer)
    torch.testing.assert_close(
        attrs.attrs.sum(0), logits.gather(-1, answer[..., None])[..., 0], atol=1e-4, rtol=0
    )


def test_full_ov_circuit_folds_rmsnorm_without_centring(saved) -> None:
    model = cl.from_pretrained(saved("llama-gqa2")[0])
    block, head = model.blocks[1], 3
    want = (
        model.W_E
        @ (block.ln1.w[:, None] * block.attn.W_V[head])
        @ block.attn.W_O[head]
        @ (model.ln_final.w[:, None] * model.W_U)
    )
    got = circuits.full_ov_circuit(model, 1, head=head, fold_ln=True).AB
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    assert circuits.copying_scores(model).shape == (2, 4)


def test_a_loaded_model_takes_a_training_step(saved) -> None:
    model = cl.from_pretrained(saved("gpt2-3heads-tied")[0]).train()
    W_E = model.W_E.detach().clone()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    loss = model(tokens(), return_type="loss")
    loss.backward()
    opt.step()
    assert torch.isfinite(loss) and not torch.equal(model.W_E.detach(), W_E)


@pytest.mark.parametrize("case", ["pythia-quarter-rotary", "llama-gqa2"])
def test_a_left_padded_batch_gives_each_sequence_its_own_logits(case: str, saved) -> None:
    model = cl.from_pretrained(saved(case)[0])
    alone = tokens(1, 5, seed=4)
    batch = torch.cat([tokens(1, 8, seed=5), torch.cat([torch.zeros(1, 3, dtype=torch.long), alone], 1)])
    mask = torch.ones_like(batch)
    mask[1, :3] = 0  # three pads on the left of the second sequence
    with torch.no_grad():
        padded = model(batch, attention_mask=mask)
        torch.testing.assert_close(padded[1, 3:], model(alone)[0], **TOL)
        torch.testing.assert_close(padded[0], model(batch[:1])[0], **TOL)
