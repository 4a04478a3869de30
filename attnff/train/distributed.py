"""Data-parallel training over processes: the torchrun environment, shards, reductions, barriers.

``torchrun --nproc_per_node=N -m attnff train CONFIG.yaml`` starts N processes with RANK,
LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT in their environment; ``Ranks.from_environment``
reads them and joins the process group (gloo on the CPU, nccl on CUDA, or ``training.ddp_backend``).
Without WORLD_SIZE (or with WORLD_SIZE=1) everything here is a no-op on one process.

The contract kept by the training loop (docs/training.md):

- ``training.batch_size`` is the global batch. Every rank walks the same seeded permutation of the
  training set in the same global batches and takes its slice ``global_batch[rank::world_size]``,
  so each epoch is split into disjoint shards and the number of steps does not depend on the
  number of processes.
- Loss terms are sums divided by the counts of the whole global batch (reduced over ranks), so the
  gradient DistributedDataParallel averages is the one-process gradient of the global batch.
- Metrics are sums of errors over disjoint shards, reduced with SUM (gloo has no average), and
  only then divided by the whole set's counts: no sample is counted twice.
"""

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..device import resolve_device

__all__ = ["Ranks"]


@dataclass(frozen=True)
class Ranks:
    """This process's place in a data-parallel run (rank 0 of 1 when not distributed).

    Attributes:
        rank: global rank, 0..world_size-1.
        local_rank: rank on this node (the CUDA device index).
        world_size: number of processes.
        device: this rank's torch device.
        owns_group: whether ``from_environment`` started the process group (and ``close`` ends it).
    """

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_environment(cls, device: str = "auto", backend: str = "auto") -> "Ranks":
        """Join the process group described by the torchrun environment variables.

        Args:
            device: training.device; "auto"/"cuda" on several processes means cuda:LOCAL_RANK.
            backend: "auto" (nccl for CUDA, gloo for the CPU), "gloo" or "nccl".
        """
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        resolved = resolve_device(device)
        if world_size <= 1:
            return cls(device=resolved)
        rank = int(os.environ["RANK"])
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
        if resolved.type == "cuda":
            if resolved.index is None:
                resolved = torch.device("cuda", local_rank % torch.cuda.device_count())
            torch.cuda.set_device(resolved)
        if backend == "auto":
            backend = "nccl" if resolved.type == "cuda" else "gloo"
        if backend not in ("gloo", "nccl"):
            raise ValueError(f"training.ddp_backend must be 'auto', 'gloo' or 'nccl', got {backend!r}")
        owns = not dist.is_initialized()
        if owns:
            dist.init_process_group(backend, rank=rank, world_size=world_size)
        return cls(rank, local_rank, world_size, resolved, owns)

    def close(self) -> None:
        """Leave the process group if this object started it."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()

    def shard(self, indices: Sequence[int]) -> list[int]:
        """This rank's disjoint slice of ``indices`` (every world_size-th, starting at rank)."""
        return list(indices[self.rank::self.world_size])

    def _on_device(self, tensor: torch.Tensor) -> torch.Tensor:
        # nccl reduces CUDA tensors only; gloo takes CPU tensors
        backend_device = self.device if dist.get_backend() == "nccl" else torch.device("cpu")
        return tensor.detach().to(backend_device, torch.float64)

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """Element-wise sum over ranks of a tensor (returned as float64 on the CPU)."""
        if not self.enabled:
            return values.detach().to("cpu", torch.float64)
        moved = self._on_device(values).contiguous()
        dist.all_reduce(moved, op=dist.ReduceOp.SUM)
        return moved.cpu()

    def from_main(self, values: torch.Tensor) -> torch.Tensor:
        """Rank 0's copy of a tensor on every rank (float64 on the CPU): one decision for all."""
        if not self.enabled:
            return values.detach().to("cpu", torch.float64)
        moved = self._on_device(values).contiguous()
        dist.broadcast(moved, src=0)
        return moved.cpu()

    def barrier(self) -> None:
        """Wait until every rank has arrived (no-op on one process)."""
        if not self.enabled:
            return
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[self.device.index])
        else:
            dist.barrier()
