"""Out-of-memory data: memory-mapped .npy shards and image folders through the same trainer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from aekit.config import TrainConfig
from aekit.data.preprocess import Preprocessing
from aekit.data.streaming import ImageFiles, NpyShards
from aekit.errors import AekitError
from aekit.models import build_model
from aekit.objectives import build_objective
from aekit.presets import build_run_config
from aekit.train.loop import InMemoryBatches, fit
from aekit.train.streaming import StreamingBatches, batches_for


@pytest.fixture
def shards(blobs_npy, tmp_path):
    images = np.load(blobs_npy)  # (600, 12, 12) uint8
    folder = tmp_path / "shards"
    folder.mkdir()
    for i, part in enumerate(np.array_split(images, [250, 400])):  # uneven shards: 250, 150, 200
        np.save(folder / f"part-{i:03d}.npy", part)
    return folder, images[..., None]


def test_shards_are_memory_mapped_and_index_like_one_array(shards):
    folder, images = shards
    source = NpyShards.from_path(folder)
    assert len(source) == 600 and source.image_shape == (12, 12, 1)
    assert all(isinstance(a, np.memmap) for a in source.arrays)
    idx = np.random.default_rng(0).permutation(600)[:77]
    np.testing.assert_array_equal(source.take(idx), images[idx])


def test_streamed_batches_are_the_in_memory_batches(shards):
    folder, images = shards
    prep = Preprocessing.fit(images)
    data = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    for rank, world in ((0, 1), (1, 2)):
        mem = InMemoryBatches(data, 64, prep, shuffle=True, seed=5, rank=rank, world_size=world)
        stream = StreamingBatches(NpyShards.from_path(folder), 64, prep, shuffle=True, seed=5, rank=rank,
                                  world_size=world, workers=2)
        assert len(stream) == len(mem) == 10 and stream.num_samples == 600
        got = list(stream.local_batches(3, start_batch=2))
        want = list(mem.local_batches(3, start_batch=2))
        assert len(got) == len(want) == 8
        for (x, n, w), (y, m, v) in zip(got, want, strict=True):
            assert torch.equal(x, y) and n == m and w == v


def test_training_on_streamed_shards_equals_in_memory_training(shards):
    folder, images = shards
    prep = Preprocessing.fit(images)
    run = build_run_config("denoising", model=dict(input_shape=(1, 12, 12), latent_dim=8, hidden=(32,)))
    config = TrainConfig(epochs=2, batch_size=50)
    results = []
    for streamed in (False, True):
        torch.manual_seed(0)
        model = build_model(run.model)
        objective = build_objective(run.objective, run.model)
        if streamed:
            batches = StreamingBatches(NpyShards.from_path(folder), 50, prep, shuffle=True, workers=0)
        else:
            batches = InMemoryBatches(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), 50, prep,
                                      shuffle=True)
        history = fit(model, objective, batches, None, config, device=torch.device("cpu"), progress=False).history
        results.append((model.state_dict(), history[-1]["train/loss"]))
    (a, la), (b, lb) = results
    assert la == lb and all(torch.equal(a[k], b[k]) for k in a)


def test_image_folder_streams_and_checks_sizes(tmp_path, blobs_npy):
    images = np.load(blobs_npy)[:40]
    folder = tmp_path / "imgs"
    (folder / "sub").mkdir(parents=True)
    for i, im in enumerate(images):
        Image.fromarray(im).save(folder / ("sub" if i % 2 else ".") / f"{i:03d}.png")
    source = ImageFiles.from_folder(folder)
    assert len(source) == 40 and source.image_shape == (12, 12, 1)
    prep = Preprocessing.fit(source.head(40))
    stream = StreamingBatches(source, 16, prep, shuffle=False, workers=2)
    got = torch.cat(list(stream.epoch(0)))
    order = [int(p.rsplit("/", 1)[-1][:3]) for p in source.paths]
    want = torch.from_numpy(images[order]).float().div(255).unsqueeze(1)
    assert torch.allclose(got, want)
    Image.fromarray(np.zeros((5, 7), np.uint8)).save(folder / "odd.png")
    with pytest.raises(AekitError, match="pass size="):
        ImageFiles.from_folder(folder).head(41)
    resized = ImageFiles.from_folder(folder, size=(12, 12))
    assert resized.take(np.arange(41)).shape == (41, 12, 12, 1)


def test_ram_budget_picks_streaming_only_when_needed(shards):
    folder, images = shards
    prep = Preprocessing.fit(images)
    source = NpyShards.from_path(folder)
    small = batches_for(source, 32, prep, shuffle=True, budget=source.nbytes - 1)
    big = batches_for(source, 32, prep, shuffle=True, budget=source.nbytes)
    assert isinstance(small, StreamingBatches)
    assert type(big) is InMemoryBatches and big.num_samples == 600


def test_bad_shards_are_clear_errors(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((4, 8, 8), np.uint8))
    np.save(tmp_path / "b.npy", np.zeros((4, 9, 9), np.uint8))
    with pytest.raises(AekitError, match="every shard"):
        NpyShards.from_path(tmp_path)
    np.save(tmp_path / "c.npy", np.zeros((4, 8, 8), np.int64))
    with pytest.raises(AekitError, match="uint8 or float32"):
        NpyShards([tmp_path / "c.npy"])
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 8, 8), np.uint8))
    with pytest.raises(AekitError, match=r"\.npy"):
        NpyShards.from_path(tmp_path / "d.npz")


def test_glorot_init_matches_its_definition():
    run = build_run_config("deep", model=dict(input_shape=(1, 28, 28), hidden=(128, 64), init="glorot"))
    torch.manual_seed(0)
    model = build_model(run.model)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    for layer in linears:
        fan_out, fan_in = layer.weight.shape
        bound = (6 / (fan_in + fan_out)) ** 0.5
        biggest = float(layer.weight.detach().abs().max())
        assert 0.9 * bound < biggest <= bound
        assert torch.count_nonzero(layer.bias) == 0
    with pytest.raises(AekitError, match="model.init"):
        build_run_config("deep", model=dict(init="he"))
