"""Resumable training checkpoints in one safetensors file, written atomically.

A checkpoint holds everything needed to continue a run exactly: the (unwrapped) model
weights, the best weights so far, the optimizer state, the RNG states, the running sums of a
partly finished epoch, and a JSON block (safetensors metadata) with counters, the scheduler
state and a fingerprint of the run config. Nothing is pickled: the optimizer's nested state is
flattened into named tensors plus JSON.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch

from ..errors import AekitError
from ..fileio import atomic_write_bytes

CHECKPOINT_VERSION = 1


@dataclass
class TrainState:
    """Counters and bookkeeping that travel with a checkpoint."""

    epoch: int = 0                 # completed epochs
    step_in_epoch: int = 0         # batches done in the current (unfinished) epoch
    global_step: int = 0
    best_val: float = float("inf")
    best_epoch: int = 0
    epochs_since_best: int = 0
    elapsed: float = 0.0           # training seconds so far, across resumes
    stopped_early: bool = False
    epoch_sums: dict[str, torch.Tensor] = field(default_factory=dict)  # running term sums
    epoch_count: int = 0           # samples summed into epoch_sums


def _flatten_optimizer(state: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    meta: dict[str, Any] = {"param_groups": state["param_groups"], "state": {}}
    for pid, values in state["state"].items():
        plain = {}
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer/{pid}/{key}"] = value.detach().cpu().contiguous()
            else:
                plain[key] = value
        meta["state"][str(pid)] = plain
    return meta


def _unflatten_optimizer(meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {int(pid): dict(values) for pid, values in meta["state"].items()}
    for name, tensor in tensors.items():
        if name.startswith("optimizer/"):
            _, pid, key = name.split("/", 2)
            state.setdefault(int(pid), {})[key] = tensor
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(
    path: str | os.PathLike, *, model: torch.nn.Module, best_model_state: dict[str, torch.Tensor] | None,
    optimizer: torch.optim.Optimizer, scheduler: Any, generator: torch.Generator, state: TrainState,
    fingerprint: str, rank_generators: list[torch.Tensor] | None = None,
) -> None:
    """Write a checkpoint atomically (temp file, fsync, rename).

    ``rank_generators``: under data-parallel training, the noise-generator states of ranks 1..W-1.
    """
    tensors: dict[str, torch.Tensor] = {}
    for name, value in model.state_dict().items():
        tensors[f"model/{name}"] = value.detach().cpu().contiguous().clone()
    for name, value in (best_model_state or {}).items():
        tensors[f"best/{name}"] = value.detach().cpu().contiguous().clone()
    optimizer_meta = _flatten_optimizer(optimizer.state_dict(), tensors)
    tensors["rng/torch"] = torch.get_rng_state()
    tensors["rng/generator"] = generator.get_state().cpu()
    for rank, rank_state in enumerate(rank_generators or (), start=1):
        tensors[f"rng/rank/{rank}"] = rank_state.cpu()
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{i}"] = s
    for name, value in state.epoch_sums.items():
        tensors[f"sums/{name}"] = value.detach().cpu().double().reshape(())
    counters = {k: v for k, v in state.__dict__.items() if k != "epoch_sums"}
    meta = {
        "checkpoint_version": CHECKPOINT_VERSION,
        "fingerprint": fingerprint,
        "state": counters,
        "optimizer": optimizer_meta,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
    }
    blob = safetensors.torch.save(tensors, metadata={"aekit": json.dumps(meta)})
    atomic_write_bytes(path, blob)


@dataclass
class LoadedCheckpoint:
    model_state: dict[str, torch.Tensor]
    best_state: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any]
    scheduler_state: Any
    rng_torch: torch.Tensor
    rng_generator: torch.Tensor
    rng_cuda: list[torch.Tensor]
    state: TrainState
    fingerprint: str
    rng_rank_generators: dict[int, torch.Tensor] = field(default_factory=dict)  # ranks 1.. of a DDP run


def load_checkpoint(path: str | os.PathLike) -> LoadedCheckpoint:
    """Read a checkpoint; a truncated or foreign file is a clear :class:`AekitError`."""
    path = Path(path)
    if not path.is_file():
        raise AekitError(f"no checkpoint at {path}: nothing to resume (was the run started with this --out?)")
    try:
        with safetensors.safe_open(str(path), framework="pt") as f:
            meta_text = (f.metadata() or {}).get("aekit")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (safetensors.SafetensorError, OSError, ValueError) as err:
        raise AekitError(f"checkpoint {path} is truncated or corrupt ({err}); delete it to restart the run") from None
    if meta_text is None:
        raise AekitError(f"{path} is not an aekit checkpoint (no aekit metadata)")
    try:
        meta = json.loads(meta_text)
    except json.JSONDecodeError:
        raise AekitError(f"checkpoint {path} has corrupt metadata; delete it to restart the run") from None
    version = meta.get("checkpoint_version")
    if version != CHECKPOINT_VERSION:
        raise AekitError(
            f"checkpoint {path} has format version {version!r}; this aekit reads version {CHECKPOINT_VERSION}"
        )
    counters = meta["state"]
    sums = {k[len("sums/"):]: v for k, v in tensors.items() if k.startswith("sums/")}
    state = TrainState(**counters, epoch_sums=sums)
    cuda = [tensors[k] for k in sorted(t for t in tensors if t.startswith("rng/cuda/"))]
    return LoadedCheckpoint(
        model_state={k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")},
        best_state={k[len("best/"):]: v for k, v in tensors.items() if k.startswith("best/")},
        optimizer_state=_unflatten_optimizer(meta["optimizer"], tensors),
        scheduler_state=meta["scheduler"],
        rng_torch=tensors["rng/torch"],
        rng_generator=tensors["rng/generator"],
        rng_cuda=cuda,
        state=state,
        fingerprint=meta["fingerprint"],
        rng_rank_generators={int(k.rsplit("/", 1)[1]): v for k, v in tensors.items() if k.startswith("rng/rank/")},
    )
