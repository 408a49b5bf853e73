"""Run folders: ``spec.json`` (the architecture), ``config.json`` (the resolved run configuration and data
description), ``checkpoint.pt`` (weights, optimizer, schedule, epoch — loaded with ``weights_only=True``),
``metrics.jsonl`` (one line per epoch)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from atomnet.errors import InputError
from atomnet.nn import SpecModel, build_model
from atomnet.spec import ModelSpec, SpecError

RUN_SCHEMA = "atomnet.run/1"


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_json(path: Path, obj: Any) -> None:
    _atomic_write(path, (json.dumps(obj, indent=1, sort_keys=False) + "\n").encode())


def save_checkpoint(run: Path, state: dict[str, Any]) -> None:
    """Write ``checkpoint.pt`` atomically (a killed run keeps its previous checkpoint)."""
    tmp = run / "checkpoint.pt.tmp"
    torch.save(state, tmp)
    os.replace(tmp, run / "checkpoint.pt")


def load_checkpoint(run: str | Path) -> dict[str, Any]:
    """The checkpoint dict of a run folder (tensors and plain data only: ``weights_only=True``)."""
    path = Path(run) / "checkpoint.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint; is {run} a training run folder (atomnet train --out)?")
    try:
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file
        raise InputError(f"{path}: cannot load this checkpoint ({type(e).__name__}: {e})") from None
    return state


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of a run (a line of ``metrics.jsonl``)."""

    epoch: int
    train_loss: float
    train_top1: float
    val_loss: float
    val_top1: float
    lr: float
    seconds: float


@dataclass(frozen=True)
class Run:
    """A training run folder, read once (:meth:`load`): its spec, configuration (``config.json``), the
    checkpoint's weights (``weights_only=True``) and epoch, and the per-epoch metrics. Export and verify take
    a ``Run``, so one command reads the folder once.

    >>> r = Run.load("runs/demo")                                        # doctest: +SKIP
    >>> r.build_model()(torch.zeros(1, 3, *r.spec.resolution)).shape    # doctest: +SKIP
    torch.Size([1, 10])
    """

    path: Path
    spec: ModelSpec
    config: dict[str, Any]
    weights: dict[str, torch.Tensor]
    epoch: int
    metrics: tuple[EpochRecord, ...]

    @classmethod
    def load(cls, run: str | Path) -> Run:
        """Read ``spec.json``, ``config.json`` and ``checkpoint.pt`` of a folder written by
        :func:`atomnet.train.train`; errors name the file and say what is wrong."""
        root = Path(run)
        if not (root / "spec.json").is_file():
            raise FileNotFoundError(f"{root}: not a training run folder (no spec.json); create one with "
                                    "'atomnet train SPEC --data DATA --out RUN'")
        spec = _read_spec(root / "spec.json")
        config = _read_config(root / "config.json")
        state = load_checkpoint(root)
        try:
            metrics = tuple(EpochRecord(**r) for r in state.get("history", ()))
            return cls(root, spec, config, state["model"], int(state["epoch"]), metrics)
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(f"{root / 'checkpoint.pt'}: not an atomnet checkpoint ({type(e).__name__}: {e})"
                             ) from None

    @property
    def data_name(self) -> str:
        """The training data (``"fashion-mnist"`` or an image-folder root) the run was trained on."""
        return str(self.config["data"]["name"])

    @property
    def padding(self) -> str:
        return str(self.config.get("padding", "tflite"))

    def build_model(self) -> SpecModel:
        """A fresh model of the spec with the checkpoint's weights, in eval mode."""
        model = build_model(self.spec, padding=self.padding)
        model.load_state_dict(self.weights)
        return model.eval()


def _read_spec(path: Path) -> ModelSpec:
    try:
        return ModelSpec.from_dict(json.loads(path.read_text()))
    except SpecError as e:
        raise SpecError(e.path, e.problem, str(path)) from None
    except ValueError as e:  # not JSON
        raise InputError(f"{path}: cannot read the spec ({e})") from None


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: missing; is {path.parent} a training run folder?") from None
    except ValueError as e:
        raise InputError(f"{path}: cannot read the run configuration ({e})") from None
    if not isinstance(config, dict) or config.get("schema") != RUN_SCHEMA:
        got = config.get("schema") if isinstance(config, dict) else type(config).__name__
        raise InputError(f"{path}: schema {got!r}, expected {RUN_SCHEMA!r}")
    data = config.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise InputError(f"{path}: 'data.name' missing; expected the training data's name "
                         "(written by atomnet train)")
    return config


def load_run(run: str | Path) -> Run:
    """:meth:`Run.load` (the run folder read once)."""
    return Run.load(run)
