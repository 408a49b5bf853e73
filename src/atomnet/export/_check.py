"""``atomnet verify``'s computation as one result: :func:`verify` in TFLite Micro, int8 top-1 on a data set,
and with a training run float vs int8 top-1 and the allowed drop. Imports torch only when top-1 is asked for
(reading a file and running it in TFLite Micro does not need it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atomnet.errors import InputError
from atomnet.export._tflite import read_tflite
from atomnet.export._top1 import Top1
from atomnet.export._verify import VerifyReport, verify
from atomnet.spec import ModelSpec

if TYPE_CHECKING:
    from atomnet.train import Run


@dataclass(frozen=True)
class ModelCheck:
    """What :func:`check_model` found: the TFLM report, the file's size and operator count, the data set
    top-1 was measured on, and with a run its float vs int8 top-1 (``max_drop``: the allowed points)."""

    report: VerifyReport
    ops: int
    file_bytes: int
    data: str | None = None
    top1: Top1 | None = None
    max_drop: float | None = None
    run: str | None = None

    @property
    def problems(self) -> list[str]:
        out = self.report.problems
        t = self.top1
        if t is not None and self.max_drop is not None and t.drop_points > self.max_drop:
            out.append(f"int8 top-1 {100 * t.int8_top1:.2f} % is more than {self.max_drop:g} points below "
                       f"float {100 * t.float_top1:.2f} %")
        return out

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        d = self.report.to_dict()
        d["data"] = self.data
        d["float_top1"] = None
        if self.top1 is not None:
            d.update(float_top1=self.top1.float_top1, int8_top1=self.top1.int8_top1, samples=self.top1.samples,
                     run=self.run)
        d["problems"] = self.problems
        d["ok"] = self.ok
        d["ops"] = self.ops
        d["file_bytes"] = self.file_bytes
        return d


def check_model(model: str | Path, spec: ModelSpec | None = None, *, run: Run | str | Path | None = None,
                data: str | None = None, samples: int | None = 1000, max_drop: float | None = None) -> ModelCheck:
    """Verify ``model`` in TFLite Micro against ``spec`` (default: the run's); int8 top-1 on the first
    ``samples`` validation images (all when None) of ``data`` (default: the run's data), and with ``run``
    the float top-1 of the run's model on the same images and whether int8 is within ``max_drop`` points.
    ``run`` is a :class:`~atomnet.train.Run` or its folder (read once, after the file is validated).

    >>> check_model("demo.tflite", run=Run.load("runs/demo")).ok   # doctest: +SKIP
    True
    """
    m = read_tflite(model)  # missing, truncated, corrupt or inconsistent: TFLiteError naming it
    if run is not None:
        from atomnet.export._run import as_run

        run = as_run(run)
    if spec is None and run is not None:
        spec = run.spec
    if data is None and run is not None:
        data = run.data_name
    images = labels = None
    if data is not None and run is None:
        from atomnet.export._run import dataset_images

        shape = m.tensors[m.inputs[0]].shape  # NHWC
        if len(shape) != 4:
            raise InputError(f"{m.path}: input tensor shape {shape}, expected N×H×W×C")
        res, ch = (spec.resolution, spec.in_channels) if spec is not None else ((shape[1], shape[2]), shape[3])
        images, labels = dataset_images(data, tuple(res), ch, samples, "val")  # type: ignore[arg-type]
    rep = verify(model, spec, images=images, labels=labels)
    top1 = None
    if run is not None and rep.loaded:
        from atomnet.export._run import compare_top1

        top1 = compare_top1(run, model, samples)
    return ModelCheck(rep, len(m.ops), m.file_bytes, data, top1, max_drop, str(run.path) if run else None)
