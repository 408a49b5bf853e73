"""The SOURCE of ``atomnet deploy``: an int8 ``.tflite`` (used as it is), a spec file (JSON or YAML), a zoo name
(or ``demo``), or a training run folder. Everything but a ``.tflite`` is exported to ``OUT/model.tflite`` first
with the project's int8 exporter (:func:`atomnet.export.export_int8`): a spec or zoo model with seeded random
weights, calibrated on seeded random inputs (a spec names no dataset); a run with its trained weights, calibrated
on its own training images (:func:`atomnet.export.export_run`, as ``atomnet export RUN`` does)."""

from __future__ import annotations

import difflib
import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atomnet.errors import InputError, UnknownNameError

#: what exporting needs, module -> pip requirement (all pinned in requirements-ml.txt)
_EXPORT_MODULES = {"torch": "torch", "onnx": "onnx", "onnxscript": "onnxscript", "onnx2tf": "onnx2tf"}
#: names that are the built-in demo architecture (atomnet.nn.demo_spec), as for the other ML commands
_DEMO_NAMES = ("demo", "demo-hybrid-r32")
_SPEC_SUFFIXES = (".json", ".yaml", ".yml")
#: calibration inputs when not given: a spec's random inputs (as the zoo exports of the tests), a run's training
#: images (as ``atomnet export``)
DEFAULT_SPEC_CALIB, DEFAULT_RUN_CALIB = 8, 200


@dataclass(frozen=True)
class DeploySource:
    """A resolved SOURCE: ``tflite`` is the int8 file the code is generated from; ``kind`` is ``tflite``, ``spec``,
    ``zoo``, ``demo`` or ``run``; ``weights`` and ``calibration`` say where the numbers came from (one line each,
    empty for a given ``.tflite``); ``export_seconds`` is 0 when nothing was exported."""

    source: str
    kind: str
    name: str
    tflite: Path
    weights: str
    calibration: str
    seed: int | None
    export_seconds: float

    def describe(self) -> str:
        """One line: what was deployed and how its weights came to be."""
        if self.kind == "tflite":
            return f"source: {self.tflite} (int8 .tflite, weights from the file)"
        return f"source: {self.kind} {self.name}: {self.weights}; calibrated on {self.calibration}"


def need_export_stack(what: str) -> None:
    """An :class:`InputError` naming the pip requirement when a module the int8 exporter needs is missing."""
    missing = [req for mod, req in _EXPORT_MODULES.items() if importlib.util.find_spec(mod) is None]
    if missing:
        raise InputError(f"{what} needs the int8 exporter, which needs {', '.join(missing)} (not installed): "
                         ".venv/bin/pip install -r requirements-ml.txt")


def _close_names(name: str) -> list[str]:
    from atomnet.zoo import list_zoo, zoo_aliases

    names = [*list_zoo(), *(a for al in zoo_aliases().values() for a in al), *_DEMO_NAMES]
    return difflib.get_close_matches(name.lower(), [n.lower() for n in names], n=5, cutoff=0.5)


def _spec_by_name(name: str) -> tuple[str, Any]:
    """(kind, spec) of a zoo model, a published alias, a family name or the demo net."""
    from atomnet.zoo import get_zoo, list_zoo, resolve_zoo

    if name in _DEMO_NAMES and resolve_zoo(name) is None:
        from atomnet.nn import demo_spec

        return "demo", demo_spec()
    try:
        return "zoo", get_zoo(name)
    except UnknownNameError as e:
        close = _close_names(name)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        if not str(e).startswith("unknown zoo model"):  # a family name off its pattern: that message says why
            raise UnknownNameError(f"SOURCE {name!r}: {e}{hint}") from None
        raise UnknownNameError(f"SOURCE {name!r}: not a .tflite, spec file, run folder or zoo model{hint} "
                               f"(zoo models: {', '.join(list_zoo())}; 'atomnet zoo list' shows aliases and "
                               "families)") from None


