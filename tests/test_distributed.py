"""Data-parallel training: 2 CPU processes (gloo), each holding its shard, against one process."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

import aekit
from aekit.data.preprocess import Preprocessing
from aekit.errors import AekitError
from aekit.train.callbacks import read_metrics
from aekit.train.loop import InMemoryBatches, ShardedBatches, shard_indices

QUIET = dict(progress=False, evaluate=False, threads=1)


def weights(run):
    return load_file(str(run / "model" / "model.safetensors"))


def test_ranks_split_each_global_batch_like_a_distributed_sampler():
    data = torch.arange(23, dtype=torch.uint8).reshape(23, 1, 1, 1)
    prep = Preprocessing.fit(data.permute(0, 2, 3, 1).numpy())
    single = InMemoryBatches(data, 5, prep, shuffle=True, seed=3)
    ranks = [InMemoryBatches(data, 5, prep, shuffle=True, seed=3, rank=r, world_size=2) for r in range(2)]
    for (x, n, w), (x0, n0, w0), (x1, n1, w1) in zip(single.local_batches(1), ranks[0].local_batches(1),
                                                     ranks[1].local_batches(1), strict=True):
        assert w == 1.0 and n == x.shape[0]
        # the union of the two shares is exactly the single-process batch, and the weights make
        # the average of the two rank means equal the global mean
        assert sorted(torch.cat([x0[:n0], x1[:n1]]).flatten().tolist()) == sorted(x.flatten().tolist())
        assert n0 + n1 == n and w0 + w1 == pytest.approx(2.0)
        assert w0 == pytest.approx(2 * n0 / n) and w1 == pytest.approx(2 * n1 / n)
    # a last batch of one sample leaves rank 1 with nothing: it gets a dummy sample of weight 0
    tiny = InMemoryBatches(data[:6], 5, prep, shuffle=False, rank=1, world_size=2)
    *_, (x, n, w) = tiny.local_batches(0)
    assert n == 0 and w == 0.0 and x.shape[0] == 1


@pytest.mark.parametrize("total,batch", [(23, 5), (24, 6), (7, 3), (10, 2)])
def test_shards_cover_every_sample_once_and_weights_give_the_global_mean(total, batch):
    data = torch.arange(total, dtype=torch.uint8).reshape(total, 1, 1, 1)
    prep = Preprocessing.fit(data.permute(0, 2, 3, 1).numpy())
    shards = [shard_indices(total, batch, r, 2) for r in range(2)]
    ranks = [ShardedBatches(data[shards[r]], total, batch, prep, shuffle=True, seed=3, rank=r, world_size=2)
             for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == -(-total // batch)  # as many global batches as one process takes
    for epoch in (0, 1):
        seen = []
        for (x0, n0, w0), (x1, n1, w1) in zip(ranks[0].local_batches(epoch), ranks[1].local_batches(epoch),
                                              strict=True):
            n = n0 + n1
            assert 0 < n <= batch and abs(n0 - n1) <= 1
            # mean over ranks of (weight x local mean) = mean over the global batch
            assert w0 == pytest.approx(2 * n0 / n) and w1 == pytest.approx(2 * n1 / n)
            assert (x0.shape[0], x1.shape[0]) == (max(n0, 1), max(n1, 1))  # an empty share: one sample, weight 0
            seen += (x0[:n0] * 255).round().flatten().tolist() + (x1[:n1] * 255).round().flatten().tolist()
        assert sorted(seen) == list(range(total))  # every sample once per epoch
    # each rank holds only its shard, and is told when it is handed the wrong one
    assert ranks[0].data.shape[0] + ranks[1].data.shape[0] == total
    with pytest.raises(AekitError, match="shard"):
        ShardedBatches(data, total, batch, prep, shuffle=True, rank=0, world_size=2)
    with pytest.raises(AekitError, match="fewer processes"):
        ShardedBatches(data[:1], 1, batch, prep, shuffle=True, rank=0, world_size=2)


def test_two_processes_match_one_process(tmp_path):
    # batch 25 leaves an uneven last batch (1294 = 51 * 25 + 19): the loss weights must handle it.
    # The processes draw their batches from their own shards, so the runs agree in loss, not bit for bit.
    common = dict(dataset="digits", epochs=4, batch_size=25, **QUIET)
    aekit.train("deep", out=tmp_path / "one", **common)
    model = aekit.train("deep", out=tmp_path / "two", nproc=2, **common)
    a, b = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert a.keys() == b.keys() and all(a[k].shape == b[k].shape for k in a)
    ra, rb = read_metrics(tmp_path / "one" / "metrics.jsonl"), read_metrics(tmp_path / "two" / "metrics.jsonl")
    assert [r["epoch"] for r in rb] == [1, 2, 3, 4]
    assert [r["step"] for r in rb] == [r["step"] for r in ra]  # the same number of global batches
    for x, y in zip(ra, rb, strict=True):
        assert y["val/loss"] == pytest.approx(x["val/loss"], rel=0.03)
    assert rb[-1]["val/loss"] < 0.8 * rb[0]["val/loss"]  # it learned
    assert json.loads((tmp_path / "two" / "run.json").read_text())["status"]["processes"] == 2
    assert model.encode(torch.zeros(3, 8, 8, 1, dtype=torch.uint8).numpy()).shape == (3, 32)


@pytest.mark.slow  # four 2-process launches: ~60 s on the shared 2-core machine
def test_distributed_resume_continues_exactly(tmp_path):
    # denoising draws noise on every rank: the checkpoint must carry both ranks' generators
    common = dict(dataset="digits", batch_size=64, nproc=2, limit=600, **QUIET)
    aekit.train("denoising", out=tmp_path / "full", epochs=2, **common)
    aekit.train("denoising", out=tmp_path / "part", epochs=1, **common)
    aekit.train(resume=True, out=tmp_path / "part", epochs=2, nproc=2, **QUIET)
    a, b = weights(tmp_path / "full"), weights(tmp_path / "part")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bad_process_counts_are_clear_errors(tmp_path):
    with pytest.raises(AekitError, match="process count"):
        aekit.train("deep", dataset="digits", out=tmp_path / "r", epochs=1, nproc=0, **QUIET)
