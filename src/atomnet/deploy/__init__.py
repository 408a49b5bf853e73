"""atomnet deploy: int8 ``.tflite`` -> generated C (model.h/model.c + C99 int8 kernels), one static arena,
bit-exact with TFLite Micro's reference kernels on the host (:func:`build_host`, :func:`run_host`)."""

from __future__ import annotations

from pathlib import Path

from atomnet.deploy._gen import SUPPORTED, DeployedModel, quantize_multiplier
from atomnet.deploy._host import build_host, run_host
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


def generate(source: str | Path, *, runtime: str = "tinyengine", out_dir: Path) -> DeployedModel:
    """Write generated C for ``source`` (an int8 ``.tflite``) into ``out_dir``."""
    from atomnet.deploy._gen import generate_c
    if runtime not in RUNTIMES:
        raise InputError(f"runtime {runtime!r}: expected one of {', '.join(RUNTIMES)}")
    path = Path(source)
    if path.suffix != ".tflite":
        raise InputError(f"{path}: atomnet deploy reads an int8 .tflite file (export a spec first with "
                         "`atomnet export`); specs, zoo names and run dirs are not accepted yet")
    if not path.exists():
        raise InputError(f"{path}: no such file")
    return generate_c(path, runtime, Path(out_dir), _planner_peak(path, runtime))


__all__ = ["RUNTIMES", "SUPPORTED", "DeployedModel", "build_host", "generate", "quantize_multiplier", "run_host"]
