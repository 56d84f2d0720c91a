"""bfloat16 and CUDA: the loaded model keeps the dtype and device asked for (CUDA tests skip without a GPU)."""

from __future__ import annotations

import pytest
import torch

import circuitlab as cl
from tests.pretrained.hf_models import build, tokens

pytestmark = pytest.mark.filterwarnings("ignore")
requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    out = {}
    for case in ("gpt2-3heads-tied", "llama-gqa2", "pythia-quarter-rotary"):
        out[case] = tmp_path_factory.mktemp(case.replace("llama", "lm"))
        out[case + "/hf"] = build(case, out[case])
    return out


def close_in_bf16(got: torch.Tensor, want: torch.Tensor) -> None:
    """bf16 keeps 8 bits of mantissa: logits of order 1 agree to a few hundredths."""
    assert got.dtype == torch.bfloat16
    err = (got.float().cpu() - want.float().cpu()).abs().max().item()
    assert err < 0.1 * max(1.0, want.abs().max().item()), err


@pytest.mark.parametrize("case", ["gpt2-3heads-tied", "llama-gqa2", "pythia-quarter-rotary"])
def test_bfloat16_on_cpu_keeps_the_dtype_and_matches_float32(case: str, folders) -> None:
    model = cl.from_pretrained(folders[case], dtype=torch.bfloat16)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    with torch.no_grad():
        close_in_bf16(model(tokens()), cl.from_pretrained(folders[case])(tokens()))
        _, cache = model.run_with_cache(tokens(), names_filter=lambda n: n.endswith("hook_pattern"))
    assert cache["blocks.0.attn.hook_pattern"].dtype == torch.bfloat16


def test_dtype_must_be_a_floating_torch_dtype(folders) -> None:
    with pytest.raises(cl.errors.ConfigError, match="dtype=torch.int64"):
        cl.from_pretrained(folders["llama-gqa2"], dtype=torch.int64)


@requires_cuda
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("case", ["gpt2-3heads-tied", "llama-gqa2", "pythia-quarter-rotary"])
def test_cuda_loads_on_the_gpu_and_matches_transformers(case: str, dtype, folders) -> None:
    model = cl.from_pretrained(folders[case], device="cuda", dtype=dtype)
    assert {p.device.type for p in model.parameters()} == {"cuda"}
    hf = folders[case + "/hf"].to("cuda", dtype)
    toks = tokens().cuda()
    with torch.no_grad():
        ours, want = model(toks), hf(toks).logits
    if dtype == torch.float32:
        torch.testing.assert_close(ours, want, atol=1e-4, rtol=0)
    else:
        close_in_bf16(ours, want)
    folders[case + "/hf"].to("cpu", torch.float32)
