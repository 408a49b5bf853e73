"""AtomDB: measured atom operators of a board in SQLite, exact lookup, predictors for the rest.

>>> from atomnet.db import AtomDB
>>> db = AtomDB(":memory:")
>>> db.boards()
[]
"""

from atomnet.db._cv import CVResult, cross_validate
from atomnet.db._import_csv import ImportFormatError, parse_atomnet_csv, parse_atomnet_se_csv
from atomnet.db._paths import default_db_path, open_user_db, resolve_db_path, user_data_dir
from atomnet.db._predict import NoPredictorError, PredictorSet, fit_predictors
from atomnet.db._sqlite import DatabaseBusyError
from atomnet.db._store import SCHEMA_VERSION, AtomDB, ImportResult, NoDatabaseError, OpStat, OpTable, SchemaError

__all__ = [
    "SCHEMA_VERSION",
    "AtomDB",
    "CVResult",
    "DatabaseBusyError",
    "ImportFormatError",
    "ImportResult",
    "NoDatabaseError",
    "NoPredictorError",
    "OpStat",
    "OpTable",
    "PredictorSet",
    "SchemaError",
    "cross_validate",
    "default_db_path",
    "fit_predictors",
    "open_user_db",
    "parse_atomnet_csv",
    "parse_atomnet_se_csv",
    "resolve_db_path",
    "user_data_dir",
]
