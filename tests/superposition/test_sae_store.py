"""The activation store, shards on disk, streamed training, exact resume and data-parallel steps."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import circuitlab as cl
from circuitlab.errors import ConfigError, DataError, HookNameError, ShapeError
from circuitlab.superposition import SAEConfig
from circuitlab.superposition.sae import (
    ActivationStore,
    SAETrainer,
    ShardStore,
    read_hook,
    train_sae_on_store,
    write_shards,
)
from circuitlab.training import restore_training_state, save_checkpoint
from circuitlab.transformer import Transformer, TransformerConfig

HOOK = "blocks.0.hook_resid_post"


def tiny_model() -> Transformer:
    torch.manual_seed(0)
    cfg = TransformerConfig(n_layers=2, d_model=16, n_heads=2, d_head=8, d_vocab=23, n_ctx=12, attn_only=True)
    return Transformer(cfg).eval()


def token_rows(n: int = 40) -> torch.Tensor:
    return torch.randint(0, 23, (n, 12), generator=torch.Generator().manual_seed(1))


def test_read_hook_gives_the_cached_activation_and_stops_the_forward_there() -> None:
    model, tokens = tiny_model(), token_rows(3)
    _, cache = model.run_with_cache(tokens, names_filter=HOOK)
    calls: list[str] = []
    with model.hooks([("blocks.1.hook_resid_pre", lambda a, h: calls.append(h.name))]):
        acts = read_hook(model, HOOK, tokens)
    assert acts.shape == (36, 16) and calls == []
    torch.testing.assert_close(acts, cache[HOOK].reshape(-1, 16))
    assert model.hook_dict[HOOK].fwd_fns == []  # the reading hook was removed


def test_store_serves_shuffled_batches_of_the_hooks_vectors_within_its_budget() -> None:
    model, tokens = tiny_model(), token_rows()
    every = read_hook(model, HOOK, tokens)
    store = ActivationStore(model, HOOK, tokens, buffer_tokens=256, batch_size=64, rows_per_read=4, d_in=16)
    batches = [store.next_batch() for _ in range(12)]
    assert all(b.shape == (64, 16) for b in batches)
    assert store.pool().shape[0] <= 256 + 48  # at most one read (4 rows x 12 positions) over budget
    served = torch.cat(batches)
    dist_to_truth = torch.cdist(served, every).min(-1).values
    assert float(dist_to_truth.max()) < 1e-3  # every served vector is one of the hook's (cdist rounds)
    first_rows = read_hook(model, HOOK, tokens[:4])
    assert not torch.equal(batches[0][:48], first_rows)  # shuffled, not in reading order


def test_store_state_continues_the_token_stream_where_it_stopped() -> None:
    model, tokens = tiny_model(), token_rows()
    store = ActivationStore(model, HOOK, tokens, buffer_tokens=128, batch_size=32, rows_per_read=2)
    for _ in range(5):
        store.next_batch()
    state = store.state()
    again = ActivationStore(model, HOOK, tokens, buffer_tokens=128, batch_size=32, rows_per_read=2)
    again.load_state(state)
    assert again.next_read == store.next_read > 0
    again.next_batch()
    assert again.next_read > state["next_read"]


def test_shards_round_trip_and_a_shard_store_resumes_exactly(tmp_path: Path) -> None:
    model, tokens = tiny_model(), token_rows()
    store = ActivationStore(model, HOOK, tokens, buffer_tokens=128, batch_size=32, rows_per_read=2)
    write_shards(store, tmp_path, n_tokens=300, shard_tokens=100)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shard_00000.safetensors", "shard_00001.safetensors",
                                                          "shard_00002.safetensors", "shards.json"]  # fmt: skip
    shards = ShardStore(tmp_path, batch_size=40, seed=3)
    assert shards.d_in == 16 and shards.hook_name == HOOK
    straight = [shards.next_batch() for _ in range(7)]
    resumed = ShardStore(tmp_path, batch_size=40, seed=3)
    for _ in range(3):
        resumed.next_batch()
    state = resumed.state()
    fresh = ShardStore(tmp_path, batch_size=40, seed=3)
    fresh.load_state(state)
    for want in straight[3:]:
        torch.testing.assert_close(fresh.next_batch(), want)


def test_training_resumed_from_a_checkpoint_matches_training_straight_through(tmp_path: Path) -> None:
    model, tokens = tiny_model(), token_rows()
    write_shards(ActivationStore(model, HOOK, tokens, 128, 32, rows_per_read=2), tmp_path / "acts", 256, 64)
    cfg = SAEConfig(d_in=16, expansion=2, architecture="topk", k=4, steps=12, batch_size=32, dead_tokens=64)
    straight = train_sae_on_store(ShardStore(tmp_path / "acts", 32), cfg)
    store, trainer = ShardStore(tmp_path / "acts", 32), SAETrainer(cfg)
    train_sae_on_store(store, cfg, trainer, stop_at=5)
    save_checkpoint(tmp_path / "ck", trainer.sae, step=5, optimizer=trainer.opt,
                    train={"trainer": trainer.train_state(), "store": store.state()})  # fmt: skip
    store2, trainer2 = ShardStore(tmp_path / "acts", 32), SAETrainer(cfg)
    meta = restore_training_state(tmp_path / "ck", trainer2.sae, trainer2.opt)
    trainer2.load_train_state(meta["train"]["trainer"])
    store2.load_state(meta["train"]["store"])
    resumed = train_sae_on_store(store2, cfg, trainer2)
    assert trainer2.step == 12
    for a, b in zip(straight.sae.parameters(), resumed.sae.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_store_bad_input_is_named_in_one_line() -> None:
    model, tokens = tiny_model(), token_rows(4)
    with pytest.raises(HookNameError, match="blocks.0.hook_resid_psot"):
        ActivationStore(model, "blocks.0.hook_resid_psot", tokens, 128, 32).next_batch()
    with pytest.raises(ShapeError, match="width 16 but the SAE has d_in=8"):
        ActivationStore(model, HOOK, tokens, 128, 32, d_in=8).next_batch()
    with pytest.raises(ConfigError, match="fewer than two batches"):
        ActivationStore(model, HOOK, tokens, buffer_tokens=40, batch_size=32)
    with torch.no_grad():
        model.embed.W_E[3] = float("nan")
    with pytest.raises(DataError, match="contain NaN or inf"):
        ActivationStore(model, HOOK, torch.full((4, 12), 3), 128, 32).next_batch()
    with pytest.raises(ShapeError, match="width 16 but the SAE has d_in=4"):
        train_sae_on_store(ActivationStore(model, HOOK, tokens, 128, 32, d_in=16), SAEConfig(d_in=4))


def _rank_step(rank: int, world: int, init: str, batches: torch.Tensor, cfg: SAEConfig, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        trainer = SAETrainer(cfg)
        for step in range(3):
            trainer.train_step(batches[step, rank])
        torch.save({n: p.detach() for n, p in trainer.sae.named_parameters()}, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_ranks_take_the_steps_one_process_takes_on_both_batches(tmp_path: Path) -> None:
    cfg = SAEConfig(d_in=8, expansion=2, architecture="topk", k=3, batch_size=16, dead_tokens=16)
    batches = torch.randn(3, 2, 16, 8, generator=torch.Generator().manual_seed(0))
    init = f"file://{tmp_path / 'rendezvous'}"
    os.environ.pop("WORLD_SIZE", None)
    mp.spawn(_rank_step, args=(2, init, batches, cfg, str(tmp_path / "w")), nprocs=2, join=True)
    single = SAETrainer(cfg)
    for step in range(3):
        single.train_step(batches[step].reshape(32, 8))
    ranks = [torch.load(tmp_path / f"w.{r}") for r in range(2)]
    for name, p in single.sae.named_parameters():
        torch.testing.assert_close(ranks[0][name], ranks[1][name], rtol=0, atol=0)
        torch.testing.assert_close(ranks[0][name], p.detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("make", "hook", "inputs"),
    [
        (
            lambda: cl.nets.MLP(sizes=[5, 7, 3]),
            "layers.0.hook_post",
            lambda i: torch.randn(16, 5),
        ),
        (lambda: cl.nets.LSTM(3, 6), "layers.0.hook_h", lambda i: torch.randn(4, 5, 3)),
    ],
    ids=["mlp", "lstm"],
)
def test_the_store_streams_any_hook_of_the_classic_nets(make, hook: str, inputs) -> None:
    torch.manual_seed(0)
    model = make()
    width = read_hook(model, hook, inputs(0)).shape[-1]
    store = ActivationStore(model, hook, inputs, buffer_tokens=64, batch_size=16, d_in=width)
    cfg = SAEConfig(d_in=width, expansion=2, architecture="topk", k=2, steps=10, batch_size=16)
    result = train_sae_on_store(store, cfg)
    assert result.sae.cfg.d_in == width and len(result.loss_history) == 1 and result.hook_name == hook
