"""AtomDB: measured atom operators of a board in SQLite, exact lookup, predictors for the rest.

>>> from atomnet.db import AtomDB
>>> db = AtomDB(":memory:")
>>> db.boards()
[]
"""

from atomnet.db._cv import CVResult, cross_validate
from atomnet.db._export import export_atomnet_csv
from atomnet.db._import_csv import ImportFormatError, is_se_csv, parse_atomnet_csv, parse_atomnet_se_csv
from atomnet.db._models_schema import (
    ModelFormatError,
    ModelImportRecord,
    ModelImportResult,
    ModelMeasurement,
    model_counts,
)
from atomnet.db._models_user import parse_model_file
from atomnet.db._paths import default_db_path, open_user_db, resolve_db_path, user_data_dir
from atomnet.db._predict import NoPredictorError, PredictorSet, fit_predictors
from atomnet.db._query import FitOutcome, OpPricer, OpQuery, board_samples, fit_board, query_op
from atomnet.db._rows import ParsedRow
from atomnet.db._sqlite import DatabaseBusyError
from atomnet.db._store import (
    SCHEMA_VERSION,
    AtomDB,
    BoardStats,
    DBStats,
    ImportResult,
    KindStats,
    NoDatabaseError,
    OpStat,
    OpTable,
    RawRow,
    SchemaError,
    SourceRecord,
)

__all__ = [
    "SCHEMA_VERSION",
    "AtomDB",
    "BoardStats",
    "CVResult",
    "DBStats",
    "DatabaseBusyError",
    "FitOutcome",
    "ImportFormatError",
    "ImportResult",
    "KindStats",
    "ModelFormatError",
    "ModelImportRecord",
    "ModelImportResult",
    "ModelMeasurement",
    "NoDatabaseError",
    "NoPredictorError",
    "OpPricer",
    "OpQuery",
    "OpStat",
    "OpTable",
    "ParsedRow",
    "PredictorSet",
    "RawRow",
    "SchemaError",
    "SourceRecord",
    "board_samples",
    "cross_validate",
    "default_db_path",
    "export_atomnet_csv",
    "fit_board",
    "fit_predictors",
    "is_se_csv",
    "model_counts",
    "open_user_db",
    "parse_atomnet_csv",
    "parse_atomnet_se_csv",
    "parse_model_file",
    "query_op",
    "resolve_db_path",
    "user_data_dir",
]
