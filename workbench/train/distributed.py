"""Data-parallel training under torchrun (DDP), and the single-process case as a no-op.

`workbench train --nproc N` starts N processes through `torch.distributed.run`; each reads
RANK / WORLD_SIZE / LOCAL_RANK from the environment. Every optimizer step takes
`grad_accum × N` micro-batches; process r trains on micro-batches r, r+N, ...; the loss of
each is scaled so that, after DDP averages the gradients, the step's gradient is the sum of
token losses over the number of target tokens of the whole step. Only rank 0 writes files.
Backend: nccl on CUDA, gloo on CPU.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str | None = None

    @classmethod
    def from_env(cls) -> "Dist":
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        return cls(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, device: str) -> str:
        """Start the process group (once the device is known) and pick this rank's GPU."""
        if self.world <= 1:
            return device
        import torch
        import torch.distributed as td

        if device.startswith("cuda"):
            torch.cuda.set_device(self.local_rank)
            device, self.backend = f"cuda:{self.local_rank}", "nccl"
        else:
            self.backend = "gloo"
        if not td.is_initialized():
            td.init_process_group(self.backend)
        return device

    def wrap(self, model, vocab=None):
        """A module whose forward is `target_loss` (over `vocab` if given), inside DDP when
        there are several processes (DDP syncs gradients for what runs through its forward)."""
        import torch.nn as nn

        class LossModule(nn.Module):
            def __init__(self, inner) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, input_ids, labels, position_ids=None, segment_ids=None):
                return self.inner.target_loss(input_ids, labels, position_ids, segment_ids, vocab)

        wrapped = LossModule(model)
        if self.world <= 1:
            return wrapped
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [self.local_rank] if self.backend == "nccl" else None
        return DDP(wrapped, device_ids=ids)

    def no_sync(self, wrapped, last: bool):
        """Skip the gradient all-reduce on all but the last micro-batch of a step."""
        if self.world > 1 and not last:
            return wrapped.no_sync()
        return contextlib.nullcontext()

    def sum(self, value: float | int) -> float | int:
        if self.world <= 1:
            return value
        import torch
        import torch.distributed as td

        t = torch.tensor([float(value)], dtype=torch.float64)
        if self.backend == "nccl":
            t = t.cuda()
        td.all_reduce(t)
        out = t.item()
        return int(out) if isinstance(value, int) else out

    def any(self, flag: bool) -> bool:
        return self.sum(int(bool(flag))) > 0

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as td

            td.barrier()

    def close(self) -> None:
        if self.world > 1:
            import torch.distributed as td

            if td.is_initialized():
                td.destroy_process_group()