def _spec_file(path: Path) -> Any:
    from atomnet.spec import SpecError, load_spec, spec_from_document

    if path.suffix.lower() not in (".yaml", ".yml"):
        return load_spec(path)  # JSON: our spec, an AtomNet stage config or an OFA/MCUNet config
    try:
        import yaml  # optional: only YAML specs need PyYAML
    except ImportError:
        raise InputError(f"{path}: YAML specs need PyYAML (.venv/bin/pip install pyyaml), or write the spec as "
                         "JSON") from None
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise SpecError("", f"cannot read YAML: {' '.join(str(e).split())}", str(path)) from None
    try:
        return spec_from_document(doc, path.stem, str(path))
    except SpecError as e:
        raise e.in_file(str(path)) from None
    except (TypeError, KeyError, AttributeError) as e:
        raise SpecError("", f"malformed document: {e!r}", str(path)) from None


def _check_run(run: Path) -> None:
    if not (run / "spec.json").is_file():
        raise InputError(f"{run}: a folder, but not a training run folder (no spec.json); create one with "
                         "'atomnet train SPEC --data DATA --out RUN', or give a .tflite, a spec file or a zoo name")
    if not (run / "checkpoint.pt").is_file():
        raise InputError(f"{run}: training run folder without weights (no checkpoint.pt): train it first "
                         f"('atomnet train {run / 'spec.json'} --data DATA --out {run}'), or deploy its spec with "
                         f"random weights ('atomnet deploy {run / 'spec.json'} ...')")


def resolve_source(source: str | Path, out_dir: str | Path, *, seed: int = 0, calib: int | None = None,
                   on_stage: Callable[[str], None] | None = None) -> DeploySource:
    """The int8 ``.tflite`` of ``source``, exported into ``out_dir/model.tflite`` unless ``source`` is one.

    ``seed``: the random weights of a spec or zoo model and its random calibration inputs (uniform in [-1, 1]);
    ``calib``: calibration inputs (default 8 random ones for a spec, 200 training images for a run);
    ``on_stage(text)`` is called as each long step starts (reading, torch → ONNX, onnx2tf, the int8 check).

    >>> s = resolve_source("mcunet-vww0", "out")      # doctest: +SKIP
    >>> s.tflite, s.weights                            # doctest: +SKIP
    (PosixPath('out/model.tflite'), 'random weights, seed 0')
    """
    if calib is not None and calib < 1:
        raise InputError(f"--calib: expected a positive number of calibration inputs, got {calib}")
    text = str(source)
    path = Path(source)
    if path.suffix.lower() == ".tflite":
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        return DeploySource(text, "tflite", path.stem, path, "", "", None, 0.0)
    out = Path(out_dir) / "model.tflite"
    if path.is_dir():
        _check_run(path)
        return _export_run(text, path, out, calib or DEFAULT_RUN_CALIB, on_stage)
    if path.is_file():
        kind, spec = "spec", _spec_file(path)
    elif path.suffix.lower() in _SPEC_SUFFIXES or "/" in text:
        raise InputError(f"{path}: no such file (SOURCE: an int8 .tflite, a spec file, a run folder or a zoo name)")
    else:
        kind, spec = _spec_by_name(text)
    return _export_spec(text, kind, spec, out, seed, calib or DEFAULT_SPEC_CALIB, on_stage)


def _export_spec(text: str, kind: str, spec: Any, out: Path, seed: int, n: int,
                 on_stage: Callable[[str], None] | None) -> DeploySource:
    import numpy as np

    need_export_stack(f"deploying {kind} {text!r}")
    from atomnet.export import export_int8

    t0 = time.perf_counter()
    x = np.random.default_rng(seed).uniform(-1, 1, size=(n, spec.in_channels, *spec.resolution)).astype(np.float32)
    export_int8(spec, x, out, seed=seed, on_stage=on_stage)
    return DeploySource(text, kind, spec.name, out, f"random weights, seed {seed}",
                        f"{n} random inputs (uniform in [-1, 1], seed {seed})", seed, time.perf_counter() - t0)


def _export_run(text: str, run: Path, out: Path, n: int, on_stage: Callable[[str], None] | None) -> DeploySource:
    need_export_stack(f"deploying the run {text!r}")
    from atomnet.export import export_run
    from atomnet.train import Run

    t0 = time.perf_counter()
    if on_stage is not None:
        on_stage(f"loading the run {run}")
    r = Run.load(run)  # the checkpoint with weights_only=True
    export_run(r, out, calib=n, on_stage=on_stage)
    return DeploySource(text, "run", r.spec.name, out, f"trained weights of {run} (epoch {r.epoch})",
                        f"{n} training images of {r.data_name}", None, time.perf_counter() - t0)
