"""The training loop, as plain functions that know nothing about the model's variant.

Data that fits in memory is held as one tensor on the device and batched by index: no
per-sample Python, no DataLoader workers. Every source of randomness is seeded, and the
order of epoch ``e`` depends only on ``(seed, e)``, so a run resumed from a checkpoint
replays exactly what the uninterrupted run would have done.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from ..config import TrainConfig
from ..data.preprocess import Preprocessing
from ..errors import AekitError
from . import distributed, speed
from .callbacks import Callback, EpochProgress
from .checkpoint import LoadedCheckpoint, TrainState

logger = logging.getLogger(__name__)


def _silent(*_args: Any) -> None:
    pass


class InMemoryBatches:
    """Batches of an (N, C, H, W) uint8 or float tensor held on the device, by index.

    Args:
        data: the whole split, already on the target device.
        batch_size: samples per batch (the last batch may be smaller).
        preprocessing: turns stored pixels into model space, per batch, on the device.
        shuffle: draw a fresh permutation per epoch from ``(seed, epoch)``.
        seed: base seed of the permutations.
        rank, world_size: under data-parallel training, this process takes positions
            ``rank, rank + world_size, ...`` of every global batch (see :meth:`local_batches`).
        epoch_samples: samples per epoch, drawn afresh from ``(seed, epoch)`` as whole
            permutations of the split, cut (0: the split once). One process only.
    """

    def __init__(self, data: torch.Tensor, batch_size: int, preprocessing: Preprocessing, *,
                 shuffle: bool, seed: int = 0, rank: int = 0, world_size: int = 1, epoch_samples: int = 0):
        if not 0 <= rank < world_size:
            raise AekitError(f"rank: expected 0 <= rank < world_size={world_size}; got {rank}")
        self.epoch_samples = int(epoch_samples)
        self.data = data
        self.batch_size = batch_size
        self.preprocessing = preprocessing
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size

    def __len__(self) -> int:
        return math.ceil(self.per_epoch / self.batch_size)

    @property
    def num_samples(self) -> int:
        return int(self.data.shape[0])

    @property
    def per_epoch(self) -> int:
        """Samples one epoch takes."""
        return self.epoch_samples or self.num_samples

    @property
    def device(self) -> torch.device:
        return self.data.device

    def order(self, epoch: int) -> torch.Tensor:
        seed = self.seed * 1_000_003 + epoch
        if not self.epoch_samples:
            return self._order(self.num_samples, seed)
        rounds = -(-self.epoch_samples // self.num_samples)  # whole permutations, so each round sees every sample
        draws = [self._order(self.num_samples, seed * 7_919 + r) for r in range(rounds)]
        return torch.cat(draws)[:self.epoch_samples]

    def _order(self, n: int, seed: int) -> torch.Tensor:
        """``0..n-1``, permuted from ``seed`` when shuffling."""
        if not self.shuffle:
            return torch.arange(n, device=self.device)
        return torch.randperm(n, generator=torch.Generator().manual_seed(seed)).to(self.device)

    def plan(self, epoch: int, start_batch: int = 0) -> Iterator[tuple[torch.Tensor, int, float]]:
        """This rank's sample indices of each global batch: ``(indices, n_local, loss_weight)``.

        ``loss_weight = n_local * world_size / n_global`` makes DDP's gradient average the
        gradient of the global batch mean, even when the last batch does not split evenly. A rank
        whose share is empty gets one sample with weight 0, so it still joins the all-reduce.
        With one process: the whole batch, weight 1.
        """
        order = self.order(epoch)
        for b in range(start_batch, len(self)):
            batch = order[b * self.batch_size:(b + 1) * self.batch_size]
            if self.world_size == 1:
                yield batch, int(batch.shape[0]), 1.0
                continue
            idx = batch[self.rank::self.world_size]
            n_local, n_global = int(idx.shape[0]), int(batch.shape[0])
            yield (idx if n_local else batch[:1]), n_local, n_local * self.world_size / n_global

    def local_batches(self, epoch: int, start_batch: int = 0) -> Iterator[tuple[torch.Tensor, int, float]]:
        """``(x, n_local, loss_weight)`` per step, ``x`` in model space (see :meth:`plan`)."""
        for idx, n, weight in self.plan(epoch, start_batch):
            yield self.preprocessing.batch_to_model(self.data.index_select(0, idx)), n, weight

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[torch.Tensor]:
        """Model-space batches of this rank, in the order of epoch ``epoch``."""
        for x, _, _ in self.local_batches(epoch, start_batch):
            yield x


class ShardedBatches(InMemoryBatches):
    """One rank's shard of the training set under data-parallel training, batched by index.

    Sample ``i`` belongs to rank ``(i mod batch_size) mod W`` (:func:`shard_indices`), so rank
    ``r`` holds about 1/W of the set, and exactly its share of every global batch: global batch
    ``b`` is the union of every rank's local batch ``b``, as many batches per epoch as one
    process takes. Each rank shuffles its shard per epoch from ``(seed, epoch, r)``. Loss weights
    ``n_local * W / n_global`` make DDP's average the gradient of the global batch mean (a rank
    left without a sample in the last batch takes one with weight 0, so it still joins the
    all-reduce). Every sample is seen once per epoch; the batches are drawn differently from one
    process's, so the runs agree in distribution, not bit for bit (``tests/test_distributed.py``).

    Args:
        shard: this rank's samples, ``images[shard_indices(total, batch_size, rank, world_size)]``.
        total: the number of samples over all shards.
        batch_size, preprocessing, shuffle, seed, rank, world_size: as for InMemoryBatches.
    """

    def __init__(self, shard: torch.Tensor, total: int, batch_size: int, preprocessing: Preprocessing, *,
                 shuffle: bool, seed: int = 0, rank: int = 0, world_size: int = 1):
        super().__init__(shard, batch_size, preprocessing, shuffle=shuffle, seed=seed, rank=rank,
                         world_size=world_size)
        self.total = total
        if min(batch_size, total) < world_size:
            raise AekitError(f"{world_size} processes need at least {world_size} samples per batch and in the "
                             f"training set; got batch_size {batch_size} and {total} samples; use fewer processes")
        expected = len(shard_indices(total, batch_size, rank, world_size))
        if shard.shape[0] != expected:
            raise AekitError(f"rank {rank} of {world_size}: expected a shard of {expected} of {total} samples; "
                             f"got {shard.shape[0]}")

    @property
    def num_samples(self) -> int:
        return self.total

    def local_count(self, rank: int, batch: int) -> int:
        """Samples of rank ``rank`` in global batch ``batch``."""
        in_batch = min(self.batch_size, self.total - batch * self.batch_size)
        return len(range(rank, in_batch, self.world_size))

    def order(self, epoch: int) -> torch.Tensor:
        """Positions in this rank's shard (not the whole set), permuted from (seed, epoch, rank)."""
        return self._order(int(self.data.shape[0]), (self.seed * 1_000_003 + epoch) * 1009 + self.rank)

    def plan(self, epoch: int, start_batch: int = 0) -> Iterator[tuple[torch.Tensor, int, float]]:
        order, share = self.order(epoch), self.local_count(self.rank, 0)
        for b in range(start_batch, len(self)):
            n_local = self.local_count(self.rank, b)
            n_global = min(self.batch_size, self.total - b * self.batch_size)
            idx = order[b * share:b * share + n_local] if n_local else order[:1]
            yield idx, n_local, n_local * self.world_size / n_global


