"""The real TFLite Micro interpreter on a user's file, in a child process.

TFLite Micro trusts the flatbuffer it is given: a damaged file can make it read out of bounds, abort or
divide by zero (SIGSEGV, SIGABRT, SIGFPE), which would kill atomnet with no message. :func:`run_tflm_isolated`
loads and runs the model in a fresh ``python`` child (one per call), so such a crash becomes a
:class:`~atomnet.export.TFLiteError` — ``FILE: TFLite Micro crashed while loading the model (signal SIGSEGV)``
— and the parent's own stderr is never redirected. A model TFLite Micro refuses cleanly raises
:class:`~atomnet.export.TFLMError` with the interpreter's reason, as :class:`~atomnet.export.TFLMModel` does.

The arena and outputs are exactly those of :class:`~atomnet.export.TFLMModel` in-process (the child runs it).
Measurement loops (:mod:`atomnet.measure`) load models atomnet generated itself and stay in-process.

Test hook: ``ATOMNET_TFLM_TEST_CRASH=SIGNAL[:STAGE]`` (e.g. ``SIGSEGV`` or ``SIGFPE:run``; STAGE ``load``,
the default, or ``run``) makes the child kill itself with SIGNAL at that stage, to test the parent's handling
without a crashing file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from atomnet.export._errors import TFLiteError, one_line
from atomnet.export._tflm import ArenaUsage, TFLMError

#: environment variable of the test hook (see the module docstring)
CRASH_HOOK_ENV = "ATOMNET_TFLM_TEST_CRASH"
#: seconds a child may take to load the model and run it once (plus :data:`SECONDS_PER_IMAGE` per image)
TIMEOUT_S = 600.0
SECONDS_PER_IMAGE = 1.0

_STAGES = {"load": "while loading the model", "run": "while running the model"}
_BOOT = "import sys; from atomnet.export._isolate import _child; sys.exit(_child(sys.argv[1]))"


@dataclass(frozen=True)
class TFLMResult:
    """What the child found: the arena TFLite Micro allocated and, for ``images``, the dequantized outputs."""

    usage: ArenaUsage
    outputs: np.ndarray | None = None


def run_tflm_isolated(path: str | Path, arena_size: int | None = None, images: np.ndarray | None = None, *,
                      notes: tuple[str, ...] | None = None, timeout_s: float | None = None) -> TFLMResult:
    """Load ``path`` in TFLite Micro in a child process, run it once on zeros, read its arena, and with
    ``images`` (float N×C×H×W) also return its outputs (:meth:`TFLMModel.run`).

    Raises :class:`TFLMError` when the interpreter refuses the model, :class:`TFLiteError` when it crashes
    (the signal's name), hangs past ``timeout_s``, or the child fails otherwise. ``notes``: what the validator
    observed when the caller validated the file (:attr:`TFLiteModel.notes`), quoted in a crash message;
    ``None`` when it was not validated."""
    p = Path(path)
    n_img = 0 if images is None else len(images)
    limit = timeout_s if timeout_s is not None else TIMEOUT_S + SECONDS_PER_IMAGE * n_img
    with tempfile.TemporaryDirectory(prefix="atomnet-tflm-") as d:
        w = Path(d)
        (w / "request.json").write_text(json.dumps({"path": str(p), "arena_size": arena_size,
                                                    "images": images is not None}))
        if images is not None:
            np.save(w / "images.npy", np.asarray(images, dtype=np.float32))
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])  # the directory holding the atomnet package
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        with open(w / "child.log", "wb") as log:
            try:
                proc = subprocess.run([sys.executable, "-c", _BOOT, d], stdin=subprocess.DEVNULL, stdout=log,
                                      stderr=log, env=env, timeout=limit, check=False)
            except subprocess.TimeoutExpired:
                raise TFLiteError(str(p), [f"TFLite Micro did not finish {_stage(w)} in {limit:g} s"
                                           + _context(w, notes)]) from None
        result = w / "result.json"
        if proc.returncode < 0:
            raise TFLiteError(str(p), [f"TFLite Micro crashed {_stage(w)} (signal {_signame(-proc.returncode)})"
                                       + _context(w, notes)])
        if proc.returncode != 0 or not result.is_file():
            last = _last_line(w / "child.log")
            if last.startswith("ImportError: "):
                raise ImportError(last.removeprefix("ImportError: "))
            raise TFLiteError(str(p), [f"the TFLite Micro child process failed {_stage(w)} (exit status "
                                       f"{proc.returncode}): {last or 'no message'}"])
        r = json.loads(result.read_text())
        if "refused" in r:
            raise TFLMError(r["refused"])
        usage = ArenaUsage(int(r["total"]), int(r["head"]), int(r["tail"]),
                           tuple((str(a), int(b), int(c), int(e)) for a, b, c, e in r["sections"]))
        outputs = np.load(w / "outputs.npy") if images is not None else None
        return TFLMResult(usage, outputs)


def _signame(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


def _stage(w: Path) -> str:
    try:
        return _STAGES.get((w / "stage").read_text().strip(), "while starting")
    except OSError:
        return "while starting"


def _last_line(path: Path) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return one_line(lines[-1], 200) if lines else ""


def _context(w: Path, notes: tuple[str, ...] | None) -> str:
    """What to add to a crash message: TFLite Micro's last words, and what the validator noted."""
    out = ""
    said = _last_line(w / "tflm.log")
    if said:
        out += f"; TFLite Micro's last output: {said!r}"
    if notes is not None:
        out += f"; validator notes: {'; '.join(notes)}" if notes else "; the file passed atomnet's validation"
    return out


def _set_stage(w: Path, stage: str) -> None:
    (w / "stage").write_text(stage)
    hook = os.environ.get(CRASH_HOOK_ENV, "")
    if hook:
        sig, _, at = hook.partition(":")
        if (at or "load") == stage:
            os.kill(os.getpid(), signal.Signals[sig if sig.startswith("SIG") else "SIG" + sig])


def _child(workdir: str) -> int:
    """The child's side: load, run once, report (``result.json``); a crash leaves ``stage`` for the parent."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash here is expected: no core dump
    except (ImportError, ValueError, OSError):  # pragma: no cover - not POSIX, or not permitted
        pass
    from atomnet.export import _tflm

    w = Path(workdir)
    req = json.loads((w / "request.json").read_text())
    _tflm.FD2_SINK = str(w / "tflm.log")
    _set_stage(w, "load")
    try:
        tm = _tflm.TFLMModel(req["path"], req["arena_size"])
        _set_stage(w, "run")
        try:
            usage = tm.arena()
            outputs = tm.run(np.load(w / "images.npy")) if req["images"] else None
        except (RuntimeError, ValueError) as e:
            if isinstance(e, TFLMError):
                raise
            raise TFLMError(f"{req['path']}: TFLite Micro cannot run the model: {one_line(str(e))}") from None
    except TFLMError as e:
        (w / "result.json").write_text(json.dumps({"refused": one_line(str(e), 2000)}))
        return 0
    if outputs is not None:
        np.save(w / "outputs.npy", outputs)
    (w / "result.json").write_text(json.dumps({"total": usage.total_bytes, "head": usage.head_bytes,
                                               "tail": usage.tail_bytes,
                                               "sections": [list(s) for s in usage.sections]}))
    return 0
