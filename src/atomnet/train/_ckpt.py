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
        raise ValueError(f"{path}: cannot load this checkpoint ({type(e).__name__}: {e})") from None
    return state


@dataclass(frozen=True)
class Run:
    """A loaded run folder: its spec, the model with the checkpoint's weights (eval mode), its config."""

    path: Path
    spec: ModelSpec
    model: SpecModel
    config: dict[str, Any]
    epoch: int


def load_run(run: str | Path) -> Run:
    """Load a training run folder written by :func:`atomnet.train.train`.

    >>> r = load_run("runs/demo")                                  # doctest: +SKIP
    >>> r.model(torch.zeros(1, 3, *r.spec.resolution)).shape     # doctest: +SKIP
    torch.Size([1, 10])
    """
    root = Path(run)
    try:
        spec = ModelSpec.from_dict(json.loads((root / "spec.json").read_text()))
        config = json.loads((root / "config.json").read_text())
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{e.filename}: missing; is {run} a training run folder?") from None
    except SpecError as e:
        raise SpecError(e.path, e.problem, str(root / "spec.json")) from None
    if config.get("schema") != RUN_SCHEMA:
        raise ValueError(f"{root / 'config.json'}: schema {config.get('schema')!r}, expected {RUN_SCHEMA!r}")
    state = load_checkpoint(root)
    model = build_model(spec, padding=config.get("padding", "tflite"))
    model.load_state_dict(state["model"])
    return Run(root, spec, model.eval(), config, int(state["epoch"]))
