"""Data-parallel training across processes with PyTorch DDP: gloo on CPU, NCCL on GPUs.

Two ways in, one code path:

* ``aekit train ... --nproc N`` (or ``aekit.train(..., nproc=N)``) spawns N local processes
  (:func:`launch`), each of which runs the ordinary trainer;
* ``torchrun --nproc-per-node N [--nnodes ... --rdzv-endpoint ...] -m aekit.train ...`` starts
  the processes itself; the trainer sees ``RANK``/``WORLD_SIZE`` in the environment and joins
  the process group (:func:`init_from_env`).

Each process holds only its shard of the in-memory training set (about 1/N of it; see
:class:`aekit.train.loop.ShardedBatches`): sample ``i`` lives on rank ``(i mod batch) mod N``,
so every global batch is made of each rank's share, shuffled within the shard per epoch. Losses
are weighted by ``n_local * N / n_global`` so that DDP's gradient average equals the gradient of
the global batch mean, even for an uneven last batch. N processes thus take the same number of
global batches of the same size as one process, each sample once per epoch; the batches are
drawn differently, so the result agrees with one process in loss, not bit for bit. Streamed
sources (:mod:`aekit.train.streaming`) keep one global permutation instead: each rank reads
only its positions of every batch from disk.

Rank 0 alone writes the run folder (metrics, checkpoints, the exported model, the report).
Checkpoints carry every rank's noise-generator state, so a resumed run continues on all ranks.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from ..errors import AekitError
from ..logs import console_level, console_logging


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def current_world() -> World:
    """The process group this process belongs to (a world of one when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()):
        return World()
    size = dist.get_world_size()
    return World(dist.get_rank(), size, int(os.environ.get("LOCAL_RANK", 0)),
                 int(os.environ.get("LOCAL_WORLD_SIZE", size)))


def env_world_size() -> int:
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise AekitError(f"WORLD_SIZE: expected an integer; got {os.environ['WORLD_SIZE']!r}") from None


def backend_for(device: str) -> str:
    """NCCL when training on CUDA (and NCCL exists), else gloo."""
    wants_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    return "nccl" if wants_cuda and dist.is_nccl_available() else "gloo"


def init_from_env(device: str = "auto") -> World:
    """Join the process group described by ``RANK``/``WORLD_SIZE``/``MASTER_ADDR`` (torchrun sets them)."""
    if env_world_size() > 1 and not dist.is_initialized():
        if not dist.is_available():
            raise AekitError("WORLD_SIZE > 1 asks for distributed training, but this PyTorch has no torch.distributed")
        dist.init_process_group(backend_for(device))
    return current_world()


def rank_device(device: torch.device, world: World) -> torch.device:
    """On CUDA each local rank owns one GPU (``cuda:LOCAL_RANK``)."""
    if device.type == "cuda" and world.distributed:
        if world.local_rank >= torch.cuda.device_count():
            raise AekitError(f"local rank {world.local_rank} needs a GPU, but only {torch.cuda.device_count()} "
                             "are visible; start at most one process per GPU")
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    return device


