"""int8 export, ``.tflite`` reading, and verification in the real TFLite Micro interpreter.

Reading and verifying need only ``tflite-micro`` (+ ``flatbuffers``); exporting needs torch and the
converter (``requirements-ml.txt``) and is imported lazily, so ``atomnet verify`` does not load torch.

>>> from atomnet.export import read_tflite, verify       # doctest: +SKIP
>>> verify("model.tflite", get_zoo("atomnet-256kb")).ok   # doctest: +SKIP
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from atomnet.export._arena import TFLMArena, plan_tflm_arena
from atomnet.export._check import ModelCheck, check_model
from atomnet.export._costing import TFLiteCost, TFLiteLayerCost, cost_tflite
from atomnet.export._errors import ExportError, TFLiteError
from atomnet.export._file_graph import FILE_RUNTIMES, FileGraph, FileLayer, file_graph
from atomnet.export._tflite import TFLiteModel, TFLOp, TFLTensor, parse_tflite, read_tflite, validate_tflite
from atomnet.export._top1 import Top1
from atomnet.export._verify import VerifyReport, graph_diff, int8_problems, spec_weight_params, verify

if TYPE_CHECKING:
    from atomnet.export._convert import ExportResult, export_int8, export_onnx
    from atomnet.export._isolate import TFLMResult, run_tflm_isolated
    from atomnet.export._qat import QATResult, export_run_qat, fake_quantized, qat_finetune
    from atomnet.export._run import as_run, compare_top1, dataset_images, export_run, run_images
    from atomnet.export._tflm import ArenaUsage, TFLMError, TFLMModel, tflm_arena

_LAZY = {"ExportResult": "_convert", "export_int8": "_convert", "export_onnx": "_convert",
         "as_run": "_run", "dataset_images": "_run", "compare_top1": "_run", "export_run": "_run",
         "run_images": "_run",
         "ArenaUsage": "_tflm", "TFLMError": "_tflm", "TFLMModel": "_tflm", "tflm_arena": "_tflm",
         "TFLMResult": "_isolate", "run_tflm_isolated": "_isolate",
         "QATResult": "_qat", "export_run_qat": "_qat", "fake_quantized": "_qat", "qat_finetune": "_qat"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"atomnet.export.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'atomnet.export' has no attribute {name!r}")


__all__ = [
    "FILE_RUNTIMES",
    "ArenaUsage",
    "ExportError",
    "ExportResult",
    "FileGraph",
    "FileLayer",
    "ModelCheck",
    "QATResult",
    "TFLMArena",
    "TFLMError",
    "TFLMModel",
    "TFLMResult",
    "TFLOp",
    "TFLTensor",
    "TFLiteCost",
    "TFLiteError",
    "TFLiteLayerCost",
    "TFLiteModel",
    "Top1",
    "VerifyReport",
    "as_run",
    "check_model",
    "compare_top1",
    "cost_tflite",
    "dataset_images",
    "export_int8",
    "export_onnx",
    "export_run",
    "export_run_qat",
    "fake_quantized",
    "file_graph",
    "graph_diff",
    "int8_problems",
    "parse_tflite",
    "plan_tflm_arena",
    "qat_finetune",
    "read_tflite",
    "run_images",
    "run_tflm_isolated",
    "spec_weight_params",
    "tflm_arena",
    "validate_tflite",
    "verify",
]
