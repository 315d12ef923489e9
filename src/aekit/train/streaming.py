"""Batches read from a source on disk by DataLoader workers, for data that does not fit in memory.

:class:`StreamingBatches` is an :class:`~aekit.train.loop.InMemoryBatches` whose pixels stay in
the source (:mod:`aekit.data.streaming`): it draws the same permutation from ``(seed, epoch)``
and weights the same losses, but reads each batch in DataLoader worker processes (prefetching)
instead of indexing a tensor. A streamed single-process run sees exactly the batches an
in-memory run would, and ``fit`` does not know the difference. Under DDP every rank draws the
same global permutation and reads only its positions ``rank, rank + W, ...`` of each batch, so
no rank holds more than its share (in-memory DDP shards the data instead; see
:class:`~aekit.train.loop.ShardedBatches`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import torch

from ..data.preprocess import Preprocessing
from ..errors import AekitError
from .loop import InMemoryBatches


class _PlannedReads(torch.utils.data.Dataset):
    """Item ``i`` = the i-th planned batch, read from the source as an (B, C, H, W) tensor."""

    def __init__(self, source, plan: list[np.ndarray]):
        self.source, self.plan = source, plan

    def __len__(self) -> int:
        return len(self.plan)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(self.source.take(self.plan[i])).permute(0, 3, 1, 2).contiguous()


class StreamingBatches(InMemoryBatches):
    """:class:`InMemoryBatches` over a source that stays on disk, read by DataLoader workers.

    Args:
        source: :class:`NpyShards`, :class:`ImageFiles`, or anything with ``__len__`` and
            ``take(indices) -> (B, H, W, C) array``.
        batch_size, preprocessing, shuffle, seed, rank, world_size: as for InMemoryBatches.
        workers: DataLoader worker processes (0 reads in the training process).
        device: where batches go.
    """

    def __init__(self, source, batch_size: int, preprocessing: Preprocessing, *, shuffle: bool, seed: int = 0,
                 rank: int = 0, world_size: int = 1, workers: int = 2, device: torch.device | str = "cpu"):
        super().__init__(torch.empty(0), batch_size, preprocessing, shuffle=shuffle, seed=seed, rank=rank,
                         world_size=world_size)
        self.source = source
        self.workers = workers
        self._device = torch.device(device)

    @property
    def num_samples(self) -> int:
        return len(self.source)

    @property
    def device(self) -> torch.device:
        return self._device

    def order(self, epoch: int) -> torch.Tensor:
        return super().order(epoch).cpu()

    def local_batches(self, epoch: int, start_batch: int = 0) -> Iterator[tuple[torch.Tensor, int, float]]:
        planned = list(self.plan(epoch, start_batch))
        if not planned:
            return
        reads = _PlannedReads(self.source, [idx.numpy() for idx, _, _ in planned])
        workers = min(self.workers, len(planned))
        loader = torch.utils.data.DataLoader(
            reads, batch_size=None, shuffle=False, num_workers=workers,
            prefetch_factor=4 if workers else None, persistent_workers=False,
            pin_memory=self._device.type == "cuda",
        )
        for x, (_, n, weight) in zip(loader, planned, strict=True):
            yield self.preprocessing.batch_to_model(x.to(self._device, non_blocking=True)), n, weight


def ram_budget_bytes() -> int:
    """Half of this machine's physical memory (``AEKIT_RAM_BUDGET`` in bytes overrides it)."""
    env = os.environ.get("AEKIT_RAM_BUDGET")
    if env:
        try:
            return int(float(env))
        except ValueError:
            raise AekitError(f"AEKIT_RAM_BUDGET: expected a number of bytes; got {env!r}") from None
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def should_stream(nbytes: int, budget: int | None = None) -> bool:
    """Stream when the decoded training set would exceed the RAM budget."""
    return nbytes > (ram_budget_bytes() if budget is None else budget)


def batches_for(source, batch_size: int, preprocessing: Preprocessing, *, shuffle: bool, seed: int = 0,
                rank: int = 0, world_size: int = 1, device: torch.device | str = "cpu", workers: int = 2,
                budget: int | None = None) -> InMemoryBatches:
    """In-memory batches when the source fits the RAM budget, else streamed ones."""
    n = len(source)
    if should_stream(source.nbytes, budget):
        return StreamingBatches(source, batch_size, preprocessing, shuffle=shuffle, seed=seed, rank=rank,
                                world_size=world_size, workers=workers, device=device)
    images = source.take(np.arange(n))
    data = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous().to(device)
    return InMemoryBatches(data, batch_size, preprocessing, shuffle=shuffle, seed=seed, rank=rank,
                           world_size=world_size)