def threads_per_rank(world: World) -> int:
    """Split the CPU's cores evenly between the local ranks (each at least one thread)."""
    return max(1, (os.cpu_count() or 1) // max(1, world.local_size))


class _DDP(DistributedDataParallel):
    """DDP that still answers the autoencoder's own attributes (``encode``, ``latent``, ...),
    which objectives and regularisers call beside ``forward``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)


def wrap(model: torch.nn.Module, device: torch.device, *, find_unused: bool) -> torch.nn.Module:
    """Wrap for gradient all-reduce; parameters are broadcast from rank 0 here."""
    ids = [device.index] if device.type == "cuda" else None
    return _DDP(model, device_ids=ids, find_unused_parameters=find_unused)


def _comm_device(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.cuda() if dist.get_backend() == "nccl" else tensor


def all_reduce_sums(sums: dict[str, torch.Tensor], count: int) -> tuple[dict[str, torch.Tensor], int]:
    """Global term sums and sample count over all ranks (same term names on every rank)."""
    if not current_world().distributed:
        return sums, count
    names = list(sums)  # the same insertion order on every rank
    flat = torch.tensor([float(sums[n]) for n in names] + [float(count)], dtype=torch.float64)
    flat = _comm_device(flat)
    dist.all_reduce(flat)
    flat = flat.cpu()
    return {n: flat[i].clone() for i, n in enumerate(names)}, int(round(float(flat[-1])))


def gather_generator_states(generator: torch.Generator) -> list[torch.Tensor]:
    """Every rank's generator state, in rank order (a collective: all ranks call it)."""
    state = generator.get_state().cpu()
    world = current_world()
    if not world.distributed:
        return [state]
    local = _comm_device(state)
    out = [torch.empty_like(local) for _ in range(world.size)]
    dist.all_gather(out, local)
    return [t.cpu() for t in out]


def any_rank(flag: bool) -> bool:
    """True on every rank when ``flag`` is true on any (keeps decisions such as stopping in step)."""
    if not current_world().distributed:
        return flag
    t = _comm_device(torch.tensor([1.0 if flag else 0.0]))
    dist.all_reduce(t)
    return bool(t.item() > 0)


def barrier() -> None:
    if current_world().distributed:
        dist.barrier()


# ---------------------------------------------------------------------------------------------
# launching N local processes


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, size: int, port: int, backend: str, target: Callable[..., Any], kwargs: dict[str, Any],
            error_dir: str, log_level: int | None = None) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(size),
                      LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(size))
    code = 0
    try:
        dist.init_process_group(backend, rank=rank, world_size=size)
        with console_logging(log_level) if log_level is not None else contextlib.nullcontext():
            target(**kwargs)
    except AekitError as err:
        Path(error_dir, f"rank{rank}").write_text(str(err))
        code = 2
    except BaseException:  # noqa: B036 - report everything to the parent, then leave
        Path(error_dir, f"rank{rank}").write_text(traceback.format_exc())
        code = 1
    finally:
        shutdown()
    os._exit(code)


def shutdown() -> None:
    """Leave the process group and flush output (gloo workers can abort at exit otherwise)."""
    if dist.is_available() and dist.is_initialized():
        try:
            dist.destroy_process_group()
        except Exception:  # noqa: BLE001 - already torn down by a failing peer
            pass
    sys.stdout.flush()
    sys.stderr.flush()


def launch(nproc: int, target: Callable[..., Any], kwargs: dict[str, Any], *, device: str = "auto") -> None:
    """Run ``target(**kwargs)`` in ``nproc`` fresh processes joined in one process group.

    A failing rank stops the others; its error comes back as an :class:`AekitError`.
    """
    if nproc < 1:
        raise AekitError(f"nproc: expected a process count ≥ 1; got {nproc!r}")
    if dist.is_available() and dist.is_initialized():
        raise AekitError("nproc > 1 inside an already distributed process: use either torchrun or --nproc, not both")
    backend = backend_for(device)
    if backend == "nccl" and nproc > torch.cuda.device_count():
        raise AekitError(f"--nproc {nproc} on CUDA needs {nproc} GPUs; {torch.cuda.device_count()} are visible")
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="aekit-ddp-") as error_dir:
        procs = [ctx.Process(target=_worker, args=(r, nproc, port, backend, target, kwargs, error_dir, console_level()),
                             daemon=False)
                 for r in range(nproc)]
        for p in procs:
            p.start()
        failed = None
        try:
            while any(p.is_alive() for p in procs):
                for r, p in enumerate(procs):
                    if p.exitcode not in (None, 0) and failed is None:
                        failed = r
                if failed is not None:
                    break
                time.sleep(0.1)
        finally:
            for p in procs:
                if p.is_alive() and failed is not None:
                    p.terminate()
                p.join()
        codes = [p.exitcode for p in procs]
        if failed is None:
            failed = next((r for r, c in enumerate(codes) if c != 0), None)
        if failed is not None:
            # The first rank that wrote an error explains it best (the others were stopped).
            for r in [failed, *range(nproc)]:
                path = Path(error_dir, f"rank{r}")
                if path.exists():
                    text = path.read_text().strip()
                    raise AekitError(f"distributed training failed on rank {r}: {text}")
            raise AekitError(f"distributed training failed: rank {failed} exited with code {codes[failed]}")
