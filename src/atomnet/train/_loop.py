"""`train(spec, data, config, out)`: SGD with Nesterov momentum, cosine schedule with linear warm-up,
label smoothing; mixed precision and channels-last on a GPU; DDP over ``torchrun`` processes; a
checkpoint every epoch and exact resumption."""

from __future__ import annotations

import json
import math
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from atomnet.errors import InputError
from atomnet.nn import build_model
from atomnet.spec import ModelSpec
from atomnet.train._ckpt import RUN_SCHEMA, EpochRecord, load_checkpoint, save_checkpoint, write_json
from atomnet.train._data import DataSpec, ImageFolder, TensorImages, load_data
from atomnet.train._dist import DistInfo, all_sum, init_distributed, sync_batchnorm
from atomnet.train._epoch import EpochLoop, Schedule, make_optimizer, train_loader, val_loader

_DS = TensorImages | ImageFolder


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of a run (FACTS §1 recipe scaled down: SGD, cosine decay). ``batch_size`` is the
    global batch (split across processes); ``lr`` is for that batch; ``limit_train`` / ``limit_val`` use
    only the first N samples (quick experiments and tests)."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    weight_decay: float = 5e-5
    momentum: float = 0.9
    label_smoothing: float = 0.1
    warmup_epochs: float = 0.5
    seed: int = 0
    workers: int = 0
    padding: str = "tflite"
    limit_train: int | None = None
    limit_val: int | None = None

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise InputError(f"{name}: expected a positive integer, got {getattr(self, name)!r}")
        for name in ("lr", "weight_decay", "momentum", "label_smoothing", "warmup_epochs"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or v < 0 or not math.isfinite(v):
                raise InputError(f"{name}: expected a finite non-negative number, got {v!r}")
        for name in ("momentum", "label_smoothing"):
            if getattr(self, name) >= 1:
                raise InputError(f"{name}: expected a number in [0, 1), got {getattr(self, name)!r}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise InputError(f"unknown training option(s) {sorted(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**d)


@dataclass(frozen=True)
class TrainResult:
    run: Path
    data: DataSpec
    history: tuple[EpochRecord, ...]
    spec: ModelSpec  # the spec trained (its head adapted with num_classes="auto")

    @property
    def best_top1(self) -> float:
        return max((r.val_top1 for r in self.history), default=0.0)


def evaluate(model: nn.Module, loader: DataLoader, device: torch.device, info: DistInfo,
             amp: bool = False) -> tuple[float, float]:
    """(mean cross-entropy, top-1) over the loader's shard on every process, summed across processes."""
    model.eval()
    loss_sum, correct, count = 0.0, 0.0, 0.0
    crit = nn.CrossEntropyLoss(reduction="sum")
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with torch.autocast(device.type, enabled=amp):
                out = model(x)
            loss_sum += float(crit(out.float(), y))
            correct += float((out.argmax(1) == y).sum())
            count += len(y)
    loss_sum, correct, count = all_sum([loss_sum, correct, count], info)
    return loss_sum / max(count, 1), correct / max(count, 1)


def adapt_num_classes(spec: ModelSpec, data: DataSpec, num_classes: int | str | None,
                      out: str | Path | None = None) -> tuple[ModelSpec, str | None]:
    """``(spec to train, note)`` for ``data``: the classifier head sized to the dataset's classes.

    ``num_classes=None`` keeps the spec and refuses a mismatch (naming ``--num-classes auto``); ``"auto"``
    sizes the head to the dataset; an int N must equal the dataset's classes (a check in scripts). An adapted
    spec records where it came from in its provenance, and ``note`` says so (the head's Flash and latency
    change with it, so the note names the command that re-costs it); ``note`` is None when nothing changed.

    >>> from atomnet.nn import demo_spec
    >>> fm = DataSpec("fashion-mnist", tuple("abcdefghij"), (0.5,), (0.5,), 1, 1)
    >>> s, note = adapt_num_classes(demo_spec(num_classes=1000), fm, "auto")
    >>> s.num_classes, note.split(";")[0]
    (10, 'classifier adapted from 1000 to 10 classes (fashion-mnist)')
    """
    have, want = spec.num_classes, data.num_classes
    if num_classes is None:
        if have != want:
            raise InputError(f"{spec.name} has {have} classes, {data.name} has {want}: pass --num-classes auto "
                             "to size the classifier head to the data set, or set the spec's num_classes")
        return spec, None
    if num_classes != "auto":
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise InputError(f"--num-classes: expected 'auto' or a positive integer, got {num_classes!r}")
        if num_classes != want:
            raise InputError(f"--num-classes {num_classes}: {data.name} has {want} classes; use "
                             f"--num-classes {want} or auto")
    if have == want:
        return spec, None
    adapted = replace(spec, num_classes=want, provenance={
        **spec.provenance, "num_classes_adapted": {"from": have, "to": want, "data": data.name}})
    where = f"{out}/spec.json" if out is not None else "the run's spec.json"
    return adapted, (f"classifier adapted from {have} to {want} classes ({data.name}); the spec's Flash/latency "
                     f"change: re-cost with 'atomnet cost {where}'")


def train(spec: ModelSpec, data: str, config: TrainConfig, out: str | Path, *, resume: bool = False,
          progress: bool = True, log: Callable[[str], None] | None = None, stop_after: int | None = None,
          num_classes: int | str | None = None, warn: Callable[[str], None] | None = None) -> TrainResult:
    """Train ``spec`` on ``data`` (``"fashion-mnist"`` or an image-folder root) into the run folder ``out``.

    Under ``torchrun --nproc-per-node N`` every process calls this; rank 0 writes the run folder.
    ``resume=True`` continues the run in ``out`` from its last checkpoint (same configuration required) and
    ends exactly as an uninterrupted run would; ``stop_after=k`` returns after epoch k (the schedule still
    spans ``config.epochs``), as if the run had been killed there. ``num_classes="auto"`` sizes the
    classifier head to the data set (see :func:`adapt_num_classes`; ``warn`` gets the note, default stderr);
    the run's ``spec.json`` and :attr:`TrainResult.spec` carry the adapted head.

    >>> from atomnet.nn import demo_spec
    >>> r = train(demo_spec(), "fashion-mnist", TrainConfig(epochs=3), "runs/demo")   # doctest: +SKIP
    >>> r.best_top1 > 0.85                                                             # doctest: +SKIP
    True
    """
    out = Path(out)
    device, info, amp = _device()
    say = log if log is not None else (lambda s: print(s, file=sys.stderr, flush=True))
    say = say if info.is_main else (lambda s: None)

    dinfo, train_ds, val_ds = load_data(data, spec.resolution, spec.in_channels)
    spec, note = adapt_num_classes(spec, dinfo, num_classes, out)
    if note is not None and info.is_main:
        (warn or (lambda s: print(f"atomnet: {s}", file=sys.stderr, flush=True)))(note)
    train_ds, val_ds = apply_limits(config, train_ds, val_ds)
    if len(train_ds) < config.batch_size:
        raise InputError(f"batch size {config.batch_size} exceeds the {len(train_ds)} training samples")
    pin = device.type == "cuda"
    tsampler, tloader = train_loader(train_ds, config.batch_size, config.seed, info, workers=config.workers,
                                     pin_memory=pin)
    vloader = val_loader(val_ds, info, workers=config.workers, pin_memory=pin)
    model = _model(spec, config, info, device)
    opt = make_optimizer(model, config.lr, config.weight_decay, config.momentum)
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    steps = len(tsampler)
    schedule = Schedule(config.lr, config.epochs * steps, round(config.warmup_epochs * steps))
    start, history = 0, list[EpochRecord]()
    if resume:
        start, history = _resume(out, config, model, opt, scaler)
        say(f"resuming {out} after epoch {start}")
    elif info.is_main:
        _write_run(out, spec, dinfo, config, info, device, amp)
    net: nn.Module = model
    if info.world > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    loop = EpochLoop(net, opt, schedule, nn.CrossEntropyLoss(label_smoothing=config.label_smoothing), device,
                     scaler, amp)
    end = config.epochs if stop_after is None else min(config.epochs, stop_after)
    for epoch in range(start, end):
        t0 = time.perf_counter()
        tsampler.set_epoch(epoch)
        st = loop.run(tloader, epoch, steps,
                      progress=f"epoch {epoch + 1}/{config.epochs}" if progress and info.is_main else None)
        loss_sum, correct, count = all_sum([st.loss_sum, st.correct, st.count], info)
        vloss, vtop1 = evaluate(model, vloader, device, info, amp)
        rec = EpochRecord(epoch + 1, loss_sum / count, correct / count, vloss, vtop1,
                          schedule((epoch + 1) * steps - 1), time.perf_counter() - t0)
        history.append(rec)
        if info.is_main:
            _save(out, model, opt, scaler, history)
        say(f"epoch {rec.epoch}/{config.epochs}: train loss {rec.train_loss:.4f} top-1 {rec.train_top1:.4f} | "
            f"val loss {rec.val_loss:.4f} top-1 {rec.val_top1:.4f} | {rec.seconds:.1f} s")
    if info.world > 1:
        torch.distributed.barrier()
    return TrainResult(out, dinfo, tuple(history), spec)


def apply_limits(config: TrainConfig, train_ds: _DS, val_ds: _DS) -> tuple[_DS, _DS]:
    """The training and validation sets cut to ``config.limit_train`` / ``limit_val`` samples."""
    if config.limit_train:
        train_ds = train_ds.head(config.limit_train)
    if config.limit_val:
        val_ds = val_ds.head(config.limit_val)
    return train_ds, val_ds


def _device() -> tuple[torch.device, DistInfo, bool]:
    """(device, process group, mixed precision): this process's GPU under torchrun, else the CPU."""
    device = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    info = init_distributed(device.type)
    if device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    return device, info, device.type == "cuda"


def _model(spec: ModelSpec, config: TrainConfig, info: DistInfo, device: torch.device) -> nn.Module:
    model: nn.Module = build_model(spec, seed=config.seed, padding=config.padding)
    if info.world > 1:
        model = sync_batchnorm(model, device.type)
    model = model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    return model


def _resume(out: Path, config: TrainConfig, model: nn.Module, opt: torch.optim.Optimizer,
            scaler: torch.amp.GradScaler) -> tuple[int, list[EpochRecord]]:
    state = load_checkpoint(out)
    saved = TrainConfig.from_dict(json.loads((out / "config.json").read_text())["train"])
    if saved != config:
        raise InputError(f"{out}: --resume with a different configuration; saved {saved}, given {config}")
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    scaler.load_state_dict(state["scaler"])
    return int(state["epoch"]), [EpochRecord(**r) for r in state["history"]]


def _write_run(out: Path, spec: ModelSpec, dinfo: DataSpec, config: TrainConfig, info: DistInfo,
               device: torch.device, amp: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "spec.json", spec.to_dict())
    write_json(out / "config.json", {
        "schema": RUN_SCHEMA, "spec": spec.name, "data": asdict(dinfo), "train": asdict(config),
        "padding": config.padding, "processes": info.world, "device": device.type, "amp": amp,
        "versions": {"python": platform.python_version(), "torch": torch.__version__}})


def _save(out: Path, model: nn.Module, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
          history: list[EpochRecord]) -> None:
    save_checkpoint(out, {"model": model.state_dict(), "optimizer": opt.state_dict(),
                          "scaler": scaler.state_dict(), "epoch": history[-1].epoch,
                          "history": [asdict(r) for r in history]})
    with open(out / "metrics.jsonl", "a") as f:
        f.write(json.dumps(asdict(history[-1])) + "\n")
