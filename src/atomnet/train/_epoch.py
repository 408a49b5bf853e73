"""The pieces of a training loop, shared by :func:`atomnet.train.train` and quantization-aware fine-tuning
(:mod:`atomnet.export` ``--qat-epochs``): data loaders over the seeded global-batch sampler, SGD with the
weight-decay split, the warm-up + cosine schedule, and one epoch of optimizer steps with a hook that runs
after the model is put in training mode (QAT freezes batch-norm statistics there)."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from atomnet.train._data import TensorImages, passthrough
from atomnet.train._dist import DistInfo, GlobalBatchSampler


def param_groups(model: nn.Module, wd: float) -> list[dict[str, Any]]:
    """No weight decay on BN parameters and biases (1-D tensors)."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    return [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model: nn.Module, lr: float, weight_decay: float, momentum: float) -> torch.optim.SGD:
    """SGD, Nesterov momentum when ``momentum > 0``, weight decay on conv/linear weights only."""
    return torch.optim.SGD(param_groups(model, weight_decay), lr=lr, momentum=momentum, nesterov=momentum > 0)


def lr_at(step: int, total: int, warmup: int, base: float) -> float:
    """Linear warm-up to ``base`` over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return 0.5 * base * (1 + math.cos(math.pi * min(1.0, t)))


@dataclass(frozen=True)
class Schedule:
    """The learning rate of each global step: :func:`lr_at` with ``base``, ``total`` steps, ``warmup`` steps.

    >>> s = Schedule(base=0.1, total=10)
    >>> s(0), round(s(5), 6), s(10)
    (0.1, 0.05, 0.0)
    """

    base: float
    total: int
    warmup: int = 0

    def __call__(self, step: int) -> float:
        return lr_at(step, self.total, self.warmup, self.base)


def train_loader(ds: Dataset[Any], batch_size: int, seed: int, info: DistInfo, *, workers: int = 0,
                 pin_memory: bool = False) -> tuple[GlobalBatchSampler, DataLoader[Any]]:
    """``(sampler, loader)`` of shuffled global batches of ``ds`` (this process's share); call
    ``sampler.set_epoch(e)`` before each epoch."""
    sampler = GlobalBatchSampler(len(ds), batch_size, seed, info)  # type: ignore[arg-type]
    return sampler, DataLoader(ds, batch_sampler=sampler, **_loader_kw(ds, workers, pin_memory))


def val_loader(ds: Dataset[Any], info: DistInfo, *, workers: int = 0, pin_memory: bool = False) -> DataLoader[Any]:
    """Evaluation batches of ``ds`` in order, split across processes (no augmentation seeds)."""
    sampler = GlobalBatchSampler(len(ds), max(info.world, 256 - 256 % info.world), 0, info,  # type: ignore[arg-type]
                                 shuffle=False, drop_last=False)
    batches = [[i for i, _ in b] for b in sampler if b]
    return DataLoader(ds, batch_sampler=batches, **_loader_kw(ds, workers, pin_memory))


def _loader_kw(ds: Dataset[Any], workers: int, pin_memory: bool) -> dict[str, Any]:
    kw: dict[str, Any] = {"num_workers": workers, "pin_memory": pin_memory, "persistent_workers": workers > 0}
    if isinstance(ds, TensorImages):  # builds whole batches itself
        kw["collate_fn"] = passthrough
    return kw


@dataclass(frozen=True)
class EpochStats:
    """Sums over this process's samples of one epoch (or of the steps run of it)."""

    loss_sum: float
    correct: float
    count: float
    steps: int
    last_loss: float


@dataclass(frozen=True)
class EpochLoop:
    """Optimizer steps over a loader: ``net`` is what runs forward (a DDP wrapper or the model itself),
    ``schedule`` sets the learning rate of every step; ``on_train(net)`` runs after ``net.train()`` at the
    start of each epoch (quantization-aware fine-tuning freezes batch-norm statistics there); ``scaler``
    and ``amp`` are mixed precision on a GPU (disabled: plain float32 steps)."""

    net: nn.Module
    opt: torch.optim.Optimizer
    schedule: Schedule
    crit: nn.Module
    device: torch.device
    scaler: torch.amp.GradScaler
    amp: bool = False
    on_train: Callable[[nn.Module], None] | None = None

    def run(self, loader: Iterable[Any], epoch: int, steps_per_epoch: int, *, stop_step: int | None = None,
            progress: str | None = None) -> EpochStats:
        """One epoch; global step ``epoch * steps_per_epoch + k`` for its k-th batch; returns after global step
        ``stop_step - 1`` when given. ``progress``: a bar on stderr with this title."""
        self.net.train()
        if self.on_train is not None:
            self.on_train(self.net)
        loss_sum, correct, count, steps, loss = 0.0, 0.0, 0.0, 0, torch.zeros(())
        bar = _bar(loader, progress)
        for k, (x, y) in enumerate(bar):
            step = epoch * steps_per_epoch + k
            lr = self.schedule(step)
            loss, logits, y = self._step(x, y, lr)
            loss_sum += float(loss.detach()) * len(y)
            correct += float((logits.argmax(1) == y).sum())
            count += len(y)
            steps += 1
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{loss_sum / count:.3f}", lr=f"{lr:.3g}")
            if stop_step is not None and step + 1 >= stop_step:
                break
        return EpochStats(loss_sum, correct, count, steps, float(loss.detach()))

    def _step(self, x: torch.Tensor, y: torch.Tensor, lr: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        for g in self.opt.param_groups:
            g["lr"] = lr
        x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        if self.device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, enabled=self.amp):
            logits = self.net(x)
            loss = self.crit(logits.float(), y)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        return loss, logits, y


def _bar(it: Any, desc: str | None) -> Any:
    if desc is None:
        return it
    from tqdm import tqdm

    return tqdm(it, desc=desc, leave=False, dynamic_ncols=True, file=sys.stderr)
