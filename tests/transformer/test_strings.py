"""Text in and out of a Transformer with a tokenizer: BOS, padding, the string helpers, string input
to forward and generate, and the tokenizer kept through cl.save / cl.load."""

from __future__ import annotations

import pytest
import torch

import circuitlab as cl
from circuitlab.data import Corpus, Document
from circuitlab.data.tokenizer import EOT, BPETokenizer, CharTokenizer
from circuitlab.errors import ConfigError
from circuitlab.transformer import Transformer, TransformerConfig

TEXT = "When John and Mary went to the shops, John gave the bag to Mary. " * 8 + "The cat sat on the mat. "


@pytest.fixture(scope="module")
def bpe() -> BPETokenizer:
    return BPETokenizer.train(Corpus("test", (Document("a", TEXT),)), vocab_size=300)


def make(tokenizer, n_ctx: int = 24) -> Transformer:
    cfg = TransformerConfig(
        n_layers=2, d_model=16, n_heads=2, d_head=8, d_vocab=tokenizer.vocab_size, n_ctx=n_ctx,
        attn_only=False, d_mlp=16, positional="learned", init_range=0.3, seed=1,
    )  # fmt: skip
    return Transformer(cfg, tokenizer=tokenizer).eval()


def test_to_tokens_prepends_the_endoftext_bos_and_pads_with_it(bpe) -> None:
    model, eot = make(bpe), bpe.eot_id
    short, long = bpe.encode(" Mary"), bpe.encode("When John went")
    assert model.bos_token_id == model.pad_token_id == eot == bpe.tok.token_to_id(EOT)
    assert model.to_tokens("When John went")[0].tolist() == [eot, *long]
    assert model.to_tokens("When John went", prepend_bos=False)[0].tolist() == long
    right = model.to_tokens([" Mary", "When John went"])
    left = model.to_tokens([" Mary", "When John went"], padding_side="left")
    gap = len(long) - len(short)
    assert right[0].tolist() == [eot, *short] + [eot] * gap and left[0].tolist() == [eot] * gap + [
        eot,
        *short,
    ]
    model.default_prepend_bos, model.padding_side = False, "left"
    assert model.to_tokens([" Mary", "When John went"])[0].tolist() == [eot] * gap + short


def test_a_character_tokenizer_has_no_bos_and_pads_with_unk() -> None:
    model = make(CharTokenizer(list("abc ")))
    assert model.bos_token_id is None and model.pad_token_id == 0
    assert model.to_tokens(["ab", "c"]).tolist() == [[1, 2], [3, 0]]
    assert model.to_str_tokens("cab") == ["c", "a", "b"]


def test_strings_are_cut_to_n_ctx_tokens_unless_truncate_is_off(bpe) -> None:
    model = make(bpe, n_ctx=8)
    assert model.to_tokens(TEXT).shape == (1, 8)
    assert model.to_tokens(TEXT, truncate=False).shape[1] > 8


def test_to_string_and_to_str_tokens_invert_to_tokens(bpe) -> None:
    model = make(bpe)
    ids = model.to_tokens(["the bag", "When John and Mary"], prepend_bos=False)
    assert model.to_string(ids[1]) == "When John and Mary"
    assert (
        model.to_string(ids)[1] == "When John and Mary"
        and model.to_string(ids[1].tolist()) == "When John and Mary"
    )
    pieces = model.to_str_tokens("When John and Mary", prepend_bos=False)
    assert "".join(pieces) == "When John and Mary" and len(pieces) == ids.shape[1]
    assert model.to_str_tokens(ids[1:2]) == pieces == model.to_str_tokens(ids[1].numpy())
    assert model.to_str_tokens(["a", "b"], prepend_bos=False) == [["a"], ["b"]]


def test_single_tokens_and_their_positions(bpe) -> None:
    model = make(bpe)
    mary = model.to_single_token(" Mary")
    assert model.to_single_str_token(mary) == " Mary"
    text = "When John and Mary went to the shops, Mary"
    first = model.get_token_position(" Mary", text)
    assert model.to_tokens(text)[0, first] == mary and first < model.get_token_position(
        mary, text, mode="last"
    )
    with pytest.raises(ConfigError, match="not one"):
        model.to_single_token("When John")
    with pytest.raises(ConfigError, match="does not occur"):
        model.get_token_position(" Mary", "the cat")


