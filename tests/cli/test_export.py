"""``circuitlab export CHECKPOINT --to transformer-lens OUT`` writes a model TransformerLens runs."""

from __future__ import annotations

import pytest
import torch

from circuitlab.cli.main import main
from circuitlab.training.checkpoint import save
from circuitlab.transformer import Transformer, TransformerConfig

pytest.importorskip(
    "transformer_lens", reason="transformer-lens is not installed (pip install circuitlab[interop])"
)

pytestmark = [pytest.mark.interop, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def test_export_writes_a_folder_that_loads_in_transformer_lens_with_equal_logits(tmp_path, capsys) -> None:
    from circuitlab.interop import load_transformer_lens

    cfg = TransformerConfig(
        n_layers=1,
        d_model=16,
        n_heads=2,
        d_head=8,
        d_vocab=19,
        n_ctx=8,
        attn_only=False,
        d_mlp=32,
        positional="shortformer",
        init_range=0.3,
        seed=1,
    )
    model = Transformer(cfg).eval()
    save(model, tmp_path / "ckpt")
    assert main(["export", str(tmp_path / "ckpt"), "--to", "transformer-lens", str(tmp_path / "tl")]) == 0
    assert "load_transformer_lens" in capsys.readouterr().out
    hooked = load_transformer_lens(tmp_path / "tl")
    tokens = torch.randint(0, 19, (2, 8), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(hooked(tokens), model(tokens), atol=1e-4, rtol=0)


def test_export_of_a_missing_checkpoint_is_a_one_line_error(tmp_path, capsys) -> None:
    code = main(["export", str(tmp_path / "nothing"), "--to", "transformer-lens", str(tmp_path / "tl")])
    assert code == 2
    assert capsys.readouterr().err.startswith("circuitlab: error:")
    assert not (tmp_path / "tl").exists()
