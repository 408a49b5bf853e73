"""Distributed helpers: process-group setup from torchrun's environment, rank-aware batching, and a
batch norm synchronized across CPU processes (``nn.SyncBatchNorm`` only runs on GPUs).

With the global batch split across ranks by position (rank r takes positions r, r+N, …) and batch
statistics computed over the whole global batch, N processes compute the same updates as one process,
up to the order of floating-point reductions.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Sampler

from atomnet.errors import InputError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group torchrun describes (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_*``);
    gloo on CPU, nccl on GPU. A plain single process returns rank 0 of 1 without a group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def all_sum(values: list[float], info: DistInfo) -> list[float]:
    """Sum numbers over all processes (identity in a single process)."""
    if info.world == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


class GlobalBatchSampler(Sampler[list[tuple[int, int]]]):
    """Batches of ``(index, augmentation seed)`` for one rank. Each epoch draws one permutation from
    ``(seed, epoch)``; global batch k is positions ``k·B … k·B+B-1`` of it and this rank takes every
    ``world``-th of them. Seeds depend on (seed, epoch, position) only. The last partial batch is dropped
    (``drop_last``) or kept whole."""

    def __init__(self, n: int, batch_size: int, seed: int, info: DistInfo, shuffle: bool = True,
                 drop_last: bool = True) -> None:
        if batch_size % info.world:
            raise InputError(f"batch size {batch_size} is not divisible by the {info.world} processes")
        self.n, self.batch_size, self.seed, self.info = n, batch_size, seed, info
        self.shuffle, self.drop_last, self.epoch = shuffle, drop_last, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.n, generator=g).tolist() if self.shuffle else list(range(self.n))
        base = (self.seed * 1_000_003 + self.epoch) * 10_000_019
        for k in range(len(self)):
            pos = range(k * self.batch_size, min((k + 1) * self.batch_size, self.n))
            mine = list(pos)[self.info.rank::self.info.world]
            yield [(order[p], base + p) for p in mine]


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes; the gradient of a sum is the sum of the gradients (all-reduced again)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        y = x.clone()
        dist.all_reduce(y)
        return y

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        g = grad.clone()
        dist.all_reduce(g)
        return g


class DistBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics span all processes (sum and sum of squares all-reduced with
    autograd); identical to ``nn.BatchNorm2d`` in a single process and in eval mode."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        c = x.shape[1]
        local = torch.cat([x.sum((0, 2, 3)), (x * x).sum((0, 2, 3)),
                           x.new_full((1,), float(x.numel() // c))])
        tot = _AllReduceSum.apply(local)
        n = tot[-1]
        mean = tot[:c] / n
        var = (tot[c:2 * c] / n - mean * mean).clamp_min(0)
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                m = self.momentum if self.momentum is not None else 0.1
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * n / (n - 1), alpha=m)
                if self.num_batches_tracked is not None:
                    self.num_batches_tracked.add_(1)
        y = (x - mean.view(1, c, 1, 1)) * torch.rsqrt(var.view(1, c, 1, 1) + self.eps)
        if self.affine:
            y = y * self.weight.view(1, c, 1, 1) + self.bias.view(1, c, 1, 1)
        return y


def sync_batchnorm(module: nn.Module, device_type: str) -> nn.Module:
    """Batch norms synchronized across processes: ``nn.SyncBatchNorm`` on GPUs, :class:`DistBatchNorm2d`
    on CPUs (same parameters and buffers, so checkpoints do not change)."""
    if device_type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            new = DistBatchNorm2d(child.num_features, child.eps, child.momentum, child.affine,
                                  child.track_running_stats)
            new.load_state_dict(child.state_dict())
            setattr(module, name, new)
        else:
            sync_batchnorm(child, device_type)
    return module
