"""``circuitlab train sae``: train on a saved model's hook with a progress bar, resume after an
interruption, and refuse bad input in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import circuitlab as cl
from circuitlab.cli.main import main
from circuitlab.data import load_corpus, train_tokenizer
from circuitlab.superposition import SparseAutoencoder
from circuitlab.superposition.sae import SAETrainer
from circuitlab.training import read_meta
from circuitlab.transformer import Transformer, TransformerConfig

HOOK = "blocks.0.hook_resid_post"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("sae_cli")
    corpus = root / "corpus.txt"
    corpus.write_text("def add(a, b):\n    return a + b\n\nclass Point:\n    x = 1\n    y = 2\n" * 40)
    tok = train_tokenizer(load_corpus(str(corpus)), "char", cache=root / "cache")
    cfg = TransformerConfig(n_layers=2, d_model=16, n_heads=2, d_head=8, d_vocab=tok.vocab_size, n_ctx=16,
                            attn_only=True)  # fmt: skip
    torch.manual_seed(0)
    cl.save(Transformer(cfg), root / "model", tokenizer=tok)
    return root / "model", corpus


def args(model: Path, corpus: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "sae", "--model", str(model), "--hook", HOOK, "--out", str(out), "--corpus", str(corpus),
            "--expansion", "2", "--k", "4", "--steps", "20", "--batch-size", "64", "--buffer-tokens", "256",
            "--checkpoint-every", "5", "--eval-rows", "4", "--cache-dir", str(corpus.parent / "cache"), *extra]  # fmt: skip


def test_train_sae_shows_loss_l0_and_dead_and_reports_ce_loss_recovered(model_dir, tmp_path, capsys) -> None:
    model, corpus = model_dir
    assert main(args(model, corpus, tmp_path / "sae", "--architecture", "topk")) == 0
    out, err = capsys.readouterr()
    assert "trained topk SAE (32 latents) on blocks.0.hook_resid_post for 20 steps" in out
    assert "CE loss recovered" in out
    assert "L0=4.0" in err and "dead=" in err and "loss=" in err
    sae = cl.load(tmp_path / "sae")
    assert isinstance(sae, SparseAutoencoder) and (sae.cfg.k, sae.cfg.hook_name) == (4, HOOK)
    metrics = json.loads((tmp_path / "sae" / "metrics.json").read_text())
    gap = (metrics["ce_sae"] - metrics["ce_clean"]) / (metrics["ce_zero"] - metrics["ce_clean"])
    assert metrics["l0"] <= 4.0 and metrics["ce_loss_recovered"] == pytest.approx(1 - gap)


def test_an_interrupted_run_resumes_from_its_checkpoint(model_dir, tmp_path, monkeypatch, capsys) -> None:
    model, corpus = model_dir
    step = SAETrainer.train_step

    def interrupt_at_8(self, x):
        if self.step == 8:
            raise KeyboardInterrupt
        return step(self, x)

    monkeypatch.setattr(SAETrainer, "train_step", interrupt_at_8)
    assert main(args(model, corpus, tmp_path / "sae", "--no-progress", "--architecture", "relu")) == 130
    assert read_meta(tmp_path / "sae")["step"] == 8
    monkeypatch.setattr(SAETrainer, "train_step", step)
    assert main(args(model, corpus, tmp_path / "sae", "--no-progress", "--resume")) == 0
    assert read_meta(tmp_path / "sae")["step"] == 20
    assert "trained relu SAE" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--hook", "blocks.0.hook_resid_psot"], "no hook point named 'blocks.0.hook_resid_psot'"),
        (["--k", "40"], "SAEConfig.k=40 > d_sae=32"),
        (["--resume"], "holds no checkpoint; drop --resume"),
    ],
    ids=["missing_hook", "k_over_d_sae", "resume_nothing"],
)
def test_bad_input_is_one_line(model_dir, tmp_path, capsys, extra: list[str], message: str) -> None:
    model, corpus = model_dir
    assert main(args(model, corpus, tmp_path / "sae", "--no-progress", *extra)) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_analyze_writes_dashboards_for_a_checkpoint_and_for_a_saelens_folder(
    model_dir, tmp_path, capsys
) -> None:
    from circuitlab.interop import save_saelens

    model, corpus = model_dir
    assert main(args(model, corpus, tmp_path / "sae", "--no-progress")) == 0
    common = ["--corpus", str(corpus), "--rows", "8", "--cache-dir", str(corpus.parent / "cache")]
    assert (
        main(["analyze", "--sae", str(tmp_path / "sae"), *common, "--n-latents", "3"]) == 0
    )  # model recorded
    page = (tmp_path / "sae" / "dashboard.html").read_text()
    assert page.count('class="latent"') == 3 and "Top activating contexts" in page
    save_saelens(cl.load(tmp_path / "sae"), tmp_path / "lens")
    argv = [
        "analyze",
        str(model),
        "--sae",
        str(tmp_path / "lens"),
        *common,
        "--latents",
        "0,5",
        "--out",
        str(tmp_path / "o"),
    ]
    assert main(argv) == 0
    html = (tmp_path / "o" / "dashboard.html").read_text()
    assert 'id="latent-0"' in html and 'id="latent-5"' in html
    assert "wrote dashboards of 2 latents" in capsys.readouterr().out
    assert (
        main(["analyze", "--sae", str(tmp_path / "lens"), *common]) == 2
    )  # a SAELens folder records no model
    assert "records no model; give the model folder" in capsys.readouterr().err
    assert main([*argv[:-2], "--latents", "0,x"]) == 2
    assert "--latents '0,x': give comma-separated integers" in capsys.readouterr().err


@pytest.mark.slow
def test_train_sae_runs_under_torchrun_with_two_ranks(model_dir, tmp_path) -> None:
    import os
    import shutil
    import subprocess
    import sys

    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    if torchrun is None:
        pytest.skip("torchrun is not installed beside this python")
    model, corpus = model_dir
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([torchrun, "--nproc_per_node=2", "-m", "circuitlab", *args(model, corpus, tmp_path / "sae"),
                           "--no-progress"], capture_output=True, text=True, env=env, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("trained topk SAE") == 1  # rank 0 alone reports and saves
    assert read_meta(tmp_path / "sae")["step"] == 20
