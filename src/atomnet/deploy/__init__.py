"""atomnet deploy: int8 ``.tflite`` (or a spec, zoo name or run folder, exported first: :func:`resolve_source`)
-> generated C (model.h/model.c + C99 int8 kernels), one static arena, bit-exact with TFLite Micro's reference
kernels on the host (:func:`build_host`, :func:`run_host`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from atomnet.deploy._gen import SUPPORTED, DeployedModel, quantize_multiplier
from atomnet.deploy._host import build_host, run_host
from atomnet.deploy._source import DeploySource, resolve_source
from atomnet.errors import InputError

RUNTIMES = ("tinyengine", "tflm-plan")


def _planner_peak(path: Path, runtime: str) -> int:
    from atomnet.export import plan_tflm_arena, read_tflite
    m = read_tflite(path)
    if runtime == "tflm-plan":
        return int(plan_tflm_arena(m).head_bytes)
    from atomnet.cost import get_planner
    from atomnet.export import file_graph
    return int(get_planner("tinyengine").plan(file_graph(m, "tinyengine").graph).peak_bytes)  # arena + scratch


def generate(source: str | Path, *, runtime: str = "tinyengine", out_dir: Path, seed: int = 0,
             calib: int | None = None, on_stage: Callable[[str], None] | None = None) -> DeployedModel:
    """Write generated C for ``source`` into ``out_dir``: an int8 ``.tflite``, or a spec file, zoo name or training
    run folder, first exported to ``out_dir/model.tflite`` (:func:`resolve_source`: ``seed``, ``calib``,
    ``on_stage``)."""
    from atomnet.deploy._gen import generate_c
    if runtime not in RUNTIMES:
        raise InputError(f"runtime {runtime!r}: expected one of {', '.join(RUNTIMES)}")
    path = resolve_source(source, out_dir, seed=seed, calib=calib, on_stage=on_stage).tflite
    return generate_c(path, runtime, Path(out_dir), _planner_peak(path, runtime))


__all__ = [
    "RUNTIMES",
    "SUPPORTED",
    "DeploySource",
    "DeployedModel",
    "build_host",
    "generate",
    "quantize_multiplier",
    "resolve_source",
    "run_host",
]
