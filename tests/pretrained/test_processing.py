"""TransformerLens's weight processing leaves what the model computes unchanged, on every family."""

from __future__ import annotations

import pytest
import torch

import circuitlab as cl
from circuitlab.errors import ConfigError
from tests.pretrained.hf_models import build, tokens

pytestmark = pytest.mark.filterwarnings("ignore")
TOL = dict(atol=1e-4, rtol=0)
CASES = ["gpt2-3heads-tied", "neox-sequential-half-rotary", "smollm-3heads-gqa3-tied", "qwen2-qkv-bias-tied"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    out = {}
    for case in CASES:
        out[case] = tmp_path_factory.mktemp(case)
        build(case, out[case])
    return out


def run(folder, **options) -> torch.Tensor:
    with torch.no_grad():
        return cl.from_pretrained(folder, **options)(tokens())


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("option", ["fold_ln", "center_writing_weights", "fold_value_biases", "all"])
def test_processing_does_not_change_the_logits(case: str, option: str, folders) -> None:
    layernorm = not case.startswith(("smollm", "qwen2"))
    if option == "all":
        options = dict(fold_ln=True, center_writing_weights=layernorm, fold_value_biases=True)
    elif option == "center_writing_weights" and not layernorm:
        with pytest.raises(ConfigError, match='center_writing_weights needs normalization="layernorm"'):
            run(folders[case], center_writing_weights=True)
        return
    else:
        options = {option: True}
    torch.testing.assert_close(run(folders[case], **options), run(folders[case]), **TOL)


@pytest.mark.parametrize("case", CASES)
def test_center_unembed_shifts_each_position_s_logits_by_a_constant(case: str, folders) -> None:
    plain, centred = run(folders[case]), run(folders[case], center_unembed=True)
    torch.testing.assert_close(centred.log_softmax(-1), plain.log_softmax(-1), **TOL)
    torch.testing.assert_close(centred.mean(-1), torch.zeros(centred.shape[:2]), atol=1e-4, rtol=0)


def test_processed_weights_have_the_processed_form(folders) -> None:
    model = cl.from_pretrained(
        folders["gpt2-3heads-tied"], fold_ln=True, center_writing_weights=True, fold_value_biases=True
    )
    block = model.blocks[0]
    assert torch.equal(block.ln1.w, torch.ones_like(block.ln1.w)) and not block.ln1.b.any()
    assert not block.attn.b_V.any() and not model.cfg.tie_embeddings  # W_U untied when it changed
    torch.testing.assert_close(model.W_E.mean(-1), torch.zeros(model.cfg.d_vocab), atol=1e-6, rtol=0)
    torch.testing.assert_close(block.attn.W_Q.mean(-2), torch.zeros_like(block.attn.b_Q), atol=1e-6, rtol=0)
    smol = cl.from_pretrained(folders["smollm-3heads-gqa3-tied"], fold_value_biases=True, fold_ln=True)
    assert smol.blocks[0].attn._b_V.shape == (1, 8) and not smol.blocks[0].attn._b_V.any()
