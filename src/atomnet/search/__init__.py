"""Search = space × strategy × evaluator, with constraints as separate predicates (DESIGN principle 5).

>>> from atomnet.search import get_space
>>> get_space("hybrid").size()
57153600
"""

from atomnet.search._build import build_tables
from atomnet.search._combine import Limits, combine, max_macs, minima
from atomnet.search._journal import Journal, JournalMismatch
from atomnet.search._provenance import latency_source, search_header
from atomnet.search._run import ParetoPoint, SearchOutcome, confirm, meets, pareto_front, run_search
from atomnet.search._space import (
    RESOLUTIONS,
    Space,
    StageChoice,
    StageDef,
    get_space,
    list_spaces,
    load_space_file,
    register_space,
    space_from_dict,
)
from atomnet.search._strategies import (
    SearchResult,
    StrategyInfo,
    TableEvaluator,
    evolution,
    exhaustive,
    get_strategy,
    list_strategies,
    random_search,
    register_strategy,
    strategy_info,
)
from atomnet.search._tables import ResolutionTables, StageTable

__all__ = [
    "RESOLUTIONS",
    "Journal",
    "JournalMismatch",
    "Limits",
    "ParetoPoint",
    "ResolutionTables",
    "SearchOutcome",
    "SearchResult",
    "Space",
    "StageChoice",
    "StageDef",
    "StageTable",
    "StrategyInfo",
    "TableEvaluator",
    "build_tables",
    "combine",
    "confirm",
    "evolution",
    "exhaustive",
    "get_space",
    "get_strategy",
    "latency_source",
    "list_spaces",
    "list_strategies",
    "load_space_file",
    "max_macs",
    "meets",
    "minima",
    "pareto_front",
    "random_search",
    "register_space",
    "register_strategy",
    "run_search",
    "search_header",
    "space_from_dict",
    "strategy_info",
]