def shard_indices(total: int, batch_size: int, rank: int, world_size: int) -> np.ndarray:
    """The samples rank ``rank`` holds: those at offsets ``rank, rank + W, ...`` of each
    ``batch_size`` block, i.e. its share of every global batch."""
    return np.flatnonzero((np.arange(total) % batch_size) % world_size == rank)


def autocast_context(device: torch.device, precision: str):
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext()


def make_optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:
    name, lr, wd = config.optimizer, config.lr, config.weight_decay
    params = list(params)
    # Fused Adam updates all parameters in one kernel instead of many small ops, which dominate the
    # steps of small models on CPU; same maths. (CPU support arrived in torch 2.4; we allow 2.2.)
    cpu_fused = torch.__version__ >= (2, 4)
    fused = all((p.device.type == "cuda" or (p.device.type == "cpu" and cpu_fused)) and p.dtype.is_floating_point
                for p in params)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd, fused=fused)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd, fused=fused)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=wd)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=wd)
    raise AekitError(f"train.optimizer: expected adam, adamw, sgd or rmsprop; got {name!r}")


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int):
    """The LR schedule and when it steps: ``"step"`` (per batch) or ``"epoch"``/``"val"``."""
    if config.schedule == "cosine":
        total = max(1, config.epochs * steps_per_epoch)
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total), "step"
    if config.schedule == "step":
        milestones = sorted({max(1, round(config.epochs * f)) for f in (0.5, 0.75)})
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1), "epoch"
    if config.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=3), "val"
    return None, None


