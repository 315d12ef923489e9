"""Data-parallel training: 2 CPU processes (gloo) against one process on the same global batches."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

import aekit
from aekit.data.preprocess import Preprocessing
from aekit.errors import AekitError
from aekit.train.callbacks import read_metrics
from aekit.train.loop import InMemoryBatches

QUIET = dict(progress=False, evaluate=False, log=None, threads=1)


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


def test_two_processes_match_one_process(tmp_path):
    # batch 25 leaves an uneven last batch (1294 = 51 * 25 + 19): the loss weights must handle it
    # float32: bf16 matmuls round differently when each process holds half the batch
    common = dict(dataset="digits", epochs=2, batch_size=25, precision="fp32", **QUIET)
    aekit.train("deep", out=tmp_path / "one", **common)
    model = aekit.train("deep", out=tmp_path / "two", nproc=2, **common)
    a, b = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)
    ra, rb = read_metrics(tmp_path / "one" / "metrics.jsonl"), read_metrics(tmp_path / "two" / "metrics.jsonl")
    assert [r["epoch"] for r in rb] == [1, 2]
    for x, y in zip(ra, rb, strict=True):
        assert y["train/loss"] == pytest.approx(x["train/loss"], rel=1e-5)
        assert y["val/loss"] == pytest.approx(x["val/loss"], rel=1e-5)
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
