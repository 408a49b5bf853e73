"""Quantization-aware fine-tuning (QAT) of a training run before its int8 export (``atomnet export --qat-epochs``).

The model is fine-tuned with the int8 arithmetic of the deployed graph simulated in the forward pass and
straight-through gradients (Jacob et al. 2018, "Quantization and Training of Neural Networks for Efficient
Integer-Arithmetic-Only Inference", §3; Krishnamoorthi 2018, §3.2 and §4 for the recipe):

* every conv → BN is **folded** as the converter folds it (``w·γ/σ``, ``β − μ·γ/σ``, running statistics;
  batch-norm statistics are frozen, as recommended for fine-tuning) and its folded weights are fake-quantized
  **per output channel, symmetric int8** (``[-127, 127]``), as TFLite stores them; the SE convs and the
  classifier too (the classifier per tensor);
* activations are fake-quantized **per tensor, asymmetric int8** (``[-128, 127]``) with ranges tracked by an
  exponential moving average of the batch min/max: the model input, every conv-BN-act output, every SE
  output, every residual sum, the pooled features and the logits — the tensors TFLite materializes in int8.

Gradients reach the original conv and BN parameters (the fake-quant functions are straight-through), so after
fine-tuning the unchanged float module carries QAT-adapted weights; :func:`export_run_qat` then exports it with
the usual post-training calibration (onnx2tf re-derives the same per-channel weight scales from the folded
weights, and activation ranges from the calibration images). Nothing of the QAT machinery enters the export.
"""

from __future__ import annotations

import math
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from atomnet.errors import InputError
from atomnet.nn import Block, ConvBNAct, SqueezeExcite
from atomnet.spec import ModelSpec

if TYPE_CHECKING:
    from atomnet.train import Run


class ActFakeQuant(nn.Module):
    """Per-tensor asymmetric int8 fake quantization; the range is an EMA of batch min/max while training
    (the first batch sets it) and frozen in eval mode."""

    lo: torch.Tensor
    hi: torch.Tensor
    seen: torch.Tensor

    def __init__(self, momentum: float = 0.01) -> None:
        super().__init__()
        self.momentum = momentum
        self.register_buffer("lo", torch.zeros(()))
        self.register_buffer("hi", torch.zeros(()))
        self.register_buffer("seen", torch.zeros((), dtype=torch.bool))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            bmin, bmax = x.detach().min().float(), x.detach().max().float()
            if not bool(self.seen):
                self.lo.copy_(bmin)
                self.hi.copy_(bmax)
                self.seen.fill_(True)
            else:
                self.lo.lerp_(bmin, self.momentum)
                self.hi.lerp_(bmax, self.momentum)
        if not bool(self.seen):
            return x
        lo, hi = min(float(self.lo), 0.0), max(float(self.hi), 0.0)
        scale = max((hi - lo) / 255.0, 1e-8)
        zp = int(min(127, max(-128, round(-128 - lo / scale))))
        return torch.fake_quantize_per_tensor_affine(x, scale, zp, -128, 127)


def fake_quant_weight(w: torch.Tensor, per_channel: bool = True) -> torch.Tensor:
    """Symmetric int8 (``[-127, 127]``) fake quantization of a weight, per output channel (axis 0) or per tensor."""
    if per_channel:
        scale = (w.detach().abs().flatten(1).amax(1) / 127.0).clamp_min(1e-8).float()
        zp = torch.zeros(w.shape[0], dtype=torch.int32, device=w.device)
        return torch.fake_quantize_per_channel_affine(w, scale, zp, 0, -127, 127)
    s = max(float(w.detach().abs().max()) / 127.0, 1e-8)
    return torch.fake_quantize_per_tensor_affine(w, s, 0, -127, 127)


def _conv_bn_act_forward(self: ConvBNAct, x: torch.Tensor) -> torch.Tensor:
    conv = bn = None
    act: nn.Module = nn.Identity()
    for m in self:
        if isinstance(m, nn.ZeroPad2d):
            x = m(x)
        elif isinstance(m, nn.Conv2d):
            conv = m
        elif isinstance(m, nn.BatchNorm2d):
            bn = m
        else:
            act = m
    assert conv is not None and bn is not None and bn.running_var is not None and bn.running_mean is not None
    g = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    w = fake_quant_weight(conv.weight * g.view(-1, 1, 1, 1))
    b = bn.bias - bn.running_mean * g
    y = F.conv2d(x, w, b, conv.stride, conv.padding, conv.dilation, conv.groups)
    return act(y)


def _conv_forward(self: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x, fake_quant_weight(self.weight), self.bias, self.stride, self.padding, self.dilation,
                    self.groups)