@dataclass
class StepContext:
    """What the per-step hook sees (used for mid-epoch checkpoints)."""

    epoch: int
    step_in_epoch: int
    global_step: int
    terms: dict[str, torch.Tensor] = field(default_factory=dict)


def train_one_epoch(
    model: torch.nn.Module, objective: Any, optimizer: torch.optim.Optimizer, batches: InMemoryBatches, *,
    epoch: int, state: TrainState, generator: torch.Generator, device: torch.device, precision: str = "fp32",
    grad_clip: float = 0.0, scheduler: Any = None, scheduler_per_step: bool = False,
    on_step: Callable[[StepContext], None] | None = None, progress: EpochProgress | None = None,
) -> dict[str, float]:
    """One pass over ``batches`` (resuming at ``state.step_in_epoch``); returns mean terms.

    Sums of each term weighted by batch size accumulate in float64 tensors in ``state``, so a
    checkpoint taken mid-epoch carries them and the resumed epoch reports the same means.
    """
    model.train()
    sums = state.epoch_sums
    for x, n, weight in batches.local_batches(epoch, start_batch=state.step_in_epoch):
        with autocast_context(device, precision):
            terms = objective(model, x, generator=generator, epoch=epoch + state.step_in_epoch / len(batches))
        loss = terms["loss"]
        if not torch.isfinite(loss):
            raise AekitError(
                f"training diverged: the loss became {loss.item()} at epoch {epoch + 1}, "
                f"step {state.step_in_epoch + 1}; "
                "lower the learning rate (--lr) or enable gradient clipping (--set train.grad_clip=1)"
            )
        optimizer.zero_grad(set_to_none=True)
        (loss if weight == 1.0 else loss * weight).backward()
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        if scheduler is not None and scheduler_per_step:
            scheduler.step()
        for name, value in terms.items():
            contrib = value.detach().double() * n
            sums[name] = sums[name] + contrib.cpu() if name in sums else contrib.cpu()
        state.epoch_count += n
        state.step_in_epoch += 1
        state.global_step += 1
        if progress is not None:
            progress.update(n, terms)
        if on_step is not None:
            on_step(StepContext(epoch, state.step_in_epoch, state.global_step, terms))
    sums, count = distributed.all_reduce_sums(sums, state.epoch_count)
    means = {name: float(total / max(1, count)) for name, total in sums.items()}
    state.epoch_sums = {}
    state.epoch_count = 0
    state.step_in_epoch = 0
    return means


@torch.no_grad()
def evaluate(
    model: torch.nn.Module, objective: Any, batches: InMemoryBatches, *, device: torch.device,
    precision: str = "fp32", seed: int = 0, epoch: float = 0.0,
) -> dict[str, float]:
    """Mean loss terms over ``batches`` in eval mode, with a fixed noise seed so epochs compare."""
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=device).manual_seed(seed + 7919)
    sums: dict[str, float] = {}
    count = 0
    for x in batches.epoch(0):
        with autocast_context(device, precision):
            terms = objective(model, x, generator=generator, epoch=epoch)
        n = x.shape[0]
        for name, value in terms.items():
            sums[name] = sums.get(name, 0.0) + float(value) * n
        count += n
    model.train(was_training)
    return {name: total / max(1, count) for name, total in sums.items()}


