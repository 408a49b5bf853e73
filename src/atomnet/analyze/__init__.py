"""Guideline analyses from a board's AtomDB (AtomNet §3): operators, blocks, model bottlenecks, patterns.

Compute only: every function returns frozen result records; :mod:`atomnet.report` renders them
(Markdown, PNG figures, one self-contained HTML page). Never imports torch.

>>> from atomnet.analyze import PAPER_RANKINGS
>>> PAPER_RANKINGS["sram"]
('sep', 'convnext', 'mbconv')
"""

from atomnet.analyze._blocks import (
    BLOCKS,
    PAPER_RANKINGS,
    BlockAnalysis,
    BlockPoint,
    RankingCheck,
    analyze_blocks,
    block_spec,
)
from atomnet.analyze._models import (
    ModelAnalysis,
    PatternComparison,
    PatternRow,
    StageShare,
    analyze_file,
    analyze_model,
    compare_patterns,
)
from atomnet.analyze._operators import (
    PAPER_EFFICIENCY,
    FlashGrowth,
    Guideline,
    KindEfficiency,
    OperatorAnalysis,
    SramPoints,
    Trend,
    analyze_operators,
)
from atomnet.analyze._run import AnalysisResult, run_analysis

__all__ = [
    "BLOCKS",
    "PAPER_EFFICIENCY",
    "PAPER_RANKINGS",
    "AnalysisResult",
    "BlockAnalysis",
    "BlockPoint",
    "FlashGrowth",
    "Guideline",
    "KindEfficiency",
    "ModelAnalysis",
    "OperatorAnalysis",
    "PatternComparison",
    "PatternRow",
    "RankingCheck",
    "SramPoints",
    "StageShare",
    "Trend",
    "analyze_blocks",
    "analyze_file",
    "analyze_model",
    "analyze_operators",
    "block_spec",
    "compare_patterns",
    "run_analysis",
]