def _linear_forward(self: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    return F.linear(x, fake_quant_weight(self.weight, per_channel=False), self.bias)


@contextmanager
def fake_quantized(model: nn.Module) -> Iterator[nn.ModuleList]:
    """Inside the block, ``model`` computes with fake-quantized weights and activations (same parameters,
    same ``state_dict``); yields the activation quantizers (their ``train``/``eval`` mode follows the model's).
    On exit the model is the plain float module again, with whatever weights training gave it."""
    fqs = nn.ModuleList()
    handles: list[Any] = []
    patched: list[nn.Module] = []

    def quantize_output(mod: nn.Module) -> None:
        fq = ActFakeQuant()
        fqs.append(fq)
        handles.append(mod.register_forward_hook(lambda _m, _i, out, fq=fq: fq(out)))

    fq_in = ActFakeQuant()
    fqs.append(fq_in)
    handles.append(model.register_forward_pre_hook(lambda _m, args, fq=fq_in: (fq(args[0]), *args[1:])))
    se_convs = {id(c) for m in model.modules() if isinstance(m, SqueezeExcite) for c in (m.reduce, m.expand)}
    for m in model.modules():
        if isinstance(m, ConvBNAct):
            m.forward = types.MethodType(_conv_bn_act_forward, m)  # type: ignore[method-assign]
            patched.append(m)
            quantize_output(m)
        elif isinstance(m, nn.Conv2d) and id(m) in se_convs:
            m.forward = types.MethodType(_conv_forward, m)  # type: ignore[method-assign]
            patched.append(m)
        elif isinstance(m, nn.Linear):
            m.forward = types.MethodType(_linear_forward, m)  # type: ignore[method-assign]
            patched.append(m)
            quantize_output(m)
        elif isinstance(m, SqueezeExcite) or (isinstance(m, Block) and m.residual) \
                or isinstance(m, nn.AdaptiveAvgPool2d):
            quantize_output(m)
    model.add_module("_atomnet_qat", fqs)  # train()/eval()/to() reach the quantizers
    try:
        yield fqs
    finally:
        for h in handles:
            h.remove()
        for m in patched:
            del m.forward
        del model._modules["_atomnet_qat"]


def _freeze_bn(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()


@dataclass(frozen=True)
class QATResult:
    epochs: float
    steps: int
    lr: float
    val_top1_before: float
    val_top1_after: float
    val_samples: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _top1(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(c).argmax(1) for c in x.split(256)])
    return float((pred == y).float().mean())


def qat_finetune(model: nn.Module, data: str, config: dict[str, Any], *, epochs: float, lr: float | None = None,
                 val_samples: int = 1000, seed: int = 0, log: Any = None) -> QATResult:
    """Fine-tune ``model`` (a :class:`~atomnet.nn.SpecModel` with trained weights) in place for ``epochs``
    (fractions allowed) with fake quantization, on the training data of a run whose ``config.json`` is
    ``config``. The training loop of :func:`atomnet.train.train` (:class:`~atomnet.train.EpochLoop`) with the
    run's momentum, weight decay and label smoothing, cosine decay from ``lr`` (default: the run's peak lr / 100)
    without warm-up, batch-norm statistics frozen. Returns fake-quantized val top-1 before and after."""
    import time

    from atomnet.train import (
        DistInfo,
        EpochLoop,
        Schedule,
        TrainConfig,
        apply_limits,
        load_data,
        make_optimizer,
        stack_samples,
        train_loader,
    )

    if not (epochs > 0 and math.isfinite(epochs)):
        raise InputError(f"qat epochs: expected a positive number, got {epochs!r}")
    cfg = TrainConfig.from_dict(config["train"])
    lr = cfg.lr / 100 if lr is None else lr
    if not (lr > 0 and math.isfinite(lr)):
        raise InputError(f"qat lr: expected a positive number, got {lr!r}")
    spec = getattr(model, "spec", None)
    if not isinstance(spec, ModelSpec):
        raise TypeError("qat_finetune: expected a model built by atomnet.nn.build_model (with .spec)")
    _, tr, va = load_data(data, spec.resolution, spec.in_channels)
    tr, va = apply_limits(cfg, tr, va)
    nv = min(val_samples, len(va))
    vx, vy = stack_samples(va, range(nv))
    sampler, loader = train_loader(tr, min(cfg.batch_size, len(tr)), seed + 1, DistInfo())
    per_epoch = len(sampler)
    steps = max(1, round(epochs * per_epoch))
    t0 = time.perf_counter()
    with fake_quantized(model):
        _set_ranges(model, loader)
        before = _top1(model, vx, vy)
        loop = EpochLoop(model, make_optimizer(model, lr, cfg.weight_decay, cfg.momentum), Schedule(lr, steps),
                         nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing), torch.device("cpu"),
                         torch.amp.GradScaler("cpu", enabled=False), on_train=_freeze_bn)
        for epoch in range(math.ceil(steps / per_epoch)):
            sampler.set_epoch(epoch)
            st = loop.run(loader, epoch, per_epoch, stop_step=steps)
            if log is not None:
                log(f"qat epoch {epoch + 1}: {min(steps, (epoch + 1) * per_epoch)}/{steps} steps, "
                    f"loss {st.last_loss:.4f}")
        after = _top1(model, vx, vy)
    model.eval()
    return QATResult(epochs, steps, lr, before, after, nv, time.perf_counter() - t0)


def _set_ranges(model: nn.Module, loader: Any, batches: int = 4) -> None:
    """Set the activation ranges on a few training batches before measuring or training."""
    model.train()
    _freeze_bn(model)
    with torch.no_grad():
        for k, (x, _) in enumerate(loader):
            model(x)
            if k == batches - 1:
                break


def export_run_qat(run: Run | str | Path, out_path: str | Path, *, epochs: float, lr: float | None = None,
                   calib: int = 200, log: Any = None, on_stage: Any = None) -> tuple[Any, dict[str, Any]]:
    """QAT-fine-tune a run's model (:func:`qat_finetune`), then export it as full-integer int8 TFLite
    calibrated on ``calib`` training images. Returns ``(ExportResult, QAT summary dict)``; the run folder
    is not changed."""
    from atomnet.export._convert import export_int8
    from atomnet.export._run import as_run, run_images

    r = as_run(run)
    model = r.build_model()
    q = qat_finetune(model, r.data_name, r.config, epochs=epochs, lr=lr, log=log)
    x, _ = run_images(r, calib, "train")
    res = export_int8(model.eval(), np.asarray(x), out_path, on_stage=on_stage)
    return res, q.to_dict()