def _has_unused_parameters(model: torch.nn.Module, objective: Any, batches: InMemoryBatches,
                           device: torch.device) -> bool:
    """Whether a training step leaves some parameter without a gradient (DDP must then look for
    them every step). Found with one step of a throwaway copy; no RNG state is consumed."""
    rng = torch.get_rng_state()
    try:
        probe = copy.deepcopy(model).train()
        x = next(iter(batches.local_batches(0)))[0][:2]
        gen = torch.Generator(device=device).manual_seed(0)
        objective(probe, x, generator=gen, epoch=0.0)["loss"].backward()
        return any(p.requires_grad and p.grad is None for p in probe.parameters())
    finally:
        torch.set_rng_state(rng)


@dataclass
class FitResult:
    history: list[dict[str, Any]]
    state: TrainState
    best_state: dict[str, torch.Tensor]


def fit(
    model: torch.nn.Module, objective: Any, train: InMemoryBatches, val: InMemoryBatches | None,
    config: TrainConfig, *, device: torch.device, resume_from: LoadedCheckpoint | None = None,
    save_checkpoint: Callable[..., None] | None = None, on_best: Callable[[dict], None] | None = None,
    callbacks: tuple[Callback, ...] = (), progress: bool = True,
) -> FitResult:
    """Train for ``config.epochs`` with validation, early stopping, keep-best and checkpoints.

    Args:
        model: the unwrapped module (checkpoints always store this one, never a compiled wrapper).
        objective: callable ``(model, x, generator=, epoch=) -> dict of terms with "loss"``.
        train: training batches. val: validation batches (``None`` uses the training loss).
        config: epochs, optimizer, schedule, precision, compile, checkpoint cadence, ...
        device: where ``model`` and the batches live.
        resume_from: a loaded checkpoint to continue from exactly.
        save_checkpoint: called as ``save_checkpoint(model=, best_model_state=, optimizer=,
            scheduler=, generator=, state=)`` at each epoch end (and every
            ``config.checkpoint_every`` steps).
        on_best: called with the best weights whenever validation improves (exports the model).
        callbacks: receive each epoch's metrics record.
        progress: show a progress bar per epoch.
    """
    world = distributed.current_world()
    if not world.is_main:  # rank 0 alone logs, exports and reports
        on_best, callbacks, progress = None, (), False
    say = logger.info if world.is_main else _silent  # one line per epoch, from rank 0
    settings = speed.resolve(config, model, device, objective)
    speed.apply_layout(model, settings)  # before the optimizer, whose state follows each weight's layout
    say("speed: %s", settings.describe())
    optimizer = make_optimizer(model.parameters(), config)
    scheduler, scheduler_mode = make_scheduler(optimizer, config, len(train))
    # Each rank draws its own noise; rank 0's stream is the single-process one.
    generator = torch.Generator(device=device).manual_seed(config.seed + 1 + 7919 * world.rank)
    state = TrainState()
    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if resume_from is not None:
        model.load_state_dict(resume_from.model_state)
        optimizer.load_state_dict(resume_from.optimizer_state)
        speed.match_state_layout(optimizer)
        if scheduler is not None and resume_from.scheduler_state is not None:
            scheduler.load_state_dict(resume_from.scheduler_state)
        torch.set_rng_state(resume_from.rng_torch)
        saved = resume_from.rng_generator if world.rank == 0 else resume_from.rng_rank_generators.get(world.rank)
        if saved is not None:
            generator.set_state(saved.to(generator.device) if device.type != "cuda" else saved)
        if resume_from.rng_cuda and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(resume_from.rng_cuda)
        state = resume_from.state
        if not world.is_main:  # the checkpoint's partial-epoch sums are global; rank 0 carries them
            state.epoch_sums, state.epoch_count = {}, 0
        if resume_from.best_state:
            best_state = resume_from.best_state
    step_model = model
    if world.distributed:
        unused = _has_unused_parameters(model, objective, train, device)
        step_model = distributed.wrap(model, device, find_unused=unused)
    if config.compile:
        step_model = torch.compile(step_model)

    def checkpoint() -> None:
        if not world.distributed:
            if save_checkpoint is not None:
                save_checkpoint(model=model, best_model_state=best_state, optimizer=optimizer,
                                scheduler=scheduler, generator=generator, state=state)
            return
        # Collectives first, on every rank; then rank 0 writes global sums and all noise streams.
        generators = distributed.gather_generator_states(generator)
        sums, count = distributed.all_reduce_sums(state.epoch_sums, state.epoch_count)
        if save_checkpoint is not None and world.is_main:
            save_checkpoint(model=model, best_model_state=best_state, optimizer=optimizer, scheduler=scheduler,
                            generator=generator, state=replace(state, epoch_sums=sums, epoch_count=count),
                            rank_generators=generators[1:])

    def on_step(ctx: StepContext) -> None:
        if config.checkpoint_every and ctx.global_step % config.checkpoint_every == 0 \
                and ctx.step_in_epoch < len(train):
            checkpoint()

    history: list[dict[str, Any]] = []
    for epoch in range(state.epoch, config.epochs):
        if state.stopped_early:
            break
        started = time.perf_counter()
        bar = EpochProgress(epoch, config.epochs, len(train), start=state.step_in_epoch, enabled=progress)
        try:
            train_terms = train_one_epoch(
                step_model, objective, optimizer, train, epoch=epoch, state=state, generator=generator,
                device=device, precision=settings.precision, grad_clip=config.grad_clip,
                scheduler=scheduler, scheduler_per_step=scheduler_mode == "step", on_step=on_step, progress=bar,
            )
        finally:
            bar.close()
        train_seconds = time.perf_counter() - started
        val_terms = evaluate(model, objective, val, device=device, precision=settings.precision,
                             seed=config.seed, epoch=epoch + 1) if val is not None and val.num_samples else {}
        if scheduler is not None and scheduler_mode == "epoch":
            scheduler.step()
        elif scheduler is not None and scheduler_mode == "val":
            scheduler.step(val_terms.get("loss", train_terms["loss"]))
        state.epoch = epoch + 1
        state.elapsed += time.perf_counter() - started
        monitored = val_terms.get("loss", train_terms["loss"])
        improved = monitored < state.best_val
        if improved:
            state.best_val, state.best_epoch, state.epochs_since_best = monitored, epoch + 1, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            state.epochs_since_best += 1
        if config.early_stopping and state.epochs_since_best >= config.early_stopping:
            state.stopped_early = True
        record: dict[str, Any] = {"epoch": epoch + 1, "step": state.global_step}
        record.update({f"train/{k}": v for k, v in train_terms.items()})
        record.update({f"val/{k}": v for k, v in val_terms.items()})
        record.update({
            "lr": optimizer.param_groups[0]["lr"],
            "epoch_seconds": round(train_seconds, 4),
            "samples_per_s": round(train.per_epoch / max(train_seconds, 1e-9), 1),
            "best": improved,
        })
        history.append(record)
        for cb in callbacks:
            cb.on_epoch_end(record)
        if improved and on_best is not None:
            on_best(best_state)
        checkpoint()
        val_text = f"  val {val_terms['loss']:.5f}" if val_terms else ""
        say("epoch %d/%d  train %.5f%s%s  %.1fs  %s samples/s", epoch + 1, config.epochs, train_terms["loss"],
            val_text, "  *best" if improved else "", train_seconds, f"{record['samples_per_s']:,.0f}")
        if state.stopped_early:
            say("early stopping: no better validation loss for %d epochs (best %.5f at epoch %d)",
                config.early_stopping, state.best_val, state.best_epoch)
    for cb in callbacks:
        cb.on_train_end()
    return FitResult(history=history, state=state, best_state=best_state)
