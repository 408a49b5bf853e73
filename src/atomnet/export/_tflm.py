"""The real TensorFlow Lite Micro interpreter (``tflite-micro`` from PyPI): load, run, and read the arena it
allocated (``RecordingMicroAllocator``; its report goes to the C ``stderr``, captured at the fd level)."""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from atomnet.errors import InputError

_TOTAL = re.compile(r"Arena allocation total (\d+) bytes")
_HEAD = re.compile(r"Arena allocation head (\d+) bytes")
_TAIL = re.compile(r"Arena allocation tail (\d+) bytes")
_LINE = re.compile(r"'([^']+)' used (\d+) bytes with alignment overhead \(requested (\d+) bytes for (\d+) ")


class TFLMError(RuntimeError, InputError):
    """TFLite Micro refused the model; the message carries the interpreter's own explanation."""


def _runtime() -> Any:
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("the TFLite Micro interpreter needs the tflite-micro package: "
                          ".venv/bin/pip install -r requirements-ml.txt") from e
    return runtime


#: where :func:`capture_fd2` sends fd 2 (default: an anonymous temporary file). The isolated child
#: (:mod:`atomnet.export._isolate`) points it at a named file, so what TFLite Micro wrote before a crash
#: survives the crash.
FD2_SINK: str | None = None


@contextmanager
def capture_fd2() -> Iterator[Callable[[], str]]:
    """Capture what C code writes to file descriptor 2 inside the block; call the yielded function after
    the block for the text."""
    box = [""]
    with (open(FD2_SINK, "w+b") if FD2_SINK else tempfile.TemporaryFile()) as f:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(f.fileno(), 2)
        try:
            yield lambda: box[0]
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            f.seek(0)
            box[0] = f.read().decode(errors="replace")


@dataclass(frozen=True)
class ArenaUsage:
    """What TFLM's ``RecordingMicroAllocator`` reports. ``head_bytes``: the non-persistent arena (planned
    activations and kernel scratch buffers); ``tail_bytes``: persistent allocations (tensor structs,
    quantization data, kernel op data); ``sections``: ``(name, used bytes, requested bytes, count)``."""

    total_bytes: int
    head_bytes: int
    tail_bytes: int
    sections: tuple[tuple[str, int, int, int], ...]

    @classmethod
    def parse(cls, text: str) -> ArenaUsage:
        m = [r.search(text) for r in (_TOTAL, _HEAD, _TAIL)]
        if not all(m):
            raise TFLMError(f"no arena report in the interpreter's output: {text.strip()[:300]!r}")
        secs = tuple((g[0], int(g[1]), int(g[2]), int(g[3])) for g in _LINE.findall(text))
        return cls(int(m[0].group(1)), int(m[1].group(1)), int(m[2].group(1)), secs)  # type: ignore[union-attr]


class TFLMModel:
    """A ``.tflite`` model loaded in the TFLite Micro interpreter (reference kernels).

    >>> tm = TFLMModel("model.tflite")                    # doctest: +SKIP
    >>> logits = tm.run(images_nchw); tm.arena().head_bytes   # doctest: +SKIP
    """

    def __init__(self, path: str | Path, arena_size: int | None = None) -> None:
        self.path = Path(path)
        data = self.path.read_bytes()
        size = arena_size or max(4 << 20, 8 * len(data))
        rt = _runtime()
        with capture_fd2() as text:
            try:
                self._it = rt.Interpreter.from_bytes(data, arena_size=size)
                err: Exception | None = None
            except (RuntimeError, ValueError) as e:
                err = e
        if err is not None:
            why = " ".join(line.strip() for line in text().splitlines() if line.strip())
            raise TFLMError(f"{self.path}: TFLite Micro cannot load the model: {err}"
                            + (f" ({why})" if why else "")) from None
        try:
            self.input = self._it.get_input_details(0)
            self.output = self._it.get_output_details(0)
        except (IndexError, RuntimeError, ValueError) as e:
            raise TFLMError(f"{self.path}: TFLite Micro loaded the model but has no input or output tensor 0 "
                            f"({e})") from None
        self._ran = False

    @property
    def interpreter(self) -> Any:
        """The underlying ``tflite_micro`` interpreter (for callers that set inputs and invoke themselves)."""
        return self._it

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.input["shape"])

    def _qparams(self, d: dict[str, Any]) -> tuple[float, int]:
        q = d["quantization_parameters"]
        return float(np.asarray(q["scales"]).ravel()[0]), int(np.asarray(q["zero_points"]).ravel()[0])

    def invoke_raw(self, x: np.ndarray) -> np.ndarray:
        """Run one already-quantized input (the model's dtype and NHWC shape); returns the raw output."""
        self._it.set_input(np.ascontiguousarray(x, dtype=self.input["dtype"]).reshape(self.input_shape), 0)
        self._it.invoke()
        self._ran = True
        return np.array(self._it.get_output(0))

    def run(self, images: np.ndarray) -> np.ndarray:
        """Float NCHW images (the model's normalization) → dequantized outputs, one invoke per image."""
        scale, zp = self._qparams(self.input)
        oscale, ozp = self._qparams(self.output)
        info = np.iinfo(self.input["dtype"]) if np.issubdtype(self.input["dtype"], np.integer) else None
        outs = []
        for img in np.asarray(images, dtype=np.float32):
            x = img.transpose(1, 2, 0)[None]
            if info is not None:
                x = np.clip(np.round(x / scale + zp), info.min, info.max)
            y = self.invoke_raw(x).astype(np.float32)
            outs.append(((y - ozp) * oscale if info is not None else y).reshape(-1))
        return np.stack(outs)

    def arena(self) -> ArenaUsage:
        """The arena this interpreter allocated (invokes once on zeros first if it never ran)."""
        if not self._ran:
            self.invoke_raw(np.zeros(self.input_shape, self.input["dtype"]))
        with capture_fd2() as text:
            self._it.print_allocations()
        return ArenaUsage.parse(text())


def tflm_arena(path: str | Path, arena_size: int | None = None) -> ArenaUsage:
    """Load ``path`` in TFLite Micro, run it once on zeros and return the arena it really allocated."""
    return TFLMModel(path, arena_size).arena()
