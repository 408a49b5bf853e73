"""Search = space × strategy × evaluator, with constraints as separate predicates (DESIGN principle 5).

>>> from atomnet.search import get_space, list_strategies
>>> get_space("hybrid").size()
57153600
>>> list_strategies()
['exhaustive', 'random', 'evolution', 'exact']
"""

from atomnet.search._build import build_tables
from atomnet.search._combine import Combined, Limits, combine, max_macs, minima
from atomnet.search._evaluate import Evaluator, Fitness, TableEvaluator
from atomnet.search._evolve_blocks import BlockEvolution, evolve_blocks, run_block_evolution
from atomnet.search._exact import Exact
from atomnet.search._exact_blocks import BlockSearch, exact_block_search, run_block_search, search_block_space
from atomnet.search._external import ExternalOutcome, run_external_search
from atomnet.search._front3d import BudgetFront, BudgetPoint, budget_sweep
from atomnet.search._journal import Journal, JournalMismatch
from atomnet.search._pareto import ParetoPoint, ParetoStudy, ReferencePoint, pareto_front, pareto_study, zoo_references
from atomnet.search._patch import PatchConfirmation, confirm_patch, fitting_plan
from atomnet.search._provenance import latency_source, search_header
from atomnet.search._records import Candidate, Evaluation, MetricArrays, Metrics, SearchResult
from atomnet.search._run import (
    Confirmation,
    JournaledEvaluator,
    SearchOutcome,
    confirm,
    make_strategy,
    meets,
    run_search,
)
from atomnet.search._space import (
    RESOLUTIONS,
    BlockOption,
    BlockSpace,
    BlockStage,
    Space,
    StageChoice,
    StageConfig,
    StageDef,
    StageEntry,
    block_space_from_dict,
    get_any_space,
    get_block_space,
    get_space,
    list_block_spaces,
    list_spaces,
    load_block_space_file,
    load_space_file,
    register_space,
    restrict_to_subspace,
    space_from_dict,
)
from atomnet.search._strategies import (
    Evolution,
    Exhaustive,
    Option,
    OptionValue,
    RandomSearch,
    Strategy,
    get_strategy,
    list_strategies,
    register_strategy,
)
from atomnet.search._subspace import QUANTILES, SubspaceStats, rank_subspaces, subspace_table
from atomnet.search._tables import ResolutionTables, StageTable

__all__ = [
    "QUANTILES",
    "RESOLUTIONS",
    "BlockEvolution",
    "BlockOption",
    "BlockSearch",
    "BlockSpace",
    "BlockStage",
    "BudgetFront",
    "BudgetPoint",
    "Candidate",
    "Combined",
    "Confirmation",
    "Evaluation",
    "Evaluator",
    "Evolution",
    "Exact",
    "Exhaustive",
    "ExternalOutcome",
    "Fitness",
    "Journal",
    "JournalMismatch",
    "JournaledEvaluator",
    "Limits",
    "MetricArrays",
    "Metrics",
    "Option",
    "OptionValue",
    "ParetoPoint",
    "ParetoStudy",
    "PatchConfirmation",
    "RandomSearch",
    "ReferencePoint",
    "ResolutionTables",
    "SearchOutcome",
    "SearchResult",
    "Space",
    "StageChoice",
    "StageConfig",
    "StageDef",
    "StageEntry",
    "StageTable",
    "Strategy",
    "SubspaceStats",
    "TableEvaluator",
    "block_space_from_dict",
    "budget_sweep",
    "build_tables",
    "combine",
    "confirm",
    "confirm_patch",
    "evolve_blocks",
    "exact_block_search",
    "fitting_plan",
    "get_any_space",
    "get_block_space",
    "get_space",
    "get_strategy",
    "latency_source",
    "list_block_spaces",
    "list_spaces",
    "list_strategies",
    "load_block_space_file",
    "load_space_file",
    "make_strategy",
    "max_macs",
    "meets",
    "minima",
    "pareto_front",
    "pareto_study",
    "rank_subspaces",
    "register_space",
    "register_strategy",
    "restrict_to_subspace",
    "run_block_evolution",
    "run_block_search",
    "run_external_search",
    "run_search",
    "search_block_space",
    "search_header",
    "space_from_dict",
    "subspace_table",
    "zoo_references",
]
