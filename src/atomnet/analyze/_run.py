"""The whole analysis of one board: each part computed independently, so that an AtomDB that cannot support
a part (too few operator kinds, no predictors) still yields the others, with the reason recorded."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atomnet.analyze._blocks import DEFAULT_RESOLUTIONS, DEFAULT_WIDTHS, BlockAnalysis, analyze_blocks
from atomnet.analyze._models import (
    DEFAULT_SPACES,
    ModelAnalysis,
    PatternComparison,
    analyze_file,
    analyze_model,
    compare_patterns,
)
from atomnet.analyze._operators import OperatorAnalysis, analyze_operators
from atomnet.boards import Board
from atomnet.db import AtomDB, NoPredictorError, SourceRecord
from atomnet.spec import ModelSpec

if TYPE_CHECKING:
    from atomnet.export import TFLiteModel


@dataclass(frozen=True)
class AnalysisResult:
    board: str
    measured_board: str
    db_path: str
    sources: tuple[SourceRecord, ...]
    latency_model: dict[str, Any] | None
    operators: OperatorAnalysis
    blocks: BlockAnalysis | None
    models: tuple[ModelAnalysis, ...]
    patterns: PatternComparison | None
    skipped: dict[str, str] = field(default_factory=dict)  # part → why it was not computed
    seconds: dict[str, float] = field(default_factory=dict)


def run_analysis(db: AtomDB, board: Board, *, models: Sequence[ModelSpec | TFLiteModel] = (),
                 sram_bytes: float = 256 * 1024, flash_bytes: float = 1024 * 1024, latency_ms: float = 275.0,
                 patterns: bool = True,
                 spaces: Sequence[str] = DEFAULT_SPACES, resolutions: Sequence[int] | None = None,
                 block_widths: Sequence[int] = DEFAULT_WIDTHS, block_resolutions: Sequence[int] = DEFAULT_RESOLUTIONS,
                 runtime: str | None = None, on_stage: Callable[[str], None] | None = None) -> AnalysisResult:
    """Operator, block, model and pattern analyses of ``board`` priced from ``db``; ``models`` are specs or
    ``.tflite`` files already read (:func:`~atomnet.export.read_tflite`). ``on_stage(text)`` is called
    as each part starts (operators, latency model, blocks, then models if any and patterns if asked for)."""
    from atomnet.cost import load_latency_model

    def stage(text: str) -> None:
        if on_stage is not None:
            on_stage(text)

    mb = board.measured_board
    stage("operator efficiency and the guidelines G1-G3")
    secs: dict[str, float] = {}
    skipped: dict[str, str] = {}
    t = time.perf_counter()
    ops = analyze_operators(db, mb)
    secs["operators"] = time.perf_counter() - t
    lm = None
    stage("loading the latency model (measured rows and predictors)")
    try:
        lm = load_latency_model(board, db)
    except NoPredictorError as e:
        why = str(e.args[0]) if e.args else str(e)
        skipped.update({"blocks": why, "models": why, "patterns": why})
    blocks = None
    mres: list[ModelAnalysis] = []
    pat = None
    if lm is not None:
        t = time.perf_counter()
        stage(f"block rankings over {len(block_widths)} widths × {len(block_resolutions)} resolutions")
        try:
            blocks = analyze_blocks(board, lm, widths=block_widths, resolutions=block_resolutions, runtime=runtime)
        except NoPredictorError as e:  # an operator neither measured nor predictable on this board
            skipped["blocks"] = str(e.args[0]) if e.args else str(e)
        secs["blocks"] = time.perf_counter() - t
        t = time.perf_counter()
        if models:
            stage(f"bottlenecks of {len(models)} model{'s' if len(models) > 1 else ''}")
        for spec in models:
            try:
                if isinstance(spec, ModelSpec):
                    mres.append(analyze_model(spec, board, lm, runtime))
                else:
                    mres.append(analyze_file(spec, board, lm, runtime))
            except NoPredictorError as e:
                name = spec.name if isinstance(spec, ModelSpec) else Path(spec.path).name
                skipped[f"model {name}"] = str(e.args[0]) if e.args else str(e)
        secs["models"] = time.perf_counter() - t
        if patterns:
            t = time.perf_counter()
            stage(f"best model of each space ({', '.join(spaces)}) under the limits, the slow part")
            try:
                pat = compare_patterns(board, lm, sram_bytes=sram_bytes, flash_bytes=flash_bytes,
                                       latency_ms=latency_ms, spaces=spaces, resolutions=resolutions, runtime=runtime)
            except NoPredictorError as e:
                skipped["patterns"] = str(e.args[0]) if e.args else str(e)
            secs["patterns"] = time.perf_counter() - t
        else:
            skipped["patterns"] = "not requested (--no-patterns)"
    return AnalysisResult(board.name, mb, db.path, tuple(db.sources(mb)), lm.describe() if lm else None, ops,
                          blocks, tuple(mres), pat, skipped, secs)