def test_string_input_to_forward_and_run_with_cache_is_the_tokens(bpe) -> None:
    model = make(bpe)
    ids = model.to_tokens("When John and Mary")
    torch.testing.assert_close(model("When John and Mary"), model(ids))
    logits, cache = model.run_with_cache("When John and Mary", names_filter="blocks.0.hook_resid_pre")
    assert cache["resid_pre", 0].shape[1] == ids.shape[1]
    torch.testing.assert_close(
        model("When John and Mary", return_type="loss"), model(ids, return_type="loss")
    )


def test_left_padded_strings_are_masked_so_each_scores_as_alone(bpe) -> None:
    model = make(bpe)
    texts = [" Mary", "When John and Mary went"]
    logits = model(texts, padding_side="left")
    alone = model(texts[0])
    torch.testing.assert_close(logits[0, -alone.shape[1] :], alone[0], atol=1e-5, rtol=1e-5)
    losses = model(texts, padding_side="left", return_type="loss", loss_per_token=True)
    torch.testing.assert_close(
        losses[0, -1], model(texts[0], return_type="loss", loss_per_token=True)[0, -1], atol=1e-5, rtol=1e-5
    )


def test_generate_takes_and_returns_text(bpe) -> None:
    model = make(bpe)
    out = model.generate("When John", max_new_tokens=5, do_sample=False, stop_at_eos=False)
    ids = model.generate(model.to_tokens("When John"), max_new_tokens=5, do_sample=False, stop_at_eos=False)
    assert isinstance(out, str) and out.startswith("When John") and ids.shape == (1, 8)
    assert out == model.to_string([i for i in ids[0].tolist() if i != bpe.eot_id])
    two = model.generate(["When John", " Mary"], max_new_tokens=3, do_sample=False, stop_at_eos=False)
    assert isinstance(two, list) and two[1].startswith(" Mary")
    assert model.generate(" Mary", max_new_tokens=3, do_sample=False, stop_at_eos=False) == two[1]
    sampled = {model.generate("When", max_new_tokens=4, seed=s) for s in range(4)}
    assert len(sampled) > 1 and model.generate("When", max_new_tokens=4, seed=2) in sampled


def test_generate_stops_at_endoftext(bpe) -> None:
    model = make(bpe)
    with torch.no_grad():
        model.unembed.b_U[bpe.eot_id] = 100.0  # the model always ends the text
    ids = model.generate(model.to_tokens("When"), max_new_tokens=6, do_sample=False)
    assert ids.shape[1] == model.to_tokens("When").shape[1] + 1 and ids[0, -1] == bpe.eot_id
    assert model.generate("When", max_new_tokens=6, do_sample=False) == "When"


def test_save_and_load_keep_the_tokenizer(bpe, tmp_path) -> None:
    model = make(bpe)
    cl.save(model, tmp_path / "m")
    loaded = cl.load(tmp_path / "m")
    assert loaded.tokenizer.to_str() == bpe.to_str()
    assert loaded.to_tokens("When John").tolist() == model.to_tokens("When John").tolist()


def test_without_a_tokenizer_text_is_refused_with_the_fix() -> None:
    model = Transformer(TransformerConfig(n_layers=1, d_model=8, n_heads=2, d_head=4, d_vocab=10, n_ctx=8))
    for call in (lambda: model("hi"), lambda: model.to_tokens("hi"), lambda: model.to_string([1, 2])):
        with pytest.raises(ConfigError, match="model.tokenizer"):
            call()
    with pytest.raises(ConfigError, match="encode"):
        model.tokenizer = 42
    model.tokenizer = CharTokenizer(list("hi"))
    with pytest.raises(ConfigError, match="padding_side"):
        model.to_tokens("hi", padding_side="middle")
